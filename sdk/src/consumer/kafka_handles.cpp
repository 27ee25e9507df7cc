#include "kafka_handles.hpp"

#include <cstring>

#include "outbox/consumer.hpp"

namespace outbox::sdk::detail {

void SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, const std::string& origin) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw ConsumerConfigError(origin + ": librdkafka rejects " + key + "=" + value + ": " + err);
  }
}

void ApplyProperties(rd_kafka_conf_t* conf, const std::map<std::string, std::string>& properties,
                     const char* const* owned, const std::string& option) {
  for (const auto& [key, value] : properties) {
    for (const char* const* o = owned; *o != nullptr; ++o) {
      if (key == *o) {
        throw ConsumerConfigError(option + "." + key +
                                  ": is set by the consumer and cannot be overridden; Hint: remove it "
                                  "(brokers and group_id have their own options)");
      }
    }
    SetConf(conf, key, value, option + "." + key);
  }
}

KafkaPtr NewClient(rd_kafka_type_t type, ConfPtr conf, const std::string& what) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) throw ConsumerError(what + ": cannot create the Kafka client: " + err);
  conf.release();  // now owned by rk
  return KafkaPtr(rk);
}

Record ToRecord(const rd_kafka_message_t* m) {
  Record r;
  r.topic = rd_kafka_topic_name(m->rkt);
  r.partition = m->partition;
  r.offset = m->offset;
  r.key_is_null = m->key == nullptr;
  if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
  r.value_is_null = m->payload == nullptr;
  if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_timestamp_type_t ts_type;
  r.timestamp_ms = rd_kafka_message_timestamp(m, &ts_type);
  rd_kafka_headers_t* hdrs = nullptr;  // owned by the message
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      r.headers.emplace_back(name, val != nullptr ? std::string(static_cast<const char*>(val), size) : std::string());
    }
  }
  return r;
}

}  // namespace outbox::sdk::detail
