#include "pipeline/ack_batcher.hpp"

#include <spdlog/spdlog.h>
#include <pqxx/except>

#include "pipeline/stats.hpp"
#include "util/clock.hpp"
#include "util/text.hpp"

namespace outbox::relay {

void AckBatcher::Add(DeliveryToken token, Clock::time_point now) {
  if (pending_.empty()) first_ = now;
  pending_.push_back(token);
}

bool AckBatcher::Flush(Clock::time_point now, bool force, InFlightWindow& window, AckStore& store, Source& source,
                       RelayStats& stats) {
  if (pending_.empty()) return true;
  if (!store.connected()) return false;
  if (!force && pending_.size() < batch_size_ && now < due()) return true;
  std::vector<RowRef> rows;  // WAL-message events (tail mode) have no row
  rows.reserve(pending_.size());
  for (DeliveryToken t : pending_) {
    const InFlightWindow::Entry* e = window.Find(t);
    if (e != nullptr && e->row.in_table && !e->behind_failure) rows.push_back(RowRef{e->row.seq, e->row.table_oid});
  }
  try {
    if (!rows.empty()) store.Ack(rows);
  } catch (const pqxx::broken_connection& e) {
    spdlog::warn("postgres: ack connection lost ({}); {} confirmed events wait to be acknowledged", OneLine(e.what()),
                 pending_.size());
    store.Disconnect();
    return false;
  } catch (const std::exception& e) {
    spdlog::error("postgres: acknowledging {} events failed: {}; retrying", pending_.size(), OneLine(e.what()));
    return false;
  }
  std::vector<uint64_t> txns;
  txns.reserve(pending_.size());
  for (DeliveryToken t : pending_) {
    if (InFlightWindow::Entry* e = window.Find(t)) {
      if (!e->behind_failure) txns.push_back(e->row.txn);
      window.Release(*e);
    }
  }
  source.Released(txns);
  stats.acked += txns.size();
  stats.last_ack_unix_ms = UnixMillis();
  pending_.clear();
  return true;
}

}  // namespace outbox::relay
