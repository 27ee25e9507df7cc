// The batched path (issue 16) against the real broker and Postgres: one
// transaction per batch, one inbox statement, a savepoint per record (or on
// failure only), failing records parked and retried while the rest of the
// batch commits.
#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "consumer_test_util.hpp"
#include "outbox/consumer.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

using Savepoints = sdk::ConsumerOptions::Savepoints;

std::string Name(const testing::TestParamInfo<Savepoints>& p) {
  return p.param == Savepoints::kPerRecord ? "SavepointPerRecord" : "SavepointsOnFailure";
}

}  // namespace

TEST(ConsumerBatch, ReplayFromOffsetZeroInBatchesAppliesEachEffectOnce) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_breplay");
  CreateTopic(topic, 3);
  CreateEffectsTable(schema.name());
  constexpr int kEvents = 1500;
  auto records = Events("br-", kEvents);
  for (int i = 0; i < 100; ++i) records.push_back(records[i * 7]);  // relay duplicates inside the topic
  Produce(topic, records);

  std::atomic<int> calls{0};
  auto options = BatchOptions(topic, schema.name(), "loyalty");
  {
    sdk::IdempotentConsumer first(options, EffectHandler(schema.name(), &calls));
    ASSERT_TRUE(PollUntil(first, [&] { return first.stats().processing_count == records.size(); }));
    const sdk::Stats s = first.stats();
    EXPECT_EQ(s.processed, static_cast<uint64_t>(kEvents));
    EXPECT_EQ(s.duplicates, 100u);
    EXPECT_GT(s.MeanBatchSize(), 20.0) << "records were not batched";
    EXPECT_LE(s.max_batch, 500u);
    EXPECT_EQ(s.batch_records, records.size());
  }
  options.group_id = UniqueName("group_replay");  // a fresh group starts at offset 0
  sdk::IdempotentConsumer replay(options, EffectHandler(schema.name(), &calls));
  ASSERT_TRUE(PollUntil(replay, [&] { return replay.stats().duplicates == records.size(); }));
  EXPECT_EQ(replay.stats().processed, 0u);
  EXPECT_EQ(calls.load(), kEvents);
  ExpectEachAppliedOnce(schema.name(), kEvents);
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), kEvents);
}

class ConsumerBatchFailure : public testing::TestWithParam<Savepoints> {};

TEST_P(ConsumerBatchFailure, FailingRecordMidBatchIsRetriedThenDeadLetteredWhileTheOthersCommit) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_bpoison");
  CreateTopic(topic, 1);
  CreateTopic(topic + ".dlq", 1);
  CreateEffectsTable(schema.name());
  constexpr int kEvents = 300;
  constexpr int kPoisonAt = 150;
  std::vector<OutRecord> records;
  for (int i = 0; i < kEvents; ++i) {
    records.push_back(EventRecord("bp-" + std::to_string(i), "order-" + std::to_string(i),
                                  i == kPoisonAt ? "Poison" : "OrderCreated"));
  }
  Produce(topic, records);

  auto options = BatchOptions(topic, schema.name(), "loyalty");
  options.max_attempts = 3;
  options.savepoints = GetParam();
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  std::map<std::string, int> calls;
  std::vector<int> retried;
  uint64_t processed_before_dead_letter = 0;
  sdk::IdempotentConsumer* self = nullptr;
  sdk::ConsumerHooks hooks;
  hooks.on_retry = [&](const sdk::Record&, int attempt, const std::string&) { retried.push_back(attempt); };
  hooks.on_dead_letter = [&](const sdk::Record&, const std::string&, int) {
    processed_before_dead_letter = self->stats().processed;
  };
  sdk::IdempotentConsumer consumer(
      options,
      [&](pqxx::work& tx, const sdk::Record& r) {
        ++calls[r.event_id()];
        apply(tx, r);  // written, then rolled back with the record's savepoint
        if (r.event_type() == "Poison") throw std::runtime_error("cannot apply poison");
      },
      hooks);
  self = &consumer;
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == kEvents; }));
  const sdk::Stats s = consumer.stats();
  EXPECT_EQ(s.processed, static_cast<uint64_t>(kEvents - 1));
  EXPECT_EQ(s.dead_lettered, 1u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(retried, (std::vector<int>{1, 2}));
  EXPECT_EQ(processed_before_dead_letter, static_cast<uint64_t>(kEvents - 1))
      << "the other records waited for the poison record";
  // kOnFailure: the first, savepoint-less run of the batch is not an attempt.
  EXPECT_EQ(calls["bp-150"], GetParam() == Savepoints::kPerRecord ? 3 : 4);
  if (GetParam() == Savepoints::kPerRecord) {
    for (int i = 0; i < kEvents; ++i) {
      if (i != kPoisonAt) {
        EXPECT_EQ(calls["bp-" + std::to_string(i)], 1) << i;  // the poison record rolled back alone
      }
    }
  }
  const auto effects = Effects(schema.name());
  EXPECT_EQ(effects.size(), static_cast<size_t>(kEvents - 1));
  EXPECT_EQ(effects.count("bp-150"), 0u);
  for (const auto& [id, applied] : effects) EXPECT_EQ(applied, 1) << id;
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), kEvents - 1);

  const auto dlq = ConsumeAll({topic + ".dlq"}, 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].Header("event_id"), "bp-150");
  EXPECT_EQ(dlq[0].Header("dlq.error"), "cannot apply poison");
  EXPECT_EQ(dlq[0].Header("dlq.attempts"), "3");
  EXPECT_EQ(dlq[0].Header("dlq.original_offset"), std::to_string(kPoisonAt));
  PollFor(consumer, std::chrono::milliseconds(400));
  EXPECT_EQ(consumer.stats().dead_letter_depth, 1);
  EXPECT_EQ(consumer.stats().parked_records, 1);
}

