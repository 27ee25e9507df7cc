#pragma once
// Private to relay/src/kafka: owning handles for librdkafka's C objects.

#include <librdkafka/rdkafka.h>

#include <memory>

namespace outbox::relay::rdk {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const noexcept { rd_kafka_headers_destroy(h); }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
/// Ownership rule: rd_kafka_new() takes the conf only when it succeeds; release()
/// the ConfPtr right after a successful rd_kafka_new(), never before.
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
/// Ownership rule: producev(RD_KAFKA_V_HEADERS) takes the headers only on success.
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const noexcept { rd_kafka_topic_destroy(t); }
};
/// A topic handle; every one must be gone before its rd_kafka_t is destroyed.
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

}  // namespace outbox::relay::rdk
