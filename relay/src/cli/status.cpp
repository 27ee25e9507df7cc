#include "cli/status.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include "check/check_time.hpp"
#include "cli/cli.hpp"
#include "config/config.hpp"
#include "kafka/checkpoint.hpp"
#include "outbox/migrations.hpp"
#include "pg/outbox_monitor.hpp"
#include "pg/outbox_sql.hpp"
#include "pg/pg_connect.hpp"
#include "util/text.hpp"

namespace outbox::relay {
namespace {

struct Status {
  std::string table;  // schema.table, unquoted, for people
  bool table_exists = false;
  int64_t backlog_rows = 0;
  std::optional<double> oldest_age_seconds;  // none: no unpublished row, or no created_at column
  std::string dead_letter_table;
  std::optional<int64_t> dead_letters;  // none: no dead-letter table
  int schema_version = 0;
  int latest_schema_version = 0;
  std::optional<int64_t> slot_retained_bytes;  // tail mode; none: poll mode or no such slot
  // kafka.delivery = "exactly_once": the relay's last committed checkpoint.
  std::optional<Checkpoint> checkpoint;
  std::string checkpoint_error;  // why it could not be read ("" when read, or at least once)
};

bool RelationExists(pqxx::connection_base& conn, const std::string& quoted_name) {
  pqxx::nontransaction tx(conn);
  return tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", quoted_name)[0].as<bool>();
}

Status Read(const Config& config, pqxx::connection_base& conn) {
  const OutboxConfig& o = config.outbox;
  Status s;
  s.table = o.schema + "." + o.table;
  s.dead_letter_table = o.RelaySchema() + ".dead_letter";
  s.schema_version = sdk::CurrentSchemaVersion(conn, o.RelaySchema());
  s.latest_schema_version = sdk::LatestSchemaVersion();
  const std::string schema = sdk::QuoteIdentifier(o.schema, "outbox.schema");
  s.table_exists = RelationExists(conn, schema + "." + sdk::QuoteIdentifier(o.table, "outbox.table"));
  if (s.table_exists) {
    OutboxMonitor monitor(conn, OutboxSql::Build(o, conn));
    s.backlog_rows = monitor.CountBacklog();
    s.oldest_age_seconds = monitor.OldestAgeSeconds();
    if (s.oldest_age_seconds && o.columns.created_at.empty()) s.oldest_age_seconds.reset();
    s.dead_letters = monitor.DeadLetters();
  }
  if (config.source.mode == SourceMode::kTail) {
    s.slot_retained_bytes = OutboxMonitor::SlotRetainedWal(conn, config.source.slot_name);
  }
  if (config.kafka.exactly_once()) {
    try {
      s.checkpoint = ReadCheckpoint(config.kafka, std::chrono::milliseconds(5000));
    } catch (const std::exception& e) {
      s.checkpoint_error = OneLine(e.what());
    }
  }
  return s;
}

std::string CheckpointText(const Config& config, const Status& s) {
  if (!config.kafka.exactly_once()) return "n/a (kafka.delivery = \"at_least_once\")";
  if (!s.checkpoint_error.empty()) return "unknown (" + s.checkpoint_error + ")";
  if (!s.checkpoint) return "none yet (" + config.kafka.transactional_id + " in " + config.kafka.checkpoint_topic + ")";
  return "transaction " + std::to_string(s.checkpoint->transaction) + " committed at " +
         FormatRfc3339(static_cast<double>(s.checkpoint->committed_unix_ms) / 1000.0) + " with " +
         std::to_string(s.checkpoint->rows.size()) + " rows not yet acknowledged then (" +
         config.kafka.transactional_id + " in " + config.kafka.checkpoint_topic + ")";
}

void PrintText(const Config& config, const Status& s) {
  const char* row = "%-24s %s\n";
  std::printf(row, "outbox table:", s.table.c_str());
  if (s.table_exists) {
    std::printf(row, "backlog rows:", std::to_string(s.backlog_rows).c_str());
  } else {
    std::printf(row, "backlog rows:", "n/a (no such table; run `outbox-relay migrate`)");
  }
  std::string age = "n/a (no unpublished rows)";
  if (s.oldest_age_seconds) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f s", *s.oldest_age_seconds);
    age = buf;
  } else if (s.table_exists && s.backlog_rows > 0) {
    age = "n/a (outbox.columns.created_at is \"\")";
  } else if (!s.table_exists) {
    age = "n/a";
  }
  std::printf(row, "oldest unpublished age:", age.c_str());
  const std::string dead =
      s.dead_letters ? std::to_string(*s.dead_letters) : "n/a (no table " + s.dead_letter_table + ")";
  std::printf(row, "dead-lettered events:", dead.c_str());
  std::string version = std::to_string(s.schema_version);
  if (s.schema_version < s.latest_schema_version) {
    version += " (this build carries " + std::to_string(s.latest_schema_version) + "; run `outbox-relay migrate`)";
  } else {
    version += " (latest)";
  }
  std::printf(row, "schema version:", version.c_str());
  std::string slot = "n/a (poll mode)";
  if (config.source.mode == SourceMode::kTail) {
    slot = s.slot_retained_bytes
               ? std::to_string(*s.slot_retained_bytes) + " bytes of WAL retained by slot " + config.source.slot_name
               : "n/a (no replication slot " + config.source.slot_name + " yet)";
  }
  std::printf(row, "slot lag:", slot.c_str());
  std::printf(row, "checkpoint:", CheckpointText(config, s).c_str());
}

void PrintJson(const Config& config, const Status& s) {
  nlohmann::json j;
  j["outbox_table"] = s.table;
  j["outbox_table_exists"] = s.table_exists;
  j["backlog_rows"] = s.table_exists ? nlohmann::json(s.backlog_rows) : nlohmann::json(nullptr);
  j["oldest_unpublished_age_seconds"] =
      s.oldest_age_seconds ? nlohmann::json(*s.oldest_age_seconds) : nlohmann::json(nullptr);
  j["dead_lettered_events"] = s.dead_letters ? nlohmann::json(*s.dead_letters) : nlohmann::json(nullptr);
  j["schema_version"] = s.schema_version;
  j["latest_schema_version"] = s.latest_schema_version;
  j["source_mode"] = config.source.mode == SourceMode::kPoll ? "poll" : "tail";
  j["slot_lag_bytes"] = s.slot_retained_bytes ? nlohmann::json(*s.slot_retained_bytes) : nlohmann::json(nullptr);
  j["delivery"] = config.kafka.exactly_once() ? "exactly_once" : "at_least_once";
  if (s.checkpoint) {
    j["checkpoint"] = {{"transactional_id", s.checkpoint->transactional_id},
                       {"transaction", s.checkpoint->transaction},
                       {"committed_at_ms", s.checkpoint->committed_unix_ms},
                       {"rows", s.checkpoint->rows.size()}};
  } else {
    j["checkpoint"] = nullptr;
  }
  if (!s.checkpoint_error.empty()) j["checkpoint_error"] = s.checkpoint_error;
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

int StatusCommand(const Config& config, bool json) {
  auto conn = PgConnect(config.postgres, "status");
  const Status s = Read(config, *conn);
  if (json) {
    PrintJson(config, s);
  } else {
    PrintText(config, s);
  }
  return kExitOk;
}

}  // namespace outbox::relay