INSTANTIATE_TEST_SUITE_P(Modes, ConsumerBatchFailure, testing::Values(Savepoints::kPerRecord, Savepoints::kOnFailure),
                         Name);

TEST(ConsumerBatch, BatchHandlerIsCalledOncePerBatchAndRecordByRecordAfterAFailure) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_bhandler");
  CreateTopic(topic, 1);
  CreateTopic(topic + ".dlq", 1);
  CreateEffectsTable(schema.name());
  constexpr int kEvents = 200;
  std::vector<OutRecord> records;
  for (int i = 0; i < kEvents; ++i) {
    records.push_back(
        EventRecord("bh-" + std::to_string(i), "order-" + std::to_string(i), i == 120 ? "Poison" : "OrderCreated"));
  }
  Produce(topic, records);
  auto options = BatchOptions(topic, schema.name(), "loyalty");
  options.max_attempts = 2;
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  std::vector<size_t> call_sizes;
  sdk::IdempotentConsumer consumer(options, sdk::BatchHandler([&](pqxx::work& tx, const sdk::RecordRefs& batch) {
                                     call_sizes.push_back(batch.size());
                                     for (const sdk::Record& r : batch) {
                                       apply(tx, r);
                                       if (r.event_type() == "Poison") throw std::runtime_error("poison in batch");
                                     }
                                   }));
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == kEvents; }));
  EXPECT_EQ(consumer.stats().processed, static_cast<uint64_t>(kEvents - 1));
  EXPECT_EQ(consumer.stats().dead_lettered, 1u);
  ASSERT_FALSE(call_sizes.empty());
  EXPECT_GT(*std::max_element(call_sizes.begin(), call_sizes.end()), 1u) << "never called with a whole batch";
  EXPECT_GT(std::count(call_sizes.begin(), call_sizes.end(), 1u), 0) << "never fell back to single records";
  const auto effects = Effects(schema.name());
  EXPECT_EQ(effects.size(), static_cast<size_t>(kEvents - 1));
  for (const auto& [id, applied] : effects) EXPECT_EQ(applied, 1) << id;
}

