// The relay's TOML configuration: defaults, the example file, every error message,
// environment overrides, secret files and DSN redaction.
#include "config/config.hpp"
#include "config/config_writer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace outbox::relay {
namespace {

namespace fs = std::filesystem;

const char* const kEnvVars[] = {"OUTBOX_PG_DSN", "OUTBOX_KAFKA_BROKERS", "OUTBOX_KAFKA_SASL_PASSWORD",
                                "OUTBOX_HTTP_LISTEN"};

const std::string kMinimal = R"(
[postgres]
dsn = "postgresql://relay@db.internal/app"
[kafka]
brokers = "kafka-1:9092"
)";

/// Every field, one per line, so a mismatch shows which one.
std::string Dump(const Config& c) {
  std::ostringstream o;
  const auto& cols = c.outbox.columns;
  o << "postgres.dsn=" << c.postgres.dsn << "\npostgres.connect_timeout=" << c.postgres.connect_timeout.count()
    << "\npostgres.reconnect_backoff_max=" << c.postgres.reconnect_backoff_max.count()
    << "\noutbox.schema=" << c.outbox.schema << "\noutbox.table=" << c.outbox.table
    << "\noutbox.cleanup=" << static_cast<int>(c.outbox.cleanup) << "\noutbox.retention=" << c.outbox.retention.count()
    << "\noutbox.notify_channel=" << c.outbox.notify_channel << "\ncolumns=" << cols.seq << "," << cols.id << ","
    << cols.aggregate_type << "," << cols.aggregate_id << "," << cols.event_type << "," << cols.payload << ","
    << cols.headers << "," << cols.topic << "," << cols.created_at << "," << cols.published_at
    << "\nsource.mode=" << static_cast<int>(c.source.mode) << "\nsource.batch_size=" << c.source.batch_size
    << "\nsource.poll_interval=" << c.source.poll_interval.count()
    << "\nsource.max_in_flight=" << c.source.max_in_flight << "\nsource.ack_batch_size=" << c.source.ack_batch_size
    << "\nsource.ack_interval=" << c.source.ack_interval.count() << "\nsource.slot_name=" << c.source.slot_name
    << "\nsource.publication_name=" << c.source.publication_name << "\nkafka.brokers=" << c.kafka.brokers
    << "\nkafka.topic_template=" << c.kafka.topic_template
    << "\nkafka.delivery_timeout=" << c.kafka.delivery_timeout.count();
  for (const auto& [k, v] : c.kafka.properties) o << "\nkafka.properties." << k << "=" << v;
  o << "\nlog.level=" << c.log.level << "\nlog.format=" << static_cast<int>(c.log.format)
    << "\nlog.progress_interval=" << c.log.progress_interval.count()
    << "\nshutdown.drain_timeout=" << c.shutdown.drain_timeout.count() << "\nhttp.listen=" << c.http.listen
    << "\nhttp.ready_max_lag=" << c.http.ready_max_lag.count() << "\n";
  return o.str();
}

/// What ParseConfig throws for `toml`, or "" when it does not throw.
std::string ErrorOf(const std::string& toml) {
  try {
    ParseConfig(toml, "relay.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

fs::path SourceRoot() {
  if (const char* root = std::getenv("OUTBOX_ROOT")) return root;
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kEnvVars) unsetenv(name);
    dir_ = fs::path(::testing::TempDir()) / ("relay_config_test_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (const char* name : kEnvVars) unsetenv(name);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string WriteFile(const std::string& name, const std::string& content) {
    fs::path p = dir_ / name;
    std::ofstream(p) << content;
    return p.string();
  }
  fs::path dir_;
};

Config Expected() {
  Config c;
  c.postgres.dsn = "postgresql://relay@db.internal/app";
  c.kafka.brokers = "kafka-1:9092";
  return c;
}

TEST_F(ConfigTest, MinimalFileGivesAllDefaults) { EXPECT_EQ(Dump(ParseConfig(kMinimal)), Dump(Expected())); }

TEST_F(ConfigTest, DefaultsAreTheDocumentedOnes) {
  const Config c;
  EXPECT_EQ(c.postgres.connect_timeout.count(), 5000);
  EXPECT_EQ(c.outbox.schema, "outbox");
  EXPECT_EQ(c.outbox.cleanup, Cleanup::kDelete);
  EXPECT_EQ(c.outbox.retention.count(), 7 * 24 * 3600);
  EXPECT_EQ(c.outbox.notify_channel, "");
  EXPECT_EQ(c.source.mode, SourceMode::kPoll);
  EXPECT_EQ(c.source.batch_size, 1000u);
  EXPECT_EQ(c.source.max_in_flight, 20000u);
  EXPECT_EQ(c.kafka.topic_template, "outbox.event.${aggregate_type}");
  EXPECT_EQ(c.kafka.delivery_timeout.count(), 0) << "infinite: an expired record would let later ones of its key pass";
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.http.listen, "");
  EXPECT_EQ(c.http.ready_max_lag.count(), 60000);
}

TEST_F(ConfigTest, ExampleFileLoadsWithTheDefaults) {
  const fs::path example = SourceRoot() / "relay" / "relay.example.toml";
  ASSERT_TRUE(fs::exists(example)) << example;
  Config expected;
  expected.postgres.dsn = "postgresql://outbox:outbox@127.0.0.1:55432/outbox";
  expected.kafka.brokers = "127.0.0.1:59092";
  EXPECT_EQ(Dump(LoadConfig(example.string())), Dump(expected));
}

TEST_F(ConfigTest, EveryKeyReachesItsField) {
  const Config c = ParseConfig(R"(
[postgres]
dsn = "host=db user=relay"
connect_timeout_ms = 1500
reconnect_backoff_max_ms = 30000
[outbox]
schema = "app"
table = "events"
cleanup = "mark"
retention = "12h"
notify_channel = "app_events"
[outbox.columns]
seq = "position"
id = "event_id"
aggregate_type = "aggregatetype"
aggregate_id = "aggregateid"
event_type = "type"
payload = "body"
headers = ""
topic = ""
created_at = "ts"
published_at = "sent_at"
[source]
mode = "tail"
batch_size = 200
poll_interval_ms = 50
max_in_flight = 5000
ack_batch_size = 300
ack_interval_ms = 7
slot_name = "my_slot"
publication_name = "my_pub"
[kafka]
brokers = " k1:9092 , k2:9092 "
topic_template = "${aggregate_type}.v1"
delivery_timeout_ms = 30000
[kafka.properties]
"compression.type" = "lz4"
linger.ms = 5
socket.keepalive.enable = true
enable.idempotence = true
acks = "all"
[log]
level = "debug"
format = "json"
progress_interval_s = 0
[shutdown]
drain_timeout_ms = 0
[http]
listen = "[::1]:9464"
ready_max_lag_ms = 5000
)",
                               "relay.toml");
  Config e;
  e.postgres = {"host=db user=relay", std::chrono::milliseconds(1500), std::chrono::milliseconds(30000)};
  e.outbox.schema = "app";
  e.outbox.table = "events";
  e.outbox.cleanup = Cleanup::kMark;
  e.outbox.retention = std::chrono::hours(12);
  e.outbox.notify_channel = "app_events";
  e.outbox.columns = {"position", "event_id", "aggregatetype", "aggregateid", "type", "body", "", "", "ts", "sent_at"};
  e.source = {SourceMode::kTail, 200,     std::chrono::milliseconds(50), 5000, 300, std::chrono::milliseconds(7),
              "my_slot",         "my_pub"};
  e.kafka.brokers = "k1:9092,k2:9092";
  e.kafka.topic_template = "${aggregate_type}.v1";
  e.kafka.delivery_timeout = std::chrono::milliseconds(30000);
  e.kafka.properties = {{"acks", "all"},
                        {"compression.type", "lz4"},
                        {"enable.idempotence", "true"},
                        {"linger.ms", "5"},
                        {"socket.keepalive.enable", "true"}};
  e.log = {"debug", LogFormat::kJson, std::chrono::seconds(0)};
  e.shutdown.drain_timeout = std::chrono::milliseconds(0);
  e.http.listen = "[::1]:9464";
  e.http.ready_max_lag = std::chrono::milliseconds(5000);
  EXPECT_EQ(Dump(c), Dump(e));
}

