#pragma once
// store_offsets_in_postgres: <schema>.consumer_offsets holds the next offset
// per (group_id, topic, partition), written in the batch transaction.
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <pqxx/transaction_base>

namespace outbox::sdk::detail {

using Partition = std::pair<std::string, int32_t>;

class OffsetTable {
 public:
  OffsetTable(const std::string& schema, std::string group_id);

  /// Moves each partition's stored next offset forward to `next` (never back:
  /// a consumer that lost its partition must not rewind its successor).
  void Store(pqxx::transaction_base& tx, const std::map<Partition, int64_t>& next) const;
  /// Stored next offsets of this group.
  std::map<Partition, int64_t> Load(pqxx::transaction_base& tx) const;

 private:
  std::string table_;
  std::string group_id_;
};

}  // namespace outbox::sdk::detail
