// relay-drain-bench: a pre-filled backlog drained by the real outbox-relay
// binary (a child process with the shipped defaults), timed from its start to
// the last acknowledgement (the outbox is empty).
//
//   relay-drain-bench --dsn DSN --brokers HOST:PORT --relay PATH --events N
//                     [--mode poll|tail] [--stream 1] [--per-tx N] [--json FILE] [--perf FILE]
//                     [--pg-pid PID] [--kafka-pid PID] [--delivery at_least_once|exactly_once]
//
// --mode tail runs the relay in tail mode. With --stream 1 the relay starts
// first and the backlog (one transaction of N events, or of --per-tx events
// each) is written once it streams from its slot: the events come from the
// WAL, not from the catch-up's poll of the table.
//
// Figures: events/s over the whole drain and after the first ack, the relay's
// CPU seconds (user + system, all threads, from /proc) and peak RSS (VmHWM),
// and, when their pids are given, the CPU seconds Postgres and Kafka spent.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include <pqxx/pqxx>

#include "bench_env.hpp"
#include "fixtures.hpp"

namespace {

using namespace outbox::bench;

int Run(const Flags& flags) {
  const long events = flags.Int("events");
  const std::string dsn = flags.Str("dsn"), brokers = flags.Str("brokers");
  const std::string tag = std::to_string(events) + "_" + std::to_string(getpid());
  const std::string schema = "bench_drain_" + tag, topic = "bench.drain." + tag;
  const std::string work = flags.Str("work-dir");
  const double load = LoadAverage1();

  const std::string mode = flags.Str("mode");
  if (mode != "poll" && mode != "tail") throw std::runtime_error("--mode: poll or tail");
  const bool stream = flags.Int("stream") != 0;
  if (stream && mode != "tail") throw std::runtime_error("--stream 1 needs --mode tail");
  const long per_tx = flags.Int("per-tx");
  const std::string slot = mode == "tail" ? schema : "";
  const std::string delivery = flags.Str("delivery");
  if (delivery != "at_least_once" && delivery != "exactly_once") {
    throw std::runtime_error("--delivery: at_least_once or exactly_once");
  }

  pqxx::connection conn(dsn);
  FreshSchema(conn, schema);
  CreateTopic(brokers, topic);
  const std::string config = work + "/relay-" + tag + ".toml";
  WriteRelayConfig(config, dsn, schema, brokers, topic, "", slot, delivery == "exactly_once");
  const std::string probe_sql = "SELECT min(seq) FROM " + schema + ".outbox";
  double prefill_s = 0;
  long first_seq = 0;
  std::unique_ptr<RelayProcess> streaming;
  if (stream) {
    // The relay first: it creates its slot and streams before the backlog commits.
    streaming = std::make_unique<RelayProcess>(flags.Str("relay"), config, work + "/relay-" + tag + ".log");
    const std::string active = "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + slot + "'";
    for (int i = 0; i < 600 && pqxx::nontransaction(conn).exec1(active)[0].as<int>() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } else {
    prefill_s = Prefill(conn, schema, events);
    first_seq = pqxx::nontransaction(conn).exec1(probe_sql)[0].as<long>();
  }

  const pid_t pg_pid = static_cast<pid_t>(flags.Int("pg-pid")), kafka_pid = static_cast<pid_t>(flags.Int("kafka-pid"));
  const double pg_cpu0 = pg_pid > 0 ? ProcessCpuSeconds(pg_pid, true) : 0;
  const double kafka_cpu0 = kafka_pid > 0 ? ProcessCpuSeconds(kafka_pid) : 0;

  double start = Now();
  if (stream) {
    // One transaction: timed from its commit (its events reach the slot only
    // then). Several: from the first, since the relay streams while the rest
    // are written (the figure is then at most the writing rate, prefill_s).
    const bool one = per_tx <= 0 || per_tx >= events;
    prefill_s = Prefill(conn, schema, events, per_tx);
    if (one) start = Now();
  }
  std::unique_ptr<RelayProcess> started =
      stream ? std::move(streaming)
             : std::make_unique<RelayProcess>(flags.Str("relay"), config, work + "/relay-" + tag + ".log");
  RelayProcess& relay = *started;
  std::unique_ptr<PerfRecord> perf;
  if (flags.Str("perf") != "-") perf = std::make_unique<PerfRecord>(relay.pid(), flags.Str("perf"));
  double first_ack = -1, done = -1, cpu = -1;
  long hwm = -1;
  const double deadline = start + flags.Num("timeout");
  while (Now() < deadline && relay.Alive()) {
    const auto r = pqxx::nontransaction(conn).exec1(probe_sql);
    const double t = Now();
    if (r[0].is_null()) {
      done = t;
      break;
    }
    if (first_seq == 0) first_seq = r[0].as<long>();
    if (first_ack < 0 && r[0].as<long>() > first_seq) first_ack = t;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (done > 0) {
    cpu = ProcessCpuSeconds(relay.pid());
    hwm = ProcStatusKb(relay.pid(), "VmHWM");
  }
  const double pg_cpu = pg_pid > 0 ? ProcessCpuSeconds(pg_pid, true) - pg_cpu0 : -1;
  const double kafka_cpu = kafka_pid > 0 ? ProcessCpuSeconds(kafka_pid) - kafka_cpu0 : -1;
  if (perf) perf->Stop();
  const int rc = relay.Stop();
  DropBenchSchema(conn, schema, slot);
  if (done < 0) throw std::runtime_error("the relay did not drain the backlog (exit " + std::to_string(rc) + ")");

  const double secs = done - start;
  nlohmann::json j = {
      {"kind", "drain"},
      {"source_mode", mode},
      {"delivery", delivery},
      {"streamed", stream},
      {"events_per_tx", stream && per_tx > 0 && per_tx < events ? per_tx : events},
      {"events", events},
      {"load_avg_1m_at_start", load},
      {"prefill_seconds", prefill_s},
      {"seconds", secs},
      {"events_per_s", events / secs},
      {"first_ack_after_s", first_ack > 0 ? first_ack - start : secs},
      {"events_per_s_after_first_ack", first_ack > 0 && done > first_ack ? events / (done - first_ack) : 0},
      {"relay_cpu_s", cpu},
      {"relay_cpu_us_per_event", cpu * 1e6 / events},
      {"relay_peak_rss_mb", hwm / 1024.0},
      {"postgres_cpu_s", pg_cpu},
      {"kafka_cpu_s", kafka_cpu},
      {"relay_exit", rc},
      {"profiled", perf != nullptr}};
  const std::string how = !stream                         ? ""
                          : per_tx > 0 && per_tx < events ? ", streamed, " + std::to_string(per_tx) + " per transaction"
                                                          : ", streamed, one transaction";
  std::printf(
      "drain %8ld events (%s%s%s): %6.2f s  %9.0f events/s  relay cpu %.2f s (%.1f us/event)  peak rss %.1f MB  "
      "pg cpu %.2f s  kafka cpu %.2f s  load %.2f\n",
      events, mode.c_str(), delivery == "exactly_once" ? ", exactly_once" : "", how.c_str(), secs, events / secs, cpu,
      cpu * 1e6 / events, hwm / 1024.0, pg_cpu, kafka_cpu, load);
  if (flags.Str("json") != "-") AppendJsonLine(flags.Str("json"), j);
  if (rc != 0) std::fprintf(stderr, "relay-drain-bench: the relay exited %d after SIGTERM, expected 0\n", rc);
  return rc == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("relay-drain-bench", {{"dsn", ""},
                                    {"brokers", ""},
                                    {"relay", ""},
                                    {"events", "100000"},
                                    {"mode", "poll"},
                                    {"stream", "0"},
                                    {"per-tx", "0"},
                                    {"json", "-"},
                                    {"perf", "-"},
                                    {"pg-pid", "0"},
                                    {"kafka-pid", "0"},
                                    {"delivery", "at_least_once"},
                                    {"work-dir", "/tmp"},
                                    {"timeout", "600"}});
  try {
    flags.Parse(argc, argv);
    return Run(flags);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::fprintf(stderr, "relay-drain-bench: %s\n", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