TEST_F(ConfigTest, RetentionAcceptsUnitsAndSeconds) {
  const std::vector<std::pair<std::string, long long>> cases = {
      {"\"45s\"", 45}, {"\"30m\"", 1800}, {"\"12h\"", 43200}, {"\"7d\"", 604800}, {"90", 90}, {"\"3650d\"", 315360000}};
  for (const auto& [value, seconds] : cases) {
    Config c = ParseConfig(kMinimal + "[outbox]\nretention = " + value + "\n");
    EXPECT_EQ(c.outbox.retention.count(), seconds) << value;
  }
}

TEST_F(ConfigTest, AcceptedEdgeValues) {
  const std::vector<std::string> ok = {
      "[source]\nbatch_size = 1\nmax_in_flight = 1",
      "[source]\nbatch_size = 100000\nmax_in_flight = 10000000",
      "[source]\npoll_interval_ms = 3600000\nack_interval_ms = 10000\nack_batch_size = 100000",
      "[outbox.columns]\nevent_type = \"\"\nheaders = \"\"\ntopic = \"\"\ncreated_at = \"\"\npublished_at = \"\"",
      "[outbox]\nschema = \"_" + std::string(47, 'a') + "\"",  // 48 characters, the longest allowed
      "[kafka]\ntopic_template = \"Orders_v1-x.${aggregate_type}.${aggregate_type}\"",
      "[kafka]\ndelivery_timeout_ms = 0",
      "[kafka]\ndelivery_timeout_ms = 1000",
      "[kafka]\ndelivery_timeout_ms = 86400000",
      "[kafka.properties]\n\"acks\" = -1\n\"enable.delivery.reports\" = true",
      "[kafka.properties]\n\"ssl.ca.location\" = \"file:/not/a/secret\"",
      "[log]\nprogress_interval_s = 3600",
      "[shutdown]\ndrain_timeout_ms = 600000",
      "[http]\nlisten = \"0.0.0.0:1\"",
      "[http]\nlisten = \"localhost:65535\"",
      "[http]\nready_max_lag_ms = 1000",
      "[http]\nready_max_lag_ms = 86400000",
      "[postgres]\nconnect_timeout_ms = 100\nreconnect_backoff_max_ms = 600000",
  };
  setenv("OUTBOX_PG_DSN", "host=db", 1);
  setenv("OUTBOX_KAFKA_BROKERS", "k:9092", 1);
  for (const auto& toml : ok) EXPECT_EQ(ErrorOf(toml), "") << toml;
}

struct ErrorCase {
  std::string toml;
  std::string message;  ///< expected substring of what(), which starts with "relay.toml: "
};

// Required settings come from the environment here, so each case can use any table.
class ConfigErrorTest : public ConfigTest {
 protected:
  void SetUp() override {
    ConfigTest::SetUp();
    setenv("OUTBOX_PG_DSN", "host=db", 1);
    setenv("OUTBOX_KAFKA_BROKERS", "k:9092", 1);
  }
  void ExpectErrors(const std::vector<ErrorCase>& cases) {
    for (const auto& c : cases) {
      std::string error = ErrorOf(c.toml);
      EXPECT_NE(error.find(c.message), std::string::npos) << "TOML:\n" << c.toml << "\nerror: " << error;
      EXPECT_EQ(error.rfind("relay.toml", 0), 0u) << error;
      EXPECT_EQ(error.find('\n'), std::string::npos) << "not one line: " << error;
    }
  }
};

TEST_F(ConfigErrorTest, SyntaxErrorsNameLineAndColumn) {
  ExpectErrors({
      {"[source]\nbatch_size = = 3\n", "relay.toml:2:"},
      {"[source]\nbatch_size = 3\n[source]\n", "relay.toml:3:"},
      {"[source\n", "TOML syntax error"},
      {"[log]\nlevel = \"info\nformat = \"text\"\n", "relay.toml:2:"},
  });
}

TEST_F(ConfigErrorTest, UnknownKeysAndTables) {
  ExpectErrors({
      {"[source]\nbatch_sise = 1", "relay.toml: source.batch_sise: unknown key; did you mean 'batch_size'?"},
      {"[source]\npoll_interval = 100", "source.poll_interval: unknown key; did you mean 'poll_interval_ms'?"},
      {"[kafka]\ndelivery_timeout = 5", "kafka.delivery_timeout: unknown key; did you mean 'delivery_timeout_ms'?"},
      {"[sources]\nbatch_size = 1", "relay.toml: sources: unknown table; did you mean 'source'?"},
      {"[outbox]\nbatch_size = 5", "outbox.batch_size: unknown key; 'batch_size' belongs in [source]"},
      {"dsn = \"x\"", "relay.toml: dsn: unknown key; 'dsn' belongs in [postgres]"},
      {"[log]\ncolour = true", "log.colour: unknown key; known keys in [log]: level, format, progress_interval_s"},
      {"[metrics]\nport = 1", "metrics: unknown table; the known tables are: postgres, outbox, source"},
      {"[outbox.columns]\nsequence_number = \"x\"", "outbox.columns.sequence_number: unknown key; known keys"},
      {"[outbox.column]\nseq = \"x\"", "outbox.column: unknown table; did you mean 'columns'?"},
      {"[http]\nlisten = \"\"\nport = 1\nhost = 2", "http.port: unknown key"},  // the first one in the file
      {"[source]\nbatch_size = 5\n\"odd\\nkey\" = 1", "source.\"odd\\nkey\": unknown key"},
  });
}

