#pragma once
// Private state of IdempotentConsumer, split over idempotent_consumer.cpp
// (construction, Run, purge, stats), poll.cpp (collecting a batch),
// batch_path.cpp (applying it), drain.cpp (parked records: retries, dead
// letters, releases) and offsets.cpp (offset commits and rebalances).
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/connection>

#include "batch_transaction.hpp"
#include "dead_letter_producer.hpp"
#include "kafka_handles.hpp"
#include "outbox/consumer.hpp"
#include "parking.hpp"
#include "pg_offsets.hpp"
#include "rate_window.hpp"

namespace outbox::sdk {

class IdempotentConsumer::Impl {
 public:
  Impl(ConsumerOptions options, Handler handler, BatchHandler batch_handler, ConsumerHooks hooks);
  ~Impl();

  size_t PollBatch(std::chrono::milliseconds timeout);
  void Run(const std::atomic<bool>* stop);
  void Stop() noexcept { stop_ = true; }
  size_t PurgeInbox();
  void Close();
  Stats stats() const;
  const ConsumerOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  using Partition = detail::Partition;

  /// One record of the batch in hand.
  struct Item {
    enum class State { kPending, kNew, kApplied, kDuplicate, kFailed, kHeld, kInvalid };
    Record record;
    std::string event_id;  // the dedup key ("" when invalid)
    std::string invalid;   // why it can never be applied ("" when it can)
    State state = State::kPending;
    std::string error;  // kFailed: why
    bool committed = false;
    Clock::time_point received;
  };

  // Collecting (poll.cpp).
  void Collect(std::chrono::milliseconds first_wait);
  void CheckFatal();

  // Applying a batch (batch_path.cpp).
  size_t ApplyBatch();
  void TryBatch(const std::vector<size_t>& subset, const std::map<size_t, std::string>& forced, bool savepoints);
  void RunHandlers(detail::RecordScope& scope, const std::vector<size_t>& claimed,
                   const std::map<size_t, std::string>& forced, std::set<detail::KeyRef>& blocked, bool savepoints);
  void ParkAndStore(detail::RecordScope& scope, const std::vector<size_t>& subset);
  size_t FinishCommitted(const std::vector<size_t>& subset);
  size_t Abandon();
  void CallHandler(pqxx::work& tx, const Record& record);

  // Parked records (drain.cpp).
  size_t DrainIfDue();
  size_t DrainGroup(const std::string& topic, int32_t partition, const std::string& key_group);
  /// Sends `record` to its dead-letter topic once; false (retry later) on failure.
  bool DeadLetter(const Record& record, const std::string& error, int attempts);
  void DrainAgainWithin(std::chrono::milliseconds delay);

  // Failures and waiting (idempotent_consumer.cpp).
  bool InfraBackoff(const std::string& error, int* failures);
  bool SleepUnlessStopped(std::chrono::milliseconds delay);
  bool Stopping() const { return stop_ || (run_stop_ != nullptr && run_stop_->load()); }
  pqxx::connection& Connection();
  void ResetConnection() noexcept;
  void PurgeStep();
  void Observe(const Record& record, std::chrono::nanoseconds elapsed, bool end_to_end);

  // Offsets and rebalances (offsets.cpp).
  void MarkDone(const Record& record);
  void CommitIfDue();
  void CommitPending(const rd_kafka_topic_partition_list_t* only, bool sync);
  void OnCommitted(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t* offsets);
  void Rewind(const std::map<Partition, int64_t>& to);
  void UpdateLag();
  bool Assigned(const std::string& topic, int32_t partition) const { return assigned_.count({topic, partition}) > 0; }
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void SeekToStoredOffsets(rd_kafka_topic_partition_list_t* partitions);
  static void RebalanceTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                                  void* opaque);
  static void CommitTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                               void* opaque);
  static void LogTrampoline(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
  detail::KafkaPtr NewConsumer();
  void Subscribe();

  template <typename F>
  void UpdateStats(F&& f) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    f(stats_);
  }

  ConsumerOptions options_;
  Handler handler_;
  BatchHandler batch_handler_;
  ConsumerHooks hooks_;
  detail::ParkedTable parked_;
  detail::OffsetTable stored_offsets_;
  // The filter is declared after the connection so it is destroyed first.
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<detail::JoinWarningFilter> join_filter_;
  std::unique_ptr<detail::DeadLetterProducer> dead_letters_;
  detail::KafkaPtr consumer_;
  detail::QueuePtr consumer_queue_;  // serves async commit results inside consumer_poll

  std::vector<Item> batch_;                // the batch in hand (revokes drop their partitions' items)
  std::set<Partition> assigned_;           // partitions this member owns now
  std::map<Partition, int64_t> position_;  // next offset to handle, per partition
  std::map<Partition, int64_t> pending_;   // next offset to commit, for durable records not committed yet
  int uncommitted_ = 0;                    // records done since the last commit
  Clock::time_point oldest_uncommitted_;
  Clock::time_point next_drain_;  // when parked records are looked at next
  Clock::time_point next_purge_;
  bool purging_ = false;          // Run(): a purge is under way, one batch of rows per loop
  bool holds_possible_ = true;    // false: the last look found no parked row of this consumer name
  int dead_letter_failures_ = 0;  // consecutive failed dead-letter sends (their backoff)
  std::atomic<bool> stop_{false};
  const std::atomic<bool>* run_stop_ = nullptr;  // Run()'s external flag
  bool closed_ = false;
  bool broken_ = false;  // an exception escaped mid-batch: the consumer is unusable

  mutable std::mutex stats_mu_;
  Stats stats_;
  mutable detail::RateWindow rate_;  // guarded by stats_mu_
};

}  // namespace outbox::sdk
