// Hostile scenarios: poison rows written into the writers' own keys while
// they write, so each poison sits in batches of many keys and the events
// committed behind it on its key pile up while it is held.
//  - poison: an oversized record (over the topic's max.message.bytes), an
//    invalid topic name, a topic that does not exist (the relay may not create
//    it), and rows with reserved header names (dropped, not poison), each
//    round; every poison is dead-lettered after max_attempts and its key held,
//    then fixed and requeued (the missing topic created) or skipped.
//  - dlq-load: the operator requeues or skips at once, requeues a poison
//    unfixed (dead-lettered again, still held), and a second poison waits
//    behind the first on its key.
// The audit takes each requeued event at its commit-order place and skipped
// events as expected missing; lost = phantom = inversions = 0.
#include <signal.h>

#include <algorithm>
#include <thread>
#include <unordered_set>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"
#include "hostile_rows.hpp"

namespace outbox::test::fault {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kAggregates = 40;

/// What one scenario run shares: schema, topic, writers, relay, operator.
struct PoisonRun {
  explicit PoisonRun(const std::string& scenario)
      : rng(Seed(scenario)),
        schema(PgDsn(), "fpoison", kAggregates),
        prefix(UniqueName("fpoison")),
        config(MakeConfig(schema.name(), prefix)),
        log("/tmp/" + prefix + ".log") {
    CreateTopic(prefix + ".account", 3, {{"max.message.bytes", "262144"}});
    topics.push_back(prefix + ".account");
    rows = std::make_unique<HostileRows>(PgDsn(), schema.name(), config);
    FaultWriterOptions w;
    w.dsn = PgDsn();
    w.schema = schema.name();
    w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
    w.aggregates = kAggregates;
    w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
    writers = std::make_unique<FaultWriters>(w);
    relay = std::make_unique<RelayProcess>(config, log);
  }

  static relay::Config MakeConfig(const std::string& schema, const std::string& prefix) {
    relay::Config c = RelayConfig(schema, prefix);
    c.dead_letter.max_attempts = 2;
    // The test broker auto-creates topics; the relay must not ask it to.
    c.kafka.properties["allow.auto.create.topics"] = "false";
    c.kafka.properties["topic.metadata.propagation.max.ms"] = "1000";
    return c;
  }

  /// `n` distinct aggregates of the writers, at random.
  std::vector<std::string> Keys(size_t n) {
    std::vector<std::string> keys;
    for (int i = 1; i <= kAggregates; ++i) keys.push_back("acct-" + std::to_string(i));
    std::shuffle(keys.begin(), keys.end(), rng);
    keys.resize(n);
    return keys;
  }

  /// Waits until `e` is dead-lettered, then checks its key holds every event committed behind it.
  void ExpectDeadLetteredAndHeld(const RawEvent& e) {
    ASSERT_TRUE(WaitFor([&] { return rows->IsDeadLettered(e); }, 90000))
        << Name(e.kind) << " event " << e.id << " was not dead-lettered; see " << log;
    ++dead_lettered;
    const int64_t held = rows->HeldBehind(e);
    EXPECT_GE(held, 0) << "key " << e.aggregate << " of dead-lettered " << Name(e.kind) << " event " << e.id
                       << ": an event committed behind it was acknowledged; see " << log;
    max_held = std::max(max_held, held);
  }

  /// The operator skips `e`, or fixes and requeues it (creating a missing topic first).
  void Resolve(const RawEvent& e, bool requeue) {
    if (!requeue) {
      rows->Dlq("skip", e);
      skipped.insert(e.id);
      ++skips;
      return;
    }
    if (e.kind == Poison::kMissingTopic && std::find(topics.begin(), topics.end(), e.topic) == topics.end()) {
      CreateTopic(e.topic, 3);
      topics.push_back(e.topic);
    }
    rows->Fix(e);
    rows->Dlq("requeue", e);
    ++requeues;
  }

  /// Waits until `e`'s key released every event committed up to now (the requeued one included).
  void ExpectReleased(const RawEvent& e) {
    const int64_t mark = rows->MaxSeq();
    const auto start = Clock::now();
    EXPECT_TRUE(WaitFor([&] { return rows->RowsUpTo(e, mark) == 0; }, 90000))
        << "key " << e.aggregate << " still holds events after " << Name(e.kind) << " event " << e.id
        << " was resolved; see " << log;
    max_release_ms = std::max<int64_t>(
        max_release_ms, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  }

  /// Stops the writers, drains, stops the relay, audits every record and checks the reserved headers.
  void Finish(const std::string& scenario, const std::string& counters) {
    EXPECT_TRUE(writers->WaitForCommitted(static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000)), 300000));
    writers->Stop();
    EXPECT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 120000)) << "the outbox never drained; see " << log;
    EXPECT_EQ(rows->DeadLetters(), 0) << "dead letters left; see " << log;
    relay->Signal(SIGTERM);
    EXPECT_EQ(relay->Wait(30000), 0) << "SIGTERM drains and exits 0; see " << log;

    const auto ledger = schema.Ledger();
    std::vector<WrittenEvent> expected;
    for (const auto& e : ledger) {
      if (skipped.count(e.id) == 0) expected.push_back(e);
    }
    const auto records = ConsumeEvents(topics, expected, 180000);
    size_t bad_headers = 0;
    for (const auto& r : records) {
      int ids = 0;
      for (const auto& [name, value] : r.headers) {
        ids += name == "event_id";
        bad_headers += value == "spoofed";
      }
      bad_headers += ids != 1 || r.Header("aggregate_id") != r.key;
    }
    EXPECT_EQ(bad_headers, 0u) << "records with a reserved header taken from the row";
    auto view = writers->Committed();
    view.insert(view.end(), rows->written().begin(), rows->written().end());
    const auto audit = CheckDelivery(ledger, view, records, skipped);
    EXPECT_EQ(audit.committed, ledger.size() - skipped.size());
    Report(scenario, counters, audit,
           " dead_lettered=" + std::to_string(dead_lettered) + " requeued=" + std::to_string(requeues) +
               " skipped=" + std::to_string(skips) + " max_held_behind=" + std::to_string(max_held) +
               " max_release_ms=" + std::to_string(max_release_ms));
  }

  std::mt19937_64 rng;
  FaultSchema schema;
  std::string prefix;
  relay::Config config;
  std::string log;
  std::vector<std::string> topics;
  std::unique_ptr<HostileRows> rows;
  std::unique_ptr<FaultWriters> writers;
  std::unique_ptr<RelayProcess> relay;
  std::unordered_set<std::string> skipped;
  int dead_lettered = 0, requeues = 0, skips = 0;
  int64_t max_held = 0, max_release_ms = 0;
};