TEST_F(ConfigErrorTest, WrongTypes) {
  ExpectErrors({
      {"[source]\nbatch_size = \"100\"", "relay.toml: source.batch_size: expected an integer, got a string"},
      {"[source]\nbatch_size = 1.5", "source.batch_size: expected an integer, got a float"},
      {"[source]\npoll_interval_ms = \"1s\"", "source.poll_interval_ms: expected an integer (ms), got a string"},
      {"[log]\nprogress_interval_s = true", "log.progress_interval_s: expected an integer (s), got a boolean"},
      {"[outbox]\nschema = 1", "outbox.schema: expected a string, got an integer"},
      {"[outbox]\ncolumns = \"x\"", "outbox.columns: expected a table, got a string"},
      {"[postgres]\ndsn = [\"a\"]", "postgres.dsn: expected a string, got an array"},
      {"[kafka]\nbrokers = 9092", "kafka.brokers: expected a string, got an integer"},
      {"[http]\nlisten = 9090", "http.listen: expected a string, got an integer"},
      {"[source]\nmode = 1979-05-27", "source.mode: expected a string, got a date"},
      {"source = 1", "relay.toml: source: expected a table, got an integer"},
      {"[source.batch_size]\nx = 1", "source.batch_size: expected an integer, got a table"},
      {"[kafka.properties]\n\"linger.ms\" = 0.5",
       "kafka.properties.linger.ms: expected a string, integer or boolean, got a float (write it as a string"},
      {"[kafka.properties]\n\"debug\" = [\"all\"]",
       "kafka.properties.debug: expected a string, integer or boolean, got an array"},
  });
}

TEST_F(ConfigErrorTest, OutOfRange) {
  ExpectErrors({
      {"[source]\nbatch_size = 0", "relay.toml: source.batch_size: must be between 1 and 100000, got 0"},
      {"[source]\nbatch_size = 100001", "source.batch_size: must be between 1 and 100000, got 100001"},
      {"[source]\nbatch_size = -5", "source.batch_size: must be between 1 and 100000, got -5"},
      {"[source]\nmax_in_flight = 999", "source.max_in_flight: must be at least source.batch_size (1000), got 999"},
      {"[source]\nbatch_size = 50000",
       "source.max_in_flight: must be at least source.batch_size (50000), got the default 20000"},
      {"[source]\nmax_in_flight = 10000001", "source.max_in_flight: must be between 1 and 10000000, got 10000001"},
      {"[source]\npoll_interval_ms = 0", "source.poll_interval_ms: must be between 1 and 3600000 ms, got 0"},
      {"[source]\npoll_interval_ms = 3600001", "source.poll_interval_ms: must be between 1 and 3600000 ms"},
      {"[source]\nack_batch_size = 0", "source.ack_batch_size: must be between 1 and 100000, got 0"},
      {"[source]\nack_batch_size = 100001", "source.ack_batch_size: must be between 1 and 100000"},
      {"[source]\nack_interval_ms = 0", "source.ack_interval_ms: must be between 1 and 10000 ms, got 0"},
      {"[source]\nack_interval_ms = 10001", "source.ack_interval_ms: must be between 1 and 10000 ms"},
      {"[kafka]\ndelivery_timeout_ms = -1", "kafka.delivery_timeout_ms: must be between 0 and 86400000 ms, got -1"},
      {"[kafka]\ndelivery_timeout_ms = 999",
       "kafka.delivery_timeout_ms: must be 0 (infinite) or between 1000 and 86400000 ms, got 999"},
      {"[kafka]\ndelivery_timeout_ms = 86400001", "kafka.delivery_timeout_ms: must be between 0 and 86400000 ms"},
      {"[shutdown]\ndrain_timeout_ms = -1", "shutdown.drain_timeout_ms: must be between 0 and 600000 ms, got -1"},
      {"[shutdown]\ndrain_timeout_ms = 600001", "shutdown.drain_timeout_ms: must be between 0 and 600000 ms"},
      {"[dead_letter]\nmax_attempts = 0", "dead_letter.max_attempts: must be between 1 and 1000, got 0"},
      {"[dead_letter]\nmax_attempts = 1001", "dead_letter.max_attempts: must be between 1 and 1000, got 1001"},
      {"[dead_letter]\nhold_key = \"yes\"", "dead_letter.hold_key: expected a boolean (true or false), got a string"},
      {"[dead_letter]\nhold = true", "dead_letter.hold: unknown key"},
      {"[log]\nprogress_interval_s = -1", "log.progress_interval_s: must be between 0 and 3600 s, got -1"},
      {"[log]\nprogress_interval_s = 3601", "log.progress_interval_s: must be between 0 and 3600 s"},
      {"[postgres]\nconnect_timeout_ms = 99", "postgres.connect_timeout_ms: must be between 100 and 300000 ms, got 99"},
      {"[postgres]\nconnect_timeout_ms = 300001", "postgres.connect_timeout_ms: must be between 100 and 300000 ms"},
      {"[postgres]\nreconnect_backoff_max_ms = 99",
       "postgres.reconnect_backoff_max_ms: must be between 100 and 600000"},
      {"[postgres]\ntcp_user_timeout_ms = 999", "postgres.tcp_user_timeout_ms: must be 0 (off) or at least 1000"},
      {"[postgres]\ntcp_user_timeout_ms = 600001", "postgres.tcp_user_timeout_ms: must be between 0 and 600000 ms"},
      {"[postgres]\nstatement_timeout_ms = -1", "postgres.statement_timeout_ms: must be between 0 and 3600000 ms"},
      {"[postgres]\nlock_check_interval_ms = 99", "postgres.lock_check_interval_ms: must be between 100 and 600000"},
      {"[outbox]\nretention = \"0s\"", "outbox.retention: must be between 1s and 3650d, got \"0s\""},
      {"[outbox]\nretention = \"3651d\"", "outbox.retention: must be between 1s and 3650d, got \"3651d\""},
      {"[outbox]\nretention = \"99999999999999999999d\"", "outbox.retention: must be between 1s and 3650d"},
      {"[outbox]\nretention = 0", "outbox.retention: must be between 1s and 3650d, got 0"},
      {"[outbox]\nretention = \"1w\"",
       "outbox.retention: expected a duration such as \"7d\", \"12h\", \"30m\", \"45s\" "
       "or an integer number of seconds, got \"1w\""},
      {"[outbox]\nretention = \"7 d\"", "outbox.retention: expected a duration"},
      {"[outbox]\nretention = \"d\"", "outbox.retention: expected a duration"},
      {"[outbox]\nretention = 1.5",
       "outbox.retention: expected a duration such as \"7d\", \"12h\", \"30m\", \"45s\" "
       "or an integer number of seconds, got a float"},
  });
}

