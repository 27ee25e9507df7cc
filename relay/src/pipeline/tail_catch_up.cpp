#include "pipeline/tail_catch_up.hpp"

namespace outbox::relay {

std::vector<RowRef> ReplayedRows(const std::vector<OutboxRow>& rows) {
  std::vector<RowRef> out;
  for (const auto& r : rows) {
    if (r.replayed && r.in_table) out.push_back(RowRef{r.seq, r.table_oid});
  }
  return out;
}

std::vector<uint64_t> DropAcknowledged(std::vector<OutboxRow>& rows, const std::unordered_set<int64_t>& live) {
  std::vector<uint64_t> done;
  size_t kept = 0;
  for (auto& r : rows) {
    if (r.replayed && r.in_table && live.count(r.seq) == 0) {
      done.push_back(r.txn);
    } else {
      if (&rows[kept] != &r) rows[kept] = std::move(r);
      ++kept;
    }
  }
  rows.resize(kept);
  return done;
}

}  // namespace outbox::relay
