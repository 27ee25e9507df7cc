#include "pg_offsets.hpp"

#include <vector>

#include <pqxx/result>

#include "outbox/migrations.hpp"
#include "sql_text.hpp"

namespace outbox::sdk::detail {

OffsetTable::OffsetTable(const std::string& schema, std::string group_id)
    : table_(QuoteIdentifier(schema, "consumer.schema") + ".consumer_offsets"), group_id_(std::move(group_id)) {}

void OffsetTable::Store(pqxx::transaction_base& tx, const std::map<Partition, int64_t>& next) const {
  if (next.empty()) return;
  std::vector<std::string> topics;
  std::vector<int64_t> partitions, offsets;
  for (const auto& [tp, offset] : next) {
    topics.push_back(tp.first);
    partitions.push_back(tp.second);
    offsets.push_back(offset);
  }
  tx.exec_params("INSERT INTO " + table_ +
                     " AS o (group_id, topic, kafka_partition, next_offset)"
                     " SELECT $1, t, p, n FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)"
                     " ON CONFLICT (group_id, topic, kafka_partition) DO UPDATE"
                     " SET next_offset = greatest(o.next_offset, EXCLUDED.next_offset), updated_at = now()",
                 group_id_, TextArray(topics), IntArray(partitions), IntArray(offsets));
}

std::map<Partition, int64_t> OffsetTable::Load(pqxx::transaction_base& tx) const {
  std::map<Partition, int64_t> out;
  for (const auto& row : tx.exec_params(
           "SELECT topic, kafka_partition, next_offset FROM " + table_ + " WHERE group_id = $1", group_id_)) {
    out[{row[0].as<std::string>(), row[1].as<int32_t>()}] = row[2].as<int64_t>();
  }
  return out;
}

}  // namespace outbox::sdk::detail