TEST_F(ConfigErrorTest, BadEnumStrings) {
  ExpectErrors({
      {"[outbox]\ncleanup = \"remove\"",
       "relay.toml: outbox.cleanup: must be one of \"delete\", \"mark\", got \"remove\""},
      {"[source]\nmode = \"pol\"",
       "source.mode: must be one of \"poll\", \"tail\", got \"pol\"; did you mean \"poll\"?"},
      {"[source]\nmode = \"Poll\"", "source.mode: must be one of \"poll\", \"tail\", got \"Poll\""},
      {"[log]\nformat = \"xml\"", "log.format: must be one of \"text\", \"json\", got \"xml\""},
      {"[log]\nlevel = \"verbose\"",
       "log.level: must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", got \"verbose\""},
      {"[log]\nlevel = \"warning\"", "log.level: must be one of"},
  });
}

TEST_F(ConfigErrorTest, UnsafeIdentifiers) {
  const std::string rule = "must be a lower-case SQL identifier matching [a-z_][a-z0-9_]{0,47}, got ";
  ExpectErrors({
      {"[outbox]\nschema = \"Outbox\"", "relay.toml: outbox.schema: " + rule + "\"Outbox\""},
      {"[outbox]\nschema = \"\"", "outbox.schema: must not be empty"},
      {"[outbox]\ntable = \"out-box\"", "outbox.table: " + rule + "\"out-box\""},
      {"[outbox]\ntable = \"1events\"", "outbox.table: " + rule},
      {"[outbox]\ntable = \"x; DROP TABLE y\"", "outbox.table: " + rule + "\"x; DROP TABLE y\""},
      {"[outbox]\ntable = \"" + std::string(49, 'a') + "\"", "outbox.table: " + rule},
      {"[outbox]\nnotify_channel = \"my-channel\"", "outbox.notify_channel: " + rule},
      {"[outbox.columns]\nseq = \"\"", "outbox.columns.seq: must not be empty"},
      {"[outbox.columns]\nid = \"\"", "outbox.columns.id: must not be empty"},
      {"[outbox.columns]\naggregate_type = \"\"", "outbox.columns.aggregate_type: must not be empty"},
      {"[outbox.columns]\naggregate_id = \"\"", "outbox.columns.aggregate_id: must not be empty"},
      {"[outbox.columns]\npayload = \"\"", "outbox.columns.payload: must not be empty"},
      {"[outbox.columns]\nevent_type = \"Type\"", "outbox.columns.event_type: " + rule + "\"Type\""},
      {"[outbox.columns]\nheaders = \"h\\\"x\"", "outbox.columns.headers: " + rule + "\"h\\\"x\""},
      {"[outbox.columns]\ntopic = \"t t\"", "outbox.columns.topic: " + rule},
      {"[outbox.columns]\ncreated_at = \"created.at\"", "outbox.columns.created_at: " + rule},
      {"[outbox.columns]\npublished_at = \"PublishedAt\"", "outbox.columns.published_at: " + rule},
      {"[outbox.columns]\nid = \"seq\"",
       "outbox.columns.id: \"seq\" is already the column of outbox.columns.seq; each role needs its own column"},
      {"[outbox]\ncleanup = \"mark\"\n[outbox.columns]\npublished_at = \"\"",
       "outbox.columns.published_at: must name a column when outbox.cleanup = \"mark\""},
      {"[source]\nslot_name = \"Relay-Slot\"", "source.slot_name: " + rule + "\"Relay-Slot\""},
      {"[source]\nslot_name = \"\"", "source.slot_name: must not be empty"},
      {"[source]\npublication_name = \"pub\\nx\"", "source.publication_name: " + rule + "\"pub\\nx\""},
  });
}

TEST_F(ConfigErrorTest, TopicTemplate) {
  ExpectErrors({
      {"[kafka]\ntopic_template = \"\"", "relay.toml: kafka.topic_template: must not be empty"},
      {"[kafka]\ntopic_template = \"events/${aggregate_type}\"",
       "kafka.topic_template: contains \"/\" at position 7; Kafka topic names allow only a-z, A-Z, 0-9, '.', '_' and "
       "'-'"},
      {"[kafka]\ntopic_template = \"x.${aggregate_id}\"",
       "kafka.topic_template: unknown placeholder \"${aggregate_id}\"; the only placeholder is ${aggregate_type}"},
      {"[kafka]\ntopic_template = \"x.${aggregate_type\"",
       "kafka.topic_template: unknown placeholder \"${aggregate_type\""},
      {"[kafka]\ntopic_template = \"x.$aggregate_type\"", "kafka.topic_template: contains \"$\" at position 3"},
      {"[kafka]\ntopic_template = \"my topic\"", "kafka.topic_template: contains \" \" at position 3"},
      {"[kafka]\ntopic_template = \"..\"", "kafka.topic_template: \".\" and \"..\" are not valid Kafka topic names"},
      {"[kafka]\ntopic_template = \"" + std::string(250, 'a') + "\"",
       "kafka.topic_template: is 250 characters long without placeholders; Kafka allows at most 249"},
  });
}

