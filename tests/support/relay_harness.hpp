#pragma once
// Helpers to run the relay against the real test servers: in-process (a thread
// running relay::Relay) or as the real outbox-relay executable, plus an audit
// of what reached Kafka against what was committed in Postgres.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/connection>

#include "config/config.hpp"
#include "pipeline/relay.hpp"
#include "test_env.hpp"

namespace outbox::test {

/// A relay configuration for `schema`, publishing to "<topic_prefix>.<aggregate_type>".
relay::Config RelayConfig(const std::string& schema, const std::string& topic_prefix, const std::string& brokers = "");

/// `config` switched to source.mode = "tail" with a slot and publication named after its schema.
relay::Config TailConfig(relay::Config config);

/// True once a tail-mode relay streams from its slot (a walsender holds it).
bool TailStreaming(const relay::Config& config);

/// The slot's confirmed_flush_lsn as a number; -1 when there is no slot.
int64_t SlotConfirmedLsn(const relay::Config& config);

/// The server's current WAL position as a number.
int64_t CurrentWalLsn();

/// Drops the slot and publication of a tail-mode `config` (test clean-up; a slot left behind pins WAL).
void DropTailSlot(const relay::Config& config);

/// Drops the tail-mode slot and publication when the test ends, however it ends.
struct TailSlotGuard {
  explicit TailSlotGuard(relay::Config c) : config(std::move(c)) {}
  ~TailSlotGuard() {
    if (config.source.mode != relay::SourceMode::kTail) return;
    try {
      DropTailSlot(config);
    } catch (...) {
    }
  }
  relay::Config config;
};

/// Runs relay::Relay::Run() on a thread until Stop() (or destruction).
class RelayThread {
 public:
  explicit RelayThread(relay::Config config);
  ~RelayThread();
  /// Requests a drain and joins; returns Run()'s result (-1 if it threw).
  int Stop();
  const relay::RelayStats& stats() const { return relay_->stats(); }
  relay::Relay& relay() { return *relay_; }

 private:
  std::unique_ptr<relay::Relay> relay_;
  std::thread thread_;
  int result_ = -1;
  bool stopped_ = false;
};

/// The outbox-relay executable (from OUTBOX_BIN_DIR) running `run` on
/// relay::ConfigToToml(config), its stderr appended to `log_path`.
class RelayProcess {
 public:
  explicit RelayProcess(const relay::Config& config, const std::string& log_path = "");
  ~RelayProcess();  // SIGKILL (after SIGCONT) if still running
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;
  void Signal(int sig);
  /// What the relay logged since it started.
  std::string Log() const;
  /// True when the log written since start contains `needle`.
  bool LogContains(const std::string& needle) const;
  /// Waits until the relay's log contains `needle` (e.g. "relay starting").
  bool WaitForLog(const std::string& needle, int timeout_ms = 15000) const;
  /// Waits for exit; returns the exit code, 128+signal when killed, -1 on timeout.
  int Wait(int timeout_ms);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string config_path_;
  std::string log_path_;
  long log_offset_ = 0;  // the log may be shared by several processes in turn
  int status_ = -1;
};

/// Runs `outbox-relay -c <config> <args...>` (the executable, on
/// ConfigToToml(config, only_changed)); returns its exit code and output.
CommandResult RunRelay(const relay::Config& config, const std::vector<std::string>& args, int timeout_s = 60);

/// Polls `pred` every 20 ms until it holds or `timeout_ms` passes; returns its last value.
bool WaitFor(const std::function<bool()>& pred, int timeout_ms);

/// Rows currently in <schema>.outbox.
int64_t OutboxRows(const std::string& schema);

/// One committed event as the test wrote it, for the audit.
struct WrittenEvent {
  std::string id;
  std::string aggregate_id;
};

/// What reached Kafka compared with what was committed.
struct Audit {
  size_t committed = 0;
  size_t delivered = 0;   ///< records read from Kafka
  size_t lost = 0;        ///< committed, never delivered
  size_t phantom = 0;     ///< delivered, never committed (e.g. rolled back)
  size_t duplicates = 0;  ///< deliveries beyond the first of an event id
  size_t inversions = 0;  ///< per key, first deliveries out of commit order
  std::string first_problem;
};

/// `committed` holds each aggregate's events in commit order (any interleaving
/// across aggregates). Records are compared by the event_id header.
Audit AuditDelivery(const std::vector<WrittenEvent>& committed, const std::vector<ConsumedRecord>& records);

/// Reads the topics until every event in `committed` has been seen (or timeout).
std::vector<ConsumedRecord> ConsumeEvents(const std::vector<std::string>& topics,
                                          const std::vector<WrittenEvent>& committed, int timeout_ms = 60000,
                                          const std::string& brokers = "");

/// The kill loop of the restart tests: while 4 writers commit 3,000 events on
/// 30 aggregates of `schema`, the outbox-relay executable on `config` is
/// SIGKILLed `kills` times, the i-th time `first_kill_ms + i * step_ms` after
/// it was spawned (`after_kill` runs after each kill); then a last relay
/// drains (once its log shows `ready_line`) and exits 0 on SIGTERM. Returns
/// the audit of "<topic prefix>.account" against what committed, printed as
/// one line tagged `name`. Expects no loss, phantom or inversion.
Audit KillRestartAndAudit(const std::string& name, const relay::Config& config, const std::string& schema,
                          const std::string& topic_prefix, int kills, int first_kill_ms, int step_ms,
                          const std::string& ready_line, const std::function<void()>& after_kill = {});

}  // namespace outbox::test
