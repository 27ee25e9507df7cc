#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg/outbox_row.hpp"
#include "pg/pgoutput.hpp"

namespace outbox::relay {

struct OutboxConfig;

/// Turns an outbox row inserted into the WAL (pgoutput text format) into the
/// same OutboxRow the poll source reads with OutboxSql::select_list, so both
/// modes publish identical records.
class TailRowMapper {
 public:
  explicit TailRowMapper(const OutboxConfig& config);

  /// True if `rel` is the configured outbox table.
  bool IsOutbox(const PgRelation& rel) const;

  /// Maps one inserted tuple of the outbox table. Throws std::runtime_error
  /// when a configured column is missing from the relation.
  OutboxRow Map(const PgRelation& rel, const std::vector<std::optional<std::string>>& values) const;

 private:
  const OutboxConfig& config_;
};

/// A timestamp's ISO text output in UTC ("2024-05-01 10:00:00.5+00") as
/// RFC 3339 with microseconds ("2024-05-01T10:00:00.500000Z") and Unix seconds.
/// Returns false if the text is not in that form.
bool NormalizeTimestamp(const std::string& text, std::string* rfc3339, double* epoch);

}  // namespace outbox::relay
