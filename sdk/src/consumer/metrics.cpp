#include <cstdio>
#include <sstream>

#include "outbox/consumer_metrics.hpp"

namespace outbox::sdk {
namespace {

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

class Writer {
 public:
  explicit Writer(const std::string& consumer) : label_("consumer=\"" + Escape(consumer) + "\"") {}

  void Head(const std::string& name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void Sample(const std::string& name, const std::string& labels, double value) {
    out_ << name << '{' << label_ << (labels.empty() ? "" : ",") << labels << "} " << Number(value) << '\n';
  }
  void Counter(const std::string& name, const char* help, double value) {
    Head(name, "counter", help);
    Sample(name, "", value);
  }
  void Gauge(const std::string& name, const char* help, double value) {
    Head(name, "gauge", help);
    Sample(name, "", value);
  }
  void Histogram(const std::string& name, const char* help, const LatencyHistogram& h) {
    Head(name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < LatencyHistogram::kBoundsMs.size(); ++i) {
      cumulative += h.buckets[i];
      Sample(name + "_bucket", "le=\"" + Number(LatencyHistogram::kBoundsMs[i] / 1000.0) + "\"",
             static_cast<double>(cumulative));
    }
    Sample(name + "_bucket", "le=\"+Inf\"", static_cast<double>(h.count));
    Sample(name + "_sum", "", h.sum_ms / 1000.0);
    Sample(name + "_count", "", static_cast<double>(h.count));
  }
  std::string str() const { return out_.str(); }

 private:
  std::string label_;
  std::ostringstream out_;
};

}  // namespace

std::string PrometheusText(const Stats& s, const std::string& consumer) {
  Writer w(consumer);
  const std::string records = "outbox_consumer_records_total";
  w.Head(records, "counter", "Records finished, by outcome.");
  w.Sample(records, "outcome=\"processed\"", static_cast<double>(s.processed));
  w.Sample(records, "outcome=\"duplicate\"", static_cast<double>(s.duplicates));
  w.Sample(records, "outcome=\"dead_lettered\"", static_cast<double>(s.dead_lettered));
  w.Counter("outbox_consumer_retries_total", "Handler attempts that failed and were retried.",
            static_cast<double>(s.retries));
  w.Counter("outbox_consumer_transient_retries_total",
            "Deadlocks and serialization failures retried without counting an attempt.",
            static_cast<double>(s.transient_retries));
  w.Counter("outbox_consumer_infra_retries_total",
            "Lost connections, commits in doubt and dead-letter failures retried.",
            static_cast<double>(s.infra_retries));
  w.Counter("outbox_consumer_held_records_total", "Records parked behind an earlier record of their key.",
            static_cast<double>(s.held));
  w.Counter("outbox_consumer_released_records_total", "Parked records applied later.", static_cast<double>(s.released));
  w.Counter("outbox_consumer_skipped_dead_letters_total", "Dead letters an operator skipped.",
            static_cast<double>(s.skipped));
  w.Counter("outbox_consumer_batches_total", "Batch transactions committed.", static_cast<double>(s.batches));
  w.Counter("outbox_consumer_batch_records_total", "Records in committed batches.",
            static_cast<double>(s.batch_records));
  w.Gauge("outbox_consumer_last_batch_size", "Records in the latest batch.", static_cast<double>(s.last_batch));
  w.Counter("outbox_consumer_offset_commits_total", "Successful Kafka offset commits.",
            static_cast<double>(s.offset_commits));
  w.Counter("outbox_consumer_offset_commit_failures_total", "Failed Kafka offset commits (retried).",
            static_cast<double>(s.offset_commit_failures));
  w.Counter("outbox_consumer_rebalances_total", "Assign and revoke callbacks.", static_cast<double>(s.rebalances));
  w.Counter("outbox_consumer_inbox_purged_total", "Inbox rows deleted by retention.",
            static_cast<double>(s.inbox_purged));
  w.Gauge("outbox_consumer_dead_letter_depth", "Dead letters waiting for an operator's release.",
          static_cast<double>(s.dead_letter_depth));
  w.Gauge("outbox_consumer_parked_records", "Records parked in Postgres: dead letters, retries and held records.",
          static_cast<double>(s.parked_records));
  w.Gauge("outbox_consumer_records_per_second", "Records finished per second over the last ten seconds.",
          s.records_per_second);
  w.Gauge("outbox_consumer_dedup_hit_ratio", "Duplicates / (processed + duplicates).", s.DedupHitRate());
  const std::string lag = "outbox_consumer_lag_records";
  w.Head(lag, "gauge", "Records between the partition's end and the next record this consumer handles.");
  for (const PartitionLag& l : s.lag) {
    if (l.lag < 0) continue;
    w.Sample(lag, "topic=\"" + Escape(l.topic) + "\",partition=\"" + std::to_string(l.partition) + "\"",
             static_cast<double>(l.lag));
  }
  w.Histogram("outbox_consumer_processing_seconds", "Receipt of a record to being done with it.", s.processing_time);
  w.Histogram("outbox_consumer_end_to_end_latency_seconds",
              "Record timestamp (log append time on LogAppendTime topics) to the commit of its side effect.",
              s.end_to_end_latency);
  return w.str();
}

}  // namespace outbox::sdk
