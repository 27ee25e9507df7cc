#include "config/config.hpp"

#include <cstdlib>
#include <utility>
#include <vector>

#include "config/config_checks.hpp"
#include "config/config_reader.hpp"
#include "config/kafka_properties.hpp"
#include "util/text.hpp"

namespace outbox::relay {

namespace config_internal {

const std::vector<SectionSchema>& Schema() {
  static const std::vector<SectionSchema> kSchema = {
      {"", {}, {"postgres", "outbox", "source", "kafka", "log", "shutdown", "dead_letter", "http"}},
      {"postgres",
       {"dsn", "dsn_file", "connect_timeout_ms", "reconnect_backoff_max_ms", "tcp_user_timeout_ms",
        "statement_timeout_ms", "lock_check_interval_ms", "lock_lease_ms"},
       {}},
      {"outbox", {"schema", "table", "cleanup", "retention", "notify_channel", "relay_schema"}, {"columns"}},
      {"outbox.columns",
       {"seq", "id", "aggregate_type", "aggregate_id", "event_type", "payload", "headers", "topic", "created_at",
        "published_at", "attempts"},
       {}},
      {"source",
       {"mode", "batch_size", "poll_interval_ms", "max_in_flight", "ack_batch_size", "ack_interval_ms", "slot_name",
        "publication_name", "status_interval_ms"},
       {}},
      {"kafka",
       {"brokers", "topic_template", "delivery_timeout_ms", "headers_format", "cloudevents_source",
        "cloudevents_content_type", "delivery", "transactional_id", "checkpoint_topic", "transaction_max_events",
        "transaction_interval_ms", "transaction_settle_ms"},
       {"properties"}},
      {"log", {"level", "format", "progress_interval_s"}, {}},
      {"shutdown", {"drain_timeout_ms"}, {}},
      {"dead_letter", {"max_attempts", "hold_key"}, {}},
      {"http", {"listen", "ready_max_lag_ms"}, {}},
  };
  return kSchema;
}

}  // namespace config_internal

namespace {

using config_internal::Fail;
using config_internal::TableReader;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute;

/// A non-empty environment variable, or nullopt (an empty one counts as unset).
std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

void SetMillis(const TableReader& t, const char* key, int64_t lo, int64_t hi, milliseconds& out) {
  if (auto v = t.Integer(key, lo, hi, "ms")) out = milliseconds(*v);
}

void SetIdentifier(const TableReader& t, const char* key, bool may_be_empty, std::string& out) {
  auto v = t.String(key);
  if (!v) return;
  if (v->empty() && !may_be_empty) t.Fail(key, "must not be empty");
  if (!v->empty()) {
    std::string problem = config_internal::IdentifierProblem(*v);
    if (!problem.empty()) t.Fail(key, problem);
  }
  out = *v;
}

/// Reads [postgres]; the DSN itself is resolved later (environment, dsn_file).
void ReadPostgres(const TableReader& t, PostgresConfig& pg, std::string& dsn_file) {
  t.CheckKnownKeys();
  pg.dsn = t.String("dsn").value_or("");
  dsn_file = t.String("dsn_file").value_or("");
  if (!pg.dsn.empty() && !dsn_file.empty()) t.Fail("dsn_file", "cannot be combined with postgres.dsn; set only one");
  SetMillis(t, "connect_timeout_ms", 100, 5 * kMinute, pg.connect_timeout);
  SetMillis(t, "reconnect_backoff_max_ms", 100, 10 * kMinute, pg.reconnect_backoff_max);
  SetMillis(t, "tcp_user_timeout_ms", 0, 10 * kMinute, pg.tcp_user_timeout);
  if (pg.tcp_user_timeout.count() > 0 && pg.tcp_user_timeout.count() < 1000) {
    t.Fail("tcp_user_timeout_ms", "must be 0 (off) or at least 1000");
  }
  SetMillis(t, "statement_timeout_ms", 0, 60 * kMinute, pg.statement_timeout);
  SetMillis(t, "lock_check_interval_ms", 100, 10 * kMinute, pg.lock_check_interval);
  if (auto v = t.Integer("lock_lease_ms", 0, 10 * kMinute, "ms")) {
    if (*v != 0 && *v < kSecond)
      t.Fail("lock_lease_ms", "must be 0 (off) or between 1000 and 600000 ms, got " + std::to_string(*v));
    pg.lock_lease = milliseconds(*v);
    pg.lock_lease_set = true;
  }
}

void ReadColumns(const TableReader& t, ColumnNames& c) {
  t.CheckKnownKeys();
  // Required roles first, then optional ones ("" = the table has no such column).
  const std::vector<std::pair<const char*, std::string*>> required = {{"seq", &c.seq},
                                                                      {"id", &c.id},
                                                                      {"aggregate_type", &c.aggregate_type},
                                                                      {"aggregate_id", &c.aggregate_id},
                                                                      {"payload", &c.payload}};
  const std::vector<std::pair<const char*, std::string*>> optional = {
      {"event_type", &c.event_type}, {"headers", &c.headers},           {"topic", &c.topic},
      {"created_at", &c.created_at}, {"published_at", &c.published_at}, {"attempts", &c.attempts}};
  for (const auto& [key, field] : required) SetIdentifier(t, key, false, *field);
  for (const auto& [key, field] : optional) SetIdentifier(t, key, true, *field);

  // Two roles on one column is a copy-paste slip, never a valid mapping.
  std::vector<std::pair<const char*, std::string*>> all = required;
  all.insert(all.end(), optional.begin(), optional.end());
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (!all[i].second->empty() && *all[i].second == *all[j].second) {
        t.Fail(all[i].first, config_internal::Quote(*all[i].second) + " is already the column of " +
                                 t.PathOf(all[j].first) + "; each role needs its own column");
      }
    }
  }
}

