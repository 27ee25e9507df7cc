// Issue 12 item 12 / issue 16: a dead-lettered record holds its key. Later
// records of that key (in its partition) wait behind it, in order, while
// other keys keep flowing, until an operator releases it (retry or skip);
// hold_key = false lets them pass instead. Holds live in Postgres, so they
// survive a restart.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "consumer_test_util.hpp"
#include "outbox/consumer.hpp"
#include "outbox/consumer_dead_letters.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

struct HoldFixture {
  ScopedSchema schema{"cons"};
  std::string topic = UniqueName("cons_hold");
  std::atomic<bool> poison_fixed{false};
  sdk::Handler log;

  explicit HoldFixture(int partitions = 1) {
    CreateTopic(topic, partitions);
    CreateTopic(topic + ".dlq", 1);
    CreateOrderLog(schema.name());
    log = OrderLogHandler(schema.name());
  }

  sdk::Handler Handler() {
    return [this](pqxx::work& tx, const sdk::Record& r) {
      if (r.event_type() == "Poison" && !poison_fixed) throw std::runtime_error("cannot apply");
      log(tx, r);
    };
  }

  sdk::ConsumerOptions Options(int batch) {
    auto o =
        batch > 1 ? BatchOptions(topic, schema.name(), "loyalty", batch) : TestOptions(topic, schema.name(), "loyalty");
    o.max_attempts = 2;
    o.release_check_interval = std::chrono::milliseconds(100);
    return o;
  }

  int64_t OnlyDeadLetter() {
    pqxx::connection c(PgDsn());
    const auto dead = sdk::ListDeadLetters(c, schema.name(), "loyalty");
    EXPECT_EQ(dead.size(), 1u);
    return dead.empty() ? -1 : dead[0].id;
  }
};

}  // namespace

TEST(ConsumerHold, DeadLetteredRecordHoldsItsKeyWhileOtherKeysFlow) {
  HoldFixture f;
  Produce(f.topic, {EventRecord("a-1", "key-a"), EventRecord("a-2", "key-a", "Poison"), EventRecord("b-1", "key-b"),
                    EventRecord("a-3", "key-a"), EventRecord("b-2", "key-b")});
  sdk::IdempotentConsumer consumer(f.Options(1), f.Handler());
  ASSERT_TRUE(PollUntil(consumer, [&] {
    return consumer.stats().dead_lettered == 1 && AppliedOrder(f.schema.name(), "key-b").size() == 2;
  }));
  PollFor(consumer, std::chrono::seconds(1));  // a-3 would be applied by now if the key were not held
  EXPECT_EQ(AppliedOrder(f.schema.name(), "key-a"), std::vector<std::string>{"a-1"})
      << "a later record of the dead-lettered record's key was applied before it";
  EXPECT_EQ(AppliedOrder(f.schema.name(), "key-b"), (std::vector<std::string>{"b-1", "b-2"}));
  EXPECT_EQ(consumer.stats().held, 1u);
}

TEST(ConsumerHold, RetryReleaseAppliesTheDeadLetterThenTheHeldRecordsInOrderAcrossARestart) {
  HoldFixture f;
  std::vector<OutRecord> records = {EventRecord("a-1", "key-a"), EventRecord("a-2", "key-a", "Poison")};
  for (int i = 3; i <= 6; ++i) records.push_back(EventRecord("a-" + std::to_string(i), "key-a"));
  for (int i = 1; i <= 20; ++i) records.push_back(EventRecord("o-" + std::to_string(i), "key-" + std::to_string(i)));
  Produce(f.topic, records);
  {
    sdk::IdempotentConsumer consumer(f.Options(100), f.Handler());
    ASSERT_TRUE(
        PollUntil(consumer, [&] { return consumer.stats().dead_lettered == 1 && consumer.stats().processed == 21; }));
    EXPECT_EQ(consumer.stats().held, 4u);
  }
  EXPECT_EQ(AppliedOrder(f.schema.name(), "key-a"), std::vector<std::string>{"a-1"});
  pqxx::connection c(PgDsn());
  const auto dead = sdk::ListDeadLetters(c, f.schema.name(), "loyalty");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id, "a-2");
  EXPECT_EQ(dead[0].key, "key-a");
  EXPECT_EQ(dead[0].held_behind, 4);
  EXPECT_EQ(dead[0].attempts, 2);
  EXPECT_EQ(dead[0].error, "cannot apply");

  // A record of the key produced while nobody runs is held too: the hold is in Postgres.
  Produce(f.topic, {EventRecord("a-7", "key-a")});
  f.poison_fixed = true;  // the operator fixed the cause, then releases the dead letter
  EXPECT_FALSE(sdk::ReleaseDeadLetter(c, f.schema.name(), "other-consumer", dead[0].id, sdk::ReleaseAction::kRetry));
  ASSERT_TRUE(sdk::ReleaseDeadLetter(c, f.schema.name(), "loyalty", dead[0].id, sdk::ReleaseAction::kRetry));
  sdk::IdempotentConsumer restarted(f.Options(100), f.Handler());
  ASSERT_TRUE(PollUntil(restarted, [&] { return AppliedOrder(f.schema.name(), "key-a").size() == 7; }));
  EXPECT_EQ(AppliedOrder(f.schema.name(), "key-a"),
            (std::vector<std::string>{"a-1", "a-2", "a-3", "a-4", "a-5", "a-6", "a-7"}));
  EXPECT_EQ(restarted.stats().released, 5u);  // a-2 .. a-6 came out of the parked table
  EXPECT_TRUE(sdk::ListDeadLetters(c, f.schema.name(), "loyalty").empty());
  EXPECT_EQ(ParkedRows(f.schema.name(), "loyalty"), 0);
}

