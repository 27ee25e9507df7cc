#include "kafka/topic_snapshot_reader.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "kafka/producer.hpp"
#include "kafka/rdkafka_handles.hpp"

namespace outbox::relay {
namespace {

using Clock = std::chrono::steady_clock;

void Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw KafkaError("kafka.properties." + key + ": " + err);
  }
}

int RemainingMs(Clock::time_point deadline) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(ms, 1, 60000));
}

std::string RandomGroupId() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return std::string("outbox-relay-check-") + buf;
}

}  // namespace

struct TopicSnapshotReader::Impl {
  struct Partition {
    int64_t low = 0, high = 0;
    bool done = false;
  };
  rdk::KafkaPtr rk;
  std::vector<std::string> header_names;
  bool keep_values = false;
  std::map<std::string, std::map<int32_t, Partition>> partitions;  // topic -> partition -> watermarks
  std::string last_error;

  static void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    self->last_error = std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
    spdlog::warn("kafka: {}", self->last_error);
  }

  static void OnLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    // The relay's [kafka.properties] hold producer settings too; librdkafka warns that a
    // consumer ignores them (CONFWARN), which is expected here.
    const bool expected = std::string(fac) == "CONFWARN";
    auto lvl = expected || level > 6 ? spdlog::level::debug
               : level <= 3          ? spdlog::level::err
               : level == 4          ? spdlog::level::warn
                                     : spdlog::level::info;
    spdlog::log(lvl, "librdkafka {}: {}", fac, buf);
  }

  SnapshotRecord Convert(const rd_kafka_message_t* m) const {
    SnapshotRecord r;
    r.topic = rd_kafka_topic_name(m->rkt);
    r.partition = m->partition;
    r.offset = m->offset;
    if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
    r.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
    if (keep_values && m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return r;
    for (const auto& name : header_names) {
      const void* value = nullptr;
      size_t size = 0;
      if (rd_kafka_header_get_last(hdrs, name.c_str(), &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        r.headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : std::string());
      }
    }
    return r;
  }
};

TopicSnapshotReader::TopicSnapshotReader(const KafkaConfig& config, std::vector<std::string> header_names,
                                         bool keep_values)
    : impl_(std::make_unique<Impl>()) {
  impl_->header_names = std::move(header_names);
  impl_->keep_values = keep_values;
  rdk::ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [key, value] : config.properties) Set(conf.get(), key, value);
  Set(conf.get(), "bootstrap.servers", config.brokers);
  Set(conf.get(), "group.id", RandomGroupId());
  Set(conf.get(), "enable.auto.commit", "false");
  Set(conf.get(), "enable.auto.offset.store", "false");
  Set(conf.get(), "isolation.level", "read_committed");
  Set(conf.get(), "enable.partition.eof", "true");
  // A partition ending in transaction markers (every transactional topic) has
  // no record at its last offset: its end is known only from an empty fetch,
  // which the broker holds fetch.wait.max.ms (500 by default).
  Set(conf.get(), "fetch.wait.max.ms", "10");
  Set(conf.get(), "allow.auto.create.topics", "false");
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
  rd_kafka_conf_set_log_cb(conf.get(), &Impl::OnLog);
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof err);
  if (rk == nullptr) throw KafkaError(std::string("kafka: cannot create consumer: ") + err);
  conf.release();  // owned by rk now
  impl_->rk.reset(rk);
  rd_kafka_poll_set_consumer(rk);
}

TopicSnapshotReader::~TopicSnapshotReader() {
  if (impl_->rk) rd_kafka_consumer_close(impl_->rk.get());
}

