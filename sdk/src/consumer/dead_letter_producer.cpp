#include "dead_letter_producer.hpp"

namespace outbox::sdk::detail {
namespace {

constexpr size_t kMaxErrorBytes = 4096;

struct Delivery {
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  d->err = m->err;
  d->done = true;
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

void AddHeader(rd_kafka_headers_t* h, const std::string& name, const std::string& value) {
  rd_kafka_header_add(h, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                      static_cast<ssize_t>(value.size()));
}

}  // namespace

DeadLetterProducer::DeadLetterProducer(const ConsumerOptions& options) : options_(options), producer_(NewProducer()) {}

DeadLetterProducer::~DeadLetterProducer() {
  // Send() always waits for its report, so nothing is in flight here.
  rd_kafka_flush(producer_.get(), 1000);
}

KafkaPtr DeadLetterProducer::NewProducer() const {
  static const char* const kOwned[] = {"bootstrap.servers", "enable.idempotence", "acks", nullptr};
  ConfPtr conf(rd_kafka_conf_new());
  SetConf(conf.get(), "message.timeout.ms", "30000", "consumer.dead_letter_properties");
  ApplyProperties(conf.get(), options_.dead_letter_properties, kOwned, "consumer.dead_letter_properties");
  SetConf(conf.get(), "bootstrap.servers", options_.brokers, "consumer.brokers");
  SetConf(conf.get(), "enable.idempotence", "true", "consumer.dead_letter_properties");
  SetConf(conf.get(), "acks", "all", "consumer.dead_letter_properties");
  rd_kafka_conf_set_dr_msg_cb(conf.get(), OnDelivery);
  return NewClient(RD_KAFKA_PRODUCER, std::move(conf), "dead-letter producer");
}

std::string DeadLetterProducer::Send(const std::string& topic, const Record& r, const std::string& error,
                                     int attempts) {
  HeadersPtr headers(rd_kafka_headers_new(r.headers.size() + 6));
  for (const auto& [name, value] : r.headers) {
    if (!StartsWith(name, "dlq.")) AddHeader(headers.get(), name, value);  // a requeued record fails afresh
  }
  AddHeader(headers.get(), "dlq.error", error.substr(0, kMaxErrorBytes));
  AddHeader(headers.get(), "dlq.attempts", std::to_string(attempts));
  AddHeader(headers.get(), "dlq.consumer", options_.consumer_name);
  AddHeader(headers.get(), "dlq.original_topic", r.topic);
  AddHeader(headers.get(), "dlq.original_partition", std::to_string(r.partition));
  AddHeader(headers.get(), "dlq.original_offset", std::to_string(r.offset));

  Delivery delivery;
  rd_kafka_resp_err_t err =
      rd_kafka_producev(producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                        RD_KAFKA_V_KEY(r.key_is_null ? nullptr : r.key.data(), r.key_is_null ? 0 : r.key.size()),
                        RD_KAFKA_V_VALUE(r.value_is_null ? nullptr : const_cast<char*>(r.value.data()),
                                         r.value_is_null ? 0 : r.value.size()),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers.get()),
                        RD_KAFKA_V_OPAQUE(&delivery), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::string("dead-letter produce to ") + topic + ": " + rd_kafka_err2str(err);
  }
  headers.release();  // owned by the message once producev succeeded
  // librdkafka reports every message within message.timeout.ms, so this ends;
  // `delivery` lives on this stack frame until it has.
  while (!delivery.done) rd_kafka_poll(producer_.get(), 100);
  if (delivery.err == RD_KAFKA_RESP_ERR_NO_ERROR) return "";

  std::string reason = std::string("dead-letter delivery to ") + topic + ": " + rd_kafka_err2str(delivery.err);
  char fatal[512];
  if (rd_kafka_fatal_error(producer_.get(), fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Every later produce would fail too: start over with a fresh producer.
    reason += " (fatal: " + std::string(fatal) + "; producer recreated)";
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    producer_ = NewProducer();
  }
  return reason;
}

}  // namespace outbox::sdk::detail