TEST_F(ConfigErrorTest, HttpListen) {
  const std::string expected = "expected host:port, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\"";
  ExpectErrors({
      {"[http]\nlisten = \"9464\"", "relay.toml: http.listen: missing port; " + expected + ", got \"9464\""},
      {"[http]\nlisten = \":9464\"", "http.listen: missing host (use \"0.0.0.0:PORT\" to listen on all interfaces)"},
      {"[http]\nlisten = \"localhost:0\"", "http.listen: port must be between 1 and 65535; " + expected},
      {"[http]\nlisten = \"localhost:65536\"", "http.listen: port must be between 1 and 65535"},
      {"[http]\nlisten = \"localhost:http\"", "http.listen: port must be between 1 and 65535"},
      {"[http]\nlisten = \"localhost:\"", "http.listen: port must be between 1 and 65535"},
      {"[http]\nlisten = \"::1:9464\"", "http.listen: an IPv6 host must be in brackets"},
      {"[http]\nlisten = \"http://x:80\"", "http.listen: invalid host"},
      {"[http]\nlisten = \"my host:80\"", "http.listen: invalid host"},
      {"[http]\nready_max_lag_ms = 999", "relay.toml: http.ready_max_lag_ms: must be between 1000 and 86400000"},
      {"[http]\nready_max_lag_ms = 86400001", "http.ready_max_lag_ms: must be between 1000 and 86400000"},
      {"[http]\nready_max_lag_ms = \"60s\"", "http.ready_max_lag_ms: expected an integer (ms), got a string"},
      {"[http]\nready_max_lag = 5", "http.ready_max_lag: unknown key; did you mean 'ready_max_lag_ms'?"},
  });
}

TEST_F(ConfigErrorTest, OwnedKafkaProperties) {
  ExpectErrors({
      {"[kafka.properties]\n\"enable.idempotence\" = false",
       "relay.toml: kafka.properties.enable.idempotence: cannot be set to \"false\": the relay always uses the "
       "idempotent producer"},
      {"[kafka.properties]\nenable.idempotence = false", "kafka.properties.enable.idempotence: cannot be set to"},
      {"[kafka.properties]\nacks = 1", "kafka.properties.acks: cannot be set to \"1\": the relay requires acks=all"},
      {"[kafka.properties]\nacks = \"leader\"", "kafka.properties.acks: cannot be set to \"leader\""},
      {"[kafka.properties]\n\"request.required.acks\" = 0", "kafka.properties.request.required.acks: cannot be set"},
      {"[kafka.properties]\n\"bootstrap.servers\" = \"x:9092\"",
       "kafka.properties.bootstrap.servers: cannot be set to \"x:9092\": the relay sets it from kafka.brokers. "
       "Hint: set kafka.brokers (or OUTBOX_KAFKA_BROKERS)"},
      {"[kafka.properties]\n\"metadata.broker.list\" = \"x:9092\"", "Hint: set kafka.brokers"},
      {"[kafka.properties]\n\"message.timeout.ms\" = 1000",
       "kafka.properties.message.timeout.ms: cannot be set to \"1000\": the relay sets it from "
       "kafka.delivery_timeout_ms. Hint: set kafka.delivery_timeout_ms"},
      {"[kafka.properties]\n\"delivery.timeout.ms\" = 1000", "kafka.properties.delivery.timeout.ms: cannot be set"},
      {"[kafka.properties]\n\"transactional.id\" = \"relay\"",
       "kafka.properties.transactional.id: cannot be set to \"relay\": the relay sets it from kafka.transactional_id"},
      {"[kafka.properties]\n\"dr_msg_cb\" = \"x\"",
       "kafka.properties.dr_msg_cb: cannot be set: the relay installs its own callbacks. Hint: remove the key"},
      {"[kafka.properties]\n\"enable.delivery.reports\" = false",
       "kafka.properties.enable.delivery.reports: cannot be set"},
      {"[kafka.properties]\n\"delivery.report.only.error\" = true",
       "kafka.properties.delivery.report.only.error: cannot"},
      {"[kafka.properties]\n\"linger.ms\" = 1\nlinger.ms = 2",
       "kafka.properties.linger.ms: is set twice (once as a dotted key, once as a quoted key)"},
  });
}

TEST_F(ConfigErrorTest, EveryOwnedPropertyNamesAHint) {
  for (const char* key : {"enable.idempotence", "acks", "bootstrap.servers", "message.timeout.ms",
                          "delivery.timeout.ms", "transactional.id", "error_cb", "log_cb", "opaque"}) {
    std::string error = ErrorOf(std::string("[kafka.properties]\n\"") + key + "\" = \"x\"");
    EXPECT_NE(error.find(std::string("kafka.properties.") + key + ": "), std::string::npos) << error;
    EXPECT_NE(error.find("Hint: "), std::string::npos) << error;
  }
}

TEST_F(ConfigTest, MissingRequiredSettings) {
  EXPECT_EQ(ErrorOf("[kafka]\nbrokers = \"k:9092\""),
            "relay.toml: postgres.dsn: missing; set postgres.dsn, postgres.dsn_file or the OUTBOX_PG_DSN environment "
            "variable");
  EXPECT_NE(ErrorOf("[postgres]\ndsn = \"\"\n[kafka]\nbrokers = \"k:9092\"").find("postgres.dsn: missing"),
            std::string::npos);
  EXPECT_EQ(ErrorOf("[postgres]\ndsn = \"host=db\""),
            "relay.toml: kafka.brokers: missing; set kafka.brokers or the OUTBOX_KAFKA_BROKERS environment variable, "
            "e.g. \"127.0.0.1:9092\"");
  EXPECT_NE(ErrorOf("").find("postgres.dsn: missing"), std::string::npos);
  EXPECT_NE(
      ErrorOf("[postgres]\ndsn = \"host=db\"\n[kafka]\nbrokers = \"a:1,,b:2\"")
          .find("relay.toml: kafka.brokers: has an empty entry; expected host:port[,host:port...], got \"a:1,,b:2\""),
      std::string::npos);
  EXPECT_NE(ErrorOf("[postgres]\ndsn = \"host=db\"\n[kafka]\nbrokers = \"a:1 b:2\"")
                .find("kafka.brokers: entries must be separated by commas"),
            std::string::npos);
}

TEST_F(ConfigTest, DsnFile) {
  const std::string file = WriteFile("dsn", "postgresql://relay:s3cret@db/app\n");
  Config c = ParseConfig("[postgres]\ndsn_file = \"" + file + "\"\n[kafka]\nbrokers = \"k:9092\"");
  EXPECT_EQ(c.postgres.dsn, "postgresql://relay:s3cret@db/app");

  EXPECT_EQ(ErrorOf("[postgres]\ndsn = \"host=db\"\ndsn_file = \"" + file + "\"\n[kafka]\nbrokers = \"k:9092\""),
            "relay.toml: postgres.dsn_file: cannot be combined with postgres.dsn; set only one");
  const std::string missing = (dir_ / "nope").string();
  EXPECT_EQ(ErrorOf("[postgres]\ndsn_file = \"" + missing + "\"\n[kafka]\nbrokers = \"k:9092\""),
            "relay.toml: postgres.dsn_file: cannot read \"" + missing + "\": No such file or directory");
  EXPECT_EQ(ErrorOf("[postgres]\ndsn_file = \"" + dir_.string() + "\"\n[kafka]\nbrokers = \"k:9092\""),
            "relay.toml: postgres.dsn_file: cannot read \"" + dir_.string() + "\": Is a directory");
  const std::string empty = WriteFile("empty", "\n");
  EXPECT_EQ(ErrorOf("[postgres]\ndsn_file = \"" + empty + "\"\n[kafka]\nbrokers = \"k:9092\""),
            "relay.toml: postgres.dsn_file: file \"" + empty + "\" is empty");
}

