// Issue 12, item 6 (consumer part): a record may carry several event_id
// headers (a row header named event_id, copied after the relay's own). The
// relay writes its reserved headers first, so the consumer deduplicates on the
// FIRST occurrence; a spoofed later one must not make another event a duplicate.
#include <gtest/gtest.h>

#include "consumer_test_util.hpp"
#include "outbox/consumer.hpp"
#include "test_env.hpp"

namespace outbox::test {

TEST(ConsumerSpoof, RepeatedEventIdHeaderDedupsOnTheFirstOccurrence) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_spoof");
  CreateTopic(topic, 1);
  CreateEffectsTable(schema.name());
  OutRecord spoofing = EventRecord("ev-a", "order-1");
  spoofing.headers.emplace_back("event_id", "ev-b");  // a row header reusing the reserved name
  Produce(topic, {spoofing, EventRecord("ev-b", "order-2")});

  sdk::IdempotentConsumer consumer(TestOptions(topic, schema.name(), "loyalty"), EffectHandler(schema.name(), nullptr));
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == 2; }));
  EXPECT_EQ(consumer.stats().processed, 2u);
  EXPECT_EQ(consumer.stats().duplicates, 0u) << "ev-b was taken for a duplicate of the spoofed header";
  ExpectEachAppliedOnce(schema.name(), 2);
  EXPECT_EQ(Effects(schema.name()).count("ev-a"), 1u);
}

}  // namespace outbox::test
