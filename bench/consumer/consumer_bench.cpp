// consumer-bench: the consumer SDK at production speed, against a baseline
// measured in the same run.
//
//   consumer-bench --dsn DSN --brokers HOST:PORT [--records 100000] [--batch 500] [--wait-ms 10]
//                  [--runs 5] [--partitions 4] [--rate 1000] [--latency-seconds 10] [--latency-runs 3]
//                  [--json FILE]
//
// Throughput: one topic of --records outbox-shaped records is consumed, in
// interleaved rounds, by (a) IdempotentConsumer with a per-record handler
// (inbox dedup, a savepoint per record, batches of --batch, async offset
// commits), (b) the same handler without dedup: plain batched inserts in one
// transaction per batch, no inbox (the baseline), and (c) IdempotentConsumer
// with a batch handler doing one multi-row insert. Each run is a fresh group
// (from offset 0) and a fresh inbox; synchronous_commit is on. Rates are
// measured from the end of each run's first batch; medians over --runs.
//
// Latency: a producer writes --rate records/s for --latency-seconds to a
// LogAppendTime topic while (a) consumes; the latency of a record is its log
// append time to the commit of its side effect (p50/p99/max, first second
// skipped), median over --latency-runs.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "baseline.hpp"
#include "bench_kafka.hpp"
#include "outbox/consumer.hpp"
#include "outbox/migrations.hpp"

namespace {

namespace sdk = outbox::sdk;
namespace bench = outbox::bench;

struct Args {
  std::string dsn, brokers, json;
  long records = 100000;
  long batch = 500;
  long wait_ms = 10;
  long runs = 5;
  long partitions = 4;
  long rate = 1000;
  long latency_seconds = 10;
  long latency_runs = 3;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  const std::map<std::string, long*> numbers = {{"--records", &a.records},
                                                {"--batch", &a.batch},
                                                {"--wait-ms", &a.wait_ms},
                                                {"--runs", &a.runs},
                                                {"--partitions", &a.partitions},
                                                {"--rate", &a.rate},
                                                {"--latency-seconds", &a.latency_seconds},
                                                {"--latency-runs", &a.latency_runs}};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::puts(
          "usage: consumer-bench --dsn DSN --brokers HOST:PORT [--records 100000] [--batch 500] [--wait-ms 10]\n"
          "                      [--runs 5] [--partitions 4] [--rate 1000] [--latency-seconds 10]\n"
          "                      [--latency-runs 3] [--json FILE]   (--latency-runs 0: no latency part)");
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::invalid_argument(flag + ": missing value");
    const std::string value = argv[++i];
    if (flag == "--dsn") {
      a.dsn = value;
    } else if (flag == "--brokers") {
      a.brokers = value;
    } else if (flag == "--json") {
      a.json = value;
    } else if (auto it = numbers.find(flag); it != numbers.end()) {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v < 0 || v > 100000000) {
        throw std::invalid_argument(flag + ": expected an integer from 0 to 100000000, got '" + value + "'");
      }
      *it->second = v;
    } else {
      throw std::invalid_argument("unknown argument '" + flag + "'");
    }
  }
  if (a.dsn.empty()) throw std::invalid_argument("--dsn: required");
  if (a.brokers.empty()) throw std::invalid_argument("--brokers: required");
  if (a.records < 10 || a.batch < 1 || a.runs < 1 || a.partitions < 1) {
    throw std::invalid_argument("--records >= 10, --batch, --runs and --partitions >= 1");
  }
  return a;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

std::string Unique(const std::string& prefix) {
  static int n = 0;
  return prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(n++) + "_" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000);
}

class Bench {
 public:
  Bench(const Args& args, std::string schema) : args_(args), schema_(std::move(schema)) {}

  void Setup() {
    pqxx::connection c(args_.dsn);
    sdk::Migrate(c, schema_);
    pqxx::work tx(c);
    tx.exec("CREATE TABLE " + Ledger() +
            " (id bigserial PRIMARY KEY, event_id text NOT NULL, customer text NOT NULL, amount bigint NOT NULL)");
    std::printf(
        "consumer-bench: %s, synchronous_commit=%s, %ld records in %ld partitions, batches of %ld (wait %ld ms)\n",
        tx.exec1("SELECT split_part(version(), ' ', 2)")[0].c_str(), tx.exec1("SHOW synchronous_commit")[0].c_str(),
        args_.records, args_.partitions, args_.batch, args_.wait_ms);
    tx.commit();
  }

