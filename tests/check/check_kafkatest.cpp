// `outbox-relay check` against a real relay, Postgres and Kafka: a clean run
// passes, then each injected fault (phantom, duplicate, lost, inversion) shows.
#include <librdkafka/rdkafka.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "check/check_command.hpp"
#include "check/check_time.hpp"
#include "config/config_writer.hpp"
#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"
#include "relay_harness.hpp"
#include "writers.hpp"

namespace outbox::test {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// Produces one record by hand (as a misbehaving producer would), waiting for its ack.
void Produce(const std::string& topic, int32_t partition, const std::string& key, const std::string& value,
             const Headers& headers) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", KafkaBrokers().c_str(), err, sizeof err), RD_KAFKA_CONF_OK);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                        rd_kafka_destroy);
  ASSERT_TRUE(rk) << err;
  rd_kafka_headers_t* h = rd_kafka_headers_new(headers.size());
  for (const auto& [name, v] : headers) rd_kafka_header_add(h, name.c_str(), -1, v.data(), v.size());
  ASSERT_EQ(rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY(key.data(), key.size()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(rk.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/// Produces `n` records of `bytes` each to partition 0 (not outbox events: "foreign" to check).
void ProduceBulk(const std::string& topic, int n, size_t bytes) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", KafkaBrokers().c_str(), err, sizeof err), RD_KAFKA_CONF_OK);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                        rd_kafka_destroy);
  ASSERT_TRUE(rk) << err;
  const std::string value(bytes, 'x');
  for (int i = 0; i < n; ++i) {
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                                  RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk.get(), 10);
    }
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ(rd_kafka_flush(rk.get(), 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

struct BinaryRun {
  int exit_code = -1;
  std::string out, err;
};

/// The real executable: outbox-relay -c <config> check <args>.
BinaryRun CheckBinary(const relay::Config& config, const std::string& args) {
  const char* bin_dir = std::getenv("OUTBOX_BIN_DIR");
  if (bin_dir == nullptr) throw std::runtime_error("OUTBOX_BIN_DIR is not set; run through ctest");
  const std::string base = "/tmp/" + UniqueName("check");
  std::ofstream(base + ".toml") << relay::ConfigToToml(config);
  const std::string cmd =
      std::string(bin_dir) + "/relay/outbox-relay -c " + base + ".toml check " + args + " 2>" + base + ".err";
  BinaryRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed");
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(base + ".err");
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  std::remove((base + ".toml").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

class CheckTest : public ::testing::Test {
 protected:
  // Concurrent writers commit events for 12 aggregates; the relay publishes them all
  // in mark mode and stops. Every test then starts from a clean, fully published outbox.
  void SetUp() override {
    sdk::Migrate(conn_, schema_.name());
    CreateAggregates(schema_.name(), 12);
    CreateTopic(topic_, 3);
    config_.outbox.cleanup = relay::Cleanup::kMark;
    WriterOptions w;
    w.schema = schema_.name();
    w.writers = 4;
    w.transactions_per_writer = 40;
    w.aggregates = 12;
    w.max_sleep_us = 500;
    written_ = RunWriters(w);
    ASSERT_GT(written_.size(), 100u);
    RelayThread relay(config_);
    ASSERT_TRUE(WaitFor([&] { return Published() == static_cast<int64_t>(written_.size()); }, 60000));
    ASSERT_EQ(relay.Stop(), 0);
  }

  int64_t Published() {
    pqxx::nontransaction tx(conn_);
    return tx.exec1("SELECT count(*) FROM " + table_ + " WHERE published_at IS NOT NULL")[0].as<int64_t>();
  }

  relay::CheckReport Check(const std::string& since = "") {
    relay::CheckOptions o;
    o.since = since;
    return relay::RunCheck(config_, o);
  }

  /// The record the relay wrote for one event (read back from the topic).
  ConsumedRecord RecordOf(const std::string& event_id) {
    auto has = [&](const ConsumedRecord& r) { return r.Header("event_id") == event_id; };
    auto records = ConsumeUntil(
        {topic_}, [&](const std::vector<ConsumedRecord>& got) { return std::any_of(got.begin(), got.end(), has); });
    auto it = std::find_if(records.begin(), records.end(), has);
    if (it == records.end()) throw std::runtime_error("no record for " + event_id);
    return *it;
  }

  ScopedSchema schema_{"chk"};
  pqxx::connection conn_{PgDsn()};
  std::string prefix_ = UniqueName("chk");
  std::string topic_ = prefix_ + ".account";
  std::string table_ = "\"" + schema_.name() + "\".outbox";
  relay::Config config_ = RelayConfig(schema_.name(), prefix_);
  std::vector<WrittenEvent> written_;
};

TEST_F(CheckTest, CleanRunPassesInProcessAndAsTheBinary) {
  const relay::CheckReport r = Check();
  const size_t n = written_.size();
  EXPECT_TRUE(r.complete) << r.incomplete_reason;
  EXPECT_EQ(r.committed, n);
  EXPECT_EQ(r.published, n);
  EXPECT_EQ(r.pending, 0u);
  EXPECT_EQ(r.dead_lettered, 0u);
  EXPECT_EQ(r.delivered, n);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.phantom, 0u);
  EXPECT_EQ(r.duplicates, 0u);
  EXPECT_EQ(r.inversions, 0u);
  EXPECT_EQ(r.foreign, 0u);
  ASSERT_TRUE(r.latency_p50_ms && r.latency_max_ms && r.throughput_per_s);
  EXPECT_GE(*r.latency_max_ms, *r.latency_p50_ms);
  EXPECT_EQ(r.topics, std::vector<std::string>{topic_});
  EXPECT_TRUE(r.Ok());

  const std::string json = "/tmp/" + UniqueName("check") + ".json";
  const BinaryRun run = CheckBinary(config_, "--timeout-ms 30000 --json " + json);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::string ns = std::to_string(n);
  EXPECT_EQ(run.out.rfind("check: committed=" + ns + " published=" + ns + " pending=0 dead_lettered=0 delivered=" + ns +
                              " lost=0 phantom=0 duplicates=0 inversions=0 latency_ms p50=",
                          0),
            0u)
      << run.out;
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1) << run.out;
  std::ifstream in(json);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["committed"].get<size_t>(), n);
  EXPECT_EQ(j["lost"], 0);
  EXPECT_TRUE(j["ok"].get<bool>());
  std::remove(json.c_str());
}

TEST_F(CheckTest, PhantomRecordFailsTheCheck) {
  const std::string ghost = sdk::NewEventId();
  Produce(topic_, 0, "acct-1", "{}",
          {{"event_id", ghost},
           {"aggregate_type", "account"},
           {"aggregate_id", "acct-1"},
           {"created_at", relay::FormatRfc3339(static_cast<double>(std::time(nullptr)))}});
  // A record without an event_id header is someone else's: counted, not a phantom.
  Produce(topic_, 1, "other", "{}", {});
  const relay::CheckReport r = Check();
  EXPECT_EQ(r.phantom, 1u);
  EXPECT_EQ(r.foreign, 1u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.delivered, written_.size() + 2);
  ASSERT_EQ(r.examples.at("phantom").size(), 1u);
  EXPECT_EQ(r.examples.at("phantom")[0].event_id, ghost);

  const BinaryRun run = CheckBinary(config_, "");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find(" phantom=1 "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("check: phantom event " + ghost + " key acct-1: " + topic_ + "/0@"), std::string::npos)
      << run.out;
}

TEST_F(CheckTest, DuplicateIsReportedButPasses) {
  const ConsumedRecord original = RecordOf(written_.back().id);
  Produce(topic_, original.partition, original.key, original.value, original.headers);
  const relay::CheckReport r = Check();
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.inversions, 0u) << "a late copy of an earlier event is a duplicate, not an inversion";
  EXPECT_EQ(r.delivered, written_.size() + 1);
  EXPECT_TRUE(r.Ok());
  EXPECT_EQ(relay::CheckCommand(config_, {}), 0);
}

TEST_F(CheckTest, RowMarkedPublishedButNeverProducedIsLost) {
  std::string lost_id, pending_id;
  {
    pqxx::work tx(conn_);
    lost_id = tx.exec1("INSERT INTO " + table_ +
                       " (aggregate_type, aggregate_id, event_type, payload, published_at) "
                       "VALUES ('account', 'acct-lost', 'Credited', 'x', now()) RETURNING id::text")[0]
                  .as<std::string>();
    pending_id = tx.exec1("INSERT INTO " + table_ +
                          " (aggregate_type, aggregate_id, event_type, payload) "
                          "VALUES ('account', 'acct-pending', 'Credited', 'x') RETURNING id::text")[0]
                     .as<std::string>();
    // A dead-lettered event: committed, not published, not lost.
    tx.exec("INSERT INTO \"" + schema_.name() +
            "\".dead_letter (seq, id, aggregate_type, aggregate_id, event_type, created_at, reason, attempts) "
            "VALUES (-1, gen_random_uuid(), 'account', 'acct-dead', 'Credited', now(), 'MSG_SIZE_TOO_LARGE', 3)");
    tx.commit();
  }
  relay::CheckReport r = Check();
  EXPECT_EQ(r.lost, 1u);
  EXPECT_EQ(r.pending, 1u);
  EXPECT_EQ(r.dead_lettered, 1u);
  EXPECT_EQ(r.committed, written_.size() + 3);
  ASSERT_EQ(r.examples.at("lost").size(), 1u);
  EXPECT_EQ(r.examples.at("lost")[0].event_id, lost_id);
  EXPECT_EQ(r.examples.at("lost")[0].aggregate, "account/acct-lost");
  EXPECT_EQ(relay::CheckCommand(config_, {}), 1);

  // Without a dead_letter table (an older schema) the check still runs.
  pqxx::nontransaction(conn_).exec("DROP TABLE \"" + schema_.name() + "\".dead_letter");
  r = Check();
  EXPECT_EQ(r.dead_lettered, 0u);
  EXPECT_EQ(r.lost, 1u);
  // --since after all of it: nothing committed in the window, nothing lost.
  r = Check(relay::FormatRfc3339(static_cast<double>(std::time(nullptr)) + 3600));
  EXPECT_EQ(r.committed, 0u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.outside_window, 0u) << "no rows in the window, so no topics to read";
}

TEST_F(CheckTest, EventsOfOneAggregateProducedInReverseOrderAreAnInversion) {
  std::string first_id, second_id, first_created, second_created;
  {
    pqxx::work tx(conn_);
    const sdk::Outbox outbox(sdk::OutboxOptions{schema_.name()});
    first_id = outbox.Enqueue(tx, sdk::Event{"account", "acct-inv", "Credited", "1"});
    second_id = outbox.Enqueue(tx, sdk::Event{"account", "acct-inv", "Credited", "2"});
    tx.exec("UPDATE " + table_ + " SET published_at = now() WHERE aggregate_id = 'acct-inv'");
    tx.commit();
  }
  auto headers = [](const std::string& id) {
    return Headers{
        {"event_id", id}, {"event_type", "Credited"}, {"aggregate_type", "account"}, {"aggregate_id", "acct-inv"}};
  };
  Produce(topic_, 2, "acct-inv", "2", headers(second_id));
  Produce(topic_, 2, "acct-inv", "1", headers(first_id));
  const relay::CheckReport r = Check();
  EXPECT_EQ(r.inversions, 1u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.phantom, 0u);
  ASSERT_EQ(r.examples.at("inversion").size(), 1u);
  EXPECT_EQ(r.examples.at("inversion")[0].event_id, first_id);
  EXPECT_EQ(relay::CheckCommand(config_, {}), 1);
}

/// A transactional producer that leaves one record of `topic` uncommitted for
/// its lifetime: a read_committed reader cannot get past it to the high
/// watermark, so a check of `topic` times out whatever its timeout.
class OpenTransaction {
 public:
  explicit OpenTransaction(const std::string& topic) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", KafkaBrokers().c_str(), err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "transactional.id", UniqueName("chk_open_tx").c_str(), err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(err);
    }
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(err);
    }
    Ok(rd_kafka_init_transactions(rk_, 60000));
    Ok(rd_kafka_begin_transaction(rk_));
    if (rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_VALUE(const_cast<char*>("open"), 4),
                          RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_flush(rk_, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("cannot write the open transaction's record");
    }
  }
  ~OpenTransaction() {
    if (rd_kafka_error_t* e = rd_kafka_abort_transaction(rk_, 30000)) rd_kafka_error_destroy(e);
    rd_kafka_destroy(rk_);
  }
  OpenTransaction(const OpenTransaction&) = delete;
  OpenTransaction& operator=(const OpenTransaction&) = delete;

 private:
  static void Ok(rd_kafka_error_t* e) {
    if (e == nullptr) return;
    const std::string what = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    throw std::runtime_error("transactional producer: " + what);
  }
  rd_kafka_t* rk_ = nullptr;
};

TEST_F(CheckTest, DeleteModeIsAUsageErrorAndATimeoutIsReported) {
  relay::Config del = config_;
  del.outbox.cleanup = relay::Cleanup::kDelete;
  EXPECT_THROW(relay::RunCheck(del, {}), relay::CheckUsageError);
  BinaryRun run = CheckBinary(del, "");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err.rfind("outbox-relay: check: needs outbox.cleanup = \"mark\" (rows are deleted after publishing in "
                          "delete mode, "
                          "so there is nothing to compare); Hint: ",
                          0),
            0u)
      << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;

  run = CheckBinary(config_, "--since yesterday");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("check: --since: expected an RFC 3339 time"), std::string::npos) << run.err;

  // Timed out for certain. 1 ms alone sufficed on an idle machine to read the
  // test's 145 records (CI failed so once), and the open transaction does not
  // stop a read up to the last stable offset: 20,000 records of 1 KiB more,
  // which no read gets through in 1 ms.
  ProduceBulk(topic_, 20000, 1024);
  OpenTransaction open(topic_);
  relay::CheckOptions hurried;
  hurried.timeout_ms = 1;
  const relay::CheckReport r = relay::RunCheck(config_, hurried);
  EXPECT_FALSE(r.complete);
  EXPECT_NE(r.incomplete_reason.find("timed out after 1 ms before reaching the high watermarks"), std::string::npos)
      << r.incomplete_reason;
  run = CheckBinary(config_, "--timeout-ms 1");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("check: INCOMPLETE: timed out after 1 ms"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace outbox::test
