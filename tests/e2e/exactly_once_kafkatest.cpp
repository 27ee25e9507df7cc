// kafka.delivery = "exactly_once": the real outbox-relay executable against the
// real broker. Every test audits with read_committed and counts duplicates by
// event id across the whole topic: there must be none, whatever the relay
// went through (kills at random moments, a kill inside the commit window, an
// aborted transaction, fencing).
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <pqxx/pqxx>

#include "kafka/checkpoint.hpp"
#include "kafka/transactional_publisher.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

using std::chrono::milliseconds;

relay::Config ExactlyOnce(relay::Config c, const std::string& prefix) {
  c.kafka.delivery = relay::Delivery::kExactlyOnce;
  c.kafka.transactional_id = "outbox-relay.test." + prefix;
  c.kafka.checkpoint_topic = prefix + ".checkpoints";
  return c;
}

/// Sets an environment variable for the relay processes spawned while it lives.
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }
  const char* name_;
};

class ExactlyOnceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sdk::Migrate(conn_, schema_.name());
    CreateAggregates(schema_.name(), 30);  // KillRestartAndAudit writes to 30
    config_.source.poll_interval = milliseconds(200);
    config_.dead_letter.max_attempts = 2;
  }
  std::vector<WrittenEvent> Write(int transactions, int per_transaction) {
    WriterOptions w;
    w.schema = schema_.name();
    w.writers = 2;
    w.transactions_per_writer = transactions / 2;
    w.events_per_transaction = per_transaction;
    w.aggregates = 20;
    w.rollback_percent = 10;
    w.max_sleep_us = 0;
    return RunWriters(w);
  }
  /// Runs a relay until the outbox is empty, then SIGTERM; returns its log.
  std::string DrainWithRelay() {
    RelayProcess relay(config_);
    EXPECT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 60000)) << relay.Log();
    relay.Signal(SIGTERM);
    EXPECT_EQ(relay.Wait(20000), 0) << relay.Log();
    return relay.Log();
  }
  Audit AuditTopic(const std::vector<WrittenEvent>& committed) {
    Audit a = AuditDelivery(committed, ConsumeEvents({prefix_ + ".account"}, committed));
    std::printf("%zu committed, %zu delivered, lost=%zu phantom=%zu duplicates=%zu inversions=%zu\n", a.committed,
                a.delivered, a.lost, a.phantom, a.duplicates, a.inversions);
    return a;
  }
  static void ExpectExact(const Audit& a) {
    EXPECT_EQ(a.lost, 0u) << a.first_problem;
    EXPECT_EQ(a.phantom, 0u) << a.first_problem;
    EXPECT_EQ(a.inversions, 0u) << a.first_problem;
    EXPECT_EQ(a.duplicates, 0u) << a.first_problem;
  }

  ScopedSchema schema_{"eos"};
  pqxx::connection conn_{PgDsn()};
  std::string prefix_ = UniqueName("eos");
  relay::Config config_ = ExactlyOnce(RelayConfig(schema_.name(), prefix_), prefix_);
};

TEST_F(ExactlyOnceTest, DrainsEveryEventOnceAndLeavesACheckpoint) {
  const auto committed = Write(200, 5);
  const std::string log = DrainWithRelay();
  EXPECT_NE(log.find("no checkpoint in " + config_.kafka.checkpoint_topic + " yet"), std::string::npos) << log;
  ExpectExact(AuditTopic(committed));
  const auto cp = relay::ReadCheckpoint(config_.kafka, milliseconds(10000));
  ASSERT_TRUE(cp.has_value()) << "the relay committed no checkpoint to " << config_.kafka.checkpoint_topic;
  EXPECT_EQ(cp->transactional_id, config_.kafka.transactional_id);
  EXPECT_GE(cp->transaction, 1u);
  // `status` shows it.
  const CommandResult status = RunRelay(config_, {"status"});
  const size_t line = status.out.find("\ncheckpoint: ");
  ASSERT_NE(line, std::string::npos) << status.out << status.err;
  EXPECT_NE(status.out.find("transaction " + std::to_string(cp->transaction) + " committed at ", line),
            std::string::npos)
      << status.out << status.err;
  const CommandResult json = RunRelay(config_, {"status", "--json"});
  EXPECT_NE(json.out.find("\"transaction\":" + std::to_string(cp->transaction)), std::string::npos) << json.out;
}

