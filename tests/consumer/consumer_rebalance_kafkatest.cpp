// A second member joins the group mid-stream: revoked partitions' offsets are
// committed before they move, so no record is lost and none applied twice.
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "consumer_test_util.hpp"
#include "outbox/consumer.hpp"
#include "test_env.hpp"

namespace outbox::test {

TEST(ConsumerRebalance, SecondMemberJoiningMidStreamLosesNothingAndDoublesNothing) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_rebal");
  CreateTopic(topic, 4);
  CreateEffectsTable(schema.name());
  constexpr int kEvents = 400;
  std::vector<OutRecord> records;
  for (int i = 0; i < kEvents; ++i) {
    records.push_back(EventRecord("rb-" + std::to_string(i), "order-" + std::to_string(i % 23)));
  }
  Produce(topic, records);

  const auto options = TestOptions(topic, schema.name(), "loyalty");
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  auto slow = [&](pqxx::work& tx, const sdk::Record& r) {
    apply(tx, r);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // keep the stream going while B joins
  };
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done_a{0}, done_b{0}, duplicates{0}, rebalances_a{0};
  std::atomic<uint64_t> processed_a{0}, processed_b{0};

  auto member = [&](std::atomic<uint64_t>* processed, std::atomic<uint64_t>* done, std::atomic<uint64_t>* rebalances) {
    sdk::ConsumerHooks hooks;
    hooks.on_processed = [&, processed](const sdk::Record&, std::chrono::nanoseconds) { ++*processed; };
    hooks.on_duplicate = [&](const sdk::Record&) { ++duplicates; };
    try {
      sdk::IdempotentConsumer consumer(options, slow, hooks);
      // Run() in slices so the stats stay visible to the test thread.
      while (!stop) {
        consumer.PollOnce(std::chrono::milliseconds(100));
        *done = consumer.stats().processing_count;
        if (rebalances != nullptr) *rebalances = consumer.stats().rebalances;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "member: " << e.what();
    }
  };

  std::thread a(member, &processed_a, &done_a, &rebalances_a);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (processed_a < 60 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(processed_a.load(), 60u) << "first member never got going";
  std::thread b(member, &processed_b, &done_b, nullptr);
  while (processed_a + processed_b < kEvents && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a doubled record would show up now
  stop = true;
  a.join();
  b.join();

  std::cout << "member A processed " << processed_a << ", member B " << processed_b << ", duplicates " << duplicates
            << ", A's rebalance callbacks " << rebalances_a << "\n";
  EXPECT_EQ(processed_a + processed_b, static_cast<uint64_t>(kEvents));
  EXPECT_GT(processed_b.load(), 0u) << "the second member never received a partition";
  EXPECT_GE(rebalances_a.load(), 3u);  // assign, revoke, assign again
  const auto effects = Effects(schema.name());
  EXPECT_EQ(effects.size(), static_cast<size_t>(kEvents));
  for (const auto& [id, applied] : effects) EXPECT_EQ(applied, 1) << id;
}

}  // namespace outbox::test
