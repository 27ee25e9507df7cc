// relay-drain-bench: a pre-filled backlog drained by the real outbox-relay
// binary (a child process with the shipped defaults), timed from its start to
// the last acknowledgement (the outbox is empty).
//
//   relay-drain-bench --dsn DSN --brokers HOST:PORT --relay PATH --events N
//                     [--json FILE] [--perf FILE] [--pg-pid PID] [--kafka-pid PID]
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

  pqxx::connection conn(dsn);
  FreshSchema(conn, schema);
  CreateTopic(brokers, topic);
  const double prefill_s = Prefill(conn, schema, events);
  const std::string config = work + "/relay-" + tag + ".toml";
  WriteRelayConfig(config, dsn, schema, brokers, topic);
  const std::string probe_sql = "SELECT min(seq) FROM " + schema + ".outbox";
  const long first_seq = pqxx::nontransaction(conn).exec1(probe_sql)[0].as<long>();

  const pid_t pg_pid = static_cast<pid_t>(flags.Int("pg-pid")), kafka_pid = static_cast<pid_t>(flags.Int("kafka-pid"));
  const double pg_cpu0 = pg_pid > 0 ? ProcessCpuSeconds(pg_pid, true) : 0;
  const double kafka_cpu0 = kafka_pid > 0 ? ProcessCpuSeconds(kafka_pid) : 0;

  const double start = Now();
  RelayProcess relay(flags.Str("relay"), config, work + "/relay-" + tag + ".log");
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
  pqxx::nontransaction(conn).exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  if (done < 0) throw std::runtime_error("the relay did not drain the backlog (exit " + std::to_string(rc) + ")");

  const double secs = done - start;
  nlohmann::json j = {
      {"kind", "drain"},
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
  std::printf(
      "drain %8ld events: %6.2f s  %9.0f events/s  relay cpu %.2f s (%.1f us/event)  peak rss %.1f MB  "
      "pg cpu %.2f s  kafka cpu %.2f s  load %.2f\n",
      events, secs, events / secs, cpu, cpu * 1e6 / events, hwm / 1024.0, pg_cpu, kafka_cpu, load);
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
                                    {"json", "-"},
                                    {"perf", "-"},
                                    {"pg-pid", "0"},
                                    {"kafka-pid", "0"},
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
