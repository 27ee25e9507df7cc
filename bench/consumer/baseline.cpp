#include "baseline.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <stdexcept>
#include <vector>

#include "bench_kafka.hpp"

namespace outbox::bench {
namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The same copy the SDK makes of a consumed message.
sdk::Record ToRecord(const rd_kafka_message_t* m) {
  sdk::Record r;
  r.topic = rd_kafka_topic_name(m->rkt);
  r.partition = m->partition;
  r.offset = m->offset;
  r.key_is_null = m->key == nullptr;
  if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
  r.value_is_null = m->payload == nullptr;
  if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
  r.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(const_cast<rd_kafka_message_t*>(m), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      r.headers.emplace_back(name, val != nullptr ? std::string(static_cast<const char*>(val), size) : "");
    }
  }
  return r;
}

}  // namespace

bool ThroughputClock::Done(long n) {
  if (n <= 0) return done_ >= count_;
  if (done_ == 0) {
    first_batch_ = n;
    first_ = Now();
  }
  done_ += n;
  last_ = Now();
  return done_ >= count_;
}

Throughput ThroughputClock::Result() const {
  Throughput t;
  t.records = done_ - first_batch_;
  t.seconds = last_ - first_;
  t.per_second = t.seconds > 0 ? static_cast<double>(t.records) / t.seconds : 0;
  return t;
}

Throughput RunBaseline(pqxx::connection& conn, const std::string& brokers, const std::string& topic,
                       const std::string& group, long count, int batch, int wait_ms, const RecordHandler& handler) {
  rd_kafka_t* rk = NewConsumer(brokers, group, topic);
  ThroughputClock clock(count);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  std::vector<sdk::Record> records;
  while (!clock.Done(0)) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("baseline: timed out");
    records.clear();
    auto batch_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (static_cast<int>(records.size()) < batch) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(batch_deadline - std::chrono::steady_clock::now());
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (m == nullptr) {
        if (left.count() <= 0) break;
        continue;
      }
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        records.push_back(ToRecord(m));
        if (records.size() == 1) batch_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
      }
      rd_kafka_message_destroy(m);
    }
    if (records.empty()) continue;
    pqxx::work tx(conn);
    for (const auto& r : records) handler(tx, r);
    tx.commit();
    std::map<std::pair<std::string, int32_t>, int64_t> next;
    for (const auto& r : records) next[{r.topic, r.partition}] = r.offset + 1;
    rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(static_cast<int>(next.size()));
    for (const auto& [tp, offset] : next) {
      rd_kafka_topic_partition_list_add(offsets, tp.first.c_str(), tp.second)->offset = offset;
    }
    rd_kafka_commit(rk, offsets, 1 /* async */);
    rd_kafka_topic_partition_list_destroy(offsets);
    clock.Done(static_cast<long>(records.size()));
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return clock.Result();
}

}  // namespace outbox::bench