  std::string Ledger() const { return "\"" + schema_ + "\".ledger"; }

  void Prepare(pqxx::connection& c) const {
    pqxx::nontransaction(c).exec("SET synchronous_commit TO on");
    c.prepare("bench_ledger", "INSERT INTO " + Ledger() + " (event_id, customer, amount) VALUES ($1, $2, $3)");
    c.prepare("bench_ledger_bulk", "INSERT INTO " + Ledger() +
                                       " (event_id, customer, amount) SELECT * FROM unnest($1::text[], $2::text[], "
                                       "$3::bigint[])");
  }

  // The side effect of one record: a ledger row.
  static void Apply(pqxx::work& tx, const sdk::Record& r) {
    tx.exec_prepared("bench_ledger", r.event_id(), r.key, static_cast<long long>(r.offset % 997));
  }

  static std::string ArrayOf(const std::vector<std::string>& items) {
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ",\"" : "\"") + items[i] + "\"";
    return out + "}";
  }

  static void ApplyAll(pqxx::work& tx, const sdk::RecordRefs& records) {
    std::vector<std::string> ids, keys, amounts;
    for (const sdk::Record& r : records) {
      ids.push_back(r.event_id());
      keys.push_back(r.key);
      amounts.push_back(std::to_string(r.offset % 997));
    }
    tx.exec_prepared("bench_ledger_bulk", ArrayOf(ids), ArrayOf(keys), ArrayOf(amounts));
  }

  sdk::ConsumerOptions Options(const std::string& topic, sdk::ConsumerOptions::Savepoints savepoints =
                                                             sdk::ConsumerOptions::Savepoints::kPerRecord) const {
    sdk::ConsumerOptions o;
    o.brokers = args_.brokers;
    o.group_id = Unique("bench");
    o.consumer_name = o.group_id;
    o.topics = {topic};
    o.pg_dsn = args_.dsn;
    o.schema = schema_;
    o.max_batch_size = static_cast<int>(args_.batch);
    o.max_batch_wait = std::chrono::milliseconds(args_.wait_ms);
    o.async_commit = true;
    o.savepoints = savepoints;
    o.purge_interval = std::chrono::milliseconds(0);
    return o;
  }

  void Reset() const {
    pqxx::connection c(args_.dsn);
    pqxx::work tx(c);
    tx.exec("TRUNCATE " + Ledger() + ", \"" + schema_ + "\".inbox");
    tx.commit();
  }

  template <typename H>
  bench::Throughput RunSdk(const std::string& topic, H handler, sdk::ConsumerOptions::Savepoints savepoints) const {
    sdk::ConsumerHooks hooks;
    hooks.on_connect = [this](pqxx::connection& c) { Prepare(c); };
    sdk::IdempotentConsumer consumer(Options(topic, savepoints), handler, hooks);
    bench::ThroughputClock clock(args_.records);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (!clock.Done(static_cast<long>(consumer.PollBatch(std::chrono::milliseconds(200))))) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("sdk run timed out");
    }
    const sdk::Stats s = consumer.stats();
    if (s.processed != static_cast<uint64_t>(args_.records) || s.duplicates != 0) {
      throw std::runtime_error("sdk run: processed " + std::to_string(s.processed) + ", duplicates " +
                               std::to_string(s.duplicates));
    }
    mean_batch_ = s.MeanBatchSize();
    CheckLedger();
    return clock.Result();
  }

  // Each record's side effect exactly once.
  void CheckLedger() const {
    pqxx::connection c(args_.dsn);
    pqxx::nontransaction tx(c);
    const auto row = tx.exec1("SELECT count(*), count(DISTINCT event_id) FROM " + Ledger());
    if (row[0].as<long>() != args_.records || row[1].as<long>() != args_.records) {
      throw std::runtime_error("ledger has " + row[0].as<std::string>() + " rows for " + row[1].as<std::string>() +
                               " events, expected " + std::to_string(args_.records));
    }
  }

  bench::Throughput RunPlain(const std::string& topic) const {
    pqxx::connection c(args_.dsn);
    Prepare(c);
    const bench::Throughput t =
        bench::RunBaseline(c, args_.brokers, topic, Unique("bench_plain"), args_.records, static_cast<int>(args_.batch),
                           static_cast<int>(args_.wait_ms), &Bench::Apply);
    CheckLedger();
    return t;
  }

  struct Latency {
    double p50 = 0, p99 = 0, max = 0;
    size_t samples = 0;
  };

  Latency RunLatency(const std::string& topic, sdk::ConsumerOptions::Savepoints savepoints) const {
    std::mutex mu;
    std::vector<double> ms;
    std::atomic<long> seen{0};
    const long total = args_.rate * args_.latency_seconds;
    const long skip = args_.rate;  // the first second
    sdk::ConsumerHooks hooks;
    hooks.on_connect = [this](pqxx::connection& c) { Prepare(c); };
    hooks.on_processed = [&](const sdk::Record& r, std::chrono::nanoseconds) {
      const auto now_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      if (seen++ >= skip) {
        std::lock_guard<std::mutex> lock(mu);
        ms.push_back(static_cast<double>(now_ms - r.timestamp_ms));
      }
    };
    auto options = Options(topic, savepoints);
    // The topic is new and empty: "earliest" cannot replay old records, while
    // "latest" skipped records produced before the consumer had resolved its
    // start offset (seen under load: 999 of 1000).
    options.kafka_properties["auto.offset.reset"] = "earliest";
    sdk::IdempotentConsumer consumer(options, &Bench::Apply, hooks);
    const auto join_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (consumer.stats().lag.size() < static_cast<size_t>(args_.partitions)) {  // assigned
      consumer.PollBatch(std::chrono::milliseconds(100));
      if (std::chrono::steady_clock::now() > join_deadline) throw std::runtime_error("latency: no assignment");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    consumer.PollBatch(std::chrono::milliseconds(0));
    std::string error;
    std::thread producer([&] {
      try {
        bench::Produce(args_.brokers, topic, Unique("lat") + "-", total, args_.rate);
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(args_.latency_seconds + 60);
    while (seen < total && std::chrono::steady_clock::now() < deadline)
      consumer.PollBatch(std::chrono::milliseconds(100));
    producer.join();
    if (!error.empty()) throw std::runtime_error("latency producer: " + error);
    if (seen < total)
      throw std::runtime_error("latency: " + std::to_string(seen.load()) + " of " + std::to_string(total));
    const sdk::Stats st = consumer.stats();  // the consumer's own view, as a cross-check
    std::printf("  consumer histograms: processing p99 <= %.0f ms, end-to-end p99 <= %.0f ms, mean batch %.1f\n",
                st.processing_time.QuantileUpperBoundMs(0.99), st.end_to_end_latency.QuantileUpperBoundMs(0.99),
                st.MeanBatchSize());
    Latency l;
    l.samples = ms.size();
    l.p50 = Quantile(ms, 0.5);
    l.p99 = Quantile(ms, 0.99);
    l.max = Quantile(ms, 1.0);
    return l;
  }

  double mean_batch() const { return mean_batch_; }

 private:
  const Args& args_;
  std::string schema_;
  mutable double mean_batch_ = 0;
};

void Run(const Args& args, const std::string& schema) {
  Bench b(args, schema);
  b.Setup();
  const std::string topic = Unique("consumer_bench");
  bench::CreateTopic(args.brokers, topic, static_cast<int>(args.partitions));
  bench::Produce(args.brokers, topic, Unique("ev") + "-", args.records, 0);

  using Savepoints = sdk::ConsumerOptions::Savepoints;
  std::vector<double> sdk_rates, lazy_rates, plain_rates, bulk_rates, ratios, lazy_ratios, batches;
  for (long run = 1; run <= args.runs; ++run) {
    b.Reset();
    const bench::Throughput s = b.RunSdk(topic, sdk::Handler(&Bench::Apply), Savepoints::kPerRecord);
    batches.push_back(b.mean_batch());
    b.Reset();
    const bench::Throughput p = b.RunPlain(topic);
    b.Reset();
    const bench::Throughput l = b.RunSdk(topic, sdk::Handler(&Bench::Apply), Savepoints::kOnFailure);
    b.Reset();
    const bench::Throughput k = b.RunSdk(topic, sdk::BatchHandler(&Bench::ApplyAll), Savepoints::kPerRecord);
    sdk_rates.push_back(s.per_second);
    lazy_rates.push_back(l.per_second);
    plain_rates.push_back(p.per_second);
    bulk_rates.push_back(k.per_second);
    ratios.push_back(s.per_second / p.per_second);
    lazy_ratios.push_back(l.per_second / p.per_second);
    std::printf(
        "run %ld: (a) %.0f/s (mean batch %.0f), (b) %.0f/s, (c) %.0f/s, (d) %.0f/s; (a)/(b) %.2f, (c)/(b) %.2f\n", run,
        s.per_second, b.mean_batch(), p.per_second, l.per_second, k.per_second, s.per_second / p.per_second,
        l.per_second / p.per_second);
    std::fflush(stdout);
  }
  std::printf("\nthroughput (median of %ld runs, %ld records each):\n", args.runs, args.records);
  std::printf("  (a) IdempotentConsumer, savepoint per record     %9.0f records/s\n", Median(sdk_rates));
  std::printf("  (b) plain batched inserts, no inbox (baseline)   %9.0f records/s\n", Median(plain_rates));
  std::printf("  (c) IdempotentConsumer, savepoints on failure    %9.0f records/s\n", Median(lazy_rates));
  std::printf("  (d) IdempotentConsumer, batch handler            %9.0f records/s\n", Median(bulk_rates));
  std::printf("  (a)/(b) %.2f   (c)/(b) %.2f   (medians of per-run ratios %.2f, %.2f)\n",
              Median(sdk_rates) / Median(plain_rates), Median(lazy_rates) / Median(plain_rates), Median(ratios),
              Median(lazy_ratios));

  // Latency of (a) and (c), alternating.
  std::map<Savepoints, std::vector<double>> p50s, p99s, maxes;
  const std::map<Savepoints, const char*> label = {{Savepoints::kPerRecord, "(a) savepoint per record"},
                                                   {Savepoints::kOnFailure, "(c) savepoints on failure"}};
  for (long run = 1; run <= args.latency_runs; ++run) {
    for (const auto mode : {Savepoints::kPerRecord, Savepoints::kOnFailure}) {
      const std::string lat_topic = Unique("consumer_bench_lat");
      bench::CreateTopic(args.brokers, lat_topic, static_cast<int>(args.partitions));
      const Bench::Latency l = b.RunLatency(lat_topic, mode);
      p50s[mode].push_back(l.p50);
      p99s[mode].push_back(l.p99);
      maxes[mode].push_back(l.max);
      std::printf("latency run %ld, %s: %zu records at %ld/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", run,
                  label.at(mode), l.samples, args.rate, l.p50, l.p99, l.max);
      std::fflush(stdout);
    }
  }
  if (args.latency_runs > 0) {
    std::printf("\nlatency (log append -> side-effect commit, median of %ld runs at %ld records/s):\n",
                args.latency_runs, args.rate);
    for (const auto mode : {Savepoints::kPerRecord, Savepoints::kOnFailure}) {
      std::printf("  %-28s p50 %6.1f ms   p99 %6.1f ms   max %6.1f ms\n", label.at(mode), Median(p50s[mode]),
                  Median(p99s[mode]), Median(maxes[mode]));
    }
  }
  if (!args.json.empty()) {
    std::ofstream out(args.json, std::ios::app);
    out << "{\"kind\":\"consumer\",\"records\":" << args.records << ",\"batch\":" << args.batch
        << ",\"wait_ms\":" << args.wait_ms << ",\"runs\":" << args.runs
        << ",\"sdk_records_per_s\":" << Median(sdk_rates) << ",\"plain_records_per_s\":" << Median(plain_rates)
        << ",\"on_failure_records_per_s\":" << Median(lazy_rates)
        << ",\"on_failure_ratio\":" << Median(lazy_rates) / Median(plain_rates)
        << ",\"ratio\":" << Median(sdk_rates) / Median(plain_rates)
        << ",\"batch_handler_records_per_s\":" << Median(bulk_rates) << ",\"mean_batch\":" << Median(batches)
        << ",\"latency_rate\":" << args.rate << ",\"latency_p50_ms\":" << Median(p50s[Savepoints::kPerRecord])
        << ",\"latency_p99_ms\":" << Median(p99s[Savepoints::kPerRecord])
        << ",\"latency_max_ms\":" << Median(maxes[Savepoints::kPerRecord])
        << ",\"on_failure_latency_p50_ms\":" << Median(p50s[Savepoints::kOnFailure])
        << ",\"on_failure_latency_p99_ms\":" << Median(p99s[Savepoints::kOnFailure]) << "}\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer-bench: %s; see --help\n", e.what());
    return 2;
  }
  const std::string schema = "consumer_bench_" + std::to_string(getpid());
  auto drop = [&] {
    try {
      pqxx::connection c(args.dsn);
      pqxx::nontransaction(c).exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    } catch (...) {
    }
  };
  try {
    Run(args, schema);
    drop();
    return 0;
  } catch (const std::exception& e) {
    drop();
    const std::string what = e.what();
    std::fprintf(stderr, "consumer-bench: %s\n", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
