// pg-ceiling-bench: the Postgres ceiling. Claims and deletes the drain
// backlog with the relay's own statements and batch sizes, without Kafka: the
// poll statement of relay/src/pg/poll_source.cpp (read batch_size rows above
// the high-water mark, decoded with ReadRow) on one connection and the DELETE
// ... = ANY of relay/src/pg/acknowledger.cpp (ack_batch_size rows) on another,
// one after the other on one thread, as the relay's pipeline thread does.
//
//   pg-ceiling-bench --dsn DSN --events N [--batch 1000] [--ack-batch 1000] [--json FILE]
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "bench_env.hpp"
#include "config/config.hpp"
#include "fixtures.hpp"
#include "pg/outbox_row.hpp"
#include "pg/outbox_sql.hpp"
#include "pg/pg_connect.hpp"

namespace {

using namespace outbox::bench;
namespace relay = outbox::relay;

int Run(const Flags& flags) {
  const long events = flags.Int("events");
  const auto batch = flags.Int("batch"), ack_batch = flags.Int("ack-batch");
  const double load = LoadAverage1();
  relay::Config config;
  config.postgres.dsn = flags.Str("dsn");
  config.outbox.schema = "bench_pg_" + std::to_string(events) + "_" + std::to_string(getpid());
  auto setup = relay::PgConnect(config.postgres, "bench");
  FreshSchema(*setup, config.outbox.schema);
  const double prefill_s = Prefill(*setup, config.outbox.schema, events);

  auto poll = relay::PgConnect(config.postgres, "poll");
  auto ack = relay::PgConnect(config.postgres, "ack");
  const relay::OutboxSql sql = relay::OutboxSql::Build(config.outbox, *poll);
  const std::string& s = sql.seq;
  // Verbatim from PollSource::Connect and Acknowledger::Connect (delete mode).
  poll->prepare("outbox_poll",
                "SELECT x.xmin, r.* FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text) AS x(xmin) "
                "LEFT JOIN LATERAL (SELECT * FROM ("
                "(SELECT " +
                    sql.select_list + " FROM " + sql.table + " WHERE " + s + " = ANY($2::bigint[])" + sql.unpublished +
                    ") UNION ALL (SELECT " + sql.select_list + " FROM " + sql.table + " WHERE " + s + " > $1" +
                    sql.unpublished + " ORDER BY " + s + " LIMIT $3)) AS u ORDER BY 1 LIMIT $3) AS r ON true");
  ack->prepare("outbox_ack", "DELETE FROM " + sql.table + " WHERE " + s + " = ANY($1::bigint[])");

  const double cpu0 = SelfCpuSeconds();
  const double start = Now();
  int64_t after = 0;
  long claimed = 0, deleted = 0, polls = 0;
  std::vector<int64_t> pending;
  for (long guard = 0; guard <= events / batch + 2; ++guard) {
    pqxx::result res;
    {
      pqxx::nontransaction tx(*poll);
      res = tx.exec_prepared("outbox_poll", after, relay::BigintArray({}), static_cast<int64_t>(batch));
    }
    ++polls;
    if (res[0][1].is_null()) break;
    for (const auto& r : res) {
      const relay::OutboxRow row = relay::ReadRow(r, 1);
      after = row.seq;
      pending.push_back(row.seq);
    }
    claimed += static_cast<long>(res.size());
    for (int round = 0; round < 1000 && pending.size() >= static_cast<size_t>(ack_batch); ++round) {
      std::vector<int64_t> chunk(pending.begin(), pending.begin() + ack_batch);
      pending.erase(pending.begin(), pending.begin() + ack_batch);
      pqxx::nontransaction(*ack).exec_prepared("outbox_ack", relay::BigintArray(chunk));
      deleted += static_cast<long>(chunk.size());
    }
  }
  if (!pending.empty()) {
    pqxx::nontransaction(*ack).exec_prepared("outbox_ack", relay::BigintArray(pending));
    deleted += static_cast<long>(pending.size());
  }
  const double secs = Now() - start;
  const double cpu = SelfCpuSeconds() - cpu0;
  pqxx::nontransaction(*setup).exec("DROP SCHEMA IF EXISTS " + config.outbox.schema + " CASCADE");
  if (claimed != events || deleted != events) {
    throw std::runtime_error("claimed " + std::to_string(claimed) + ", deleted " + std::to_string(deleted) + " of " +
                             std::to_string(events));
  }
  std::printf("pg ceiling    %8ld events: %6.2f s  %9.0f events/s  client cpu %.2f s  polls %ld  load %.2f\n", events,
              secs, events / secs, cpu, polls, load);
  nlohmann::json j = {{"kind", "pg_ceiling"},         {"events", events}, {"load_avg_1m_at_start", load},
                      {"prefill_seconds", prefill_s}, {"seconds", secs},  {"events_per_s", events / secs},
                      {"client_cpu_s", cpu},          {"batch", batch},   {"ack_batch", ack_batch}};
  if (flags.Str("json") != "-") AppendJsonLine(flags.Str("json"), j);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("pg-ceiling-bench",
              {{"dsn", ""}, {"events", "100000"}, {"batch", "1000"}, {"ack-batch", "1000"}, {"json", "-"}});
  try {
    flags.Parse(argc, argv);
    return Run(flags);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::fprintf(stderr, "pg-ceiling-bench: %s\n", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
