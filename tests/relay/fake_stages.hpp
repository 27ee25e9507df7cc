#pragma once
// Fake stages for the relay's unit tests: an outbox table in memory that the
// fake source reads and the fake ack store deletes from, and a broker whose
// delivery reports the test controls. No servers; Relay::Step() is driven by
// the test with its own clock.

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "pipeline/lsn_tracker.hpp"
#include "pipeline/relay.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay::fake {

/// The outbox table both fakes share.
struct Table {
  std::map<int64_t, OutboxRow> rows;          // seq -> row, unacknowledged
  std::map<int64_t, OutboxRow> dead_letters;  // seq -> row
  std::vector<int64_t> acked;                 // in ack order
  int64_t next_seq = 1;

  /// Inserts an event of aggregate `key` (type "order") with payload `value`; returns its seq.
  int64_t Insert(const std::string& key, const std::string& value, const std::string& topic = "");
};

/// Reads the table in seq order from a cursor; Rewind() starts over. In
/// "stream" mode each Read() is one transaction per event, tracked by a real
/// LsnTracker whose LSN is the seq (to test the confirmation rule).
class Source : public relay::Source {
 public:
  explicit Source(Table& table) : table_(table) {}
  void Connect() override { connected_ = true; }
  bool connected() const override { return connected_; }
  void Disconnect() noexcept override { connected_ = false; }
  std::vector<OutboxRow> Read(size_t max, size_t outstanding) override;
  void Released(const std::vector<uint64_t>& txns) override;
  void Rewind() override;
  std::vector<int> WaitFds(bool) const override { return {}; }
  SourceSignals TakeSignals(bool) override { return {}; }
  uint64_t confirmed_lsn() const override { return lsn_.confirmed(); }

  bool stream = false;
  int reads = 0;
  size_t max_outstanding_seen = 0;  // the largest window a Read() saw

 private:
  Table& table_;
  bool connected_ = false;
  int64_t cursor_ = 0;
  LsnTracker lsn_;
};

/// A broker: records wait in order until the test settles them. Decide()
/// (default: all ok) gives each record's outcome when it is delivered.
class Publisher : public relay::Publisher {
 public:
  struct Sent {
    DeliveryToken token;
    KafkaRecord record;
  };
  DeliveryReport Produce(const KafkaRecord& record, DeliveryToken token) override;
  bool Poll(int timeout_ms, std::vector<DeliveryReport>& out) override;
  int EventFd() const override { return -1; }
  size_t OutQueueLength() const override { return outstanding.size(); }
  bool BrokersDown() override { return false; }
  void InjectFatalError(const std::string&) override { rebuild_next_poll = true; }

  // Exactly once: recovery as the transactional publisher does it.
  bool NeedsRecovery() const override { return needs_recovery; }
  CheckpointContent Recover() override {
    if (recover_fails) throw std::runtime_error("recovery failed");
    needs_recovery = false;
    ++recoveries;
    return recovered;
  }
  void AttachTransactions(RelayStats&, std::function<CheckpointContent()> c) override { checkpoint = std::move(c); }
  void SetBacklog(bool b) override {
    backlog = b;
    backlog_seen |= b;
  }
  bool backlog = false;       // what the relay said last
  bool backlog_seen = false;  // whether it ever said "backlog"
  bool needs_recovery = false;
  bool recover_fails = false;
  int recoveries = 0;
  CheckpointContent recovered;                    // what Recover() returns
  std::function<CheckpointContent()> checkpoint;  // the relay's: what a commit now would name

  /// Delivers the oldest `n` outstanding records (all by default) with Decide()'s outcome.
  void Deliver(size_t n = SIZE_MAX);
  /// Delivers the outstanding record whose value is `value` with `status`.
  void Settle(const std::string& value, DeliveryStatus status);

  std::function<DeliveryStatus(const KafkaRecord&)> decide = [](const KafkaRecord&) { return DeliveryStatus::kOk; };
  /// Refuse at Produce() (a synchronous failure) when this says so.
  std::function<DeliveryStatus(const KafkaRecord&)> refuse = [](const KafkaRecord&) { return DeliveryStatus::kOk; };
  bool auto_deliver = true;  // Poll() delivers everything outstanding first
  /// A failed record fails the later outstanding records of its key too (a
  /// partition with enable.gapless.guarantee: nothing is written past a gap).
  bool gapless = false;
  bool rebuild_next_poll = false;
  size_t queue_limit = SIZE_MAX;

  std::deque<Sent> outstanding;
  std::vector<KafkaRecord> written;  // what reached the log, in order
  std::vector<DeliveryReport> ready;

 private:
  void Report(const Sent& s, DeliveryStatus status);
};

class AckStore : public relay::AckStore {
 public:
  explicit AckStore(Table& table) : table_(table) {}
  void Connect() override { connected_ = true; }
  bool connected() const override { return connected_; }
  void Disconnect() noexcept override { connected_ = false; }
  std::vector<RowRef> Ack(const std::vector<RowRef>& rows) override;
  /// Rows Ack() does not see yet (tail mode: a commit waiting for a synchronous standby).
  std::unordered_set<int64_t> invisible;
  bool MoveToDeadLetter(RowRef row, const std::string& reason, uint32_t attempts) override;
  void RecordAttempts(const std::vector<std::pair<RowRef, uint32_t>>& attempts) override {
    for (const auto& [row, n] : attempts) {
      if (auto it = table_.rows.find(row.seq); it != table_.rows.end()) it->second.attempts = n;
    }
  }
  RowRef Materialize(const OutboxRow& event) override {
    OutboxRow r = event;
    r.seq = table_.next_seq++;
    r.in_table = true;
    r.txn = 0;
    table_.rows[r.seq] = r;
    return RowRef{r.seq, 0};
  }
  std::unordered_set<std::string> DeadLetteredKeys() override;
  size_t PurgeRetention(size_t) override { return 0; }
  std::optional<BacklogReading> ReadBacklog(bool) override { return std::nullopt; }
  std::optional<int64_t> SlotRetainedWal() override { return std::nullopt; }

  bool fail_acks = false;

 private:
  Table& table_;
  std::atomic<bool> connected_{false};  // an AckWorker's store connects on the worker's thread
};

/// A relay on fakes, stepped by the test with a clock of its own.
struct Harness {
  explicit Harness(Config config = DefaultConfig());
  static Config DefaultConfig();
  /// Steps until `pred` holds or `max_steps` steps ran; each step advances the clock by 10 ms.
  bool StepUntil(const std::function<bool()>& pred, int max_steps = 2000);
  void Steps(int n);
  /// The values written for aggregate `key`, in log order.
  std::vector<std::string> Written(const std::string& key) const;

  Table table;
  Source* source = nullptr;
  Publisher* publisher = nullptr;
  AckStore* acks = nullptr;
  std::unique_ptr<Relay> relay;
  Clock::time_point now = Clock::now();
};

}  // namespace outbox::relay::fake
