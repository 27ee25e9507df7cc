#include "pg/slot_setup.hpp"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include "config/config.hpp"
#include "outbox/identifier.hpp"
#include "pg/pg_connect.hpp"
#include "util/text.hpp"

namespace outbox::relay {

std::string TailPrerequisiteProblem(const std::string& wal_level, const std::string& role, bool can_replicate) {
  if (wal_level != "logical") {
    return "source.mode = \"tail\" needs wal_level = logical, but the server runs with wal_level = " + wal_level +
           "; Hint: set wal_level = logical in postgresql.conf and restart PostgreSQL, or use source.mode = \"poll\"";
  }
  if (!can_replicate) {
    return "source.mode = \"tail\" needs a role with the REPLICATION attribute, but role '" + role +
           "' lacks it; Hint: ALTER ROLE " + role + " REPLICATION (as a superuser), or use source.mode = \"poll\"";
  }
  return "";
}

bool PrepareSlot(const Config& config) {
  auto conn = PgConnect(config.postgres, "tail-setup");
  pqxx::nontransaction tx(*conn);
  const auto pre = tx.exec1(
      "SELECT current_setting('wal_level'), current_user::text, "
      "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)");
  const std::string problem =
      TailPrerequisiteProblem(pre[0].as<std::string>(), pre[1].as<std::string>(), pre[2].as<bool>(false));
  if (!problem.empty()) throw ConfigError(problem);
  const std::string& pub = config.source.publication_name;
  const std::string& slot = config.source.slot_name;
  const std::string table = sdk::QuoteIdentifier(config.outbox.schema, "outbox.schema") + "." +
                            sdk::QuoteIdentifier(config.outbox.table, "outbox.table");
  // The publication must exist before the slot: pgoutput reads it as of each
  // decoded change, and a change older than the publication fails to decode.
  if (tx.exec_params("SELECT 1 FROM pg_publication WHERE pubname = $1", pub).empty()) {
    try {
      tx.exec("CREATE PUBLICATION " + sdk::QuoteIdentifier(pub, "source.publication_name") + " FOR TABLE " + table +
              " WITH (publish = 'insert')");
      spdlog::info("tail: created publication {} for {} (inserts only)", pub, table);
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "42710") {  // duplicate_object: another relay was faster
        throw ConfigError("source.publication_name: cannot create publication '" + pub + "': " + OneLine(e.what()) +
                          "; Hint: create it as the table's owner: CREATE PUBLICATION " + pub + " FOR TABLE " + table +
                          " WITH (publish = 'insert')");
      }
    }
  }
  if (tx.exec_params("SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
                     pub, config.outbox.schema, config.outbox.table)
          .empty()) {
    throw ConfigError("source.publication_name: publication '" + pub + "' does not publish " + table +
                      "; Hint: ALTER PUBLICATION " + pub + " ADD TABLE " + table + ", or choose another name");
  }
  // A slot another session is still creating has no consistent point yet
  // (confirmed_flush_lsn is NULL): pg_create_logical_replication_slot waits
  // for the transactions open when it began, also for a relay killed during
  // it. Its stream will hold only what commits after that point, which may
  // come long after a catch-up read now: rows committed in between would be
  // in neither. So the catch-up waits until the slot has its point.
  for (bool logged = false;; std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
    const auto existing = tx.exec_params(
        "SELECT plugin::text, slot_type, database::text = current_database(), confirmed_flush_lsn IS NULL, "
        "coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = $1",
        slot);
    if (existing.empty()) break;
    if (existing[0][0].as<std::string>("") != "pgoutput" || !existing[0][2].as<bool>(false)) {
      throw ConfigError("source.slot_name: replication slot '" + slot +
                        "' exists but is not a pgoutput slot of this database; Hint: choose another slot_name, or "
                        "drop that slot if it is unused");
    }
    if (!existing[0][3].as<bool>(false)) return false;
    if (!logged) {
      spdlog::warn(
          "tail: replication slot {} is still being created by server process {} (it waits for the transactions "
          "open when its creation began); catching up once it has its start position",
          slot, existing[0][4].as<int64_t>(0));
      logged = true;
    }
  }
  try {
    const auto created =
        tx.exec_params1("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", slot);
    spdlog::warn("tail: created replication slot {} at {}; rows already in the outbox are published by polling first",
                 slot, created[0].as<std::string>());
    return true;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != "42710") {
      throw ConfigError("source.slot_name: cannot create replication slot '" + slot + "': " + OneLine(e.what()));
    }
    return false;
  }
}

}  // namespace outbox::relay
