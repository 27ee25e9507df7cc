#pragma once
// Concurrent test writers that follow the SDK contract: lock the aggregate
// (bump its version), then enqueue, so per-aggregate commit order is known.

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "relay_harness.hpp"

namespace outbox::test {

struct WriterOptions {
  std::string schema;
  int writers = 8;
  int transactions_per_writer = 100;
  int events_per_transaction = 1;  ///< >1: EnqueueBatch, all for the same aggregate
  int aggregates = 40;
  int rollback_percent = 10;
  int max_sleep_us = 2000;   ///< random pause before commit, to interleave commits
  int pause_between_us = 0;  ///< pause between transactions (steady load)
};

/// Creates <schema>.accounts with `aggregates` rows (call once per schema).
void CreateAggregates(const std::string& schema, int aggregates);

/// Runs the writers to completion; returns every committed event, each
/// aggregate's events in commit order. `rolled_back` receives aborted ids.
std::vector<WrittenEvent> RunWriters(const WriterOptions& options, std::vector<std::string>* rolled_back = nullptr);

}  // namespace outbox::test