// run used to retry such DSNs forever as if Postgres were down ("cannot connect (invalid
// sslmode value: "bogus"); retrying in 6400 ms"): libpq rejects them only when connecting.
TEST_F(ConfigErrorTest, DsnThatLibpqWouldReject) {
  unsetenv("OUTBOX_PG_DSN");
  auto dsn = [](const std::string& value) { return "[postgres]\ndsn = '''" + value + "'''\n"; };
  const std::string sslmodes = "expected one of disable, allow, prefer, require, verify-ca, verify-full";
  ExpectErrors({
      {dsn("postgresql://relay@db/app?sslmode=bogus"),
       "relay.toml: postgres.dsn: sslmode: invalid value \"bogus\"; " + sslmodes},
      {dsn("host=db sslmode=bogus"), "relay.toml: postgres.dsn: sslmode: invalid value \"bogus\"; " + sslmodes},
      {dsn("host=db sslmode=REQUIRE"), "postgres.dsn: sslmode: invalid value \"REQUIRE\""},
      {dsn("postgresql://db/app?bogus=1"),
       "relay.toml: postgres.dsn: not a valid connection string: invalid URI query parameter: \"bogus\""},
      {dsn("not a dsn = = '"),
       "relay.toml: postgres.dsn: not a valid connection string: missing \"=\" after \"not\" in connection info "
       "string"},
      {dsn("host=db no_such_option=1"),
       "postgres.dsn: not a valid connection string: invalid connection option \"no_such_option\""},
      {dsn("host=db target_session_attrs=writable"),
       "postgres.dsn: target_session_attrs: invalid value \"writable\"; expected one of any, read-write, read-only, "
       "primary, standby, prefer-standby"},
      {dsn("host=db gssencmode=maybe"),
       "postgres.dsn: gssencmode: invalid value \"maybe\"; expected one of disable, prefer, require"},
      {dsn("host=db channel_binding=on"),
       "postgres.dsn: channel_binding: invalid value \"on\"; expected one of disable, prefer, require"},
      {dsn("host=db ssl_min_protocol_version=TLSv9"),
       "postgres.dsn: ssl_min_protocol_version: invalid value \"TLSv9\"; expected one of TLSv1, TLSv1.1, TLSv1.2, "
       "TLSv1.3"},
      {dsn("host=db ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2"),
       "postgres.dsn: ssl_min_protocol_version \"TLSv1.3\" is above ssl_max_protocol_version \"TLSv1.2\""},
      {dsn("host=db port=x"), "postgres.dsn: port: invalid value \"x\"; expected a port number between 1 and 65535"},
      {dsn("postgresql://db:99999/app"), "postgres.dsn: port: invalid value \"99999\"; expected a port number"},
      {dsn("host=db port=0"), "postgres.dsn: port: invalid value \"0\""},
      {dsn("host=a,b port=1,2,3"), "postgres.dsn: 3 ports for 2 hosts; give one port for all hosts, or one per host"},
      {dsn("host=db connect_timeout=soon"), "postgres.dsn: connect_timeout: invalid integer value \"soon\""},
      {dsn("host=db keepalives_idle=1.5"), "postgres.dsn: keepalives_idle: invalid integer value \"1.5\""},
      {dsn("host=db tcp_user_timeout=99999999999"),
       "postgres.dsn: tcp_user_timeout: invalid integer value \"99999999999\""},
      {dsn("host=db hostaddr=db.internal"), "postgres.dsn: hostaddr: \"db.internal\" is not a numeric IP address"},
      {dsn("host=a hostaddr=10.0.0.1,10.0.0.2"), "postgres.dsn: 2 hostaddr values for 1 hosts"},
      {dsn("host=db replication=database"),
       "postgres.dsn: replication: must not be set; the relay opens its replication connection itself"},
  });
  // libpq quotes the malformed part, which may be (part of) the password: never show it.
  const std::string error = ErrorOf(dsn("postgresql://relay:se%zzcret@db/app"));
  EXPECT_NE(error.find("postgres.dsn: not a valid connection string: invalid percent-encoded token"), std::string::npos)
      << error;
  EXPECT_EQ(error.find("zzcret"), std::string::npos) << error;
  const std::string uri_error = ErrorOf(dsn("postgresql://relay:secret@[::1/app"));
  EXPECT_NE(uri_error.find("not a valid connection string"), std::string::npos) << uri_error;
  EXPECT_EQ(uri_error.find("secret"), std::string::npos) << uri_error;

  // Where the DSN came from is named.
  setenv("OUTBOX_PG_DSN", "host=db sslmode=bogus", 1);
  EXPECT_NE(ErrorOf("").find("relay.toml: postgres.dsn (from OUTBOX_PG_DSN): sslmode: invalid value \"bogus\""),
            std::string::npos)
      << ErrorOf("");
  unsetenv("OUTBOX_PG_DSN");
  const std::string file = WriteFile("dsn", "host=db gssencmode=x\n");
  EXPECT_NE(ErrorOf("[postgres]\ndsn_file = \"" + file + "\"").find("relay.toml: postgres.dsn_file: gssencmode: "),
            std::string::npos);
}