TEST(ConsumerBatch, InvalidEventIdsAreDeadLetteredAtOnceAndTheRestFlows) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_binvalid");
  CreateTopic(topic, 1);
  CreateTopic(topic + ".dlq", 1);
  CreateEffectsTable(schema.name());
  std::vector<OutRecord> records = Events("iv-", 40);
  records[10].headers[0].second = std::string(2000, 'x');                  // longer than the inbox key allows
  records[20].headers[0].second = std::string("bad\xff\xfe", 5);           // not UTF-8
  records[30].headers.erase(records[30].headers.begin());                  // no event_id at all
  for (int i : {10, 20, 30}) records[i].key = "bad-" + std::to_string(i);  // a dead letter holds its key
  Produce(topic, records);
  std::atomic<int> calls{0};
  std::vector<std::string> errors;
  sdk::ConsumerHooks hooks;
  hooks.on_dead_letter = [&](const sdk::Record&, const std::string& error, int) { errors.push_back(error); };
  sdk::IdempotentConsumer consumer(BatchOptions(topic, schema.name(), "loyalty"), EffectHandler(schema.name(), &calls),
                                   hooks);
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == 40; }));
  EXPECT_EQ(consumer.stats().processed, 37u);
  EXPECT_EQ(consumer.stats().dead_lettered, 3u);
  EXPECT_EQ(consumer.stats().retries, 0u);
  EXPECT_EQ(calls.load(), 37);
  std::sort(errors.begin(), errors.end());  // different keys: dead-lettered in no particular order
  EXPECT_EQ(errors, (std::vector<std::string>{"invalid event_id header: 2000 bytes, at most 1024",
                                              "invalid event_id header: not UTF-8 text without NUL bytes",
                                              "missing event_id header"}));
  ExpectEachAppliedOnce(schema.name(), 37);
}

TEST(ConsumerBatch, TransientErrorsPastTheBoundAreChargedAnAttemptSoTheyCannotStallThePartition) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_bbound");
  CreateTopic(topic, 1);
  CreateTopic(topic + ".dlq", 1);
  CreateEffectsTable(schema.name());
  Produce(topic, {EventRecord("tb-1", "order-1"), EventRecord("tb-2", "order-2", "Contended"),
                  EventRecord("tb-3", "order-3")});
  auto options = BatchOptions(topic, schema.name(), "loyalty");
  options.max_attempts = 2;
  options.transient_retries = 3;
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  sdk::IdempotentConsumer consumer(options, [&](pqxx::work& tx, const sdk::Record& r) {
    apply(tx, r);
    if (r.event_type() == "Contended") {
      tx.exec("DO $$ BEGIN RAISE EXCEPTION 'always' USING ERRCODE = 'deadlock_detected'; END $$");
    }
  });
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == 3; }));
  const sdk::Stats s = consumer.stats();
  EXPECT_EQ(s.processed, 2u);
  EXPECT_EQ(s.dead_lettered, 1u);
  EXPECT_EQ(s.retries, 1u);  // two charged attempts: one retry, then the dead letter
  EXPECT_GE(s.transient_retries, 2u * (3u + 1u));
  EXPECT_EQ(Effects(schema.name()).count("tb-2"), 0u);
}

TEST(ConsumerBatch, StatsReportBatchesLagRateAndLatency) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_bstats");
  CreateTopic(topic, 2);
  CreateEffectsTable(schema.name());
  Produce(topic, Events("st-", 600));
  sdk::IdempotentConsumer consumer(BatchOptions(topic, schema.name(), "loyalty", 100),
                                   EffectHandler(schema.name(), nullptr));
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processed == 600; }));
  PollFor(consumer, std::chrono::milliseconds(1200));  // async commits confirmed, a full second of rate
  const sdk::Stats s = consumer.stats();
  EXPECT_GE(s.batches, 6u);
  EXPECT_LE(s.max_batch, 100u);
  EXPECT_GT(s.offset_commits, 0u);
  EXPECT_EQ(s.offset_commit_failures, 0u);
  EXPECT_GT(s.records_per_second, 0.0);
  ASSERT_EQ(s.lag.size(), 2u);
  int64_t next_sum = 0;
  for (const auto& l : s.lag) {
    EXPECT_EQ(l.lag, 0) << l.topic << "[" << l.partition << "]";
    EXPECT_EQ(l.next_offset, l.high_watermark);
    next_sum += l.next_offset;
  }
  EXPECT_EQ(next_sum, 600);
  EXPECT_EQ(s.processing_time.count, 600u);
  EXPECT_EQ(s.end_to_end_latency.count, 600u);
  EXPECT_GT(s.end_to_end_latency.QuantileUpperBoundMs(0.5), 0.0);
}

