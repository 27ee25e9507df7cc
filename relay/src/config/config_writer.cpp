#include "config/config_writer.hpp"

#include <sstream>

#include <toml++/toml.h>

#include "config/config.hpp"

namespace outbox::relay {
namespace {

int64_t Ms(std::chrono::milliseconds d) { return d.count(); }
int64_t Int(size_t n) { return static_cast<int64_t>(n); }

}  // namespace

std::string ConfigToToml(const Config& c) {
  const ColumnNames& col = c.outbox.columns;
  toml::table columns{{"seq", col.seq},
                      {"id", col.id},
                      {"aggregate_type", col.aggregate_type},
                      {"aggregate_id", col.aggregate_id},
                      {"event_type", col.event_type},
                      {"payload", col.payload},
                      {"headers", col.headers},
                      {"topic", col.topic},
                      {"created_at", col.created_at},
                      {"published_at", col.published_at}};
  toml::table properties;
  for (const auto& [key, value] : c.kafka.properties) properties.insert(key, value);
  toml::table root{
      {"postgres", toml::table{{"dsn", c.postgres.dsn},
                               {"connect_timeout_ms", Ms(c.postgres.connect_timeout)},
                               {"reconnect_backoff_max_ms", Ms(c.postgres.reconnect_backoff_max)}}},
      {"outbox", toml::table{{"schema", c.outbox.schema},
                             {"table", c.outbox.table},
                             {"cleanup", c.outbox.cleanup == Cleanup::kMark ? "mark" : "delete"},
                             {"retention", static_cast<int64_t>(c.outbox.retention.count())},
                             {"notify_channel", c.outbox.notify_channel},
                             {"columns", columns}}},
      {"source", toml::table{{"mode", c.source.mode == SourceMode::kTail ? "tail" : "poll"},
                             {"batch_size", Int(c.source.batch_size)},
                             {"poll_interval_ms", Ms(c.source.poll_interval)},
                             {"max_in_flight", Int(c.source.max_in_flight)},
                             {"ack_batch_size", Int(c.source.ack_batch_size)},
                             {"ack_interval_ms", Ms(c.source.ack_interval)},
                             {"slot_name", c.source.slot_name},
                             {"publication_name", c.source.publication_name},
                             {"status_interval_ms", Ms(c.source.status_interval)}}},
      {"kafka", toml::table{{"brokers", c.kafka.brokers},
                            {"topic_template", c.kafka.topic_template},
                            {"delivery_timeout_ms", Ms(c.kafka.delivery_timeout)},
                            {"properties", properties}}},
      {"log", toml::table{{"level", c.log.level},
                          {"format", c.log.format == LogFormat::kJson ? "json" : "text"},
                          {"progress_interval_s", static_cast<int64_t>(c.log.progress_interval.count())}}},
      {"shutdown", toml::table{{"drain_timeout_ms", Ms(c.shutdown.drain_timeout)}}},
      {"dead_letter", toml::table{{"max_attempts", static_cast<int64_t>(c.dead_letter.max_attempts)},
                                  {"hold_key", c.dead_letter.hold_key}}},
      {"http", toml::table{{"ready_max_lag_ms", Ms(c.http.ready_max_lag)}}},
  };
  if (!c.http.listen.empty()) root["http"].as_table()->insert("listen", c.http.listen);
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

}  // namespace outbox::relay