void TopicSnapshotReader::TakeWatermarks(const std::vector<std::string>& topics, Clock::time_point deadline) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(impl_->rk.get(), 1, nullptr, &md, RemainingMs(deadline));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(std::string("kafka: cannot read topic metadata from ") + "the brokers: " + rd_kafka_err2str(err));
  }
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> owned(md, rd_kafka_metadata_destroy);
  for (const auto& topic : topics) {
    for (int t = 0; t < md->topic_cnt; ++t) {
      const rd_kafka_metadata_topic_t& mt = md->topics[t];
      if (topic != mt.topic || mt.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      auto& parts = impl_->partitions[topic];
      for (int p = 0; p < mt.partition_cnt; ++p) {
        Impl::Partition& part = parts[mt.partitions[p].id];
        err = rd_kafka_query_watermark_offsets(impl_->rk.get(), topic.c_str(), mt.partitions[p].id, &part.low,
                                               &part.high, RemainingMs(deadline));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          throw KafkaError("kafka: cannot read the watermarks of " + topic + "/" + std::to_string(mt.partitions[p].id) +
                           ": " + rd_kafka_err2str(err));
        }
        part.done = part.high <= part.low;
      }
    }
  }
}

std::vector<TopicSnapshotReader::Range> TopicSnapshotReader::Partitions() const {
  std::vector<Range> out;
  for (const auto& [topic, parts] : impl_->partitions) {
    for (const auto& [id, part] : parts) out.push_back({topic, id, part.low, part.high});
  }
  return out;
}

TopicSnapshotReader::Result TopicSnapshotReader::Read(Clock::time_point deadline) {
  Result result;
  Result scan = Scan(
      Partitions(), deadline, [&](SnapshotRecord&& r) { result.records.push_back(std::move(r)); }, nullptr);
  scan.records = std::move(result.records);
  return scan;
}

TopicSnapshotReader::Result TopicSnapshotReader::Scan(const std::vector<Range>& ranges, Clock::time_point deadline,
                                                      const std::function<void(SnapshotRecord&&)>& on_record,
                                                      const std::string* only_key) {
  Result result;
  struct Open {
    int64_t to = 0;
    bool done = false;
  };
  std::map<std::pair<std::string, int32_t>, Open> state;
  std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)> assignment(
      rd_kafka_topic_partition_list_new(16), rd_kafka_topic_partition_list_destroy);
  size_t open = 0;
  for (const Range& range : ranges) {
    ++result.partitions;
    if (range.from > 0) ++result.truncated_partitions;
    if (range.to <= range.from) continue;
    ++open;
    state[{range.topic, range.partition}] = {range.to, false};
    rd_kafka_topic_partition_list_add(assignment.get(), range.topic.c_str(), range.partition)->offset = range.from;
  }
  if (open > 0) {
    rd_kafka_resp_err_t err = rd_kafka_assign(impl_->rk.get(), assignment.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw KafkaError(std::string("kafka: assign: ") + rd_kafka_err2str(err));
  }
  while (open > 0 && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(impl_->rk.get(), std::min(100, RemainingMs(deadline)));
    if (m == nullptr) continue;
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> msg(m, rd_kafka_message_destroy);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      impl_->last_error = rd_kafka_message_errstr(m);
      spdlog::warn("kafka: {}", impl_->last_error);
      continue;
    }
    auto it = state.find({m->rkt ? rd_kafka_topic_name(m->rkt) : "", m->partition});
    if (it == state.end()) continue;
    Open& part = it->second;
    // At EOF, m->offset is the next offset to read; for a record, its own offset.
    const int64_t next = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ? m->offset : m->offset + 1;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset < part.to && !part.done) {
      ++result.scanned;
      const bool wanted = only_key == nullptr ||
                          (m->key_len == only_key->size() &&
                           only_key->compare(0, std::string::npos, static_cast<const char*>(m->key), m->key_len) == 0);
      if (wanted) on_record(impl_->Convert(m));
    }
    if (!part.done && next >= part.to) {
      part.done = true;
      --open;
    }
  }
  result.complete = open == 0;
  if (!result.complete) {
    result.incomplete_reason = std::to_string(open) + " of " + std::to_string(result.partitions) +
                               " partitions not read up to their high watermark (" + std::to_string(result.scanned) +
                               " records read)";
    if (!impl_->last_error.empty()) result.incomplete_reason += "; last Kafka error: " + impl_->last_error;
  }
  rd_kafka_assign(impl_->rk.get(), nullptr);
  return result;
}

}  // namespace outbox::relay
