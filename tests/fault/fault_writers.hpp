#pragma once
// Writers that keep writing through faults. Each transaction follows the SDK
// contract (lock the aggregate by bumping its version, then enqueue) and also
// records its events in <schema>.ledger. A transaction that fails before its
// commit is retried with the same event ids; one whose commit outcome is
// unknown (the connection broke during COMMIT) is resolved by looking its
// first event id up in the ledger after reconnecting, and retried only if it
// did not commit. So the writers' account of what committed is exact.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "relay_harness.hpp"

namespace outbox::test::fault {

struct FaultWriterOptions {
  std::string dsn;
  std::string schema;
  int writers = 4;
  int aggregates = 30;
  int first_aggregate = 1;                   ///< the first of the writers' acct-N
  int max_events_per_transaction = 3;        ///< 1..this many events per transaction (EnqueueBatch)
  int rollback_percent = 5;                  ///< transactions the writer aborts on purpose
  int max_sleep_us = 2000;                   ///< random pause before COMMIT, to interleave commits
  int min_sleep_us = 0;                      ///< least pause before COMMIT (long-running transactions)
  unsigned seed = 17;                        ///< varies the writers' choice of aggregates between instances
  int pause_between_us = 20000;              ///< pause between transactions (steady load)
  std::chrono::seconds retry_deadline{120};  ///< give up one transaction after retrying this long
  std::chrono::seconds max_duration{3600};   ///< hard bound on a writer's life
};

class FaultWriters {
 public:
  /// Starts the writer threads at once.
  explicit FaultWriters(FaultWriterOptions options);
  ~FaultWriters();  ///< Stop()
  FaultWriters(const FaultWriters&) = delete;
  FaultWriters& operator=(const FaultWriters&) = delete;

  /// Lets each writer finish its current transaction, then joins them.
  void Stop();
  /// Waits (at most `timeout_ms`) until at least `n` events committed.
  bool WaitForCommitted(size_t n, int timeout_ms) const;

  size_t committed_events() const { return committed_count_.load(); }
  size_t retries() const { return retries_.load(); }                      ///< attempts after a failed one
  size_t unknown() const { return unknown_.load(); }                      ///< commits of unknown outcome
  size_t unknown_committed() const { return unknown_committed_.load(); }  ///< ...that had committed
  /// What the writers saw commit, each aggregate's events in commit order (call after Stop()).
  std::vector<WrittenEvent> Committed() const;

 private:
  struct Entry {
    std::string aggregate;
    int version;
    int index;
    std::string id;
  };
  void Run(int writer);

  FaultWriterOptions o_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::vector<Entry> committed_;
  std::atomic<size_t> committed_count_{0};
  std::atomic<size_t> retries_{0};
  std::atomic<size_t> unknown_{0};
  std::atomic<size_t> unknown_committed_{0};
};

}  // namespace outbox::test::fault
