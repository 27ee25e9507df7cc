// Scenario 4: broker errors on demand through librdkafka's mock cluster (3
// brokers): NOT_ENOUGH_REPLICAS and REQUEST_TIMED_OUT on Produce, partition
// leader changes, a broker down for several seconds and up again, and a fatal producer error (injected: the mock checks
// idempotent sequences only for transactional producers). The records are read back from the mock (read_committed) and
// audited.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "fault_writers.hpp"

namespace outbox::test::fault {
namespace {

constexpr int16_t kProduceApiKey = 0;  // RD_KAFKAP_Produce, not installed

/// A mock cluster of `brokers` brokers owned by a helper producer handle.
class MockCluster {
 public:
  explicit MockCluster(int brokers) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("rd_kafka_new: ") + err);
    }
    mc_ = rd_kafka_mock_cluster_new(rk_, brokers);
    if (mc_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(rk_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;
  rd_kafka_mock_cluster_t* get() const { return mc_; }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mc_); }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
};

TEST(FaultMockBroker, ProduceErrorsLeaderChangesBrokerDownAndFatalError) {
  constexpr int kBrokers = 3, kPartitions = 3;
  const int64_t rounds = EnvInt("OUTBOX_FAULT_MOCK_ROUNDS", 1);
  const auto min_events = static_cast<size_t>(EnvInt("OUTBOX_FAULT_EVENTS", 3000));
  std::mt19937_64 rng(Seed("mock-broker"));
  MockCluster mock(kBrokers);
  FaultSchema schema(PgDsn(), "fmock", 30);
  const std::string prefix = UniqueName("fmock");
  const std::string topic = prefix + ".account";
  ASSERT_EQ(rd_kafka_mock_topic_create(mock.get(), topic.c_str(), kPartitions, kBrokers), RD_KAFKA_RESP_ERR_NO_ERROR);

  auto config = RelayConfig(schema.name(), prefix, mock.bootstraps());
  // One request in flight per broker. The mock checks idempotent sequences only
  // for transactional producers, so with several in flight a later batch is
  // appended while an earlier one that got an injected error waits for its
  // retry: a real broker refuses that batch (OUT_OF_ORDER_SEQUENCE_NUMBER),
  // the mock stores it, and librdkafka, seeing a later sequence acknowledged,
  // reports the earlier messages as delivered too although the mock never
  // stored them. Measured with 5 in flight: 1-5 such "lost" events in half the
  // runs (every offset around them read back) and a few hundred inversions.
  config.kafka.properties["max.in.flight.requests.per.connection"] = "1";
  RelayThread relay(config);
  FaultWriterOptions w;
  w.dsn = PgDsn();
  w.schema = schema.name();
  w.writers = static_cast<int>(EnvInt("OUTBOX_FAULT_WRITERS", 4));
  w.pause_between_us = static_cast<int>(EnvInt("OUTBOX_FAULT_PAUSE_US", 20000));
  FaultWriters writers(w);
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() > 50; }, 60000)) << "the relay never published";

  // After each fault, publishing must go on.
  auto resumes = [&](const std::string& after) {
    const uint64_t acked = relay.stats().acked.load();
    EXPECT_TRUE(WaitFor([&] { return relay.stats().acked.load() > acked + 50; }, 60000))
        << "publishing did not resume after " << after;
  };
  int64_t injected_errors = 0, leader_moves = 0, broker_downs = 0;
  for (int64_t round = 0; round < rounds; ++round) {
    // Produce errors: librdkafka retries both (the second is "possibly persisted").
    std::vector<rd_kafka_resp_err_t> errors;
    for (int64_t i = Uniform(rng, 10, 40); i > 0; --i) {
      errors.push_back(i % 2 ? RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS : RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    }
    rd_kafka_mock_push_request_errors_array(mock.get(), kProduceApiKey, errors.size(), errors.data());
    injected_errors += static_cast<int64_t>(errors.size());
    resumes("Produce errors, round " + std::to_string(round));

    // Leader changes: every partition moves to another broker.
    const int32_t shift = static_cast<int32_t>(Uniform(rng, 1, kBrokers - 1));
    for (int32_t p = 0; p < kPartitions; ++p) {
      ASSERT_EQ(rd_kafka_mock_partition_set_leader(mock.get(), topic.c_str(), p, 1 + (p + shift + round) % kBrokers),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      ++leader_moves;
    }
    resumes("leader changes, round " + std::to_string(round));

    // A broker down for seconds (records wait in librdkafka's queue), then up.
    const int32_t down = static_cast<int32_t>(Uniform(rng, 1, kBrokers));
    ASSERT_EQ(rd_kafka_mock_broker_set_down(mock.get(), down), RD_KAFKA_RESP_ERR_NO_ERROR);
    std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(rng, 5000, 7000)));
    ASSERT_EQ(rd_kafka_mock_broker_set_up(mock.get(), down), RD_KAFKA_RESP_ERR_NO_ERROR);
    ++broker_downs;
    resumes("broker " + std::to_string(down) + " down and up, round " + std::to_string(round));

    // A fatal error: the relay drops the producer, builds a new one, resumes.
    const uint64_t rebuilds = relay.stats().producer_rebuilds.load();
    relay.relay().InjectFatalErrorForTest();
    ASSERT_TRUE(WaitFor([&] { return relay.stats().producer_rebuilds.load() > rebuilds; }, 20000))
        << "no producer rebuild after the injected fatal error, round " << round;
    resumes("the fatal error, round " + std::to_string(round));
  }
  EXPECT_TRUE(writers.WaitForCommitted(min_events, 300000));
  writers.Stop();

  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 180000)) << "the outbox never drained";
  EXPECT_EQ(relay.Stop(), 0);
  EXPECT_GE(relay.stats().resyncs.load(), static_cast<uint64_t>(rounds)) << "every fatal error resyncs";
  const auto ledger = schema.Ledger();
  const auto audit =
      CheckDelivery(ledger, writers.Committed(), ReadPartitions(mock.bootstraps(), topic, kPartitions, ledger, 180000));
  Report("mock-broker",
         "rounds=" + std::to_string(rounds) + " produce_errors=" + std::to_string(injected_errors) +
             " leader_moves=" + std::to_string(leader_moves) + " broker_downs=" + std::to_string(broker_downs) +
             " fatal=" + std::to_string(rounds),
         audit,
         " resyncs=" + std::to_string(relay.stats().resyncs.load()) +
             " producer_rebuilds=" + std::to_string(relay.stats().producer_rebuilds.load()) + " failed_retriable=" +
             std::to_string(relay.stats().failed_retriable.load()) + " errors=" + ErrorsByReason(relay.stats()));
}