TEST_F(ConfigErrorTest, DsnsLibpqAccepts) {
  unsetenv("OUTBOX_PG_DSN");
  for (const std::string value : {
           "postgresql://relay@db.internal/app",
           "postgres://relay:p%40ss@db:5432/app?sslmode=verify-full&sslrootcert=/etc/ca.pem",
           "postgresql://[::1]:5432/app?target_session_attrs=read-write",
           "postgresql:///app?host=/var/run/postgresql",
           "host=/var/run/postgresql dbname=app",
           "host=a,b port=5432 target_session_attrs=primary",
           "host=a,b port=5432,",
           "host=db hostaddr=10.0.0.1 port=' 5432 '",
           "host=a,b hostaddr=10.0.0.1,::1",
           "host=db sslmode=require gssencmode=disable channel_binding=prefer connect_timeout=10 keepalives=1 "
           "keepalives_idle=30 keepalives_interval=-1 tcp_user_timeout=0 ssl_min_protocol_version=tlsv1.2 "
           "ssl_max_protocol_version=",
           "dbname=app user=relay password='a b' application_name=x",
       }) {
    EXPECT_EQ(ErrorOf("[postgres]\ndsn = '''" + value + "'''\n"), "") << value;
  }
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  setenv("OUTBOX_PG_DSN", "host=from-env", 1);
  setenv("OUTBOX_KAFKA_BROKERS", "env-1:9092,env-2:9092", 1);
  setenv("OUTBOX_KAFKA_SASL_PASSWORD", "env-secret", 1);
  Config c = ParseConfig(kMinimal + "[kafka.properties]\n\"sasl.password\" = \"file-secret\"\n");
  EXPECT_EQ(c.postgres.dsn, "host=from-env");
  EXPECT_EQ(c.kafka.brokers, "env-1:9092,env-2:9092");
  EXPECT_EQ(c.kafka.properties.at("sasl.password"), "env-secret");

  // The environment alone is enough, and it wins over dsn_file without reading it.
  c = ParseConfig("[postgres]\ndsn_file = \"/does/not/exist\"");
  EXPECT_EQ(c.postgres.dsn, "host=from-env");
  EXPECT_EQ(c.kafka.properties.at("sasl.password"), "env-secret");

  setenv("OUTBOX_KAFKA_BROKERS", "a:1,", 1);
  EXPECT_NE(ErrorOf(kMinimal).find("relay.toml: kafka.brokers (from OUTBOX_KAFKA_BROKERS): has an empty entry"),
            std::string::npos);
}

// A pod binds its own IP from the downward API: OUTBOX_HTTP_LISTEN = "$(POD_IP):9464".
TEST_F(ConfigTest, HttpListenFromTheEnvironment) {
  setenv("OUTBOX_HTTP_LISTEN", "10.1.2.3:9464", 1);
  EXPECT_EQ(ParseConfig(kMinimal + "[http]\nlisten = \"0.0.0.0:9464\"\n").http.listen, "10.1.2.3:9464");
  EXPECT_EQ(ParseConfig(kMinimal).http.listen, "10.1.2.3:9464");
  setenv("OUTBOX_HTTP_LISTEN", "10.1.2.3", 1);
  EXPECT_NE(ErrorOf(kMinimal).find("relay.toml: http.listen (from OUTBOX_HTTP_LISTEN): missing port"),
            std::string::npos)
      << ErrorOf(kMinimal);
}

TEST_F(ConfigTest, EmptyEnvironmentVariablesCountAsUnset) {
  setenv("OUTBOX_PG_DSN", "", 1);
  setenv("OUTBOX_KAFKA_BROKERS", "", 1);
  setenv("OUTBOX_KAFKA_SASL_PASSWORD", "", 1);
  setenv("OUTBOX_HTTP_LISTEN", "", 1);
  Config c = ParseConfig(kMinimal);
  EXPECT_EQ(Dump(c), Dump(Expected()));
}

TEST_F(ConfigTest, KafkaSecretsFromFiles) {
  const std::string password = WriteFile("sasl", "pa ss\n");
  const std::string key_password = WriteFile("key", "k3y");
  Config c = ParseConfig(kMinimal + "[kafka.properties]\n\"sasl.password\" = \"file:" + password +
                         "\"\nssl.key.password = \"file:" + key_password + "\"\n\"ssl.keystore.password\" = \"file:" +
                         key_password + "\"\n\"sasl.username\" = \"file:not-a-secret\"\n");
  EXPECT_EQ(c.kafka.properties.at("sasl.password"), "pa ss");
  EXPECT_EQ(c.kafka.properties.at("ssl.key.password"), "k3y");
  EXPECT_EQ(c.kafka.properties.at("ssl.keystore.password"), "k3y");
  EXPECT_EQ(c.kafka.properties.at("sasl.username"), "file:not-a-secret");

  const std::string missing = (dir_ / "missing").string();
  EXPECT_EQ(ErrorOf(kMinimal + "[kafka.properties]\n\"sasl.password\" = \"file:" + missing + "\"\n"),
            "relay.toml: kafka.properties.sasl.password: cannot read \"" + missing + "\": No such file or directory");
  EXPECT_NE(ErrorOf(kMinimal + "[kafka.properties]\n\"ssl.key.password\" = \"file:\"\n")
                .find("kafka.properties.ssl.key.password: \"file:\" needs a path"),
            std::string::npos);
  const std::string empty = WriteFile("empty", "");
  EXPECT_EQ(ErrorOf(kMinimal + "[kafka.properties]\n\"ssl.keystore.password\" = \"file:" + empty + "\"\n"),
            "relay.toml: kafka.properties.ssl.keystore.password: file \"" + empty + "\" is empty");
}

TEST_F(ConfigTest, LoadConfigNamesTheFile) {
  const std::string missing = (dir_ / "relay.toml").string();
  EXPECT_THROW(
      {
        try {
          LoadConfig(missing);
        } catch (const ConfigError& e) {
          EXPECT_EQ(std::string(e.what()), missing + ": cannot read the configuration file: No such file or directory");
          throw;
        }
      },
      ConfigError);
  const std::string bad = WriteFile("bad.toml", kMinimal + "[source]\nbatch_size = 0\n");
  try {
    LoadConfig(bad);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), bad + ": source.batch_size: must be between 1 and 100000, got 0");
  }
  const std::string good = WriteFile("good.toml", kMinimal);
  EXPECT_EQ(Dump(LoadConfig(good)), Dump(Expected()));
}

TEST_F(ConfigTest, NotifyChannelEmptyStaysEmpty) {
  EXPECT_EQ(ParseConfig(kMinimal + "[outbox]\nschema = \"app\"\nnotify_channel = \"\"\n").outbox.notify_channel, "");
}

TEST(RedactDsnTest, HidesPasswords) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"postgresql://user:secret@host/db", "postgresql://user:***@host/db"},
      {"postgres://user:secret@host:5432/db?sslmode=require", "postgres://user:***@host:5432/db?sslmode=require"},
      {"postgresql://user:secret@[::1]:5432/db", "postgresql://user:***@[::1]:5432/db"},
      {"postgresql://user:p@ss/w?rd@host/db", "postgresql://user:***@host/db"},
      {"postgresql://user:@host/db", "postgresql://user:***@host/db"},
      {"postgresql://host/db?user=u&password=secret&sslmode=require",
       "postgresql://host/db?user=u&password=***&sslmode=require"},
      {"postgresql://u@host/db?password=sec@ret", "postgresql://u@host/db?password=***"},
      {"host=db user=u password=secret dbname=app", "host=db user=u password=*** dbname=app"},
      {"password=secret", "password=***"},
      {"host=db password = 'a se\\'cret' port=5432", "host=db password = *** port=5432"},
      {"host=db  password=sec\\ ret\tsslmode=require", "host=db  password=***\tsslmode=require"},
      {"host=db broken password secret", "host=db ***"},
  };
  for (const auto& [dsn, redacted] : cases) {
    EXPECT_EQ(RedactDsn(dsn), redacted) << dsn;
    EXPECT_EQ(RedactDsn(dsn).find("secret"), std::string::npos) << dsn;
  }
}

