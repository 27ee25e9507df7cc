// Issue 12 item 12 / issue 16: a dead-lettered record holds its key. Later
// records of that key (in its partition) wait behind it, in order, while
// other keys keep flowing.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "consumer_test_util.hpp"
#include "outbox/consumer.hpp"
#include "test_env.hpp"

namespace outbox::test {

TEST(ConsumerHold, DeadLetteredRecordHoldsItsKeyWhileOtherKeysFlow) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_hold");
  CreateTopic(topic, 1);
  CreateTopic(topic + ".dlq", 1);
  CreateEffectsTable(schema.name());
  Produce(topic, {EventRecord("a-1", "key-a"), EventRecord("a-2", "key-a", "Poison"), EventRecord("b-1", "key-b"),
                  EventRecord("a-3", "key-a"), EventRecord("b-2", "key-b")});

  auto options = TestOptions(topic, schema.name(), "loyalty");
  options.max_attempts = 2;
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  sdk::IdempotentConsumer consumer(options, [&](pqxx::work& tx, const sdk::Record& r) {
    if (r.event_type() == "Poison") throw std::runtime_error("cannot apply");
    apply(tx, r);
  });
  ASSERT_TRUE(
      PollUntil(consumer, [&] { return consumer.stats().dead_lettered == 1 && Effects(schema.name()).size() >= 3; }));
  PollFor(consumer, std::chrono::seconds(1));  // a-3 would be applied by now if the key were not held
  const auto effects = Effects(schema.name());
  EXPECT_EQ(effects.count("a-1"), 1u);
  EXPECT_EQ(effects.count("b-1"), 1u);
  EXPECT_EQ(effects.count("b-2"), 1u);
  EXPECT_EQ(effects.count("a-3"), 0u) << "a later record of the dead-lettered record's key was applied before it";
}

}  // namespace outbox::test
