#include "fixtures.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cstdlib>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <pqxx/pqxx>

#include "bench_env.hpp"
#include "config/config.hpp"
#include "config/config_writer.hpp"
#include "outbox/migrations.hpp"

namespace outbox::bench {

void CreateTopic(const std::string& brokers, const std::string& topic) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // not taken on failure
    throw std::runtime_error(std::string("kafka admin client: ") + err);
  }
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), kPartitions, 1, err, sizeof err);
  rd_kafka_NewTopic_set_config(nt, "message.timestamp.type", "LogAppendTime");
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  std::string failure = "no result within 30 s";
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  if (ev != nullptr) {
    if (rd_kafka_event_error(ev)) {
      failure = rd_kafka_event_error_string(ev);
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** res =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      failure = n == 1 && rd_kafka_topic_result_error(res[0]) ? rd_kafka_topic_result_error_string(res[0]) : "";
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  if (!failure.empty()) throw std::runtime_error("creating topic " + topic + ": " + failure);
  // Let metadata settle so the first producer does not race the leader election.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

void FreshSchema(pqxx::connection_base& conn, const std::string& schema) {
  pqxx::nontransaction(conn).exec("DROP SCHEMA IF EXISTS " + sdk::QuoteIdentifier(schema) + " CASCADE");
  sdk::Migrate(conn, schema);
}

void DropBenchSchema(pqxx::connection_base& conn, const std::string& schema, const std::string& slot) {
  pqxx::nontransaction tx(conn);
  tx.exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  if (!slot.empty()) {
    tx.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = " + tx.quote(slot));
    tx.exec("DROP PUBLICATION IF EXISTS " + slot);
  }
}

std::string Payload(long n) {
  std::string s =
      "{\"n\":" + std::to_string(n) + ",\"customer\":\"customer-" + std::to_string(n % 1000) + "\",\"pad\":\"";
  s.resize(254, 'x');
  return s + "\"}";
}

std::string AggregateId(long n) { return "order-" + std::to_string(n % kAggregates); }

constexpr long kPrefillStatementRows = 1000000;

double Prefill(pqxx::connection_base& conn, const std::string& schema, long n, long per_tx) {
  const std::string table = sdk::QuoteIdentifier(schema) + ".outbox";
  const double start = Now();
  if (per_tx <= 0 || per_tx > n) per_tx = n;
  pqxx::nontransaction(conn).exec("SET statement_timeout = 0");  // VACUUM of a 10M backlog takes minutes
  for (long first = 1; first <= n; first += per_tx) {
    pqxx::work tx(conn);
    const long last = std::min(n, first + per_tx - 1);
    // Statements of at most 1M rows: a 10M backlog in one would outlast the
    // sessions' statement_timeout (the relay's default, 60 s).
    for (long from = first; from <= last; from += kPrefillStatementRows) {
      // Same shape as Payload(n): rpad to 254 characters, then '"}'.
      tx.exec0(
          "INSERT INTO " + table +
          " (aggregate_type, aggregate_id, event_type, payload, headers) "
          "SELECT 'bench', 'order-' || (g % " +
          std::to_string(kAggregates) +
          "), 'BenchEvent', "
          "convert_to(rpad('{\"n\":' || g || ',\"customer\":\"customer-' || (g % 1000) || '\",\"pad\":\"', 254, 'x')"
          " || '\"}', 'UTF8'), jsonb_build_object('traceparent', " +
          tx.quote(kTraceparent) +
          ") "
          "FROM generate_series(" +
          std::to_string(from) + ", " + std::to_string(std::min(last, from + kPrefillStatementRows - 1)) + ") AS g");
    }
    tx.commit();
  }
  const double took = Now() - start;
  pqxx::nontransaction(conn).exec("VACUUM ANALYZE " + table);
  return took;
}

void WriteRelayConfig(const std::string& path, const std::string& dsn, const std::string& schema,
                      const std::string& brokers, const std::string& topic, const std::string& http_listen,
                      const std::string& slot, bool exactly_once) {
  relay::Config c;  // the shipped defaults except these
  c.postgres.dsn = dsn;
  c.outbox.schema = schema;
  c.kafka.brokers = brokers;
  c.kafka.topic_template = topic;
  c.log.progress_interval = std::chrono::seconds(5);
  c.http.listen = http_listen;
  if (!slot.empty()) {
    c.source.mode = relay::SourceMode::kTail;
    c.source.slot_name = c.source.publication_name = slot;
  }
  if (exactly_once) {
    c.kafka.delivery = relay::Delivery::kExactlyOnce;
    c.kafka.transactional_id = "bench." + schema;
    // One checkpoint topic for every run (a key each), as in production,
    // where it exists before a relay starts: runs do not time its creation.
    c.kafka.checkpoint_topic = "bench.checkpoints";
  }
  // OUTBOX_BENCH_KAFKA_DEBUG=eos,protocol: librdkafka's debug contexts, logged to the relay's log.
  if (const char* d = std::getenv("OUTBOX_BENCH_KAFKA_DEBUG")) {
    c.kafka.properties["debug"] = d;
    c.log.level = "debug";
  }
  std::ofstream f(path);
  f << "# written by the relay benchmarks: only what differs from the shipped defaults\n"
    << relay::ConfigToToml(c, /*only_changed=*/true);
  if (!f) throw std::runtime_error("cannot write " + path);
}

namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::perror("exec");
    _exit(127);
  }
  close(fd);
  if (pid < 0) throw std::runtime_error("fork failed");
  return pid;
}

int WaitExit(pid_t pid, double timeout_s) {
  const double deadline = Now() + timeout_s;
  int status = 0;
  while (Now() < deadline) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

int ThreadCount(const std::string& task_dir) {
  int n = 0;
  if (DIR* d = opendir(task_dir.c_str())) {
    for (int guard = 0; guard < 100000 && readdir(d) != nullptr; ++guard) ++n;
    closedir(d);
  }
  return n - 2;  // . and ..
}

}  // namespace

RelayProcess::RelayProcess(const std::string& binary, const std::string& config, const std::string& log)
    : pid_(Spawn({binary, "-c", config, "run"}, log)) {}

RelayProcess::~RelayProcess() noexcept {
  if (pid_ > 0) Stop(10);
}

bool RelayProcess::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  return waitpid(pid_, &status, WNOHANG) == 0;
}

int RelayProcess::Stop(double timeout_s) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const int rc = WaitExit(pid_, timeout_s);
  pid_ = -1;
  return rc;
}

PerfRecord::PerfRecord(pid_t target, const std::string& out) {
  // perf -p samples the threads that exist when it attaches: wait for librdkafka's.
  const std::string tasks = "/proc/" + std::to_string(target) + "/task";
  for (int i = 0; i < 200 && ThreadCount(tasks) < 6; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  pid_ = Spawn({"perf", "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384", "-q", "-o", out, "-p",
                std::to_string(target)},
               out + ".log");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

PerfRecord::~PerfRecord() noexcept { Stop(); }

void PerfRecord::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGINT);
  WaitExit(pid_, 120);
  pid_ = -1;
}

}  // namespace outbox::bench
