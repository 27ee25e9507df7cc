// relay-latency-bench: commit-to-broker-ack latency under a steady offered
// load. Writers (one connection each, the SDK's Enqueue/EnqueueBatch) commit
// events at --rate events/s in total, --per-tx events per transaction, and
// take a wall-clock timestamp right after COMMIT returns. The real
// outbox-relay publishes them to a topic created with
// message.timestamp.type=LogAppendTime; a consumer reads every record and
// computes broker append time - commit time per event id.
//
//   relay-latency-bench --dsn DSN --brokers HOST:PORT --relay PATH --rate 5000
//                       [--per-tx 1] [--seconds 15] [--warmup 2] [--writers 16] [--json FILE]
//                       [--mode poll|tail] [--delivery at_least_once|exactly_once]
//
// --delivery exactly_once runs the relay with Kafka transactions; a record is
// then visible to the (read_committed) consumer only once its transaction
// committed, so latency is commit to the consumer's receipt instead of to the
// broker's append time (it includes up to fetch.wait.max.ms = 10 ms).
//
// --mode tail runs the relay in tail mode (logical replication) with a slot
// and publication of its own, dropped at the end.
//
// The broker timestamp has millisecond resolution (truncated), so each
// latency is low by 0..1 ms; the figures add 0.5 ms to centre that error.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <pqxx/pqxx>

#include "bench_env.hpp"
#include "fixtures.hpp"
#include "outbox/outbox.hpp"

namespace {

using namespace outbox::bench;
namespace sdk = outbox::sdk;

struct Commit {
  std::string id;
  int64_t commit_us;
};

/// Reads every record of `topic` from the beginning: event id header -> LogAppendTime (ms).
class Consumer {
 public:
  /// `receive_time`: time records by their arrival here (read_committed: once
  /// their transaction committed) instead of the broker's LogAppendTime.
  Consumer(const std::string& brokers, const std::string& topic, bool receive_time) : receive_time_(receive_time) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", ("bench-latency-" + std::to_string(getpid())).c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("consumer: ") + err);
    }
    rd_kafka_poll_set_consumer(rk_);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(kPartitions);
    for (int p = 0; p < kPartitions; ++p) {
      rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk_, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Consumer() {
    stop_ = true;
    thread_.join();
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }
  size_t seen() const { return seen_; }
  std::unordered_map<std::string, int64_t> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(append_ms_);
  }
  bool non_log_append_time() const { return wrong_type_; }

 private:
  void Loop() {
    while (!stop_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_timestamp_type_t type;
        int64_t ts = rd_kafka_message_timestamp(m, &type);
        if (type != RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME) wrong_type_ = true;
        if (receive_time_) {
          ts =
              std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
        }
        rd_kafka_headers_t* h = nullptr;
        const void* v = nullptr;
        size_t n = 0;
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(h, "event_id", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          std::lock_guard<std::mutex> lock(mu_);
          append_ms_[std::string(static_cast<const char*>(v), n)] = ts;
          ++seen_;
        }
      }
      rd_kafka_message_destroy(m);
    }
  }

  rd_kafka_t* rk_ = nullptr;
  bool receive_time_ = false;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> wrong_type_{false};
  std::atomic<size_t> seen_{0};
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> append_ms_;
};

