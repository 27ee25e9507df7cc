#pragma once
// Shared pieces of the fault suite: sizes from the environment, a seeded
// schedule, private servers that a test may kill (so the shared ones stay
// up), the relay executable with extra librdkafka properties, RSS sampling,
// and the one-line result every scenario prints.

#include <sys/types.h>

#include <cstdint>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "config/config.hpp"
#include "pipeline/stats.hpp"
#include "private_servers.hpp"
#include "relay_harness.hpp"

namespace outbox::test::fault {

/// An integer from environment variable `name`, or `fallback` when unset.
/// Fails the test (and returns `fallback`) on a malformed value.
int64_t EnvInt(const char* name, int64_t fallback);

/// The scenario's RNG seed: OUTBOX_FAULT_SEED, or a fresh random one. Printed
/// as "fault <scenario>: seed=N" so a failing schedule can be replayed.
uint64_t Seed(const std::string& scenario);

/// A uniformly random integer in [lo, hi].
int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi);

/// A schema on `dsn` with the outbox migrations, `aggregates` account rows and
/// a ledger table the writers fill in the same transactions as the outbox (the
/// relay never touches it: it is the exact record of what committed). Dropped
/// on destruction.
class FaultSchema {
 public:
  FaultSchema(const std::string& dsn, const std::string& prefix, int aggregates);
  ~FaultSchema();
  FaultSchema(const FaultSchema&) = delete;
  FaultSchema& operator=(const FaultSchema&) = delete;
  const std::string& name() const { return name_; }
  const std::string& dsn() const { return dsn_; }
  /// Rows still in the outbox table.
  int64_t OutboxRows() const;
  /// Every committed event per the ledger, each aggregate's in commit order.
  std::vector<WrittenEvent> Ledger() const;

 private:
  std::string dsn_;
  std::string name_;
};

/// Reads partitions 0..partitions-1 of `topic` from the beginning by assignment
/// (no consumer group: the mock cluster's group coordinator is not needed),
/// read_committed, until every event of `committed` arrived and the partitions
/// stayed quiet for 1.5 s, or `timeout_ms` passed.
std::vector<ConsumedRecord> ReadPartitions(const std::string& brokers, const std::string& topic, int partitions,
                                           const std::vector<WrittenEvent>& committed, int timeout_ms);

/// `config` with kafka.delivery = "exactly_once": a transactional.id and a
/// checkpoint topic of its own (from `prefix`), and the default 2.5 s lock lease.
relay::Config ExactlyOnce(relay::Config config, const std::string& prefix);

/// Which delivery a scenario runs with.
enum class Variant { kPoll, kTail, kExactlyOnce };

/// The relay's failed deliveries by librdkafka error name, e.g. "_MSG_TIMED_OUT:12,_PURGE_QUEUE:3" ("none").
std::string ErrorsByReason(const relay::RelayStats& stats);

/// VmRSS of process `pid` in kB from /proc/PID/status; -1 when unreadable.
int64_t RssKb(pid_t pid);

/// Prints "fault <scenario>: <counters> events=.. lost=.. phantom=.. duplicates=..
/// inversions=..<extra>" on stdout, appends it to $OUTBOX_FAULT_REPORT when
/// set, and records the figures as test properties. `counters` is e.g. "kills=50".
void Report(const std::string& scenario, const std::string& counters, const Audit& audit,
            const std::string& extra = "");

/// Audits `committed` against `records` and checks lost = phantom = inversions = 0.
/// Also checks that the writers' own account of what committed equals the ledger.
/// `skipped`: event ids the operator dropped (`dlq skip`): expected missing, and
/// phantom if delivered. A requeued event is audited at its commit-order place.
/// Records of several topics are put in one order first (InOneOrder).
Audit CheckDelivery(const std::vector<WrittenEvent>& ledger, const std::vector<WrittenEvent>& writers_view,
                    const std::vector<ConsumedRecord>& records, const std::unordered_set<std::string>& skipped = {});

/// `records` of several topics in one order, for a key whose events went to
/// different topics (a row's topic override, a requeued event): each
/// partition's records keep their offset order, and partitions are merged by
/// record timestamp (the producer's CreateTime; the relay produces an event of
/// a key only after the key's earlier events to another topic were reported).
/// Timestamps have millisecond resolution: heads with the same timestamp are
/// taken in `committed` order. The result's topic is "(merged)", partition 0,
/// offset its position.
std::vector<ConsumedRecord> InOneOrder(const std::vector<WrittenEvent>& committed,
                                       const std::vector<ConsumedRecord>& records);

}  // namespace outbox::test::fault