// The deterministic point inside the commit window: the transaction committed
// in Kafka, the relay dies before Postgres records it. The next relay finds
// the rows in the checkpoint and acknowledges them without publishing them.
TEST_F(ExactlyOnceTest, AKillRightAfterACommitPublishesNothingTwice) {
  config_.kafka.transaction_max_events = 50;
  const auto committed = Write(200, 5);
  {
    ScopedEnv crash("OUTBOX_RELAY_CRASH_AT", "after_commit:3");
    RelayProcess relay(config_);
    EXPECT_EQ(relay.Wait(60000), 128 + SIGKILL) << relay.Log();
  }
  EXPECT_GT(OutboxRows(schema_.name()), 0);
  const auto cp = relay::ReadCheckpoint(config_.kafka, milliseconds(10000));
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->transaction, 3u);
  EXPECT_GT(cp->rows.size(), 0u) << "the killed relay's last transaction covers rows it never acknowledged";
  const std::string log = DrainWithRelay();
  EXPECT_NE(log.find("(transaction 3, committed at"), std::string::npos) << log;
  ExpectExact(AuditTopic(committed));
}

// Killed with a transaction open (its records may be on the broker): the next
// relay's producer aborts it, so read_committed consumers never see them.
TEST_F(ExactlyOnceTest, AKillBeforeACommitLeavesNothingVisible) {
  config_.kafka.transaction_max_events = 50;
  const auto committed = Write(200, 5);
  {
    ScopedEnv crash("OUTBOX_RELAY_CRASH_AT", "before_commit:2");
    RelayProcess relay(config_);
    EXPECT_EQ(relay.Wait(60000), 128 + SIGKILL) << relay.Log();
  }
  DrainWithRelay();
  ExpectExact(AuditTopic(committed));
}

TEST_F(ExactlyOnceTest, KilledAtRandomMomentsLeavesNoDuplicates) {
  const Audit a =
      KillRestartAndAudit("exactly-once restart", config_, schema_.name(), prefix_, 8, 700, 150, "relay starting");
  EXPECT_EQ(a.duplicates, 0u) << a.first_problem;
}

// Tail mode: WAL-message events (no row) written while no relay runs, so
// they are streamed from the slot. The relay is killed right after its third
// commit, before the slot's position moved past what it published: the next
// relay streams those transactions again, and skips the WAL messages at or
// before the checkpoint's stream position: nothing is published twice. (Rows
// in tail mode: TailModeKilledAtRandomMomentsLeavesNoDuplicates.)
TEST_F(ExactlyOnceTest, TailModeAKillRightAfterACommitPublishesNothingTwice) {
  auto config = TailConfig(config_);
  TailSlotGuard guard(config);
  config.kafka.transaction_max_events = 50;
  {
    RelayProcess first(config);  // creates the slot
    ASSERT_TRUE(WaitFor([&] { return TailStreaming(config); }, 30000)) << first.Log();
    first.Signal(SIGTERM);
    ASSERT_EQ(first.Wait(20000), 0) << first.Log();
  }
  sdk::OutboxOptions wal_options{schema_.name()};
  wal_options.mode = sdk::WriteMode::kWalMessage;
  const sdk::Outbox wal(wal_options);
  std::vector<WrittenEvent> written;
  for (int t = 0; t < 80; ++t) {
    pqxx::work tx(conn_);
    const std::string key = "k" + std::to_string(t % 10);
    for (int i = 0; i < 5; ++i) {
      const sdk::Event e{"account", key, "E", std::to_string(t) + "." + std::to_string(i)};
      written.push_back({wal.Enqueue(tx, e), key});
    }
    tx.commit();
  }
  {
    ScopedEnv crash("OUTBOX_RELAY_CRASH_AT", "after_commit:3");
    RelayProcess relay(config);
    EXPECT_EQ(relay.Wait(60000), 128 + SIGKILL) << relay.Log();
  }
  const auto cp = relay::ReadCheckpoint(config.kafka, milliseconds(10000));
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->transaction, 3u);
  EXPECT_FALSE(cp->messages.empty()) << "the checkpoint names the last WAL message published";
  RelayProcess relay(config);
  const Audit a = AuditTopic(written);
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0) << relay.Log();
  EXPECT_NE(relay.Log().find("and the WAL messages up to"), std::string::npos) << relay.Log();
  ExpectExact(a);
}