TEST(ConsumerBatch, PurgeRunsBetweenBatchesWithoutStallingProcessing) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_bpurge");
  CreateTopic(topic, 1);
  CreateEffectsTable(schema.name());
  constexpr int kOld = 30000;
  {
    pqxx::connection c(PgDsn());
    pqxx::work tx(c);
    tx.exec_params("INSERT INTO \"" + schema.name() +
                       "\".inbox (consumer, event_id, processed_at) "
                       "SELECT 'loyalty', 'old-' || g, now() - interval '30 days' FROM generate_series(1, $1) g",
                   kOld);
    tx.commit();
  }
  Produce(topic, Events("pg-", 5));
  auto options = BatchOptions(topic, schema.name(), "loyalty");
  options.purge_batch_size = 500;
  uint64_t purged_at_first_record = 0;
  bool seen = false;
  sdk::IdempotentConsumer* self = nullptr;
  sdk::ConsumerHooks hooks;
  hooks.on_processed = [&](const sdk::Record&, std::chrono::nanoseconds) {
    if (!seen) purged_at_first_record = self->stats().inbox_purged;
    seen = true;
  };
  sdk::IdempotentConsumer consumer(options, EffectHandler(schema.name(), nullptr), hooks);
  self = &consumer;
  std::atomic<bool> stop{false};
  std::thread runner([&] { consumer.Run(&stop); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((consumer.stats().processed < 5 || consumer.stats().inbox_purged < kOld) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  runner.join();
  EXPECT_EQ(consumer.stats().processed, 5u);
  EXPECT_EQ(consumer.stats().inbox_purged, static_cast<uint64_t>(kOld));
  EXPECT_GE(consumer.stats().purge_batches, static_cast<uint64_t>(kOld / 500));
  EXPECT_LT(purged_at_first_record, static_cast<uint64_t>(kOld)) << "records waited for the whole purge";
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), 5);
}

TEST(ConsumerBatch, OffsetsStoredInPostgresSpareTheRedeliveriesOfALostKafkaCommit) {
  for (const bool stored : {false, true}) {
    SCOPED_TRACE(stored ? "offsets in Postgres" : "offsets in Kafka only");
    ScopedSchema schema("cons");
    const std::string topic = UniqueName("cons_boffsets");
    CreateTopic(topic, 2);
    CreateEffectsTable(schema.name());
    Produce(topic, Events("os-", 200));
    auto options = BatchOptions(topic, schema.name(), "loyalty", 50);
    options.store_offsets_in_postgres = stored;
    options.commit_every = 100000;  // no Kafka commit before the crash
    options.commit_interval = std::chrono::seconds(60);
    {
      sdk::ConsumerHooks hooks;
      int applied = 0;
      hooks.after_db_commit = [&](const sdk::Record&) {
        if (++applied == 200) throw std::runtime_error("simulated crash");
      };
      sdk::IdempotentConsumer doomed(options, EffectHandler(schema.name(), nullptr), hooks);
      EXPECT_THROW(PollUntil(
                       doomed, [] { return false; }, std::chrono::seconds(60)),
                   std::runtime_error);
    }
    ExpectEachAppliedOnce(schema.name(), 200);
    Produce(topic, {EventRecord("os-late", "order-late")});
    sdk::IdempotentConsumer restarted(options, EffectHandler(schema.name(), nullptr));
    ASSERT_TRUE(PollUntil(restarted, [&] { return restarted.stats().processed == 1; }));
    PollFor(restarted, std::chrono::milliseconds(500));
    EXPECT_EQ(restarted.stats().duplicates, stored ? 0u : 200u);
    ExpectEachAppliedOnce(schema.name(), 201);
    if (stored) {
      pqxx::connection c(PgDsn());
      pqxx::nontransaction tx(c);
      EXPECT_EQ(
          tx.exec_params1("SELECT sum(next_offset) FROM \"" + schema.name() + "\".consumer_offsets WHERE group_id = $1",
                          options.group_id)[0]
              .as<int>(),
          201);
    }
  }
}

}  // namespace outbox::test

