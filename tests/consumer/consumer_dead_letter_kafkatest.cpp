// Poison records go to the dead-letter topic after max_attempts and never
// block their partition; records without an event_id go there at once.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "consumer_test_util.hpp"
#include "outbox/consumer.hpp"
#include "test_env.hpp"

namespace outbox::test {

TEST(ConsumerDeadLetter, AlwaysFailingHandlerEndsInDlqAfterNAttemptsWhileLaterRecordsFlow) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_poison");
  CreateTopic(topic, 1);  // one partition: the later records sit behind the poison one
  CreateTopic(topic + ".dlq", 1);
  CreateEffectsTable(schema.name());
  constexpr int kEvents = 10;
  constexpr int kPoisonAt = 3;
  std::vector<OutRecord> records;
  for (int i = 0; i < kEvents; ++i) {
    records.push_back(EventRecord("ev-" + std::to_string(i), "order-" + std::to_string(i),
                                  i == kPoisonAt ? "Poison" : "OrderCreated", "payload-" + std::to_string(i)));
  }
  Produce(topic, records);

  auto options = TestOptions(topic, schema.name(), "loyalty");
  options.max_attempts = 3;
  std::atomic<int> poison_calls{0};
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  std::vector<int> retried_attempts;
  sdk::ConsumerHooks hooks;
  hooks.on_retry = [&](const sdk::Record&, int attempt, const std::string&) { retried_attempts.push_back(attempt); };
  sdk::IdempotentConsumer consumer(
      options,
      [&](pqxx::work& tx, const sdk::Record& r) {
        apply(tx, r);  // written, then rolled back with the inbox row
        if (r.event_type() == "Poison") {
          ++poison_calls;
          throw std::runtime_error("cannot apply poison");
        }
      },
      hooks);
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == kEvents; }));

  const sdk::Stats s = consumer.stats();
  EXPECT_EQ(s.processed, static_cast<uint64_t>(kEvents - 1));
  EXPECT_EQ(s.dead_lettered, 1u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(poison_calls.load(), 3);
  EXPECT_EQ(retried_attempts, (std::vector<int>{1, 2}));
  const auto effects = Effects(schema.name());
  EXPECT_EQ(effects.size(), static_cast<size_t>(kEvents - 1));
  EXPECT_EQ(effects.count("ev-3"), 0u);
  for (int i = kPoisonAt + 1; i < kEvents; ++i) EXPECT_EQ(effects.count("ev-" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), kEvents - 1);

  const auto dlq = ConsumeAll({topic + ".dlq"}, 1);
  ASSERT_EQ(dlq.size(), 1u);
  const ConsumedRecord& d = dlq[0];
  EXPECT_EQ(d.key, "order-3");
  EXPECT_EQ(d.value, "payload-3");
  EXPECT_EQ(d.Header("event_id"), "ev-3");
  EXPECT_EQ(d.Header("event_type"), "Poison");
  EXPECT_EQ(d.Header("traceparent"), records[kPoisonAt].headers.back().second);
  EXPECT_EQ(d.Header("dlq.error"), "cannot apply poison");
  EXPECT_EQ(d.Header("dlq.attempts"), "3");
  EXPECT_EQ(d.Header("dlq.consumer"), "loyalty");
  EXPECT_EQ(d.Header("dlq.original_topic"), topic);
  EXPECT_EQ(d.Header("dlq.original_partition"), "0");
  EXPECT_EQ(d.Header("dlq.original_offset"), std::to_string(kPoisonAt));
}

TEST(ConsumerDeadLetter, MissingEventIdIsDeadLetteredWithoutCallingTheHandler) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_noid");
  const std::string dead_letters = UniqueName("cons_all_dlq");
  CreateTopic(topic, 1);
  CreateTopic(dead_letters, 1);
  CreateEffectsTable(schema.name());
  OutRecord anonymous{"order-x", "no id", {{"event_type", "OrderCreated"}}};
  Produce(topic, {EventRecord("ok-1", "order-1"), anonymous, EventRecord("ok-2", "order-2")});

  auto options = TestOptions(topic, schema.name(), "loyalty");
  options.dead_letter_topic = dead_letters;  // one configured name instead of <topic>.dlq
  std::atomic<int> calls{0};
  std::string dead_error;
  int dead_attempts = -1;
  sdk::ConsumerHooks hooks;
  hooks.on_dead_letter = [&](const sdk::Record&, const std::string& error, int attempts) {
    dead_error = error;
    dead_attempts = attempts;
  };
  sdk::IdempotentConsumer consumer(options, EffectHandler(schema.name(), &calls), hooks);
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == 3; }));
  EXPECT_EQ(consumer.stats().processed, 2u);
  EXPECT_EQ(consumer.stats().dead_lettered, 1u);
  EXPECT_EQ(consumer.stats().retries, 0u);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(dead_error, "missing event_id header");
  EXPECT_EQ(dead_attempts, 0);
  EXPECT_EQ(Effects(schema.name()).size(), 2u);

  const auto dlq = ConsumeAll({dead_letters}, 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].key, "order-x");
  EXPECT_EQ(dlq[0].value, "no id");
  EXPECT_EQ(dlq[0].Header("dlq.error"), "missing event_id header");
  EXPECT_EQ(dlq[0].Header("dlq.attempts"), "0");
  EXPECT_EQ(dlq[0].Header("dlq.original_offset"), "1");
  EXPECT_EQ(dlq[0].Header("event_type"), "OrderCreated");
}

TEST(ConsumerDeadLetter, HandlerThatSwallowsAnSqlErrorCountsAsAFailedAttempt) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_swallow");
  CreateTopic(topic, 1);
  CreateTopic(topic + ".dlq", 1);
  CreateEffectsTable(schema.name());
  Produce(topic, {EventRecord("sw-1", "order-1"), EventRecord("sw-2", "order-2", "Bad")});

  auto options = TestOptions(topic, schema.name(), "loyalty");
  options.max_attempts = 2;
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  sdk::IdempotentConsumer consumer(options, [&](pqxx::work& tx, const sdk::Record& r) {
    apply(tx, r);
    if (r.event_type() != "Bad") return;
    try {
      tx.exec("SELECT 1 / 0");
    } catch (const pqxx::sql_error&) {
      // Swallowed: the transaction is dead all the same, so it must not count as processed.
    }
  });
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == 2; }));
  EXPECT_EQ(consumer.stats().processed, 1u);
  EXPECT_EQ(consumer.stats().dead_lettered, 1u);
  EXPECT_EQ(Effects(schema.name()).count("sw-2"), 0u);
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), 1);
  const auto dlq = ConsumeAll({topic + ".dlq"}, 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].Header("dlq.error").rfind("commit: ", 0), 0u) << dlq[0].Header("dlq.error");
  EXPECT_EQ(dlq[0].Header("dlq.attempts"), "2");
}

}  // namespace outbox::test