TEST_F(ExactlyOnceTest, TailModeKilledAtRandomMomentsLeavesNoDuplicates) {
  auto config = TailConfig(config_);
  TailSlotGuard guard(config);
  const Audit a = KillRestartAndAudit("exactly-once tail restart", config, schema_.name(), prefix_, 6, 1500, 300,
                                      "tail: streaming from slot");
  EXPECT_EQ(a.duplicates, 0u) << a.first_problem;
}

// A record the broker rejects aborts its transaction. Isolated, it is
// dead-lettered; every other event is published exactly once.
TEST_F(ExactlyOnceTest, AnOversizedRecordIsDeadLetteredAndTheRestPublishedOnce) {
  CreateTopic(prefix_ + ".order", 1, {{"max.message.bytes", "4000"}});
  std::vector<WrittenEvent> flowed;
  {
    pqxx::work tx(conn_);
    for (int i = 0; i < 6; ++i) {
      const std::string payload = i == 3 ? "repeat('x', 6000)" : "'v" + std::to_string(i) + "'";
      const std::string id =
          tx.exec1("INSERT INTO \"" + schema_.name() +
                   "\".outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', "
                   "'K" +
                   std::to_string(i) + "', 'E', convert_to(" + payload + ", 'UTF8')) RETURNING id::text")[0]
              .as<std::string>();
      if (i != 3) flowed.push_back({id, "K" + std::to_string(i)});
    }
    tx.commit();
  }
  RelayProcess relay(config_);
  EXPECT_TRUE(WaitFor(
      [&] {
        pqxx::nontransaction tx(conn_);
        return tx.exec1("SELECT count(*) FROM \"" + schema_.name() + "\".dead_letter")[0].as<int>() == 1 &&
               OutboxRows(schema_.name()) == 0;
      },
      60000))
      << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  EXPECT_TRUE(relay.LogContains("aborting a transaction")) << relay.Log();
  const Audit a = AuditDelivery(flowed, ConsumeEvents({prefix_ + ".order"}, flowed));
  EXPECT_EQ(a.lost, 0u) << a.first_problem;
  EXPECT_EQ(a.duplicates, 0u) << a.first_problem;
  EXPECT_EQ(a.phantom, 0u) << a.first_problem;
}

