// A crash between the database commit and the offset commit: the record is
// redelivered to the restarted consumer, which skips it as a duplicate. Also
// with batched offset commits, where every uncommitted record comes again.
#include <gtest/gtest.h>

#include "consumer_test_util.hpp"
#include "outbox/consumer.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

struct SimulatedCrash : std::runtime_error {
  SimulatedCrash() : std::runtime_error("simulated crash after the database commit") {}
};

constexpr int kEvents = 12;
constexpr int kCrashAt = 7;  // offset of the record whose offset commit never happens

struct CrashRun {
  uint64_t offset_commits_before_crash = 0;
  std::vector<std::string> skipped;  // event ids the restarted consumer found in the inbox
  sdk::Stats restarted;
};

CrashRun CrashAndRestart(const std::string& schema, int commit_every) {
  const std::string topic = UniqueName("cons_crash");
  CreateTopic(topic, 1);
  CreateEffectsTable(schema);
  Produce(topic, Events("crash-", kEvents));
  auto options = TestOptions(topic, schema, "loyalty");
  options.commit_every = commit_every;
  options.commit_interval = std::chrono::seconds(60);
  CrashRun run;
  {
    sdk::ConsumerHooks hooks;
    hooks.after_db_commit = [&](const sdk::Record& r) {
      if (r.offset == kCrashAt) throw SimulatedCrash();
    };
    sdk::IdempotentConsumer doomed(options, EffectHandler(schema, nullptr), hooks);
    bool crashed = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!crashed && std::chrono::steady_clock::now() < deadline) {
      try {
        doomed.PollOnce(std::chrono::milliseconds(100));
      } catch (const SimulatedCrash&) {
        crashed = true;
      }
    }
    EXPECT_TRUE(crashed);
    EXPECT_THROW(doomed.PollOnce(std::chrono::milliseconds(10)), sdk::ConsumerError);
    EXPECT_EQ(Effects(schema).size(), static_cast<size_t>(kCrashAt + 1));  // the crashed record's effect is durable
    run.offset_commits_before_crash = doomed.stats().offset_commits;
  }  // destroyed like a dead process: nothing more is committed

  sdk::ConsumerHooks hooks;
  hooks.on_duplicate = [&](const sdk::Record& r) { run.skipped.push_back(r.event_id()); };
  sdk::IdempotentConsumer restarted(options, EffectHandler(schema, nullptr), hooks);
  EXPECT_TRUE(PollUntil(restarted, [&] { return restarted.stats().processed == kEvents - kCrashAt - 1; }));
  run.restarted = restarted.stats();
  restarted.Close();
  ExpectEachAppliedOnce(schema, kEvents);

  // Everything is committed now (offset + 1): a new member of the group reads
  // only a record produced afterwards.
  Produce(topic, {EventRecord("crash-late", "order-late")});
  sdk::IdempotentConsumer again(options, EffectHandler(schema, nullptr));
  EXPECT_TRUE(PollUntil(again, [&] { return again.stats().processing_count == 1; }));
  PollFor(again, std::chrono::seconds(1));
  EXPECT_EQ(again.stats().processing_count, 1u);
  EXPECT_EQ(again.stats().processed, 1u);
  return run;
}

}  // namespace

TEST(ConsumerCrash, CrashBetweenDbCommitAndOffsetCommitIsSkippedOnRedelivery) {
  ScopedSchema schema("cons");
  const CrashRun run = CrashAndRestart(schema.name(), 1);
  EXPECT_EQ(run.offset_commits_before_crash, static_cast<uint64_t>(kCrashAt));
  EXPECT_EQ(run.skipped, std::vector<std::string>{"crash-" + std::to_string(kCrashAt)});
  EXPECT_EQ(run.restarted.duplicates, 1u);
  EXPECT_EQ(run.restarted.processed, static_cast<uint64_t>(kEvents - kCrashAt - 1));
}

TEST(ConsumerCrash, BatchedOffsetCommitsRedeliverTheUncommittedRecordsAndSkipThem) {
  ScopedSchema schema("cons");
  const CrashRun run = CrashAndRestart(schema.name(), 5);
  EXPECT_EQ(run.offset_commits_before_crash, 1u);  // after offsets 0..4; 5..7 were still pending
  EXPECT_EQ(run.skipped, (std::vector<std::string>{"crash-5", "crash-6", "crash-7"}));
  EXPECT_EQ(run.restarted.duplicates, 3u);
  EXPECT_EQ(run.restarted.processed, static_cast<uint64_t>(kEvents - kCrashAt - 1));
}

}  // namespace outbox::test