void ReadOutbox(const TableReader& t, OutboxConfig& o) {
  t.CheckKnownKeys();
  SetIdentifier(t, "schema", false, o.schema);
  SetIdentifier(t, "table", false, o.table);
  if (auto v = t.Choice("cleanup", {"delete", "mark"})) o.cleanup = *v == "mark" ? Cleanup::kMark : Cleanup::kDelete;
  if (auto v = config_internal::ReadRetention(t, "retention")) o.retention = *v;
  SetIdentifier(t, "notify_channel", true, o.notify_channel);
  SetIdentifier(t, "relay_schema", true, o.relay_schema);
  TableReader columns = t.Table("columns");
  ReadColumns(columns, o.columns);
  if (o.cleanup == Cleanup::kMark && o.columns.published_at.empty()) {
    columns.Fail("published_at", "must name a column when outbox.cleanup = \"mark\"");
  }
}

void ReadSource(const TableReader& t, SourceConfig& s) {
  t.CheckKnownKeys();
  if (auto v = t.Choice("mode", {"poll", "tail"})) s.mode = *v == "tail" ? SourceMode::kTail : SourceMode::kPoll;
  if (auto v = t.Integer("batch_size", 1, 100000)) s.batch_size = static_cast<size_t>(*v);
  SetMillis(t, "poll_interval_ms", 1, kHour, s.poll_interval);
  if (auto v = t.Integer("max_in_flight", 1, 10000000)) s.max_in_flight = static_cast<size_t>(*v);
  if (s.max_in_flight < s.batch_size) {
    t.Fail("max_in_flight", "must be at least source.batch_size (" + std::to_string(s.batch_size) + "), got " +
                                (t.Node("max_in_flight") ? "" : "the default ") + std::to_string(s.max_in_flight));
  }
  if (auto v = t.Integer("ack_batch_size", 1, 100000)) s.ack_batch_size = static_cast<size_t>(*v);
  SetMillis(t, "ack_interval_ms", 1, 10 * kSecond, s.ack_interval);
  SetIdentifier(t, "slot_name", false, s.slot_name);
  SetIdentifier(t, "publication_name", false, s.publication_name);
  SetMillis(t, "status_interval_ms", 100, 30 * kSecond, s.status_interval);
}

