#include "relay_harness.hpp"

#include "writers.hpp"

#include "config/config_writer.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <gtest/gtest.h>
#include <pqxx/nontransaction>

namespace outbox::test {

relay::Config RelayConfig(const std::string& schema, const std::string& topic_prefix, const std::string& brokers) {
  relay::Config c;
  c.postgres.dsn = PgDsn();
  c.kafka.brokers = brokers.empty() ? KafkaBrokers() : brokers;
  c.kafka.topic_template = topic_prefix + ".${aggregate_type}";
  c.kafka.delivery_timeout = std::chrono::milliseconds(0);  // the default: never expire a record
  c.outbox.schema = schema;
  c.source.poll_interval = std::chrono::milliseconds(200);
  c.source.batch_size = 500;
  c.source.max_in_flight = 5000;
  c.log.progress_interval = std::chrono::seconds(0);
  c.shutdown.drain_timeout = std::chrono::milliseconds(10000);
  return c;
}

bool TailStreaming(const relay::Config& config) {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  // A walsender holds the slot (while it is created, the creating backend does).
  return !tx.exec_params(
                "SELECT 1 FROM pg_replication_slots s JOIN pg_stat_activity a ON a.pid = s.active_pid "
                "WHERE s.slot_name = $1 AND a.backend_type = 'walsender'",
                config.source.slot_name)
              .empty();
}

int64_t SlotConfirmedLsn(const relay::Config& config) {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  auto r = tx.exec_params("SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = $1",
                          config.source.slot_name);
  return r.empty() || r[0][0].is_null() ? -1 : r[0][0].as<int64_t>();
}

int64_t CurrentWalLsn() {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  return tx.exec1("SELECT (pg_current_wal_lsn() - '0/0')::bigint")[0].as<int64_t>();
}

RelayThread::RelayThread(relay::Config config) : relay_(std::make_unique<relay::Relay>(std::move(config))) {
  thread_ = std::thread([this] {
    try {
      result_ = relay_->Run();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "relay threw: " << e.what();
      result_ = -1;
    }
  });
}

RelayThread::~RelayThread() { Stop(); }

int RelayThread::Stop() {
  if (!stopped_) {
    stopped_ = true;
    relay_->RequestStop();
    thread_.join();
  }
  return result_;
}

RelayProcess::RelayProcess(const relay::Config& config, const std::string& log_path) {
  const char* bin_dir = std::getenv("OUTBOX_BIN_DIR");
  if (bin_dir == nullptr) throw std::runtime_error("OUTBOX_BIN_DIR is not set; run through ctest");
  const std::string binary = std::string(bin_dir) + "/relay/outbox-relay";
  config_path_ = "/tmp/" + UniqueName("relay") + ".toml";
  std::ofstream(config_path_) << relay::ConfigToToml(config, /*only_changed=*/true);
  log_path_ = log_path.empty() ? "/tmp/" + UniqueName("relay") + ".log" : log_path;
  const std::string log = log_path_;
  const std::streampos start = std::ifstream(log_path_, std::ios::ate).tellg();
  log_offset_ = start < 0 ? 0 : static_cast<long>(start);
  pid_ = fork();
  if (pid_ == 0) {
    FILE* f = freopen(log.c_str(), "a", stderr);
    (void)f;
    execl(binary.c_str(), binary.c_str(), "-c", config_path_.c_str(), "run", static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

RelayProcess::~RelayProcess() {
  if (pid_ > 0 && status_ < 0) {
    kill(pid_, SIGCONT);  // a stopped process must run to die
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(config_path_.c_str());
}

void RelayProcess::Signal(int sig) { kill(pid_, sig); }

std::string RelayProcess::Log() const {
  std::ifstream in(log_path_);
  in.seekg(log_offset_);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool RelayProcess::LogContains(const std::string& needle) const { return Log().find(needle) != std::string::npos; }

bool RelayProcess::WaitForLog(const std::string& needle, int timeout_ms) const {
  return WaitFor([&] { return LogContains(needle); }, timeout_ms);
}

int RelayProcess::Wait(int timeout_ms) {
  if (status_ >= 0) return status_;
  int st = 0;
  const bool done = WaitFor([&] { return waitpid(pid_, &st, WNOHANG) == pid_; }, timeout_ms);
  if (!done) return -1;
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return status_;
}

CommandResult RunRelay(const relay::Config& config, const std::vector<std::string>& args, int timeout_s) {
  const std::string path = WriteTempFile("relay_cmd", relay::ConfigToToml(config, /*only_changed=*/true));
  std::vector<std::string> argv = {"-c", path};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunRelayCommand(argv, timeout_s);
  std::remove(path.c_str());
  return r;
}

bool WaitFor(const std::function<bool()>& pred, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

relay::Config TailConfig(relay::Config config) {
  config.source.mode = relay::SourceMode::kTail;
  // Slots and publications belong to the database, not the test's schema.
  config.source.slot_name = "s_" + config.outbox.schema;
  config.source.publication_name = "p_" + config.outbox.schema;
  return config;
}

void DropTailSlot(const relay::Config& config) {
  pqxx::connection c(PgDsn());
  for (int i = 0; i < 100; ++i) {
    pqxx::nontransaction tx(c);
    // The walsender of a stopped (or killed) relay may linger a moment.
    tx.exec_params(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
        "WHERE slot_name = $1 AND active_pid IS NOT NULL",
        config.source.slot_name);
    try {
      tx.exec_params("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                     config.source.slot_name);
      break;
    } catch (const pqxx::sql_error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  pqxx::nontransaction tx(c);
  tx.exec("DROP PUBLICATION IF EXISTS \"" + config.source.publication_name + "\"");
}

int64_t OutboxRows(const std::string& schema) {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  return tx.exec1("SELECT count(*) FROM \"" + schema + "\".outbox")[0].as<int64_t>();
}

Audit AuditDelivery(const std::vector<WrittenEvent>& committed, const std::vector<ConsumedRecord>& records) {
  Audit a;
  a.committed = committed.size();
  a.delivered = records.size();
  // Position of each committed event within its aggregate's commit order.
  std::unordered_map<std::string, std::pair<std::string, size_t>> rank;  // id -> (aggregate, index)
  std::unordered_map<std::string, size_t> per_key;
  for (const auto& e : committed) rank[e.id] = {e.aggregate_id, per_key[e.aggregate_id]++};

  // Records of one key share a partition; read them in offset order.
  std::vector<const ConsumedRecord*> sorted;
  for (const auto& r : records) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) {
    return std::tie(x->topic, x->partition, x->offset) < std::tie(y->topic, y->partition, y->offset);
  });
  std::unordered_set<std::string> seen;
  std::unordered_map<std::string, size_t> last_rank;  // aggregate -> last first-delivery index
  for (const auto* r : sorted) {
    const std::string id = r->Header("event_id");
    auto it = rank.find(id);
    if (it == rank.end()) {
      if (a.first_problem.empty()) a.first_problem = "phantom event " + id;
      ++a.phantom;
      continue;
    }
    if (!seen.insert(id).second) {
      ++a.duplicates;
      continue;
    }
    const auto& [aggregate, index] = it->second;
    auto last = last_rank.find(aggregate);
    if (last != last_rank.end() && index < last->second) {
      if (a.first_problem.empty()) {
        a.first_problem =
            "aggregate " + aggregate + ": event #" + std::to_string(index) + " after #" + std::to_string(last->second);
      }
      ++a.inversions;
    }
    last_rank[aggregate] = last == last_rank.end() ? index : std::max(index, last->second);
  }
  for (const auto& e : committed) {
    if (!seen.count(e.id)) {
      if (a.first_problem.empty()) a.first_problem = "lost event " + e.id;
      ++a.lost;
    }
  }
  return a;
}

std::vector<ConsumedRecord> ConsumeEvents(const std::vector<std::string>& topics,
                                          const std::vector<WrittenEvent>& committed, int timeout_ms,
                                          const std::string& brokers) {
  std::unordered_set<std::string> missing;
  for (const auto& e : committed) missing.insert(e.id);
  size_t checked = 0;
  auto quiet_since = std::chrono::steady_clock::now();
  return ConsumeUntil(
      topics,
      [&](const std::vector<ConsumedRecord>& got) {
        const auto now = std::chrono::steady_clock::now();
        if (checked < got.size()) quiet_since = now;
        for (; checked < got.size(); ++checked) missing.erase(got[checked].Header("event_id"));
        // Once all are in, keep reading until the topics stay quiet, so late
        // duplicates or phantoms are counted too.
        return missing.empty() && now - quiet_since > std::chrono::milliseconds(1500);
      },
      timeout_ms, brokers);
}

Audit KillRestartAndAudit(const std::string& name, const relay::Config& config, const std::string& schema,
                          const std::string& topic_prefix, int kills, int first_kill_ms, int step_ms,
                          const std::string& ready_line, const std::function<void()>& after_kill) {
  const std::string log = "/tmp/" + topic_prefix + ".log";
  std::vector<WrittenEvent> committed;
  std::thread writer([&] {
    WriterOptions w;
    w.schema = schema;
    w.writers = 4;
    w.transactions_per_writer = 250;
    w.events_per_transaction = 3;
    w.pause_between_us = 5000;
    w.aggregates = 30;
    committed = RunWriters(w);
  });
  for (int k = 0; k < kills; ++k) {
    RelayProcess relay(config, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(first_kill_ms + step_ms * k));
    relay.Signal(SIGKILL);
    EXPECT_EQ(relay.Wait(5000), 128 + SIGKILL);
    if (after_kill) after_kill();
  }
  writer.join();

  RelayProcess relay(config, log);
  EXPECT_TRUE(relay.WaitForLog(ready_line)) << "see " << log;
  EXPECT_TRUE(WaitFor([&] { return OutboxRows(schema) == 0; }, 60000)) << "the outbox never drained; see " << log;
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(15000), 0) << "SIGTERM drains and exits 0; see " << log;

  Audit audit = AuditDelivery(committed, ConsumeEvents({topic_prefix + ".account"}, committed));
  ::testing::Test::RecordProperty("duplicates", static_cast<int>(audit.duplicates));
  std::printf("%s: %d kills, %zu events committed, %zu delivered, lost=%zu phantom=%zu duplicates=%zu inversions=%zu\n",
              name.c_str(), kills, audit.committed, audit.delivered, audit.lost, audit.phantom, audit.duplicates,
              audit.inversions);
  EXPECT_EQ(audit.lost, 0u) << audit.first_problem;
  EXPECT_EQ(audit.phantom, 0u) << audit.first_problem;
  EXPECT_EQ(audit.inversions, 0u) << audit.first_problem;
  return audit;
}

}  // namespace outbox::test