// One key's events go out together in a transaction, even before the producer
// delivered any of that key: a rejected record aborts the transaction, and
// nothing behind it is visible. The key is held from the rejected event on,
// and after the operator fixes and requeues it, the key reads in commit order.
TEST_F(ExactlyOnceTest, ARejectedRecordHoldsItsKeyAndTheKeyKeepsCommitOrder) {
  CreateTopic(prefix_ + ".order", 1, {{"max.message.bytes", "4000"}});
  std::vector<WrittenEvent> events;
  {
    pqxx::work tx(conn_);  // one transaction: one read, one Kafka transaction
    const auto insert = [&](const std::string& key, const std::string& payload) {
      events.push_back({tx.exec1("INSERT INTO \"" + schema_.name() +
                                 "\".outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', '" +
                                 key + "', 'E', convert_to(" + payload + ", 'UTF8')) RETURNING id::text")[0]
                            .as<std::string>(),
                        key});
    };
    insert("Q", "'q1'");
    insert("Q", "repeat('x', 6000)");  // q2: larger than the topic allows
    insert("Q", "'q3'");
    insert("Q", "'q4'");
    insert("R", "'r1'");
    tx.commit();
  }
  const auto dead_letters = [&] {
    pqxx::nontransaction tx(conn_);
    return tx.exec1("SELECT count(*) FROM \"" + schema_.name() + "\".dead_letter")[0].as<int>();
  };
  RelayProcess relay(config_);
  ASSERT_TRUE(WaitFor([&] { return dead_letters() == 1 && OutboxRows(schema_.name()) == 2; }, 60000))
      << "q2 dead-lettered, q3 and q4 held; " << relay.Log();
  {
    pqxx::work tx(conn_);  // the operator makes q2 fit
    tx.exec("UPDATE \"" + schema_.name() + "\".dead_letter SET payload = convert_to('q2', 'UTF8')");
    tx.commit();
  }
  const CommandResult requeue = RunRelay(config_, {"dlq", "requeue", events[1].id});
  ASSERT_EQ(requeue.exit_code, 0) << requeue.err;
  ASSERT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 30000)) << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0);
  EXPECT_TRUE(relay.LogContains("aborting a transaction")) << relay.Log();
  ExpectExact(AuditDelivery(events, ConsumeEvents({prefix_ + ".order"}, events)));
}

// Another producer with the relay's transactional.id (a standby taking over)
// fences it: its open transaction fails, nothing of it is visible, and the
// relay publishes nothing more until it is the table's active relay again.
TEST_F(ExactlyOnceTest, AFencedRelayPublishesNothingTwice) {
  std::vector<WrittenEvent> committed;
  std::thread writer([&] {
    WriterOptions w;
    w.schema = schema_.name();
    w.writers = 2;
    w.transactions_per_writer = 300;
    w.events_per_transaction = 2;
    w.aggregates = 20;
    w.rollback_percent = 0;
    w.pause_between_us = 5000;
    committed = RunWriters(w);
  });
  RelayProcess relay(config_);
  ASSERT_TRUE(WaitFor([&] { return relay.LogContains("transactions ready"); }, 30000)) << relay.Log();
  std::this_thread::sleep_for(milliseconds(1000));
  {
    // The zombie-fencing step of a new producer with the same transactional.id.
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", KafkaBrokers().c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "transactional.id", config_.kafka.transactional_id.c_str(), err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ASSERT_NE(rk, nullptr) << err;
    rd_kafka_error_t* e = rd_kafka_init_transactions(rk, 30000);
    EXPECT_EQ(e, nullptr) << rd_kafka_error_string(e);
    if (e != nullptr) rd_kafka_error_destroy(e);
    rd_kafka_destroy(rk);
  }
  EXPECT_TRUE(WaitFor([&] { return relay.LogContains("fenced"); }, 30000)) << relay.Log();
  writer.join();
  EXPECT_TRUE(WaitFor([&] { return OutboxRows(schema_.name()) == 0; }, 60000)) << relay.Log();
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0) << relay.Log();
  ExpectExact(AuditTopic(committed));
}

