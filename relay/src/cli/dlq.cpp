#include "cli/dlq.hpp"

#include <algorithm>
#include <cstdio>

#include "cli/cli.hpp"
#include "config/config.hpp"
#include "pg/dead_letter.hpp"
#include "pg/outbox_sql.hpp"
#include "pg/pg_connect.hpp"

namespace outbox::relay {

int DlqCommand(const Config& config, const std::string& action, const std::string& event_id) {
  auto conn = PgConnect(config.postgres, "dlq");
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
  const bool done = action == "requeue" ? store.Requeue(*conn, id) : store.Skip(*conn, id);
  if (!done) {
    std::fprintf(stderr, "outbox-relay: dlq %s: no dead-lettered event with id %s\n", action.c_str(), id.c_str());
    return kExitRuntime;
  }
  std::printf(action == "requeue" ? "requeued %s: it is published again, before the events held behind it\n"
                                  : "skipped %s: it is dropped; events held behind it are published now\n",
              id.c_str());
  return kExitOk;
}

}  // namespace outbox::relay
