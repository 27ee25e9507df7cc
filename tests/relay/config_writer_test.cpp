// ConfigToToml is the inverse of ParseConfig: what tests and benchmarks hand
// to the outbox-relay executable is exactly the Config they built.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/config_writer.hpp"

namespace outbox::relay {
namespace {

Config Minimal() {
  Config c;
  c.postgres.dsn = "postgresql://u:p@127.0.0.1:5432/db?application_name=x";
  c.kafka.brokers = "127.0.0.1:9092";
  return c;
}

TEST(ConfigWriter, DefaultsRoundTrip) {
  const Config c = Minimal();
  const std::string toml = ConfigToToml(c);
  const Config back = ParseConfig(toml, "written");
  EXPECT_EQ(ConfigToToml(back), toml);
  EXPECT_EQ(back.postgres.dsn, c.postgres.dsn);
  EXPECT_EQ(back.source.batch_size, c.source.batch_size);
  EXPECT_EQ(back.outbox.retention, c.outbox.retention);
}

TEST(ConfigWriter, EveryChangedSettingRoundTrips) {
  Config c = Minimal();
  c.postgres.dsn = "host=127.0.0.1 dbname=\"we\\\"ird\" password='p w'";
  c.postgres.connect_timeout = std::chrono::milliseconds(1234);
  c.postgres.reconnect_backoff_max = std::chrono::milliseconds(4321);
  c.postgres.tcp_user_timeout = std::chrono::milliseconds(0);
  c.postgres.statement_timeout = std::chrono::milliseconds(2500);
  c.postgres.lock_check_interval = std::chrono::milliseconds(700);
  c.outbox.schema = "app";
  c.outbox.table = "events";
  c.outbox.cleanup = Cleanup::kMark;
  c.outbox.retention = std::chrono::seconds(3600);
  c.outbox.notify_channel = "wake_up";
  c.outbox.columns.seq = "position";
  c.outbox.columns.headers = "";
  c.outbox.columns.topic = "";
  c.source.mode = SourceMode::kTail;
  c.source.batch_size = 77;
  c.source.poll_interval = std::chrono::milliseconds(33);
  c.source.max_in_flight = 770;
  c.source.ack_batch_size = 7;
  c.source.ack_interval = std::chrono::milliseconds(9);
  c.source.slot_name = "s1";
  c.source.publication_name = "p1";
  c.source.status_interval = std::chrono::milliseconds(250);
  c.kafka.topic_template = "t.${aggregate_type}.v1";
  c.kafka.delivery_timeout = std::chrono::milliseconds(60000);
  c.kafka.properties = {{"linger.ms", "20"}, {"compression.codec", "lz4"}};
  c.kafka.headers_format = HeadersFormat::kCloudEvents;
  c.kafka.cloudevents_source = "urn:orders";
  c.kafka.cloudevents_content_type = "application/avro";
  c.log.level = "debug";
  c.log.format = LogFormat::kJson;
  c.log.progress_interval = std::chrono::seconds(3);
  c.shutdown.drain_timeout = std::chrono::milliseconds(2500);
  c.dead_letter.max_attempts = 9;
  c.dead_letter.hold_key = false;
  c.http.listen = "127.0.0.1:9464";
  c.http.ready_max_lag = std::chrono::milliseconds(5000);

  const std::string toml = ConfigToToml(c);
  const Config b = ParseConfig(toml, "written");
  EXPECT_EQ(ConfigToToml(b), toml) << toml;
  EXPECT_EQ(b.postgres.dsn, c.postgres.dsn) << "quotes and backslashes survive";
  EXPECT_EQ(b.outbox.cleanup, Cleanup::kMark);
  EXPECT_EQ(b.outbox.columns.seq, "position");
  EXPECT_EQ(b.outbox.columns.headers, "");
  EXPECT_EQ(b.source.mode, SourceMode::kTail);
  EXPECT_EQ(b.source.status_interval, c.source.status_interval);
  EXPECT_EQ(b.kafka.properties, c.kafka.properties);
  EXPECT_EQ(b.kafka.delivery_timeout, c.kafka.delivery_timeout);
  EXPECT_EQ(b.kafka.headers_format, HeadersFormat::kCloudEvents);
  EXPECT_EQ(b.kafka.cloudevents_source, "urn:orders");
  EXPECT_EQ(b.kafka.cloudevents_content_type, "application/avro");
  EXPECT_EQ(b.log.format, LogFormat::kJson);
  EXPECT_EQ(b.dead_letter.max_attempts, 9u);
  EXPECT_FALSE(b.dead_letter.hold_key);
  EXPECT_EQ(b.http.listen, c.http.listen);
  EXPECT_EQ(b.http.ready_max_lag, c.http.ready_max_lag);
  EXPECT_EQ(b.postgres.tcp_user_timeout.count(), 0);
  EXPECT_EQ(b.postgres.statement_timeout, c.postgres.statement_timeout);
  EXPECT_EQ(b.postgres.lock_check_interval, c.postgres.lock_check_interval);
}

TEST(ConfigWriter, OnlyChangedKeysRoundTripToo) {
  Config c = Minimal();
  c.source.batch_size = 12;
  c.outbox.columns.topic = "";
  const std::string toml = ConfigToToml(c, /*only_changed=*/true);
  EXPECT_EQ(toml.find("max_in_flight"), std::string::npos) << toml;
  EXPECT_EQ(toml.find("[log]"), std::string::npos) << "a table with only defaults is left out";
  EXPECT_NE(toml.find("batch_size = 12"), std::string::npos) << toml;
  const Config b = ParseConfig(toml, "written");
  EXPECT_EQ(ConfigToToml(b), ConfigToToml(c));
}

}  // namespace
}  // namespace outbox::relay
