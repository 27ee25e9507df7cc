// AckBatcher with an AckWorker: acknowledgements on a thread of their own
// while the pipeline goes on. Nothing is released before its batch's outcome,
// nothing added meanwhile is lost, and a failed batch is retried first.
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "fake_stages.hpp"
#include "pipeline/ack_batcher.hpp"
#include "pipeline/stats.hpp"

namespace outbox::relay {
namespace {

using std::chrono::milliseconds;

struct AckFixture : ::testing::Test {
  AckFixture() : source(table), batcher(3, milliseconds(50), milliseconds(1000), stats) {
    auto store = std::make_unique<fake::AckStore>(table);
    worker_store = store.get();
    batcher.UseWorker(std::make_unique<AckWorker>(std::move(store)));
  }

  // Rows are written before any batch is under way: the worker's store
  // changes the table on its thread. Copies are what the window reads.
  void SetUp() override {
    for (const char* v : {"a", "b", "c", "d", "s"}) {
      const int64_t seq = table.Insert(std::string("K") + v, v);
      rows[v] = table.rows.at(seq);
    }
  }

  // Event `value` read into the window and delivered.
  DeliveryToken Delivered(const std::string& value, uint64_t txn = 0) {
    OutboxRow row = rows.at(value);
    row.txn = txn;  // a streamed row (not replayed): its commit may not be visible yet
    const DeliveryToken t = window.Add(row);
    window.MarkSent(*window.NextQueued());
    window.MarkDelivered(*window.Find(t));
    batcher.Add(t, now);
    return t;
  }

  fake::Table table;
  fake::Source source;
  RelayStats stats;
  InFlightWindow window{100};
  AckBatcher batcher;
  fake::AckStore* worker_store = nullptr;
  std::map<std::string, OutboxRow> rows;
  fake::AckStore unused{table};  // the pipeline's own store: not used for acknowledgements
  Clock::time_point now = Clock::now();
};

TEST_F(AckFixture, ABatchIsReleasedOnlyOnceItsOutcomeIsTaken) {
  const DeliveryToken a = Delivered("a"), b = Delivered("b"), c = Delivered("c");
  EXPECT_EQ(batcher.Flush(now, false, window, unused, source, stats), AckBatcher::Result::kDone);
  EXPECT_NE(batcher.EventFd(), -1) << "a full batch is under way";
  EXPECT_EQ(batcher.size(), 3u);
  EXPECT_NE(window.Find(a), nullptr) << "not released before its outcome";
  const DeliveryToken d = Delivered("d");  // arrives while the batch is under way
  EXPECT_EQ(batcher.Flush(now, true, window, unused, source, stats), AckBatcher::Result::kDone);
  for (DeliveryToken t : {a, b, c, d}) EXPECT_EQ(window.Find(t), nullptr);
  EXPECT_EQ(table.acked, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(stats.acked.load(), 4u);
  EXPECT_TRUE(batcher.empty());
  EXPECT_EQ(batcher.EventFd(), -1);
}

TEST_F(AckFixture, AFailedBatchIsRetriedAheadOfLaterEvents) {
  worker_store->fail_acks = true;
  Delivered("a"), Delivered("b"), Delivered("c");
  batcher.Flush(now, false, window, unused, source, stats);
  Delivered("d");
  EXPECT_EQ(batcher.Flush(now, true, window, unused, source, stats), AckBatcher::Result::kStoreDown);
  EXPECT_EQ(batcher.size(), 4u) << "nothing lost";
  EXPECT_TRUE(table.acked.empty());
  worker_store->fail_acks = false;  // safe: no batch is under way
  EXPECT_EQ(batcher.Flush(now, true, window, unused, source, stats), AckBatcher::Result::kStoreDown)
      << "not before the backoff";
  now += milliseconds(200);
  EXPECT_EQ(batcher.Flush(now, true, window, unused, source, stats), AckBatcher::Result::kDone);
  EXPECT_EQ(table.acked, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(window.empty());
}

TEST_F(AckFixture, AnInvisibleRowWaitsAndIsAcknowledgedOnceVisible) {
  const DeliveryToken t = Delivered("s", /*txn=*/7);
  const int64_t seq = rows.at("s").seq;
  worker_store->invisible.insert(seq);
  EXPECT_EQ(batcher.Flush(now, true, window, unused, source, stats), AckBatcher::Result::kInvisible);
  EXPECT_NE(window.Find(t), nullptr);
  worker_store->invisible.clear();
  now += milliseconds(1000);
  EXPECT_EQ(batcher.Flush(now, false, window, unused, source, stats), AckBatcher::Result::kDone);  // submitted
  EXPECT_EQ(batcher.Flush(now, true, window, unused, source, stats), AckBatcher::Result::kDone);
  EXPECT_EQ(table.acked, (std::vector<int64_t>{seq}));
  EXPECT_EQ(window.Find(t), nullptr);
}

TEST_F(AckFixture, TheWorkerConnectsItsSessionBeforeTheFirstBatch) {
  // The first acknowledgement should not wait for a connect: nothing was submitted yet.
  bool connected = false;
  for (int i = 0; i < 2000 && !connected; ++i) {
    connected = worker_store->connected();
    if (!connected) std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_TRUE(connected);
  EXPECT_TRUE(table.acked.empty());
}

TEST_F(AckFixture, AbandonWaitsForTheBatchUnderWayAndReleasesEverything) {
  Delivered("a"), Delivered("b"), Delivered("c");
  batcher.Flush(now, false, window, unused, source, stats);
  Delivered("d");
  batcher.Abandon(window);
  EXPECT_TRUE(batcher.empty());
  EXPECT_TRUE(window.empty());
  EXPECT_EQ(batcher.EventFd(), -1);
}

}  // namespace
}  // namespace outbox::relay
