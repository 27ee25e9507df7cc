#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/connection_base>

#include "outbox/identifier.hpp"  // QuoteIdentifier, for callers of earlier versions

namespace outbox::sdk {

/// Thrown when a migration cannot be applied or the recorded history does not
/// match the migrations this binary carries.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AppliedMigration {
  int version;
  std::string name;
};

/// Applies, in order and each in its own transaction, every migration of this
/// build not yet recorded in `<schema>.schema_migrations`. Safe to run from
/// several processes at once (advisory lock) and a no-op when up to date.
/// Returns the migrations it applied now.
std::vector<AppliedMigration> Migrate(pqxx::connection_base& conn, const std::string& schema = "outbox");

/// Highest migration version recorded in `schema`, or 0 when none.
int CurrentSchemaVersion(pqxx::connection_base& conn, const std::string& schema = "outbox");

/// Highest migration version this build carries.
int LatestSchemaVersion();

}  // namespace outbox::sdk