TEST(FaultHostile, PoisonInBatchesOfManyKeysIsDeadLetteredHeldAndReleasedInOrder) {
  PoisonRun run("poison");
  const int64_t rounds = EnvInt("OUTBOX_FAULT_POISON_ROUNDS", 2);
  int reserved = 0;
  for (int64_t round = 0; round < rounds; ++round) {
    const auto keys = run.Keys(5);
    std::vector<RawEvent> poison;
    poison.push_back(run.rows->Write(Poison::kOversized, keys[0]));
    poison.push_back(run.rows->Write(Poison::kInvalidTopic, keys[1]));
    poison.push_back(run.rows->Write(Poison::kMissingTopic, keys[2], run.prefix + ".missing-" + std::to_string(round)));
    for (const auto& k : {keys[3], keys[4]}) {
      run.rows->Write(Poison::kReservedHeaders, k);
      ++reserved;
    }
    for (const auto& p : poison) run.ExpectDeadLetteredAndHeld(p);
    if (::testing::Test::HasFatalFailure()) return;
    // Let the writers commit more behind the held keys, then look again.
    std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(run.rng, 500, 1500)));
    for (const auto& p : poison) {
      const int64_t held = run.rows->HeldBehind(p);
      EXPECT_GE(held, 0) << "key " << p.aggregate << " released while " << p.id << " is dead-lettered";
      run.max_held = std::max(run.max_held, held);
    }
    for (const auto& p : poison) run.Resolve(p, Uniform(run.rng, 0, 2) > 0);
    for (const auto& p : poison) run.ExpectReleased(p);
  }
  EXPECT_TRUE(run.relay->LogContains("dropped: the relay sets these names itself")) << "see " << run.log;
  run.Finish("poison", "rounds=" + std::to_string(rounds) + " poison=" + std::to_string(3 * rounds) +
                           " reserved_header_rows=" + std::to_string(reserved));
}

TEST(FaultHostile, DlqRequeueAndSkipUnderLoad) {
  PoisonRun run("dlq-load");
  const int64_t rounds = EnvInt("OUTBOX_FAULT_DLQ_ROUNDS", 4);
  int unfixed = 0, second = 0;
  for (int64_t round = 0; round < rounds; ++round) {
    const auto keys = run.Keys(2);
    std::vector<RawEvent> heads;
    std::vector<RawEvent> behind;  // a second poison on the same key, never tried while the first holds it
    for (const auto& key : keys) {
      const auto kind = [&] { return Uniform(run.rng, 0, 1) == 0 ? Poison::kOversized : Poison::kInvalidTopic; };
      heads.push_back(run.rows->Write(kind(), key));
      if (Uniform(run.rng, 0, 1) == 0) {
        behind.push_back(run.rows->Write(kind(), key));
        ++second;
      }
    }
    for (const auto& h : heads) run.ExpectDeadLetteredAndHeld(h);
    if (::testing::Test::HasFatalFailure()) return;
    for (const auto& h : heads) {
      if (Uniform(run.rng, 0, 2) == 0) {  // requeued without a fix: rejected again, dead-lettered again
        run.rows->Dlq("requeue", h);
        ++run.requeues;
        ++unfixed;
        run.ExpectDeadLetteredAndHeld(h);
        if (::testing::Test::HasFatalFailure()) return;
      }
      run.Resolve(h, Uniform(run.rng, 0, 1) == 0);
    }
    for (const auto& b : behind) {
      run.ExpectDeadLetteredAndHeld(b);
      if (::testing::Test::HasFatalFailure()) return;
      run.Resolve(b, Uniform(run.rng, 0, 1) == 0);
    }
    for (const auto& h : heads) run.ExpectReleased(h);
  }
  run.Finish("dlq-load", "rounds=" + std::to_string(rounds) + " unfixed_requeues=" + std::to_string(unfixed) +
                             " second_poison=" + std::to_string(second));
}

}  // namespace
}  // namespace outbox::test::fault
