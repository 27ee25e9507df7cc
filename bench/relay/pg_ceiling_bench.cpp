// pg-ceiling-bench: the Postgres ceiling. Claims and deletes the drain
// backlog with the relay's own statements and batch sizes, without Kafka: the
// poll statement of OutboxSql (read batch_size rows above the high-water
// mark, decoded with ReadRow) on one connection, and PgAckStore::Ack
// (ack_batch_size rows: a seq range when contiguous) on another, one after
// the other on one thread. `--ack any` acknowledges with the seq list
// statement only (the relay before range deletes), for the old ceiling.
//
//   pg-ceiling-bench --dsn DSN --events N [--batch 1000] [--ack-batch 1000] [--ack auto|any] [--json FILE]
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "bench_env.hpp"
#include "config/config.hpp"
#include "fixtures.hpp"
#include "pg/ack_store.hpp"
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

  const bool any_only = flags.Str("ack") == "any";
  if (!any_only && flags.Str("ack") != "auto") throw std::invalid_argument("--ack: auto or any");
  auto poll = relay::PgConnect(config.postgres, "poll");
  const relay::OutboxSql sql = relay::OutboxSql::Build(config.outbox, *poll);
  poll->prepare("outbox_poll", sql.poll);
  relay::PgAckStore store(config);
  store.Connect();
  auto any = relay::PgConnect(config.postgres, "ack");
  any->prepare("outbox_ack", sql.ack);
  uint32_t oid = 0;
  const auto acknowledge = [&](const std::vector<int64_t>& seqs) {
    if (any_only) {
      pqxx::nontransaction(*any).exec_prepared("outbox_ack", relay::BigintArray(seqs), static_cast<int64_t>(oid));
      return;
    }
    std::vector<relay::RowRef> rows;
    for (int64_t seq : seqs) rows.push_back(relay::RowRef{seq, oid});
    store.Ack(rows);
  };

  const double cpu0 = SelfCpuSeconds();
  const double start = Now();
  int64_t after = 0;
  long claimed = 0, deleted = 0, polls = 0;
  std::vector<int64_t> pending;
  for (long guard = 0; guard <= events / batch + 2; ++guard) {
    pqxx::result res;
    {
      pqxx::nontransaction tx(*poll);
      res = tx.exec_prepared("outbox_poll", after, relay::BigintArray({}), relay::BigintArray({}),
                             static_cast<int64_t>(batch));
    }
    ++polls;
    if (res[0][2].is_null()) break;
    for (const auto& r : res) {
      const relay::OutboxRow row = relay::ReadRow(r, 2);
      after = row.seq;
      oid = row.table_oid;
      pending.push_back(row.seq);
    }
    claimed += static_cast<long>(res.size());
    for (int round = 0; round < 1000 && pending.size() >= static_cast<size_t>(ack_batch); ++round) {
      std::vector<int64_t> chunk(pending.begin(), pending.begin() + ack_batch);
      pending.erase(pending.begin(), pending.begin() + ack_batch);
      acknowledge(chunk);
      deleted += static_cast<long>(chunk.size());
    }
  }
  if (!pending.empty()) {
    acknowledge(pending);
    deleted += static_cast<long>(pending.size());
  }
  const double secs = Now() - start;
  const double cpu = SelfCpuSeconds() - cpu0;
  pqxx::nontransaction(*setup).exec("DROP SCHEMA IF EXISTS " + config.outbox.schema + " CASCADE");
  if (claimed != events || deleted != events) {
    throw std::runtime_error("claimed " + std::to_string(claimed) + ", deleted " + std::to_string(deleted) + " of " +
                             std::to_string(events));
  }
  std::printf("pg ceiling    %8ld events: %6.2f s  %9.0f events/s  client cpu %.2f s  polls %ld  ack %s  load %.2f\n",
              events, secs, events / secs, cpu, polls, any_only ? "any" : "auto", load);
  // The relay's SQL is the ceiling; the seq list statement alone is recorded apart.
  nlohmann::json j = {{"kind", any_only ? "pg_ceiling_any" : "pg_ceiling"},
                      {"events", events},
                      {"load_avg_1m_at_start", load},
                      {"prefill_seconds", prefill_s},
                      {"seconds", secs},
                      {"events_per_s", events / secs},
                      {"client_cpu_s", cpu},
                      {"batch", batch},
                      {"ack_batch", ack_batch},
                      {"ack", any_only ? "any" : "auto"}};
  if (flags.Str("json") != "-") AppendJsonLine(flags.Str("json"), j);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags(
      "pg-ceiling-bench",
      {{"dsn", ""}, {"events", "100000"}, {"batch", "1000"}, {"ack-batch", "1000"}, {"ack", "auto"}, {"json", "-"}});
  try {
    flags.Parse(argc, argv);
    return Run(flags);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::fprintf(stderr, "pg-ceiling-bench: %s\n", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
