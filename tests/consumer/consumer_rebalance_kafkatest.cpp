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

namespace outbox::test {

// Batches in flight while members come and go: B joins, C joins, then A
// leaves (its partitions move with batches collected but not applied).
// Every side effect is applied exactly once, with offsets in Kafka only and
// with offsets stored in Postgres.
class ConsumerBatchRebalance : public testing::TestWithParam<bool> {};

TEST_P(ConsumerBatchRebalance, MembersJoiningAndLeavingDuringBatchesKeepExactlyOnce) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_brebal");
  CreateTopic(topic, 4);
  CreateEffectsTable(schema.name());
  constexpr int kEvents = 1500;
  std::vector<OutRecord> records;
  for (int i = 0; i < kEvents; ++i) {
    records.push_back(EventRecord("bb-" + std::to_string(i), "order-" + std::to_string(i % 31)));
  }
  Produce(topic, records);

  auto options = BatchOptions(topic, schema.name(), "loyalty", 50);
  options.store_offsets_in_postgres = GetParam();
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  auto slow = [&](pqxx::work& tx, const sdk::Record& r) {
    apply(tx, r);
    std::this_thread::sleep_for(std::chrono::microseconds(1500));  // batches stay in flight during rebalances
  };
  std::atomic<uint64_t> processed{0}, duplicates{0};
  struct Member {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> rebalances{0};
    std::thread thread;
  };
  auto start = [&](Member& m) {
    m.thread = std::thread([&] {
      sdk::ConsumerHooks hooks;
      hooks.on_processed = [&](const sdk::Record&, std::chrono::nanoseconds) { ++processed; };
      hooks.on_duplicate = [&](const sdk::Record&) { ++duplicates; };
      try {
        sdk::IdempotentConsumer consumer(options, slow, hooks);
        while (!m.stop) {
          consumer.PollBatch(std::chrono::milliseconds(100));
          m.rebalances = consumer.stats().rebalances;
        }
        consumer.Close();
      } catch (const std::exception& e) {
        ADD_FAILURE() << "member: " << e.what();
      }
    });
  };
  auto wait_for = [&](uint64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (processed < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return processed >= n;
  };
  Member a, b, c;
  start(a);
  ASSERT_TRUE(wait_for(200));
  start(b);
  ASSERT_TRUE(wait_for(450));
  start(c);
  ASSERT_TRUE(wait_for(800));
  a.stop = true;  // leaves mid-stream: its revoke commits what is done and drops what is collected
  a.thread.join();
  const bool done = wait_for(kEvents);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a doubled record would show up now
  b.stop = c.stop = true;
  b.thread.join();
  c.thread.join();
  ASSERT_TRUE(done) << processed << " of " << kEvents;
  std::cout << "processed " << processed << ", duplicates " << duplicates << ", rebalance callbacks of B "
            << b.rebalances << "\n";
  EXPECT_EQ(processed.load(), static_cast<uint64_t>(kEvents));
  EXPECT_GE(b.rebalances.load(), 3u);
  ExpectEachAppliedOnce(schema.name(), kEvents);
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), kEvents);
}

INSTANTIATE_TEST_SUITE_P(Offsets, ConsumerBatchRebalance, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& p) { return p.param ? "InPostgres" : "InKafka"; });

}  // namespace outbox::test
