#include "cli/dlq.hpp"

#include <algorithm>
#include <cstdio>

#include <pqxx/except>
#include <pqxx/nontransaction>

#include "cli/cli.hpp"
#include "cli/command_error.hpp"
#include "config/config.hpp"
#include "outbox/migrations.hpp"
#include "pg/dead_letter.hpp"
#include "pg/outbox_sql.hpp"
#include "pg/pg_connect.hpp"

namespace outbox::relay {
namespace {

/// The dead-letter table and the outbox table must exist: say so instead of a raw Postgres error.
void RequireTables(const OutboxConfig& o, pqxx::connection_base& conn) {
  pqxx::nontransaction tx(conn);
  for (const auto& [schema, table] : {std::pair<std::string, std::string>{o.RelaySchema(), "dead_letter"},
                                      std::pair<std::string, std::string>{o.schema, o.table}}) {
    const std::string quoted = sdk::QuoteIdentifier(schema) + "." + sdk::QuoteIdentifier(table);
    if (tx.exec_params1("SELECT to_regclass($1) IS NULL", quoted)[0].as<bool>()) {
      throw CommandError("there is no table " + schema + "." + table +
                             "; Hint: run `outbox-relay migrate`, or check outbox.schema, outbox.table and "
                             "outbox.relay_schema",
                         kExitRuntime);
    }
  }
}

}  // namespace

int DlqCommand(const Config& config, const std::string& action, const std::string& event_id) {
  auto conn = PgConnect(config.postgres, "dlq");
  RequireTables(config.outbox, *conn);
  DeadLetterStore store(config.outbox, OutboxSql::Build(config.outbox, *conn));
  if (action == "list") {
    const auto entries = store.List(*conn);
    std::printf("%-8s %-36s %-24s %-20s %-8s %-20s %s\n", "SEQ", "EVENT ID", "AGGREGATE", "EVENT TYPE", "ATTEMPTS",
                "FAILED AT", "REASON");
    for (const auto& e : entries) {
      std::printf("%-8lld %-36s %-24s %-20s %-8d %-20s %s\n", static_cast<long long>(e.seq), e.id.c_str(),
                  (e.aggregate_type + "/" + e.aggregate_id).c_str(), e.event_type.c_str(), e.attempts,
                  e.failed_at.c_str(), e.reason.c_str());
    }
    std::printf("%zu dead-lettered event(s)\n", entries.size());
    return kExitOk;
  }
  std::string id = event_id;
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::tolower(c); });
  bool done = false;
  if (action == "requeue") {
    try {
      done = store.Requeue(*conn, id);
    } catch (const pqxx::unique_violation&) {
      // The transaction rolled back: the dead-lettered copy is still there.
      throw CommandError("event " + id + " is already in the outbox table " + config.outbox.schema + "." +
                             config.outbox.table +
                             " (a row with its id or seq exists), so it was not requeued and stays dead-lettered; "
                             "Hint: if that row is the same event, `outbox-relay dlq skip " +
                             id + "` drops the dead-lettered copy",
                         kExitRuntime);
    }
  } else {
    done = store.Skip(*conn, id);
  }
  if (!done) throw CommandError("no dead-lettered event with id " + id + "; see `outbox-relay dlq list`", kExitRuntime);
  std::printf(action == "requeue" ? "requeued %s: it is published again, before the events held behind it\n"
                                  : "skipped %s: it is dropped; events held behind it are published now\n",
              id.c_str());
  return kExitOk;
}

}  // namespace outbox::relay
