#include "outbox/migrations.hpp"

#include <algorithm>
#include <functional>

#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "embedded_migrations.hpp"

namespace outbox::sdk {
namespace {

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// 64-bit FNV-1a over the SQL text: detects an applied migration whose file was
// edited afterwards (migrations are append-only).
std::string Checksum(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

std::string QuoteIdentifier(const std::string& name, const std::string& what) {
  bool ok = !name.empty() && name.size() <= 48 && (std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_');
  for (char c : name) {
    ok = ok && (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_');
  }
  if (!ok) {
    throw InvalidIdentifier(what + " '" + name +
                            "' is not a plain SQL identifier; Hint: use lower-case letters, digits and '_', "
                            "starting with a letter or '_', at most 48 characters");
  }
  return "\"" + name + "\"";
}

std::string NotifyChannel(const std::string& schema) { return schema + "_outbox"; }

int LatestSchemaVersion() { return detail::EmbeddedMigrations().back().version; }

int CurrentSchemaVersion(pqxx::connection_base& conn, const std::string& schema) {
  const std::string q = QuoteIdentifier(schema, "schema");
  pqxx::nontransaction tx(conn);
  auto exists = tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", q + ".schema_migrations");
  if (!exists[0].as<bool>()) return 0;
  return tx.exec1("SELECT coalesce(max(version), 0) FROM " + q + ".schema_migrations")[0].as<int>();
}

std::vector<AppliedMigration> Migrate(pqxx::connection_base& conn, const std::string& schema) {
  const std::string q = QuoteIdentifier(schema, "schema");
  std::vector<AppliedMigration> applied;
  for (const auto& m : detail::EmbeddedMigrations()) {
    const std::string sql = ReplaceAll(ReplaceAll(m.sql, "@schema@", q), "@channel@", NotifyChannel(schema));
    pqxx::work tx(conn, "outbox-migrate");
    // Serialises concurrent migrators of the same schema for this transaction.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "outbox-migrate:" + schema);
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + q);
    tx.exec("CREATE TABLE IF NOT EXISTS " + q +
            ".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    auto row = tx.exec_params("SELECT name, checksum FROM " + q + ".schema_migrations WHERE version = $1", m.version);
    if (!row.empty()) {
      if (row[0][1].as<std::string>() != Checksum(m.sql)) {
        throw MigrationError("migration " + std::string(m.name) + " was applied to schema '" + schema +
                             "' with different SQL; Hint: migrations are append-only, add a new file instead");
      }
      continue;
    }
    try {
      tx.exec(sql);
    } catch (const pqxx::sql_error& e) {
      throw MigrationError("migration " + std::string(m.name) + " failed on schema '" + schema + "': " + e.what());
    }
    tx.exec_params("INSERT INTO " + q + ".schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", m.version,
                   std::string(m.name), Checksum(m.sql));
    tx.commit();
    applied.push_back({m.version, m.name});
  }
  return applied;
}

}  // namespace outbox::sdk