// After a commit the next transaction's first record waits
// kafka.transaction_settle_ms: the broker answers CONCURRENT_TRANSACTIONS
// while it writes the last commit's markers, and librdkafka 2.0.2 then holds
// the new transaction's records back for a fixed 20 ms.
TEST(TransactionalPublisher, TheNextTransactionWaitsForTheSettleTimeAfterACommit) {
  const std::string prefix = UniqueName("settle");
  CreateTopic(prefix, 1);
  relay::Config c = ExactlyOnce(RelayConfig("unused", prefix), prefix);
  c.kafka.transaction_interval = milliseconds(1);
  c.kafka.transaction_settle = milliseconds(400);
  relay::TransactionalPublisher publisher(c.kafka, 100);
  publisher.Recover();
  relay::KafkaRecord record;
  record.topic = prefix;
  record.key = "k";
  record.value = "v";
  uint64_t token = 0;
  // Publishes one record in a transaction of its own; returns when it committed.
  const auto commit_one = [&] {
    ASSERT_EQ(publisher.Produce(record, relay::DeliveryToken{++token}).status, relay::DeliveryStatus::kOk);
    std::vector<relay::DeliveryReport> out;
    ASSERT_TRUE(WaitFor(
        [&] {
          publisher.Poll(10, out);
          return !out.empty();
        },
        10000));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].status, relay::DeliveryStatus::kOk) << out[0].error;
  };
  commit_one();
  const auto committed = relay::Clock::now();
  // Within the settle time: "queue full" to the dispatcher, and the publisher
  // names the moment to try again.
  EXPECT_EQ(publisher.Produce(record, relay::DeliveryToken{++token}).status, relay::DeliveryStatus::kRetriable);
  const auto due = publisher.NextDue();
  EXPECT_GE(due, committed + milliseconds(300));
  EXPECT_LE(due, committed + milliseconds(400));
  std::this_thread::sleep_until(due);
  commit_one();

  // transaction_settle_ms = 0: the next transaction starts at once.
  relay::Config now = c;
  now.kafka.transaction_settle = milliseconds(0);
  now.kafka.transactional_id += ".now";
  relay::TransactionalPublisher eager(now.kafka, 100);
  eager.Recover();
  ASSERT_EQ(eager.Produce(record, relay::DeliveryToken{1}).status, relay::DeliveryStatus::kOk);
  std::vector<relay::DeliveryReport> out;
  ASSERT_TRUE(WaitFor(
      [&] {
        eager.Poll(10, out);
        return !out.empty();
      },
      10000));
  EXPECT_EQ(eager.Produce(record, relay::DeliveryToken{2}).status, relay::DeliveryStatus::kOk);
}

