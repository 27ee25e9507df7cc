#include "bench_kafka.hpp"

#include <chrono>
#include <stdexcept>
#include <thread>

namespace outbox::bench {
namespace {

void Set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error(std::string("librdkafka ") + key + ": " + err);
  }
}

rd_kafka_t* NewClient(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  return rk;
}

struct Reports {
  std::atomic<long> ok{0};
  std::atomic<long> failed{0};
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* r = static_cast<Reports*>(opaque);
  ++(m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? r->ok : r->failed);
}

}  // namespace

void CreateTopic(const std::string& brokers, const std::string& topic, int partitions) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", brokers);
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, conf);
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, nullptr, 0);
  rd_kafka_NewTopic_set_config(nt, "message.timestamp.type", "LogAppendTime");
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  std::string error = ev == nullptr ? "timed out" : "";
  if (ev != nullptr) {
    size_t n = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error = rd_kafka_event_error_string(ev);
    } else if (n == 1 && rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error = rd_kafka_topic_result_error_string(res[0]);
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  for (int i = 0; error.empty() && i < 300; ++i) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    bool ready = false;
    if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ready = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
              md->topics[0].partition_cnt == partitions;
      for (int p = 0; ready && p < md->topics[0].partition_cnt; ++p) ready = md->topics[0].partitions[p].leader >= 0;
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    if (ready) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rd_kafka_destroy(rk);
  if (!error.empty()) throw std::runtime_error("creating topic " + topic + ": " + error);
}

void Produce(const std::string& brokers, const std::string& topic, const std::string& prefix, long count, long rate,
             const std::atomic<bool>* stop) {
  Reports reports;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", brokers);
  Set(conf, "enable.idempotence", "true");
  Set(conf, "linger.ms", rate > 0 ? "0" : "5");
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_conf_set_opaque(conf, &reports);
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, conf);
  const auto start = std::chrono::steady_clock::now();
  const std::string payload =
      R"({"customer":"customer-17","lines":[{"sku":"A-1","qty":2,"price_cents":1250}],"total_cents":2500})";
  for (long i = 0; i < count && (stop == nullptr || !*stop); ++i) {
    if (rate > 0) std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1000000 / rate));
    const std::string id = prefix + std::to_string(i), key = "order-" + std::to_string(i % 1000);
    rd_kafka_headers_t* h = rd_kafka_headers_new(6);
    rd_kafka_header_add(h, "event_id", -1, id.data(), static_cast<ssize_t>(id.size()));
    rd_kafka_header_add(h, "event_type", -1, "OrderCreated", -1);
    rd_kafka_header_add(h, "aggregate_type", -1, "order", -1);
    rd_kafka_header_add(h, "aggregate_id", -1, key.data(), static_cast<ssize_t>(key.size()));
    rd_kafka_header_add(h, "traceparent", -1, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", -1);
    for (;;) {
      const rd_kafka_resp_err_t e =
          rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_headers_destroy(h);
        rd_kafka_destroy(rk);
        throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(e));
      }
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 60000);
  rd_kafka_destroy(rk);
  if (reports.failed > 0) throw std::runtime_error("produce: " + std::to_string(reports.failed.load()) + " failed");
}

rd_kafka_t* NewConsumer(const std::string& brokers, const std::string& group, const std::string& topic) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", brokers);
  Set(conf, "group.id", group);
  Set(conf, "auto.offset.reset", "earliest");
  Set(conf, "enable.auto.commit", "false");
  Set(conf, "enable.auto.offset.store", "false");
  Set(conf, "isolation.level", "read_committed");
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  return rk;
}

}  // namespace outbox::bench