void ReadKafka(const TableReader& t, KafkaConfig& k) {
  t.CheckKnownKeys();
  k.brokers = t.String("brokers").value_or("");
  if (auto v = t.String("topic_template")) {
    std::string problem = config_internal::TopicTemplateProblem(*v);
    if (!problem.empty()) t.Fail("topic_template", problem);
    k.topic_template = *v;
  }
  // 0 (the default) is infinite; a finite bound must leave room for a few retries.
  if (auto v = t.Integer("delivery_timeout_ms", 0, 24 * kHour, "ms")) {
    if (*v != 0 && *v < kSecond) {
      t.Fail("delivery_timeout_ms", "must be 0 (infinite) or between 1000 and 86400000 ms, got " + std::to_string(*v));
    }
    k.delivery_timeout = milliseconds(*v);
  }
  k.properties = config_internal::ReadKafkaProperties(t.Table("properties"));
  if (auto v = t.Choice("headers_format", {"native", "cloudevents"})) {
    k.headers_format = *v == "cloudevents" ? HeadersFormat::kCloudEvents : HeadersFormat::kNative;
  }
  const bool cloudevents = k.headers_format == HeadersFormat::kCloudEvents;
  for (const char* key : {"cloudevents_source", "cloudevents_content_type"}) {
    if (t.Node(key) && !cloudevents) t.Fail(key, "has no effect unless kafka.headers_format = \"cloudevents\"");
  }
  if (auto v = t.String("cloudevents_source")) {
    std::string problem = config_internal::CloudEventsSourceProblem(*v);
    if (!problem.empty()) t.Fail("cloudevents_source", problem);
    k.cloudevents_source = *v;
  }
  if (auto v = t.String("cloudevents_content_type")) {
    std::string problem = config_internal::ContentTypeProblem(*v);
    if (!problem.empty()) t.Fail("cloudevents_content_type", problem);
    k.cloudevents_content_type = *v;
  }
  if (auto v = t.Choice("delivery", {"at_least_once", "exactly_once"})) {
    k.delivery = *v == "exactly_once" ? Delivery::kExactlyOnce : Delivery::kAtLeastOnce;
  }
  for (const char* key : {"transactional_id", "checkpoint_topic", "transaction_max_events", "transaction_interval_ms",
                          "transaction_settle_ms"}) {
    if (t.Node(key) && !k.exactly_once()) t.Fail(key, "has no effect unless kafka.delivery = \"exactly_once\"");
  }
  if (auto v = t.String("transactional_id")) {
    if (v->empty() || v->size() > 200) t.Fail("transactional_id", "must be 1 to 200 characters");
    k.transactional_id = *v;
  }
  if (auto v = t.String("checkpoint_topic")) {
    std::string problem = config_internal::TopicNameProblem(*v);
    if (!problem.empty()) t.Fail("checkpoint_topic", problem);
    k.checkpoint_topic = *v;
  }
  if (auto v = t.Integer("transaction_max_events", 1, 1000000)) k.transaction_max_events = static_cast<size_t>(*v);
  SetMillis(t, "transaction_interval_ms", 1, kMinute, k.transaction_interval);
  SetMillis(t, "transaction_settle_ms", 0, 1000, k.transaction_settle);
}

/// kafka.delivery = "exactly_once": a transactional.id and the lock lease.
void CheckExactlyOnce(Config& c) {
  if (!c.kafka.exactly_once()) return;
  // Failover within seconds: a stopped or cut-off relay loses the lock when
  // the server ends its idle session; fencing stops it publishing.
  if (!c.postgres.lock_lease_set) c.postgres.lock_lease = milliseconds(2500);
  if (c.kafka.transactional_id.empty()) {
    c.kafka.transactional_id =
        "outbox-relay." + config_internal::DsnDatabase(c.postgres.dsn) + "." + c.outbox.schema + "." + c.outbox.table;
  }
}

/// kafka.headers_format = "cloudevents" needs an event type (ce_type is required) and a source.
void CheckCloudEvents(const std::string& origin, Config& c) {
  if (c.kafka.headers_format != HeadersFormat::kCloudEvents) return;
  if (c.outbox.columns.event_type.empty()) {
    Fail(origin, "kafka.headers_format",
         "\"cloudevents\" needs an event type column for ce_type, but outbox.columns.event_type is \"\"; map it "
         "or use \"native\"");
  }
  if (c.kafka.cloudevents_source.empty()) {
    c.kafka.cloudevents_source = "/outbox-relay/" + c.outbox.schema + "." + c.outbox.table;
  }
}

void ReadLog(const TableReader& t, LogConfig& l) {
  t.CheckKnownKeys();
  if (auto v = t.Choice("level", {"trace", "debug", "info", "warn", "error"})) l.level = *v;
  if (auto v = t.Choice("format", {"text", "json"})) l.format = *v == "json" ? LogFormat::kJson : LogFormat::kText;
  if (auto v = t.Integer("progress_interval_s", 0, 3600, "s")) l.progress_interval = seconds(*v);
}

void ReadHttp(const TableReader& t, HttpConfig& h) {
  t.CheckKnownKeys();
  if (auto v = t.String("listen")) {
    std::string problem = config_internal::ListenProblem(*v);
    if (!problem.empty()) t.Fail("listen", problem);
    h.listen = *v;
  }
  SetMillis(t, "ready_max_lag_ms", kSecond, 24 * kHour, h.ready_max_lag);
}

