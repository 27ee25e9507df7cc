#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kafka/producer.hpp"
#include "pipeline/stages.hpp"
#include "pipeline/stats.hpp"

namespace outbox::relay {

struct KafkaConfig;
struct RelayStats;

/// The Publisher of kafka.delivery = "exactly_once": a transactional producer.
/// Records go into a Kafka transaction, which commits once it holds
/// transaction_max_events events or has been open transaction_interval,
/// together with a checkpoint record (kafka/checkpoint.hpp) naming every row
/// published and not yet acknowledged. Delivery reports reach the relay only
/// when their transaction is over: all succeed when it committed; when it was
/// aborted all fail (retriable, or the broker's permanent error for a record
/// it rejected), so the relay reads them again and publishes them, in the
/// same order, in a later transaction. A fatal error (fencing included) drops
/// the producer: its open transaction is lost with it, and Recover() starts a
/// new one, which reads the checkpoint to learn what did commit.
///
/// The commit runs on a thread of its own (commit_transaction blocks while it
/// flushes the transaction's records and ends it), so the pipeline thread
/// meanwhile reads the next batch from Postgres, acknowledges, and keeps the
/// lock session's lease. It hands nothing to the producer until the commit is
/// over: librdkafka allows no produce() during a commit, and its delivery
/// callbacks then run on the commit's thread.
///
/// After a commit, the next transaction starts kafka.transaction_settle_ms
/// later: sooner, the coordinator, still writing the commit's markers, refuses
/// its partitions, and librdkafka 2.0.2 retries only after a fixed 20 ms.
class TransactionalPublisher : public Publisher {
 public:
  /// `max_events`: events per transaction (at most the window's capacity).
  TransactionalPublisher(const KafkaConfig& config, size_t max_events);
  ~TransactionalPublisher() override;

  DeliveryReport Produce(const KafkaRecord& record, DeliveryToken token) override;
  bool Poll(int timeout_ms, std::vector<DeliveryReport>& out) override;
  /// While a commit runs on its thread: readable when it is over.
  int EventFd() const override;
  size_t OutQueueLength() const override { return producer_ ? producer_->OutQueueLength() : 0; }
  bool BrokersDown() override { return producer_ && producer_->BrokersDown(); }
  void InjectFatalError(const std::string& reason) override;

  bool NeedsRecovery() const override { return !ready_; }
  CheckpointContent Recover() override;
  void AttachTransactions(RelayStats& stats, std::function<CheckpointContent()> checkpoint) override {
    stats_ = &stats;
    checkpoint_ = std::move(checkpoint);
  }
  StreamPosition PublishedMessages() const override { return published_messages_; }
  bool TakeFenced() override;
  Clock::time_point NextDue() const override;
  /// With a backlog a transaction stays open up to 10 x transaction_interval.
  void SetBacklog(bool backlog) override { backlog_ = backlog; }

 private:
  void StartCommit(std::vector<DeliveryReport>& out);
  void FinishCommit(const TxnResult& commit, double seconds, std::vector<DeliveryReport>& out);
  /// Moves the delivery reports librdkafka served into reports_.
  void TakeReports();
  void Abort(const std::string& why, std::vector<DeliveryReport>& out);
  /// Drops the producer after a fatal error; true (the relay treats what it had as lost).
  bool Drop(const TxnResult& r, const char* during);

  const KafkaConfig& config_;
  size_t max_events_;
  RelayStats* stats_ = &own_stats_;  // the relay's, once attached
  RelayStats own_stats_;
  std::unique_ptr<Producer> producer_;
  bool topic_checked_ = false;
  bool ready_ = false;
  bool open_ = false;
  bool committing_ = false;        // the transaction is being committed (commit_ runs, or is due again)
  std::future<TxnResult> commit_;  // the commit's thread, while it runs
  Clock::time_point commit_started_{};
  int commit_pipe_[2] = {-1, -1};  // the commit's thread writes a byte when it is over
  bool aborting_ = false;          // an abort returned retriable: resumed on the next Poll
  bool fenced_ = false;
  Clock::time_point opened_at_{};
  bool backlog_ = false;
  /// How long the open transaction stays open: transaction_interval, 10 x with a backlog.
  Clock::duration Interval() const;
  Clock::time_point settle_until_{};   // no new transaction before (kafka.transaction_settle_ms after a commit)
  uint64_t committed_ = 0;             // transactions committed by this process
  std::vector<DeliveryToken> tokens_;  // events of the open transaction, in order
  std::unordered_map<uint64_t, DeliveryReport> reports_;  // their delivery reports so far, by token
  std::vector<DeliveryReport> scratch_;
  std::string abort_reason_;
  std::function<CheckpointContent()> checkpoint_;
  StreamPosition published_messages_;   // the committed checkpoints' WAL-message position
  StreamPosition committing_messages_;  // the position of the checkpoint being committed
  // Fault tests (OUTBOX_RELAY_CRASH_AT="before_commit:N" or "after_commit:N"):
  // the process kills itself with SIGKILL at the N-th commit.
  std::string crash_point_;
  uint64_t crash_at_ = 0;
};

}  // namespace outbox::relay
