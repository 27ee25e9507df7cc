#include "config/config_writer.hpp"

#include <sstream>

#include <toml++/toml.h>

#include "config/config.hpp"

namespace outbox::relay {
namespace {

int64_t Ms(std::chrono::milliseconds d) { return d.count(); }
int64_t Int(size_t n) { return static_cast<int64_t>(n); }

toml::table BuildTable(const Config& c) {
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
                      {"published_at", col.published_at},
                      {"attempts", col.attempts}};
  toml::table properties;
  for (const auto& [key, value] : c.kafka.properties) properties.insert(key, value);
  toml::table root{
      {"postgres", toml::table{{"dsn", c.postgres.dsn},
                               {"connect_timeout_ms", Ms(c.postgres.connect_timeout)},
                               {"reconnect_backoff_max_ms", Ms(c.postgres.reconnect_backoff_max)},
                               {"tcp_user_timeout_ms", Ms(c.postgres.tcp_user_timeout)},
                               {"statement_timeout_ms", Ms(c.postgres.statement_timeout)},
                               {"lock_check_interval_ms", Ms(c.postgres.lock_check_interval)},
                               {"lock_lease_ms", Ms(c.postgres.lock_lease)}}},
      {"outbox", toml::table{{"schema", c.outbox.schema},
                             {"table", c.outbox.table},
                             {"cleanup", c.outbox.cleanup == Cleanup::kMark ? "mark" : "delete"},
                             {"retention", static_cast<int64_t>(c.outbox.retention.count())},
                             {"notify_channel", c.outbox.notify_channel},
                             {"relay_schema", c.outbox.relay_schema},
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
  if (c.kafka.headers_format == HeadersFormat::kCloudEvents) {
    toml::table& kafka = *root["kafka"].as_table();
    kafka.insert("headers_format", "cloudevents");
    kafka.insert("cloudevents_source", c.kafka.cloudevents_source);
    kafka.insert("cloudevents_content_type", c.kafka.cloudevents_content_type);
  }
  if (c.kafka.exactly_once()) {
    toml::table& kafka = *root["kafka"].as_table();
    kafka.insert("delivery", "exactly_once");
    if (!c.kafka.transactional_id.empty()) kafka.insert("transactional_id", c.kafka.transactional_id);
    kafka.insert("checkpoint_topic", c.kafka.checkpoint_topic);
    kafka.insert("transaction_max_events", static_cast<int64_t>(c.kafka.transaction_max_events));
    kafka.insert("transaction_interval_ms", Ms(c.kafka.transaction_interval));
    kafka.insert("transaction_settle_ms", Ms(c.kafka.transaction_settle));
  }
  return root;
}

std::string Text(const toml::node& n) {
  std::ostringstream out;
  n.visit([&](const auto& v) { out << v; });
  return out.str();
}

/// Removes from `t` every value that `defaults` holds too; drops tables left empty.
void DropDefaults(toml::table& t, const toml::table& defaults) {
  for (auto it = t.begin(); it != t.end();) {
    const toml::node* d = defaults.get(it->first);
    if (auto* sub = it->second.as_table(); sub != nullptr && d != nullptr && d->is_table()) {
      DropDefaults(*sub, *d->as_table());
      it = sub->empty() ? t.erase(it) : std::next(it);
    } else if (d != nullptr && Text(it->second) == Text(*d)) {
      it = t.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

std::string ConfigToToml(const Config& config, bool only_changed) {
  toml::table root = BuildTable(config);
  if (only_changed) {
    DropDefaults(root, BuildTable(Config{}));
    auto& postgres = *root.emplace("postgres", toml::table{}).first->second.as_table();
    postgres.insert_or_assign("dsn", config.postgres.dsn);
    auto& kafka = *root.emplace("kafka", toml::table{}).first->second.as_table();
    kafka.insert_or_assign("brokers", config.kafka.brokers);
  }
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

}  // namespace outbox::relay
