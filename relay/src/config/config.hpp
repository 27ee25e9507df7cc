#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace outbox::relay {

/// A configuration error. what() is one line naming the key and how to fix it,
/// e.g. "source.batch_size: must be between 1 and 100000, got 0".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Column names of the outbox table; defaults match migrations/0001_outbox.sql.
/// Remap them to run against an existing (e.g. Debezium-style) table.
struct ColumnNames {
  std::string seq = "seq";  ///< ordering/progress column (bigint, DEFAULT <schema>.outbox_next_seq())
  std::string id = "id";    ///< event id (uuid), the consumers' dedup key
  std::string aggregate_type = "aggregate_type";
  std::string aggregate_id = "aggregate_id";  ///< Kafka record key
  std::string event_type = "event_type";      ///< "" = column absent
  std::string payload = "payload";
  std::string headers = "headers";            ///< jsonb object; "" = column absent
  std::string topic = "topic";                ///< per-row topic override; "" = column absent
  std::string created_at = "created_at";      ///< "" = column absent
  std::string published_at = "published_at";  ///< needed only for cleanup = "mark"
  std::string attempts = "attempts";  ///< permanent rejections so far (integer); "" or missing in the table = not kept
};

enum class Cleanup { kDelete, kMark };
enum class SourceMode { kPoll, kTail };
enum class LogFormat { kText, kJson };
/// kafka.headers_format: the relay's own headers only, or the CloudEvents
/// Kafka binary-mode attributes (ce_*, content-type) next to them.
enum class HeadersFormat { kNative, kCloudEvents };
/// kafka.delivery: at-least-once (the idempotent producer; consumers dedup on
/// the event id) or exactly-once (Kafka transactions with a checkpoint).
enum class Delivery { kAtLeastOnce, kExactlyOnce };

struct PostgresConfig {
  std::string dsn;  ///< from postgres.dsn, postgres.dsn_file or OUTBOX_PG_DSN (env wins)
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds reconnect_backoff_max{10000};
  /// libpq's tcp_user_timeout, and the keepalives derived from it, on every
  /// session unless the DSN sets them: a half-open socket fails within this
  /// time instead of blocking the relay. 0 = the operating system's defaults.
  std::chrono::milliseconds tcp_user_timeout{30000};
  /// statement_timeout of the relay's sessions (not `migrate`'s); 0 = none.
  std::chrono::milliseconds statement_timeout{60000};
  /// How often the relay shows that its session still holds the table's lock.
  std::chrono::milliseconds lock_check_interval{5000};
  /// The lock session's idle_session_timeout: a relay that sends nothing on
  /// it for this long (stopped, hung, cut off) has its session ended by the
  /// server, which frees the lock for a standby. 0 = off. ParseConfig sets
  /// 2500 with kafka.delivery = "exactly_once" unless the file sets it.
  std::chrono::milliseconds lock_lease{0};
  bool lock_lease_set = false;  ///< the file set lock_lease_ms

  /// How often the lock session shows it holds the lock: often enough to keep a lease.
  std::chrono::milliseconds LockCheckInterval() const {
    return lock_lease.count() > 0 ? std::min(lock_check_interval, lock_lease / 4) : lock_check_interval;
  }
};

struct OutboxConfig {
  std::string schema = "outbox";
  std::string table = "outbox";
  ColumnNames columns;
  Cleanup cleanup = Cleanup::kDelete;
  std::chrono::seconds retention{7 * 24 * 3600};  ///< cleanup = "mark": published rows older than this are deleted
  std::string notify_channel;                     ///< "" = sdk::NotifyChannel(schema)
  /// Schema of the relay's own objects (schema_migrations, dead_letter, the
  /// outbox_next_seq() sequence); "" = `schema`. Set it when `table` is a
  /// mapped table of another schema (schema/README.md, Debezium-style table).
  std::string relay_schema;

  /// The schema of the relay's own objects: relay_schema, or schema.
  const std::string& RelaySchema() const { return relay_schema.empty() ? schema : relay_schema; }
  /// "schema.table": the outbox table's identity (e.g. in the dead-letter table).
  std::string TableName() const { return schema + "." + table; }
};

