#include "parking.hpp"

#include <pqxx/binarystring>
#include <pqxx/result>

#include "outbox/migrations.hpp"
#include "sql_text.hpp"

namespace outbox::sdk::detail {
namespace {

constexpr const char* kRowColumns =
    "id, kafka_offset, record_key, value, headers, timestamp_ms, event_id, attempts, permanent, "
    "dead_lettered_at IS NOT NULL, next_attempt_at <= now(), coalesce(release, ''), coalesce(last_error, ''), "
    "(extract(epoch FROM clock_timestamp() - parked_at) * 1000000)::bigint";

std::string Bytes(const pqxx::field& f) { return f.is_null() ? std::string() : pqxx::binarystring(f).str(); }

}  // namespace

ParkedTable::ParkedTable(const std::string& schema, std::string consumer)
    : table_(QuoteIdentifier(schema, "consumer.schema") + ".consumer_parked"), consumer_(std::move(consumer)) {}

std::set<KeyRef> ParkedTable::HeldKeys(pqxx::transaction_base& tx, const std::vector<const Record*>& records) const {
  std::set<std::string> keys_hex;
  for (const Record* r : records) {
    if (!r->key_is_null) keys_hex.insert(ToHex(r->key));
  }
  std::set<KeyRef> held;
  if (keys_hex.empty()) return held;
  const auto rows =
      tx.exec_params("SELECT DISTINCT topic, kafka_partition, encode(record_key, 'hex') FROM " + table_ +
                         " WHERE consumer = $1 AND holds AND record_key IS NOT NULL"
                         " AND key_group = ANY(ARRAY(SELECT md5(decode(k, 'hex')) FROM unnest($2::text[]) k))",
                     consumer_, TextArray({keys_hex.begin(), keys_hex.end()}));
  for (const auto& row : rows) {
    held.emplace(row[0].as<std::string>(), row[1].as<int32_t>(), FromHex(row[2].as<std::string>()));
  }
  return held;
}

void ParkedTable::Park(pqxx::transaction_base& tx, const Record& r, const std::string& event_id,
                       const ParkInfo& info) const {
  const pqxx::binarystring key(r.key), value(r.value), headers(EncodeHeaders(r.headers));
  tx.exec_params("INSERT INTO " + table_ +
                     " (consumer, topic, kafka_partition, kafka_offset, record_key, value, headers, timestamp_ms,"
                     " event_id, attempts, permanent, last_error, next_attempt_at)"
                     " VALUES ($1, $2, $3, $4, CASE WHEN $14 THEN NULL ELSE $5::bytea END,"
                     " CASE WHEN $15 THEN NULL ELSE $6::bytea END, $7, $8, $9, $10, $11, nullif($12, ''),"
                     " now() + $13 * interval '1 millisecond')"
                     " ON CONFLICT (consumer, topic, kafka_partition, kafka_offset) DO NOTHING",
                 consumer_, r.topic, r.partition, r.offset, key, value, headers, r.timestamp_ms, event_id,
                 info.attempts, info.permanent, StorableText(info.error), static_cast<long long>(info.retry_in.count()),
                 r.key_is_null, r.value_is_null);
}

std::vector<ParkedTable::Head> ParkedTable::Heads(pqxx::transaction_base& tx) const {
  const auto rows = tx.exec_params(
      "SELECT DISTINCT ON (topic, kafka_partition, key_group) topic, kafka_partition, key_group,"
      " dead_lettered_at IS NOT NULL, release IS NOT NULL, attempts, permanent,"
      " (extract(epoch FROM next_attempt_at - now()) * 1000)::bigint FROM " +
          table_ + " WHERE consumer = $1 AND (holds OR release IS NOT NULL)" +
          " ORDER BY topic, kafka_partition, key_group, kafka_offset",
      consumer_);
  std::vector<Head> heads;
  for (const auto& row : rows) {
    Head h;
    h.topic = row[0].as<std::string>();
    h.partition = row[1].as<int32_t>();
    h.key_group = row[2].as<std::string>();
    h.dead = row[3].as<bool>();
    h.release = row[4].as<bool>();
    h.attempts = row[5].as<int>();
    h.permanent = row[6].as<bool>();
    h.due_in = std::chrono::milliseconds(row[7].as<long long>());
    heads.push_back(std::move(h));
  }
  return heads;
}

std::vector<ParkedTable::Row> ParkedTable::LockGroup(pqxx::transaction_base& tx, const std::string& topic,
                                                     int32_t partition, const std::string& key_group, int limit) const {
  const auto rows = tx.exec_params(std::string("SELECT ") + kRowColumns + " FROM " + table_ +
                                       " WHERE consumer = $1 AND topic = $2 AND kafka_partition = $3"
                                       " AND key_group = $4 AND (holds OR release IS NOT NULL)"
                                       " ORDER BY kafka_offset LIMIT $5 FOR UPDATE",
                                   consumer_, topic, partition, key_group, limit);
  std::vector<Row> out;
  for (const auto& row : rows) {
    Row p;
    p.id = row[0].as<int64_t>();
    p.record.topic = topic;
    p.record.partition = partition;
    p.record.offset = row[1].as<int64_t>();
    p.record.key_is_null = row[2].is_null();
    p.record.key = Bytes(row[2]);
    p.record.value_is_null = row[3].is_null();
    p.record.value = Bytes(row[3]);
    p.record.headers = DecodeHeaders(Bytes(row[4]));
    p.record.timestamp_ms = row[5].as<int64_t>();
    p.event_id = row[6].as<std::string>();
    p.attempts = row[7].as<int>();
    p.permanent = row[8].as<bool>();
    p.dead = row[9].as<bool>();
    p.due = row[10].as<bool>();
    p.release = row[11].as<std::string>();
    p.error = row[12].as<std::string>();
    p.parked_for = std::chrono::microseconds(row[13].as<long long>());
    out.push_back(std::move(p));
  }
  return out;
}

void ParkedTable::Delete(pqxx::transaction_base& tx, int64_t id) const {
  tx.exec_params("DELETE FROM " + table_ + " WHERE id = $1", id);
}

void ParkedTable::RecordFailure(pqxx::transaction_base& tx, int64_t id, int attempts, const std::string& error,
                                std::chrono::milliseconds retry_in) const {
  tx.exec_params("UPDATE " + table_ +
                     " SET attempts = $2, last_error = $3, release = NULL,"
                     " next_attempt_at = now() + $4 * interval '1 millisecond' WHERE id = $1",
                 id, attempts, StorableText(error), static_cast<long long>(retry_in.count()));
}

void ParkedTable::ResetForRetry(pqxx::transaction_base& tx, int64_t id) const {
  tx.exec_params("UPDATE " + table_ +
                     " SET attempts = 0, permanent = false, dead_lettered_at = NULL, holds = true, release = NULL,"
                     " next_attempt_at = now() WHERE id = $1",
                 id);
}

void ParkedTable::MarkDead(pqxx::transaction_base& tx, int64_t id, bool holds) const {
  tx.exec_params("UPDATE " + table_ + " SET dead_lettered_at = now(), holds = $2, release = NULL WHERE id = $1", id,
                 holds);
}

std::pair<int64_t, int64_t> ParkedTable::Depth(pqxx::transaction_base& tx) const {
  const auto row = tx.exec_params1(
      "SELECT count(*) FILTER (WHERE dead_lettered_at IS NOT NULL), count(*) FROM " + table_ + " WHERE consumer = $1",
      consumer_);
  return {row[0].as<int64_t>(), row[1].as<int64_t>()};
}

}  // namespace outbox::sdk::detail