/// One writer: `per_tx` events per transaction, one transaction every `period` seconds on a fixed schedule
/// (a late writer catches up without sleeping, so the offered load is kept when the server allows).
void Writer(pqxx::connection& conn, const std::string& schema, int index, double period, long per_tx, double begin,
            double end, std::vector<Commit>& out, std::atomic<long>& errors) {
  try {
    const sdk::Outbox outbox(sdk::OutboxOptions{schema});
    long n = index * 100000000L;
    const double offset = period * index / 16.0;
    for (long k = 0; k < 100000000L; ++k) {
      const double at = begin + offset + k * period;
      if (at >= end || Now() >= end) break;  // open loop: a writer that fell behind stops on time
      const double wait = at - Now();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      std::vector<sdk::Event> events(static_cast<size_t>(per_tx));
      for (auto& e : events) {
        ++n;
        e.aggregate_type = "bench";
        e.aggregate_id = AggregateId(n);
        e.event_type = "BenchEvent";
        e.payload = Payload(n);
        e.headers["traceparent"] = kTraceparent;
      }
      pqxx::work tx(conn);
      std::vector<std::string> ids;
      if (per_tx == 1) {
        ids.push_back(outbox.Enqueue(tx, events[0]));
      } else {
        ids = outbox.EnqueueBatch(tx, events);
      }
      tx.commit();
      const int64_t t = UnixMicros();
      for (auto& id : ids) out.push_back(Commit{std::move(id), t});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer %d: %s\n", index, e.what());
    ++errors;
  }
}

int Run(const Flags& flags) {
  const double rate = flags.Num("rate"), seconds = flags.Num("seconds"), warmup = flags.Num("warmup");
  const long per_tx = std::max(1L, flags.Int("per-tx"));
  const int writers = static_cast<int>(std::clamp(flags.Int("writers"), 1L, 64L));
  const std::string dsn = flags.Str("dsn"), brokers = flags.Str("brokers"), work = flags.Str("work-dir");
  const std::string mode = flags.Str("mode");
  if (mode != "poll" && mode != "tail") throw std::invalid_argument("--mode: poll or tail, got '" + mode + "'");
  const std::string delivery = flags.Str("delivery");
  if (delivery != "at_least_once" && delivery != "exactly_once") {
    throw std::invalid_argument("--delivery: at_least_once or exactly_once, got '" + delivery + "'");
  }
  const bool eos = delivery == "exactly_once";
  const std::string tag = mode + "_" + std::to_string(static_cast<long>(rate)) + "x" + std::to_string(per_tx) + "_" +
                          std::to_string(getpid());
  const std::string schema = "bench_lat_" + tag, topic = "bench.latency." + tag;
  const double load = LoadAverage1();
  {
    pqxx::connection conn(dsn);
    FreshSchema(conn, schema);
  }
  CreateTopic(brokers, topic);
  const std::string config = work + "/relay-" + tag + ".toml";
  const int metrics_port = FreeLoopbackPort();
  const std::string slot = mode == "tail" ? schema : "";
  WriteRelayConfig(config, dsn, schema, brokers, topic, "127.0.0.1:" + std::to_string(metrics_port), slot, eos);
  RelayProcess relay(flags.Str("relay"), config, work + "/relay-" + tag + ".log");
  Consumer consumer(brokers, topic, eos);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // relay connected, consumer assigned

  // Connected before the schedule starts, so no writer begins behind it.
  std::vector<std::unique_ptr<pqxx::connection>> conns;
  for (int w = 0; w < writers; ++w) {
    conns.push_back(std::make_unique<pqxx::connection>(dsn));
    // One unmeasured event per connection warms the backend (catalog caches, the SDK's statements).
    sdk::Event e{"bench", AggregateId(w), "BenchWarmup", Payload(w), {{"traceparent", kTraceparent}}, {}, {}, false};
    pqxx::work tx(*conns.back());
    sdk::Outbox(sdk::OutboxOptions{schema}).Enqueue(tx, e);
    tx.commit();
  }
  const double period = writers * per_tx / rate;
  const double begin = Now() + 0.1, measure_from = begin + warmup, end = measure_from + seconds;
  std::vector<std::vector<Commit>> commits(static_cast<size_t>(writers));
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back(Writer, std::ref(*conns[w]), schema, w, period, per_tx, begin, end, std::ref(commits[w]),
                         std::ref(errors));
  }
  for (auto& t : threads) t.join();
  size_t total = 0;
  for (const auto& c : commits) total += c.size();
  const double wait_until = Now() + 60;
  while (consumer.seen() < total + static_cast<size_t>(writers) && Now() < wait_until && relay.Alive()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Cross-check: the relay's own commit-to-ack histogram (created_at, i.e. the
  // writing transaction's start, to the broker's confirmation; warm-up
  // included; bucket-interpolated).
  ScrapedHistogram relay_hist;
  std::string scrape_error;
  const double scrape_until = Now() + 5;  // its acknowledgements may trail the consumer by a few ms
  do {
    try {
      relay_hist = ParseHistogram(HttpGet(metrics_port, "/metrics"), "outbox_relay_commit_to_ack_seconds");
      scrape_error.clear();
    } catch (const std::exception& e) {
      scrape_error = e.what();
    }
    if (relay_hist.count >= static_cast<double>(total)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (Now() < scrape_until);
  const double relay_cpu = ProcessCpuSeconds(relay.pid());
  const long relay_hwm = ProcStatusKb(relay.pid(), "VmHWM");
  const int rc = relay.Stop();
  const auto append_ms = consumer.Take();

  // Events committed in the measured window (after the warm-up).
  const int64_t window_us = static_cast<int64_t>((end - measure_from) * 1e6);
  const int64_t from_us = UnixMicros() - static_cast<int64_t>((Now() - measure_from) * 1e6);
  std::vector<double> ms;
  long missing = 0, measured = 0, in_window = 0;
  for (const auto& c : commits) {
    for (const auto& e : c) {
      if (e.commit_us < from_us) continue;
      ++measured;
      if (e.commit_us < from_us + window_us) ++in_window;
      const auto it = append_ms.find(e.id);
      if (it == append_ms.end()) {
        ++missing;
        continue;
      }
      ms.push_back(static_cast<double>(it->second * 1000 - e.commit_us) / 1000.0 + 0.5);
    }
  }
  std::sort(ms.begin(), ms.end());
  int64_t first_us = INT64_MAX, last_us = 0;
  for (const auto& c : commits) {
    for (const auto& e : c) {
      first_us = std::min(first_us, e.commit_us);
      last_us = std::max(last_us, e.commit_us);
    }
  }
  const double commits_span_s = last_us > first_us ? (last_us - first_us) / 1e6 : 0;
  const double achieved = in_window / (window_us / 1e6);
  {
    pqxx::connection conn(dsn);
    DropBenchSchema(conn, schema, slot);
  }
  nlohmann::json j = {{"kind", "latency"},
                      {"source_mode", mode},
                      {"delivery", delivery},
                      {"offered_events_per_s", rate},
                      {"events_per_tx", per_tx},
                      {"writers", writers},
                      {"load_avg_1m_at_start", load},
                      {"seconds", seconds},
                      {"achieved_events_per_s", achieved},
                      {"events", measured},
                      {"events_total", static_cast<long>(total)},
                      {"commit_span_s", commits_span_s},
                      {"first_commit_after_start_s", (first_us - from_us) / 1e6 + warmup},
                      {"missing", missing},
                      {"writer_errors", errors.load()},
                      {"p50_ms", Percentile(ms, 0.5)},
                      {"p99_ms", Percentile(ms, 0.99)},
                      {"p999_ms", Percentile(ms, 0.999)},
                      {"max_ms", ms.empty() ? 0 : ms.back()},
                      {"relay_cpu_s", relay_cpu},
                      {"relay_peak_rss_mb", relay_hwm / 1024.0},
                      {"log_append_time", !consumer.non_log_append_time()},
                      {"relay_exit", rc},
                      {"relay_histogram_count", relay_hist.count},
                      {"relay_histogram_p50_ms", relay_hist.Quantile(0.5) * 1000},
                      {"relay_histogram_p99_ms", relay_hist.Quantile(0.99) * 1000}};
  std::printf(
      "latency %s%s %6.0f ev/s offered x%-2ld per tx: achieved %7.0f ev/s  p50 %7.2f ms  p99 %7.2f ms  p99.9 %7.2f ms"
      "  missing %ld  load %.2f\n",
      mode.c_str(), eos ? " exactly_once" : "", rate, per_tx, achieved, Percentile(ms, 0.5), Percentile(ms, 0.99),
      Percentile(ms, 0.999), missing, load);
  std::printf("         relay's own histogram: %.0f events  p50 ~%.2f ms  p99 ~%.2f ms%s%s\n", relay_hist.count,
              relay_hist.Quantile(0.5) * 1000, relay_hist.Quantile(0.99) * 1000,
              scrape_error.empty() ? "" : "  scrape failed: ", scrape_error.c_str());
  if (flags.Str("json") != "-") AppendJsonLine(flags.Str("json"), j);
  // The relay acknowledged every event it published, so its histogram holds at
  // least as many observations as the consumer saw records.
  const bool histogram_agrees = scrape_error.empty() && relay_hist.count >= static_cast<double>(total);
  if (!histogram_agrees) std::fprintf(stderr, "relay-latency-bench: the relay's histogram does not cover the run\n");
  return missing == 0 && errors == 0 && histogram_agrees ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("relay-latency-bench", {{"dsn", ""},
                                      {"brokers", ""},
                                      {"relay", ""},
                                      {"rate", "5000"},
                                      {"per-tx", "1"},
                                      {"seconds", "15"},
                                      {"warmup", "2"},
                                      {"writers", "16"},
                                      {"json", "-"},
                                      {"work-dir", "/tmp"},
                                      {"mode", "poll"},
                                      {"delivery", "at_least_once"}});
  try {
    flags.Parse(argc, argv);
    return Run(flags);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::fprintf(stderr, "relay-latency-bench: %s\n", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
