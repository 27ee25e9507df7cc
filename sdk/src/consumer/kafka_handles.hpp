#pragma once
// The consumer's only view of librdkafka's C handles: one deleter and one
// unique_ptr alias per handle, plus the config helpers. Never included from
// a public header.
#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "outbox/consumer_record.hpp"

namespace outbox::sdk::detail {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept { rd_kafka_topic_partition_list_destroy(l); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const noexcept { rd_kafka_headers_destroy(h); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const noexcept { rd_kafka_error_destroy(e); }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

/// Sets one property; throws ConsumerConfigError naming `origin` (the option
/// the value came from) on rejection.
void SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, const std::string& origin);

/// Applies user `properties`, refusing any key in `owned` (a nullptr-terminated list).
void ApplyProperties(rd_kafka_conf_t* conf, const std::map<std::string, std::string>& properties,
                     const char* const* owned, const std::string& option);

/// Creates a client. Ownership: librdkafka takes `conf` only when rd_kafka_new
/// succeeds, so the ConfPtr is released exactly then. Throws ConsumerError.
KafkaPtr NewClient(rd_kafka_type_t type, ConfPtr conf, const std::string& what);

/// Copies a consumed message out of librdkafka.
Record ToRecord(const rd_kafka_message_t* m);

}  // namespace outbox::sdk::detail