/// Produces `n` records of key `key` to partition 0 of `topic`, plainly (not in a transaction).
void ProduceMany(const std::string& topic, const std::string& key, const std::string& value, int n) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", KafkaBrokers().c_str(), err, sizeof err), RD_KAFKA_CONF_OK);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                        rd_kafka_destroy);
  ASSERT_TRUE(rk) << err;
  for (int i = 0; i < n; ++i) {
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(
                rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk.get(), 10);
    }
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ(rd_kafka_flush(rk.get(), 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

// The checkpoint topic grows by a record per transaction of every relay that
// shares it, and compaction leaves the active segment alone: a relay that read
// it from the start would take longer to start every day, until its 5 s call
// timeout stopped it from starting at all. It reads backwards from the end,
// in growing windows, and keeps only its own key's records.
TEST(Checkpoint, IsReadBackwardsFromTheEndOfASharedTopic) {
  const std::string prefix = UniqueName("cpscan");
  relay::Config c = ExactlyOnce(RelayConfig("unused", prefix), prefix);
  CreateTopic(c.kafka.checkpoint_topic, 1, {{"cleanup.policy", "compact"}});
  const std::string other = c.kafka.transactional_id + ".other";
  ProduceMany(c.kafka.checkpoint_topic, other, "{}", 200000);
  relay::Checkpoint mine;
  mine.transactional_id = c.kafka.transactional_id;
  mine.transaction = 7;
  mine.committed_unix_ms = 1234;
  mine.rows = {{10, 1}, {11, 1}, {12, 1}};
  ProduceMany(c.kafka.checkpoint_topic, mine.transactional_id, relay::EncodeCheckpoint(mine), 1);
  ProduceMany(c.kafka.checkpoint_topic, other, "{}", 5000);

  size_t scanned = 0;
  const auto cp = relay::ReadCheckpoint(c.kafka, milliseconds(20000), &scanned);
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->transaction, 7u);
  EXPECT_EQ(cp->rows.size(), 3u);
  EXPECT_LT(scanned, 30000u) << "the 200,000 records before the checkpoint are not read";
  EXPECT_GT(scanned, 5000u) << "the 5,000 records after it are";

  // A key that is not there: the whole topic, and no checkpoint.
  relay::Config absent = c;
  absent.kafka.transactional_id += ".absent";
  EXPECT_FALSE(relay::ReadCheckpoint(absent.kafka, milliseconds(20000), &scanned).has_value());
  EXPECT_EQ(scanned, 205001u);
}

/// The topic-level configuration entries of `topic` that were set for it (not broker defaults).
std::map<std::string, std::string> TopicConfigs(const std::string& topic) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", KafkaBrokers().c_str(), err, sizeof err);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                        rd_kafka_destroy);
  std::map<std::string, std::string> out;
  if (!rk) return out;
  rd_kafka_ConfigResource_t* res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_DescribeConfigs(rk.get(), &res, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 10000);
  if (ev != nullptr && rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    size_t n = 0;
    const rd_kafka_ConfigResource_t** rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      size_t m = 0;
      const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[i], &m);
      for (size_t j = 0; j < m; ++j) {
        if (rd_kafka_ConfigEntry_source(entries[j]) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) continue;
        const char* v = rd_kafka_ConfigEntry_value(entries[j]);
        out[rd_kafka_ConfigEntry_name(entries[j])] = v ? v : "";
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_ConfigResource_destroy(res);
  return out;
}

TEST(Checkpoint, TheTopicIsCreatedCompactedWithShortSegments) {
  const std::string prefix = UniqueName("cptopic");
  relay::Config c = ExactlyOnce(RelayConfig("unused", prefix), prefix);
  relay::EnsureCheckpointTopic(c.kafka, milliseconds(10000));
  relay::EnsureCheckpointTopic(c.kafka, milliseconds(10000));  // it exists: not an error
  const auto configs = TopicConfigs(c.kafka.checkpoint_topic);
  EXPECT_EQ(configs.count("cleanup.policy") ? configs.at("cleanup.policy") : "", "compact");
  EXPECT_EQ(configs.count("segment.bytes") ? configs.at("segment.bytes") : "", "67108864");
}

// While the relay has a backlog, a transaction stays open up to 10 x
// transaction_interval_ms (fewer, larger transactions drain it faster);
// without one it commits after transaction_interval_ms.
TEST(TransactionalPublisher, ABacklogKeepsATransactionOpenLonger) {
  const std::string prefix = UniqueName("backlog");
  CreateTopic(prefix, 1);
  relay::Config c = ExactlyOnce(RelayConfig("unused", prefix), prefix);
  c.kafka.transaction_interval = milliseconds(100);
  relay::TransactionalPublisher publisher(c.kafka, 100);
  publisher.Recover();
  relay::KafkaRecord record;
  record.topic = prefix;
  record.key = "k";
  record.value = "v";
  publisher.SetBacklog(true);
  const auto opened = relay::Clock::now();
  ASSERT_EQ(publisher.Produce(record, relay::DeliveryToken{1}).status, relay::DeliveryStatus::kOk);
  EXPECT_GE(publisher.NextDue(), opened + milliseconds(1000));
  std::vector<relay::DeliveryReport> out;
  while (relay::Clock::now() < opened + milliseconds(400)) publisher.Poll(10, out);
  EXPECT_TRUE(out.empty()) << "committed after " << c.kafka.transaction_interval.count() << " ms despite the backlog";
  publisher.SetBacklog(false);  // caught up: the transaction is overdue
  EXPECT_LE(publisher.NextDue(), relay::Clock::now());
  ASSERT_TRUE(WaitFor(
      [&] {
        publisher.Poll(10, out);
        return !out.empty();
      },
      10000));
  EXPECT_EQ(out[0].status, relay::DeliveryStatus::kOk) << out[0].error;
}

}  // namespace
}  // namespace outbox::test