/// Secrets and environment overrides: OUTBOX_PG_DSN > postgres.dsn | postgres.dsn_file;
/// OUTBOX_KAFKA_BROKERS > kafka.brokers; OUTBOX_KAFKA_SASL_PASSWORD > kafka.properties.sasl.password;
/// OUTBOX_HTTP_LISTEN > http.listen.
void ResolveSecrets(const std::string& origin, const std::string& dsn_file, Config& c) {
  if (auto env = Env("OUTBOX_PG_DSN")) {
    c.postgres.dsn = *env;
  } else if (!dsn_file.empty()) {
    std::string content, error;
    if (!config_internal::ReadTextFile(dsn_file, content, error)) {
      Fail(origin, "postgres.dsn_file", "cannot read " + config_internal::Quote(dsn_file) + ": " + error);
    }
    c.postgres.dsn = config_internal::TrimTrailingNewlines(std::move(content));
    if (c.postgres.dsn.empty())
      Fail(origin, "postgres.dsn_file", "file " + config_internal::Quote(dsn_file) + " is empty");
  }
  if (c.postgres.dsn.empty()) {
    Fail(origin, "postgres.dsn",
         "missing; set postgres.dsn, postgres.dsn_file or the OUTBOX_PG_DSN environment variable");
  }
  // libpq rejects these only when connecting, which run would retry forever as if Postgres were down.
  const std::string dsn_problem = config_internal::DsnProblem(c.postgres.dsn);
  if (!dsn_problem.empty()) {
    const char* key = Env("OUTBOX_PG_DSN") ? "postgres.dsn (from OUTBOX_PG_DSN)"
                      : dsn_file.empty()   ? "postgres.dsn"
                                           : "postgres.dsn_file";
    Fail(origin, key, dsn_problem);
  }

  std::string brokers_key = "kafka.brokers";
  if (auto env = Env("OUTBOX_KAFKA_BROKERS")) {
    c.kafka.brokers = *env;
    brokers_key += " (from OUTBOX_KAFKA_BROKERS)";
  }
  if (c.kafka.brokers.empty()) {
    Fail(origin, "kafka.brokers",
         "missing; set kafka.brokers or the OUTBOX_KAFKA_BROKERS environment variable, e.g. \"127.0.0.1:9092\"");
  }
  std::string normalized;
  std::string problem = config_internal::BrokersProblem(c.kafka.brokers, normalized);
  if (!problem.empty()) Fail(origin, brokers_key, problem);
  c.kafka.brokers = normalized;

  if (auto env = Env("OUTBOX_KAFKA_SASL_PASSWORD")) c.kafka.properties["sasl.password"] = *env;

  // Lets a Kubernetes pod bind its own IP, which only the environment knows: "$(POD_IP):9464".
  if (auto env = Env("OUTBOX_HTTP_LISTEN")) {
    std::string listen_problem = config_internal::ListenProblem(*env);
    if (!listen_problem.empty()) Fail(origin, "http.listen (from OUTBOX_HTTP_LISTEN)", listen_problem);
    c.http.listen = *env;
  }
}

}  // namespace

Config ParseConfig(const std::string& toml_text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw ConfigError(origin + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                      ": TOML syntax error: " + OneLine(e.description()));
  }
  const TableReader top(&root, "", origin);
  top.CheckKnownKeys();

  Config c;
  std::string dsn_file;
  ReadPostgres(top.Table("postgres"), c.postgres, dsn_file);
  ReadOutbox(top.Table("outbox"), c.outbox);
  ReadSource(top.Table("source"), c.source);
  ReadKafka(top.Table("kafka"), c.kafka);
  ReadLog(top.Table("log"), c.log);
  const TableReader shutdown = top.Table("shutdown");
  shutdown.CheckKnownKeys();
  SetMillis(shutdown, "drain_timeout_ms", 0, 10 * kMinute, c.shutdown.drain_timeout);
  const TableReader dead_letter = top.Table("dead_letter");
  dead_letter.CheckKnownKeys();
  if (auto v = dead_letter.Integer("max_attempts", 1, 1000)) c.dead_letter.max_attempts = static_cast<uint32_t>(*v);
  if (auto v = dead_letter.Bool("hold_key")) c.dead_letter.hold_key = *v;
  ReadHttp(top.Table("http"), c.http);
  CheckCloudEvents(origin, c);
  ResolveSecrets(origin, dsn_file, c);
  CheckExactlyOnce(c);
  return c;
}

Config LoadConfig(const std::string& path) {
  std::string text, error;
  if (!config_internal::ReadTextFile(path, text, error)) {
    throw ConfigError(path + ": cannot read the configuration file: " + error);
  }
  return ParseConfig(text, path);
}

}  // namespace outbox::relay