TEST(ConsumerHold, SkipReleaseDropsTheDeadLetterAndAppliesTheHeldRecords) {
  HoldFixture f;
  Produce(f.topic, {EventRecord("a-1", "key-a", "Poison"), EventRecord("a-2", "key-a"), EventRecord("a-3", "key-a")});
  sdk::IdempotentConsumer consumer(f.Options(100), f.Handler());
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().dead_lettered == 1; }));
  PollFor(consumer, std::chrono::milliseconds(300));
  EXPECT_TRUE(AppliedOrder(f.schema.name(), "key-a").empty());
  pqxx::connection c(PgDsn());
  ASSERT_TRUE(sdk::ReleaseDeadLetter(c, f.schema.name(), "loyalty", f.OnlyDeadLetter(), sdk::ReleaseAction::kSkip));
  ASSERT_TRUE(PollUntil(consumer, [&] { return AppliedOrder(f.schema.name(), "key-a").size() == 2; }));
  EXPECT_EQ(AppliedOrder(f.schema.name(), "key-a"), (std::vector<std::string>{"a-2", "a-3"}));
  EXPECT_EQ(consumer.stats().skipped, 1u);
  EXPECT_EQ(InboxRows(f.schema.name(), "loyalty"), 3);  // the skipped event too: a redelivery is skipped
  EXPECT_EQ(ParkedRows(f.schema.name(), "loyalty"), 0);
}

TEST(ConsumerHold, WithHoldKeyOffLaterRecordsPassTheDeadLetterButNotARecordBeingRetried) {
  HoldFixture f;
  Produce(f.topic, {EventRecord("a-1", "key-a", "Poison"), EventRecord("a-2", "key-a"), EventRecord("a-3", "key-a")});
  auto options = f.Options(100);
  options.hold_key = false;
  options.max_attempts = 3;
  options.backoff_initial = std::chrono::milliseconds(300);  // a-1 is retried for a while
  options.backoff_max = std::chrono::milliseconds(300);
  sdk::IdempotentConsumer consumer(options, f.Handler());
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().retries >= 1; }));
  PollFor(consumer, std::chrono::milliseconds(200));
  EXPECT_TRUE(AppliedOrder(f.schema.name(), "key-a").empty()) << "a-2 overtook a-1 while a-1 was being retried";
  ASSERT_TRUE(PollUntil(consumer, [&] { return AppliedOrder(f.schema.name(), "key-a").size() == 2; }));
  EXPECT_EQ(consumer.stats().dead_lettered, 1u);
  EXPECT_EQ(AppliedOrder(f.schema.name(), "key-a"), (std::vector<std::string>{"a-2", "a-3"}));
  pqxx::connection c(PgDsn());
  EXPECT_EQ(sdk::ListDeadLetters(c, f.schema.name(), "loyalty").size(), 1u);  // still there to be retried
  Produce(f.topic, {EventRecord("a-4", "key-a")});
  ASSERT_TRUE(PollUntil(consumer, [&] { return AppliedOrder(f.schema.name(), "key-a").size() == 3; }));
}

}  // namespace outbox::test