// The outage case of the scenario above, made deterministic: one broker, one
// partition, three keys written continuously. The broker is down for 1 s and
// librdkafka waits 5 s (reconnect.backoff.ms) before it reconnects. With a
// finite delivery timeout shorter than that, librdkafka expires the older
// queued records on reconnect and sends the younger ones at once, so the
// relay's resend lands behind younger events of the same keys (measured with
// 2 s: hundreds of inversions). The relay's default never expires a record:
// nothing fails, nothing is resent, every key keeps its order.
TEST(FaultMockBroker, SlowReconnectAfterAnOutageKeepsEachKeysOrder) {
  MockCluster mock(1);
  FaultSchema schema(PgDsn(), "fmto", 3);
  const std::string prefix = UniqueName("fmto");
  const std::string topic = prefix + ".account";
  ASSERT_EQ(rd_kafka_mock_topic_create(mock.get(), topic.c_str(), 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto config = RelayConfig(schema.name(), prefix, mock.bootstraps());
  config.kafka.properties["max.in.flight.requests.per.connection"] = "1";
  config.kafka.properties["reconnect.backoff.ms"] = "5000";
  config.kafka.properties["reconnect.backoff.max.ms"] = "5000";
  config.source.batch_size = 100;
  RelayThread relay(config);
  FaultWriterOptions w;
  w.dsn = PgDsn();
  w.schema = schema.name();
  w.writers = 2;
  w.aggregates = 3;
  w.pause_between_us = 10000;
  FaultWriters writers(w);
  ASSERT_TRUE(WaitFor([&] { return relay.stats().acked.load() > 50; }, 60000)) << "the relay never published";

  ASSERT_EQ(rd_kafka_mock_broker_set_down(mock.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ASSERT_EQ(rd_kafka_mock_broker_set_up(mock.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  const uint64_t acked = relay.stats().acked.load();
  EXPECT_TRUE(WaitFor([&] { return relay.stats().acked.load() > acked + 100; }, 60000));
  EXPECT_EQ(relay.stats().failed_retriable.load(), 0u) << "a record expired: " << ErrorsByReason(relay.stats());
  EXPECT_EQ(relay.stats().resyncs.load(), 0u);
  writers.Stop();
  ASSERT_TRUE(WaitFor([&] { return schema.OutboxRows() == 0; }, 60000)) << "the outbox never drained";
  EXPECT_EQ(relay.Stop(), 0);

  const auto ledger = schema.Ledger();
  const auto audit =
      CheckDelivery(ledger, writers.Committed(), ReadPartitions(mock.bootstraps(), topic, 1, ledger, 60000));
  Report("mock-slow-reconnect", "outage_ms=1000 reconnect_backoff_ms=5000", audit,
         " errors=" + ErrorsByReason(relay.stats()));
}

}  // namespace
}  // namespace outbox::test::fault
