#pragma once

#include <string>
#include <vector>

#include <pqxx/connection_base>

namespace outbox::relay {

struct OutboxConfig;
struct OutboxRow;

/// SQL text for one outbox table, built once from the configuration with every
/// identifier validated and quoted (never spliced raw).
struct OutboxSql {
  std::string table;         ///< "schema"."table"
  std::string select_list;   ///< the columns of an OutboxRow, in ReadRow() order
  std::string seq;           ///< quoted seq column
  std::string unpublished;   ///< " AND published_at IS NULL" in mark mode, else ""
  std::string payload;       ///< the payload as bytea (converted from text/json types)
  std::string payload_type;  ///< the payload column's SQL type, e.g. "bytea", "jsonb"

  static OutboxSql Build(const OutboxConfig& config, pqxx::connection_base& conn);
};

/// Decodes one result row laid out by OutboxSql::select_list, starting at column `first`.
OutboxRow ReadRow(const pqxx::row& row, int first);

/// "{1,2,3}": a Postgres array literal for a bigint[] parameter.
std::string BigintArray(const std::vector<int64_t>& values);

}  // namespace outbox::relay
