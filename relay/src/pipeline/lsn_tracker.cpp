#include "pipeline/lsn_tracker.hpp"

#include <algorithm>
#include <stdexcept>

namespace outbox::relay {

void LsnTracker::Reset(Lsn confirmed) {
  first_ += txns_.size();  // indexes handed out before stay unknown
  txns_.clear();
  confirmed_ = confirmed;
}

uint64_t LsnTracker::Begin() {
  if (!txns_.empty() && !txns_.back().committed) throw std::logic_error("LsnTracker: BEGIN inside a transaction");
  txns_.push_back(Txn{});
  return first_ + txns_.size() - 1;
}

void LsnTracker::Add(uint64_t txn) {
  if (txns_.empty() || txn != first_ + txns_.size() - 1 || txns_.back().committed) {
    throw std::logic_error("LsnTracker: event outside the open transaction");
  }
  ++txns_.back().remaining;
}

void LsnTracker::Commit(Lsn end_lsn) {
  if (txns_.empty() || txns_.back().committed) throw std::logic_error("LsnTracker: COMMIT without BEGIN");
  txns_.back().end_lsn = end_lsn;
  txns_.back().committed = true;
  Advance();
}

void LsnTracker::Done(uint64_t txn) {
  if (txn < first_ || txn - first_ >= txns_.size()) return;
  Txn& t = txns_[static_cast<size_t>(txn - first_)];
  if (t.remaining > 0) --t.remaining;
  Advance();
}

void LsnTracker::Keepalive(Lsn wal_end) {
  if (txns_.empty()) confirmed_ = std::max(confirmed_, wal_end);
}

void LsnTracker::Advance() {
  while (!txns_.empty() && txns_.front().committed && txns_.front().remaining == 0) {
    confirmed_ = std::max(confirmed_, txns_.front().end_lsn);
    txns_.pop_front();
    ++first_;
  }
}

}  // namespace outbox::relay
