#include "consumer_test_util.hpp"

#include <librdkafka/rdkafka.h>

#include <stdexcept>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

struct Reports {
  int ok = 0;
  int failed = 0;
  std::string last_error;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* r = static_cast<Reports*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++r->ok;
  } else {
    ++r->failed;
    r->last_error = rd_kafka_err2str(m->err);
  }
}

void Set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error(std::string("config ") + key + ": " + err);
  }
}

std::string Table(const std::string& schema, const char* name) { return sdk::QuoteIdentifier(schema) + "." + name; }

}  // namespace

OutRecord EventRecord(const std::string& event_id, const std::string& key, const std::string& event_type,
                      const std::string& payload) {
  return OutRecord{key,
                   payload,
                   {{"event_id", event_id},
                    {"event_type", event_type},
                    {"aggregate_type", "order"},
                    {"aggregate_id", key},
                    {"created_at", "2024-01-01T00:00:00Z"},
                    {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}};
}

std::vector<OutRecord> Events(const std::string& prefix, int n) {
  std::vector<OutRecord> out;
  for (int i = 0; i < n; ++i) out.push_back(EventRecord(prefix + std::to_string(i), "order-" + std::to_string(i % 7)));
  return out;
}

void ExpectEachAppliedOnce(const std::string& schema, size_t n) {
  const auto effects = Effects(schema);
  EXPECT_EQ(effects.size(), n);
  for (const auto& [id, applied] : effects) EXPECT_EQ(applied, 1) << id;
}

void Produce(const std::string& topic, const std::vector<OutRecord>& records, int partition) {
  Reports reports;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", KafkaBrokers());
  Set(conf, "enable.idempotence", "true");
  Set(conf, "acks", "all");
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_conf_set_opaque(conf, &reports);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("producer: ") + err);
  }
  for (const auto& r : records) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(r.headers.size());
    for (const auto& [name, value] : r.headers) rd_kafka_header_add(h, name.c_str(), -1, value.data(), value.size());
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(r.key.data(), r.key.size()), RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(h);
      ADD_FAILURE() << "producev: " << rd_kafka_err2str(e);
    }
    rd_kafka_poll(rk, 0);
  }
  EXPECT_EQ(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
  EXPECT_EQ(reports.ok, static_cast<int>(records.size())) << reports.last_error;
  EXPECT_EQ(reports.failed, 0) << reports.last_error;
}

sdk::ConsumerOptions TestOptions(const std::string& topic, const std::string& schema, const std::string& consumer) {
  sdk::ConsumerOptions o;
  o.brokers = KafkaBrokers();
  o.group_id = UniqueName("group");
  o.topics = {topic};
  o.consumer_name = consumer;
  o.pg_dsn = PgDsn();
  o.schema = schema;
  o.backoff_initial = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(50);
  o.poll_timeout = std::chrono::milliseconds(100);
  o.kafka_properties = {
      {"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "300"}, {"topic.metadata.refresh.interval.ms", "1000"}};
  return o;
}

sdk::ConsumerOptions BatchOptions(const std::string& topic, const std::string& schema, const std::string& consumer,
                                  int batch) {
  sdk::ConsumerOptions o = TestOptions(topic, schema, consumer);
  o.max_batch_size = batch;
  o.max_batch_wait = std::chrono::milliseconds(50);
  o.async_commit = true;
  o.release_check_interval = std::chrono::milliseconds(200);
  return o;
}

void CreateOrderLog(const std::string& schema) {
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema);
  pqxx::work tx(c);
  tx.exec("CREATE TABLE " + Table(schema, "applied_log") +
          " (seq bigserial PRIMARY KEY, key text NOT NULL, event_id text NOT NULL)");
  tx.commit();
}

sdk::Handler OrderLogHandler(const std::string& schema) {
  const std::string table = Table(schema, "applied_log");
  return [table](pqxx::work& tx, const sdk::Record& r) {
    tx.exec_params("INSERT INTO " + table + " (key, event_id) VALUES ($1, $2)", r.key, r.event_id());
  };
}

std::vector<std::string> AppliedOrder(const std::string& schema, const std::string& key) {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  std::vector<std::string> out;
  for (const auto& row :
       tx.exec_params("SELECT event_id FROM " + Table(schema, "applied_log") + " WHERE key = $1 ORDER BY seq", key)) {
    out.push_back(row[0].as<std::string>());
  }
  return out;
}

int ParkedRows(const std::string& schema, const std::string& consumer) {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  return tx
      .exec_params1("SELECT count(*) FROM " + Table(schema, "consumer_parked") + " WHERE consumer = $1", consumer)[0]
      .as<int>();
}

void CreateEffectsTable(const std::string& schema) {
  pqxx::connection c(PgDsn());
  sdk::Migrate(c, schema);
  pqxx::work tx(c);
  tx.exec("CREATE TABLE " + Table(schema, "effects") + " (event_id text PRIMARY KEY, applied int NOT NULL)");
  tx.commit();
}

sdk::Handler EffectHandler(const std::string& schema, std::atomic<int>* calls) {
  const std::string table = Table(schema, "effects");
  return [table, calls](pqxx::work& tx, const sdk::Record& r) {
    if (calls != nullptr) ++*calls;
    tx.exec_params("INSERT INTO " + table +
                       " (event_id, applied) VALUES ($1, 1) "
                       "ON CONFLICT (event_id) DO UPDATE SET applied = effects.applied + 1",
                   r.event_id());
  };
}

std::map<std::string, int> Effects(const std::string& schema) {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  std::map<std::string, int> out;
  for (const auto& row : tx.exec("SELECT event_id, applied FROM " + Table(schema, "effects"))) {
    out[row[0].as<std::string>()] = row[1].as<int>();
  }
  return out;
}

int InboxRows(const std::string& schema, const std::string& consumer) {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  return tx.exec_params1("SELECT count(*) FROM " + Table(schema, "inbox") + " WHERE consumer = $1", consumer)[0]
      .as<int>();
}

bool PollUntil(sdk::IdempotentConsumer& consumer, const std::function<bool()>& done,
               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) consumer.PollOnce(std::chrono::milliseconds(100));
  return done();
}

int PollFor(sdk::IdempotentConsumer& consumer, std::chrono::milliseconds duration) {
  int handled = 0;
  const auto deadline = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < deadline) handled += consumer.PollOnce(std::chrono::milliseconds(100));
  return handled;
}

}  // namespace outbox::test
