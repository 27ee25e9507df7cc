#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/connection_base>

#include "check/check_report.hpp"
#include "pg/outbox_sql.hpp"
#include "pipeline/routing.hpp"

namespace outbox::relay {

struct Config;

/// The Postgres side of `outbox-relay check`: the outbox rows (mark mode keeps them
/// with published_at) and <schema>.dead_letter when that table exists. Topics are
/// derived with the relay's own Router, so the checker reads what the relay wrote.
class CheckRowReader {
 public:
  CheckRowReader(const Config& config, pqxx::connection_base& conn);

  /// The database's clock, Unix seconds.
  double Now();

  /// The topics of the events created at or after `since` (nullopt: all events).
  std::vector<std::string> Topics(std::optional<double> since);

  /// Every event created at or after `since`, read in one snapshot: outbox rows into
  /// `rows`, dead letters into `dead_letters`. Returns the database's time at its start.
  double Read(std::optional<double> since, std::vector<CheckRow>& rows, std::vector<CheckRow>& dead_letters);

  /// Whether <schema>.dead_letter exists (checked once, by the constructor).
  bool has_dead_letter() const { return !dead_letter_.empty(); }

 private:
  pqxx::connection_base& conn_;
  OutboxSql sql_;
  Router router_;
  std::string rows_select_;    // the outbox columns the check needs
  std::string topic_columns_;  // aggregate type and topic override, as text
  std::string dead_letter_;    // "schema".dead_letter, "" when absent
  std::string created_at_;     // the quoted created_at column, "" when unmapped
};

}  // namespace outbox::relay
