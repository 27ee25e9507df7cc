#include "kafka/checkpoint.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "kafka/producer.hpp"
#include "kafka/rdkafka_handles.hpp"
#include "kafka/topic_snapshot_reader.hpp"

namespace outbox::relay {

using Clock = std::chrono::steady_clock;

std::string EncodeCheckpoint(const Checkpoint& c) {
  std::vector<RowRef> rows = c.rows;
  std::sort(rows.begin(), rows.end(), [](const RowRef& a, const RowRef& b) {
    return std::tie(a.table_oid, a.seq) < std::tie(b.table_oid, b.seq);
  });
  nlohmann::json ranges = nlohmann::json::array();
  for (size_t i = 0; i < rows.size();) {
    size_t j = i;
    while (j + 1 < rows.size() && rows[j + 1].table_oid == rows[i].table_oid && rows[j + 1].seq <= rows[j].seq + 1) ++j;
    ranges.push_back({rows[i].table_oid, rows[i].seq, rows[j].seq});
    i = j + 1;
  }
  nlohmann::json j = {{"version", 1},
                      {"transactional_id", c.transactional_id},
                      {"transaction", c.transaction},
                      {"committed_at_ms", c.committed_unix_ms},
                      {"rows", std::move(ranges)}};
  if (!c.messages.empty()) j["messages"] = {c.messages.lsn, c.messages.index};
  return j.dump();
}

Checkpoint DecodeCheckpoint(const std::string& value) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(value);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("not JSON: ") + e.what());
  }
  if (!j.is_object()) throw std::invalid_argument("not a JSON object");
  if (j.value("version", 0) != 1)
    throw std::invalid_argument("unknown version " + j.value("version", nlohmann::json()).dump());
  Checkpoint c;
  try {
    c.transactional_id = j.at("transactional_id").get<std::string>();
    c.transaction = j.at("transaction").get<uint64_t>();
    c.committed_unix_ms = j.at("committed_at_ms").get<int64_t>();
    for (const auto& r : j.at("rows")) {
      const auto oid = r.at(0).get<uint32_t>();
      const auto first = r.at(1).get<int64_t>(), last = r.at(2).get<int64_t>();
      if (last < first || last - first > 100000000) throw std::invalid_argument("bad range " + r.dump());
      for (int64_t s = first; s <= last; ++s) c.rows.push_back(RowRef{s, oid});
    }
    if (j.contains("messages")) {
      c.messages.lsn = j["messages"].at(0).get<uint64_t>();
      c.messages.index = j["messages"].at(1).get<uint32_t>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("missing or mistyped field: ") + e.what());
  }
  return c;
}

std::optional<Checkpoint> ReadCheckpoint(const KafkaConfig& config, std::chrono::milliseconds timeout,
                                         size_t* scanned) {
  // Every transaction of every relay sharing the topic adds a record, and
  // compaction leaves the active segment alone: read each partition backwards
  // from its last stable offset, in growing windows, and stop at the window
  // holding this key's newest record (one key lives in one partition, whose
  // highest offset is the newest).
  constexpr int64_t kFirstWindow = 1024;
  constexpr int64_t kMaxWindow = int64_t{1} << 20;
  const auto deadline = Clock::now() + timeout;
  TopicSnapshotReader reader(config, {}, /*keep_values=*/true);
  reader.TakeWatermarks({config.checkpoint_topic}, deadline);
  if (scanned != nullptr) *scanned = 0;
  std::optional<Checkpoint> newest;
  for (const TopicSnapshotReader::Range& partition : reader.Partitions()) {
    std::optional<SnapshotRecord> last;
    int64_t to = partition.to;
    for (int64_t window = kFirstWindow; !last && to > partition.from; window = std::min(window * 4, kMaxWindow)) {
      const int64_t from = std::max(partition.from, to - window);
      const TopicSnapshotReader::Result read = reader.Scan(
          {{partition.topic, partition.partition, from, to}}, deadline,
          [&](SnapshotRecord&& r) {
            if (!last || r.offset > last->offset) last = std::move(r);
          },
          &config.transactional_id);
      if (scanned != nullptr) *scanned += read.scanned;
      if (!read.complete) {
        throw KafkaError("kafka: cannot read the checkpoint topic " + config.checkpoint_topic +
                         " to its end: " + read.incomplete_reason);
      }
      to = from;
    }
    if (!last) continue;
    try {
      Checkpoint cp = DecodeCheckpoint(last->value);
      // A key in two partitions (the topic's partition count changed): the newest commit.
      if (!newest || cp.committed_unix_ms > newest->committed_unix_ms) newest = std::move(cp);
    } catch (const std::invalid_argument& e) {
      throw KafkaError("kafka: the checkpoint of " + config.transactional_id + " at " + config.checkpoint_topic + "/" +
                       std::to_string(last->partition) + "@" + std::to_string(last->offset) +
                       " cannot be read: " + e.what());
    }
  }
  return newest;
}

void EnsureCheckpointTopic(const KafkaConfig& config, std::chrono::milliseconds timeout) {
  rdk::ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [key, value] : config.properties)
    rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), err, sizeof err);
  if (rd_kafka_conf_set(conf.get(), "bootstrap.servers", config.brokers.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw KafkaError(std::string("kafka.brokers: ") + err);
  }
  rd_kafka_conf_set_log_cb(conf.get(), [](const rd_kafka_t*, int, const char*, const char*) {});
  rdk::KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err));
  if (!rk) throw KafkaError(std::string("kafka: cannot create the admin client: ") + err);
  conf.release();  // owned by rk now

  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(config.checkpoint_topic.c_str(), 1, -1, err, sizeof err);
  if (nt == nullptr) throw KafkaError("kafka.checkpoint_topic: " + std::string(err));
  std::unique_ptr<rd_kafka_NewTopic_t, void (*)(rd_kafka_NewTopic_t*)> topic(nt, rd_kafka_NewTopic_destroy);
  rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
  // A record per transaction, and compaction leaves the active segment alone:
  // 64 MiB segments instead of the broker's 1 GiB keep the uncompacted tail short.
  rd_kafka_NewTopic_set_config(nt, "segment.bytes", "67108864");
  rdk::QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(timeout.count()), err, sizeof err);
  rd_kafka_CreateTopics(rk.get(), &nt, 1, opts, queue.get());
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 1000);
  if (ev == nullptr) throw KafkaError("kafka: creating the checkpoint topic " + config.checkpoint_topic + " timed out");
  std::unique_ptr<rd_kafka_event_t, void (*)(rd_kafka_event_t*)> event(ev, rd_kafka_event_destroy);
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError("kafka: cannot create the checkpoint topic " + config.checkpoint_topic + ": " +
                     rd_kafka_event_error_string(ev));
  }
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const char* why = rd_kafka_topic_result_error_string(results[i]);
    throw KafkaError("kafka: cannot create the checkpoint topic " + config.checkpoint_topic +
                     " (cleanup.policy=compact): " + rd_kafka_err2name(e) +
                     (why ? std::string(": ") + why : std::string()) +
                     "; Hint: create it beforehand, or grant the relay CREATE on the cluster");
  }
}

}  // namespace outbox::relay
