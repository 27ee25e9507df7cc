#include "hostile_rows.hpp"

#include <gtest/gtest.h>

namespace outbox::test::fault {

const char* Name(Poison p) {
  switch (p) {
    case Poison::kOversized:
      return "oversized";
    case Poison::kInvalidTopic:
      return "invalid-topic";
    case Poison::kMissingTopic:
      return "missing-topic";
    case Poison::kReservedHeaders:
      return "reserved-headers";
  }
  return "?";
}

HostileRows::HostileRows(const std::string& dsn, const std::string& schema, relay::Config config)
    : schema_("\"" + schema + "\""), config_(std::move(config)), conn_(dsn) {}

RawEvent HostileRows::Write(Poison kind, const std::string& aggregate, const std::string& missing_topic) {
  RawEvent e;
  e.kind = kind;
  e.aggregate = aggregate;
  // 300,000 bytes: over the scenario topic's max.message.bytes (262,144), under the producer's message.max.bytes.
  std::string payload = kind == Poison::kOversized ? "convert_to(repeat('x', 300000), 'UTF8')" : "'\\x68'::bytea";
  if (kind == Poison::kInvalidTopic) e.topic = "bad topic!";
  if (kind == Poison::kMissingTopic) e.topic = missing_topic;
  const std::string headers =
      kind == Poison::kReservedHeaders
          ? R"({"event_id": "spoofed", "aggregate_id": "spoofed", "aggregate_type": "spoofed", "trace": "t"})"
          : "{}";
  pqxx::work tx(conn_);
  e.version =
      tx.exec_params1("UPDATE " + schema_ + ".accounts SET version = version + 1 WHERE id = $1 RETURNING version",
                      aggregate)[0]
          .as<int>();
  const auto row = tx.exec_params1("INSERT INTO " + schema_ +
                                       ".outbox (aggregate_type, aggregate_id, event_type, payload, topic, headers) "
                                       "VALUES ('account', $1, 'Hostile', " +
                                       payload + ", NULLIF($2, ''), $3::jsonb) RETURNING id::text, seq",
                                   aggregate, e.topic, headers);
  e.id = row[0].as<std::string>();
  e.seq = row[1].as<int64_t>();
  tx.exec_params("INSERT INTO " + schema_ + ".ledger (event_id, aggregate, version, idx) VALUES ($1::uuid, $2, $3, 0)",
                 e.id, aggregate, e.version);
  tx.commit();
  written_.push_back({e.id, aggregate});
  return e;
}

int64_t HostileRows::DeadLetters(const std::string& where) {
  pqxx::nontransaction tx(conn_);
  return tx.exec1("SELECT count(*) FROM " + schema_ + ".dead_letter WHERE " + where)[0].as<int64_t>();
}

int64_t HostileRows::HeldBehind(const RawEvent& head) {
  pqxx::work tx(conn_);
  tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
  const auto r = tx.exec_params1("SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM " + schema_ +
                                     ".outbox o WHERE o.id = l.event_id) OR EXISTS (SELECT 1 FROM " + schema_ +
                                     ".dead_letter d WHERE d.id = l.event_id)) FROM " + schema_ +
                                     ".ledger l WHERE l.aggregate = $1 AND l.version > $2",
                                 head.aggregate, head.version);
  tx.commit();
  const auto behind = r[0].as<int64_t>();
  return r[1].as<int64_t>() == behind ? behind : -1;
}

int64_t HostileRows::MaxSeq() {
  pqxx::nontransaction tx(conn_);
  return tx.exec1("SELECT coalesce(max(seq), 0) FROM " + schema_ + ".outbox")[0].as<int64_t>();
}

int64_t HostileRows::RowsUpTo(const RawEvent& e, int64_t seq) {
  pqxx::nontransaction tx(conn_);
  return tx
      .exec_params1("SELECT count(*) FROM " + schema_ +
                        ".outbox WHERE aggregate_type = 'account' AND aggregate_id = $1 AND seq <= $2",
                    e.aggregate, seq)[0]
      .as<int64_t>();
}

void HostileRows::Fix(const RawEvent& e) {
  pqxx::work tx(conn_);
  if (e.kind == Poison::kOversized) {
    tx.exec_params("UPDATE " + schema_ + ".dead_letter SET payload = convert_to('fixed', 'UTF8') WHERE id::text = $1",
                   e.id);
  }
  if (e.kind == Poison::kInvalidTopic) {
    tx.exec_params("UPDATE " + schema_ + ".dead_letter SET topic = NULL WHERE id::text = $1", e.id);
  }
  tx.commit();
}

void HostileRows::Dlq(const std::string& action, const RawEvent& e) {
  const CommandResult r = RunRelay(config_, {"dlq", action, e.id});
  EXPECT_EQ(r.exit_code, 0) << "dlq " << action << " " << e.id << ": " << r.out << r.err;
}

}  // namespace outbox::test::fault