namespace outbox::test {

TEST(ConsumerBatch, StopDuringATransientRetryLeavesTheBatchUncommittedForTheNextConsumer) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_bstop");
  CreateTopic(topic, 1);
  CreateEffectsTable(schema.name());
  Produce(topic, Events("sp-", 20));
  auto options = BatchOptions(topic, schema.name(), "loyalty");
  options.backoff_initial = options.backoff_max = std::chrono::milliseconds(2000);
  options.transient_retries = 100;
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  std::atomic<bool> contended{true};
  std::atomic<int> attempts{0};
  auto handler = [&](pqxx::work& tx, const sdk::Record& r) {
    apply(tx, r);
    if (contended && r.event_id() == "sp-12") {
      ++attempts;
      tx.exec("DO $$ BEGIN RAISE EXCEPTION 'busy' USING ERRCODE = 'serialization_failure'; END $$");
    }
  };
  {
    sdk::IdempotentConsumer consumer(options, handler);
    std::thread stopper([&] {
      while (attempts == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      consumer.Stop();  // interrupts the backoff sleep
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (attempts == 0 && std::chrono::steady_clock::now() < deadline) {
      EXPECT_EQ(consumer.PollBatch(std::chrono::milliseconds(100)), 0u);
    }
    stopper.join();
    EXPECT_EQ(consumer.stats().processed, 0u);
    EXPECT_TRUE(Effects(schema.name()).empty()) << "the rolled-back batch left effects";
    consumer.Close();
  }
  contended = false;
  sdk::IdempotentConsumer next(options, handler);
  ASSERT_TRUE(PollUntil(next, [&] { return next.stats().processed == 20; }));
  ExpectEachAppliedOnce(schema.name(), 20);
}

}  // namespace outbox::test

namespace outbox::test {

// A handler that catches an exec_params() error and returns leaves the
// server transaction aborted; PostgreSQL then answers COMMIT with ROLLBACK,
// not an error. That record must count as failed, never as processed with
// its effect (and inbox row) silently gone.
class ConsumerSwallowedError : public testing::TestWithParam<Savepoints> {};

TEST_P(ConsumerSwallowedError, SwallowedExecParamsErrorIsAFailedAttemptNotALostEvent) {
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_bswallow");
  CreateTopic(topic, 1);
  CreateTopic(topic + ".dlq", 1);
  CreateEffectsTable(schema.name());
  // The bad record last: no later statement of the batch trips over the aborted transaction, only the COMMIT.
  Produce(topic,
          {EventRecord("sw-1", "order-1"), EventRecord("sw-3", "order-3"), EventRecord("sw-2", "order-2", "Bad")});
  auto options = BatchOptions(topic, schema.name(), "loyalty");
  options.savepoints = GetParam();
  options.max_attempts = 2;
  const sdk::Handler apply = EffectHandler(schema.name(), nullptr);
  sdk::IdempotentConsumer consumer(options, [&](pqxx::work& tx, const sdk::Record& r) {
    apply(tx, r);
    if (r.event_type() != "Bad") return;
    try {
      tx.exec_params("SELECT 1 / $1", 0);
    } catch (const pqxx::sql_error&) {
      // Swallowed: libpqxx does not abort on exec_params(), the server did.
    }
  });
  ASSERT_TRUE(PollUntil(consumer, [&] { return consumer.stats().processing_count == 3; }));
  EXPECT_EQ(consumer.stats().processed, 2u);
  EXPECT_EQ(consumer.stats().dead_lettered, 1u);
  const auto effects = Effects(schema.name());
  EXPECT_EQ(effects.count("sw-1"), 1u);
  EXPECT_EQ(effects.count("sw-3"), 1u);
  EXPECT_EQ(effects.count("sw-2"), 0u);
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), 2);
}

INSTANTIATE_TEST_SUITE_P(Modes, ConsumerSwallowedError, testing::Values(Savepoints::kPerRecord, Savepoints::kOnFailure),
                         Name);

}  // namespace outbox::test