struct SourceConfig {
  SourceMode mode = SourceMode::kPoll;
  size_t batch_size = 1000;                       ///< rows claimed per poll
  std::chrono::milliseconds poll_interval{500};   ///< fallback when no NOTIFY arrives
  size_t max_in_flight = 20000;                   ///< events handed to Kafka but not yet acknowledged
  size_t ack_batch_size = 1000;                   ///< acknowledge in Postgres after this many confirmations...
  std::chrono::milliseconds ack_interval{20};     ///< ...or after this long, whichever comes first
  std::string slot_name = "outbox_relay";         ///< tail mode
  std::string publication_name = "outbox_relay";  ///< tail mode
  /// Tail mode: how often the relay reports its confirmed position to the server (keep well below wal_sender_timeout).
  std::chrono::milliseconds status_interval{1000};
};

struct KafkaConfig {
  std::string brokers;  ///< required
  std::string topic_template = "outbox.event.${aggregate_type}";
  /// librdkafka message.timeout.ms; 0 = infinite (the default). A finite value
  /// lets queued records expire while records behind them of the same key are
  /// written, which can reorder a key's events after a long outage.
  std::chrono::milliseconds delivery_timeout{0};
  std::map<std::string, std::string> properties;  ///< passed to librdkafka as is (validated there)
  HeadersFormat headers_format = HeadersFormat::kNative;
  /// ce_source with headers_format = cloudevents; ParseConfig fills in "/outbox-relay/<schema>.<table>".
  std::string cloudevents_source;
  /// The content-type header with headers_format = cloudevents; "" = none.
  std::string cloudevents_content_type = "application/json";

  Delivery delivery = Delivery::kAtLeastOnce;
  /// exactly_once: the producer's transactional.id. ParseConfig derives
  /// "outbox-relay.<database>.<schema>.<table>" when the file sets none.
  std::string transactional_id;
  /// exactly_once: the compacted topic holding each relay's checkpoint (keyed by transactional_id).
  std::string checkpoint_topic = "outbox-relay.checkpoints";
  /// exactly_once: a transaction commits once it holds this many events...
  size_t transaction_max_events = 10000;
  /// ...or once it has been open this long, whichever comes first.
  std::chrono::milliseconds transaction_interval{10};
  /// exactly_once: after a commit, the next transaction's first record waits
  /// this long, so the broker has written the last one's commit markers.
  /// Sooner, the coordinator answers CONCURRENT_TRANSACTIONS and librdkafka
  /// 2.0.2 tries again only after a fixed 20 ms, with every record of the new
  /// transaction held back meanwhile.
  std::chrono::milliseconds transaction_settle{3};

  bool exactly_once() const { return delivery == Delivery::kExactlyOnce; }
};

struct LogConfig {
  std::string level = "info";  ///< trace, debug, info, warn, error
  LogFormat format = LogFormat::kText;
  std::chrono::seconds progress_interval{10};  ///< one-line progress summary; 0 = off
};

struct ShutdownConfig {
  std::chrono::milliseconds drain_timeout{10000};  ///< SIGTERM: flush in-flight events within this deadline
};

struct DeadLetterConfig {
  uint32_t max_attempts = 3;  ///< permanent broker rejections before an event moves to <schema>.dead_letter
  bool hold_key = true;       ///< hold later events of a dead-lettered event's key (keeps its order)
};

struct HttpConfig {
  std::string listen;  ///< "host:port" for /metrics, /healthz, /readyz; "" = off
  /// /readyz fails when unpublished rows are older than this and nothing was acknowledged for this long.
  std::chrono::milliseconds ready_max_lag{60000};
};

struct Config {
  PostgresConfig postgres;
  OutboxConfig outbox;
  SourceConfig source;
  KafkaConfig kafka;
  LogConfig log;
  ShutdownConfig shutdown;
  DeadLetterConfig dead_letter;
  HttpConfig http;
};

/// Reads and validates a TOML file (reference: docs/configuration.md). Environment overrides:
/// OUTBOX_PG_DSN, OUTBOX_KAFKA_BROKERS, OUTBOX_KAFKA_SASL_PASSWORD, OUTBOX_HTTP_LISTEN (empty = unset); secrets may
/// also come from postgres.dsn_file and kafka.properties values of the form "file:/path" for
/// sasl.password, ssl.key.password, ssl.keystore.password and sasl.oauthbearer.client.secret.
/// The DSN is checked as libpq would check it when connecting (config_checks.hpp, DsnProblem).
/// Throws ConfigError with a one-line message "<path>: <key>: <reason>".
Config LoadConfig(const std::string& path);

/// Same as LoadConfig for TOML text already in memory (`origin` names it in errors).
Config ParseConfig(const std::string& toml_text, const std::string& origin = "config");

/// The DSN with any password replaced by "***", for logs.
std::string RedactDsn(const std::string& dsn);

}  // namespace outbox::relay
