// Effectively-once against a real broker and Postgres: a topic replayed from
// offset 0 and duplicates inside the topic apply each side effect once.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "consumer_test_util.hpp"
#include "outbox/consumer.hpp"
#include "test_env.hpp"

namespace outbox::test {

TEST(ConsumerExactlyOnce, TopicReplayedFromOffsetZeroAppliesEachEffectOnce) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_replay");
  CreateTopic(topic, 3);
  CreateEffectsTable(schema.name());
  constexpr int kEvents = 60;
  Produce(topic, Events("replay-", kEvents));

  std::atomic<int> calls{0};
  auto options = TestOptions(topic, schema.name(), "loyalty");
  {
    sdk::IdempotentConsumer first(options, EffectHandler(schema.name(), &calls));
    ASSERT_TRUE(PollUntil(first, [&] { return first.stats().processed == kEvents; }));
    EXPECT_EQ(first.stats().duplicates, 0u);
  }
  // A fresh group starts at offset 0: every event is delivered a second time.
  options.group_id = UniqueName("group_replay");
  sdk::IdempotentConsumer replay(options, EffectHandler(schema.name(), &calls));
  ASSERT_TRUE(PollUntil(replay, [&] { return replay.stats().duplicates == kEvents; }));
  EXPECT_EQ(replay.stats().processed, 0u);
  EXPECT_EQ(replay.stats().DedupHitRate(), 1.0);
  EXPECT_EQ(calls.load(), kEvents);
  ExpectEachAppliedOnce(schema.name(), kEvents);
}

TEST(ConsumerExactlyOnce, DuplicatesInTheTopicAreSkippedAndCounted) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_dup");
  CreateTopic(topic, 1);
  CreateEffectsTable(schema.name());
  constexpr int kEvents = 20;
  auto records = Events("dup-", kEvents);
  auto twice = records;
  twice.insert(twice.end(), records.begin(), records.end());  // as a relay retry would publish them
  Produce(topic, twice);

  std::atomic<int> calls{0};
  int duplicate_hooks = 0;
  sdk::ConsumerHooks hooks;
  hooks.on_duplicate = [&](const sdk::Record& r) {
    ++duplicate_hooks;
    EXPECT_GE(r.offset, kEvents);  // the second copy is the one skipped
  };
  sdk::IdempotentConsumer consumer(TestOptions(topic, schema.name(), "loyalty"), EffectHandler(schema.name(), &calls),
                                   hooks);
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == 2 * kEvents; }));
  const sdk::Stats s = consumer.stats();
  EXPECT_EQ(s.processed, static_cast<uint64_t>(kEvents));
  EXPECT_EQ(s.duplicates, static_cast<uint64_t>(kEvents));
  EXPECT_DOUBLE_EQ(s.DedupHitRate(), 0.5);
  EXPECT_EQ(duplicate_hooks, kEvents);
  EXPECT_EQ(calls.load(), kEvents);
  EXPECT_EQ(s.offset_commits, 2u * kEvents);  // commit_every = 1
  EXPECT_GT(s.processing_time_sum.count(), 0);
  EXPECT_GE(s.processing_time_max, s.MeanProcessingTime());
  ExpectEachAppliedOnce(schema.name(), kEvents);
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), kEvents);

  // Retention through the consumer: only rows older than the window go.
  {
    pqxx::connection c(PgDsn());
    pqxx::work tx(c);
    tx.exec("UPDATE \"" + schema.name() +
            "\".inbox SET processed_at = now() - interval '8 days' "
            "WHERE event_id IN ('dup-0', 'dup-1', 'dup-2')");
    tx.commit();
  }
  EXPECT_EQ(consumer.PurgeInbox(), 3u);
  EXPECT_EQ(consumer.stats().inbox_purged, 3u);
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), kEvents - 3);
}

}  // namespace outbox::test