TEST(RedactDsnTest, KeepsDsnsWithoutPassword) {
  for (const std::string dsn : {"", "postgresql://outbox@127.0.0.1:55432/outbox", "postgresql://host/db",
                                "postgresql://host:5432/db?sslmode=require", "host=db user=u dbname=app",
                                "host=db application_name='my password app'"}) {
    EXPECT_EQ(RedactDsn(dsn), dsn);
  }
}

}  // namespace
}  // namespace outbox::relay

namespace outbox::relay {
namespace {

TEST_F(ConfigTest, ExactlyOnceKeysAndTheDerivedTransactionalId) {
  const Config alo = ParseConfig(kMinimal);
  EXPECT_EQ(alo.kafka.delivery, Delivery::kAtLeastOnce);
  EXPECT_EQ(alo.kafka.transactional_id, "") << "derived only for exactly_once";

  const Config derived = ParseConfig(kMinimal + "delivery = \"exactly_once\"\n");
  EXPECT_TRUE(derived.kafka.exactly_once());
  EXPECT_EQ(derived.kafka.transactional_id, "outbox-relay.app.outbox.outbox") << "database, schema and table";
  EXPECT_EQ(derived.kafka.checkpoint_topic, "outbox-relay.checkpoints");
  EXPECT_EQ(derived.kafka.transaction_max_events, 10000u);
  EXPECT_EQ(derived.kafka.transaction_interval.count(), 10);
  EXPECT_EQ(derived.kafka.transaction_settle.count(), 3);

  const Config set = ParseConfig(R"(
[postgres]
dsn = "host=db user=relay dbname=billing"
[outbox]
schema = "sales"
[kafka]
brokers = "k:9092"
delivery = "exactly_once"
transactional_id = "billing-relay"
checkpoint_topic = "billing.checkpoints"
transaction_max_events = 200
transaction_interval_ms = 50
transaction_settle_ms = 0
)");
  EXPECT_EQ(set.kafka.transactional_id, "billing-relay");
  EXPECT_EQ(set.kafka.checkpoint_topic, "billing.checkpoints");
  EXPECT_EQ(set.kafka.transaction_max_events, 200u);
  EXPECT_EQ(set.kafka.transaction_interval.count(), 50);
  EXPECT_EQ(set.kafka.transaction_settle.count(), 0);
  // Written back and read again: the same settings (RelayProcess, `config` output).
  const Config again = ParseConfig(ConfigToToml(set, true));
  EXPECT_EQ(again.kafka.transactional_id, "billing-relay");
  EXPECT_EQ(again.kafka.transaction_interval.count(), 50);
  EXPECT_EQ(again.kafka.transaction_settle.count(), 0);

  const Config by_dsn = ParseConfig(
      "[postgres]\ndsn = \"host=db user=relay dbname=billing\"\n[outbox]\nschema = "
      "\"sales\"\n[kafka]\nbrokers = \"k:9092\"\ndelivery = \"exactly_once\"\n");
  EXPECT_EQ(by_dsn.kafka.transactional_id, "outbox-relay.billing.sales.outbox");
  EXPECT_TRUE(ParseConfig(kMinimal + "delivery = \"exactly_once\"\n[source]\nmode = \"tail\"\n").kafka.exactly_once())
      << "both source modes";

  // The lock lease: on by default with exactly_once (failover within
  // seconds), off with at_least_once, and what the file says otherwise.
  EXPECT_EQ(alo.postgres.lock_lease.count(), 0);
  EXPECT_EQ(alo.postgres.LockCheckInterval().count(), 5000);
  EXPECT_EQ(derived.postgres.lock_lease.count(), 2500);
  EXPECT_EQ(derived.postgres.LockCheckInterval().count(), 625) << "a quarter of the lease";
  const std::string no_lease = "[postgres]\ndsn = \"host=db\"\nlock_lease_ms = 0\n[kafka]\nbrokers = \"k:9092\"\n";
  EXPECT_EQ(ParseConfig(no_lease + "delivery = \"exactly_once\"\n").postgres.lock_lease.count(), 0);
  const std::string lease = "[postgres]\ndsn = \"host=db\"\nlock_lease_ms = 4000\n[kafka]\nbrokers = \"k:9092\"\n";
  EXPECT_EQ(ParseConfig(lease).postgres.lock_lease.count(), 4000);
  EXPECT_EQ(ParseConfig(ConfigToToml(ParseConfig(lease), true)).postgres.lock_lease.count(), 4000);
}

TEST_F(ConfigErrorTest, ExactlyOnce) {
  ExpectErrors({
      {"[kafka]\ndelivery = \"exactly-once\"", "kafka.delivery: must be one of \"at_least_once\", \"exactly_once\""},
      {"[kafka]\ntransactional_id = \"x\"",
       "kafka.transactional_id: has no effect unless kafka.delivery = \"exactly_once\""},
      {"[kafka]\ntransaction_interval_ms = 5", "kafka.transaction_interval_ms: has no effect unless"},
      {"[kafka]\ndelivery = \"exactly_once\"\ncheckpoint_topic = \"a b\"", "kafka.checkpoint_topic: contains \" \""},
      {"[kafka]\ndelivery = \"exactly_once\"\ncheckpoint_topic = \"x.${aggregate_type}\"",
       "kafka.checkpoint_topic: takes no placeholder"},
      {"[kafka]\ndelivery = \"exactly_once\"\ntransactional_id = \"\"",
       "kafka.transactional_id: must be 1 to 200 characters"},
      {"[kafka]\ndelivery = \"exactly_once\"\ntransaction_max_events = 0", "kafka.transaction_max_events: must be"},
      {"[kafka.properties]\n\"transactional.id\" = \"x\"", "set kafka.transactional_id instead"},
      {"[postgres]\nlock_lease_ms = 500", "postgres.lock_lease_ms: must be 0 (off) or between 1000 and 600000 ms"},
  });
}

}  // namespace
}  // namespace outbox::relay
