#pragma once
// Private state of IdempotentConsumer, split over idempotent_consumer.cpp
// (the per-record path) and offsets.cpp (offset commits and rebalances).
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <pqxx/connection>

#include "dead_letter_producer.hpp"
#include "kafka_handles.hpp"
#include "outbox/consumer.hpp"

namespace outbox::sdk {

class IdempotentConsumer::Impl {
 public:
  Impl(ConsumerOptions options, Handler handler, ConsumerHooks hooks);
  ~Impl();

  bool PollOnce(std::chrono::milliseconds timeout);
  void Run(const std::atomic<bool>* stop);
  void Stop() noexcept { stop_ = true; }
  size_t PurgeInbox();
  void Close();
  Stats stats() const;
  const ConsumerOptions& options() const { return options_; }

 private:
  enum class Outcome { kProcessed, kDuplicate, kDeadLettered, kAbandoned };
  enum class Step { kCommitted, kDuplicate, kHandlerFailed, kInfraFailed };
  using Partition = std::pair<std::string, int32_t>;

  // Per-record path (idempotent_consumer.cpp).
  Outcome Handle(const Record& record);
  Step TryOnce(const Record& record, const std::string& event_id, std::string* error);
  bool DeadLetter(const Record& record, const std::string& error, int attempts);
  bool InfraBackoff(const std::string& error, int* failures);
  bool SleepUnlessStopped(std::chrono::milliseconds delay);
  bool Stopping() const { return stop_ || (run_stop_ != nullptr && run_stop_->load()); }
  pqxx::connection& Connection();
  void Finish(const Record& record, Outcome outcome, std::chrono::nanoseconds elapsed);
  void CheckFatal();

  // Offsets and rebalances (offsets.cpp).
  void CommitOffset(const Record& record);
  void CommitIfDue();
  void CommitPending(const rd_kafka_topic_partition_list_t* only);
  void Rewind(const Record& record);
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  static void RebalanceTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
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
  ConsumerHooks hooks_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<detail::DeadLetterProducer> dead_letters_;
  detail::KafkaPtr consumer_;
  // Next offset to commit per partition, for records whose side effect is
  // durable but whose offset commit has not succeeded yet.
  std::map<Partition, int64_t> pending_;
  int uncommitted_ = 0;  // records done since the last commit attempt
  std::chrono::steady_clock::time_point oldest_uncommitted_;
  std::atomic<bool> stop_{false};
  const std::atomic<bool>* run_stop_ = nullptr;  // Run()'s external flag
  bool closed_ = false;
  bool broken_ = false;  // an exception escaped mid-record: the consumer is unusable
  std::chrono::steady_clock::time_point next_purge_;
  mutable std::mutex stats_mu_;
  Stats stats_;
};

}  // namespace outbox::sdk
