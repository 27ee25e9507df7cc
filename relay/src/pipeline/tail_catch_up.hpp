#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

#include "pg/outbox_row.hpp"

namespace outbox::relay {

/// Tail mode's hand-over from the table to the slot. A slot's stream holds
/// only what commits after the slot's position, so every start, resync or
/// re-created slot first publishes what the table already holds ("catch-up",
/// with the poll reader), then streams:
///
///   catching up --(a poll read everything it could see)--> draining
///   draining    --(the window is empty: all of it acknowledged)--> streaming
///   any phase   --(resync, slot re-created)--> catching up
///
/// Polling stops once the table was read up to a moment: whatever commits
/// later is in the stream, and polling on would chase a busy table forever.
/// Rows the catch-up published and the stream then repeats are skipped by the
/// replay check (their rows are gone). Pure; the pipeline thread owns it.
class TailCatchUp {
 public:
  enum class Phase { kCatchingUp, kDraining, kStreaming };

  Phase phase() const { return phase_; }
  bool polling() const { return phase_ == Phase::kCatchingUp; }
  bool streaming() const { return phase_ == Phase::kStreaming; }

  /// A catch-up poll returned everything its snapshot showed.
  void CoveredAll() {
    if (phase_ == Phase::kCatchingUp) phase_ = Phase::kDraining;
  }
  /// True when the stream should start now.
  bool ReadyToStream(bool window_empty) const { return phase_ == Phase::kDraining && window_empty; }
  void Streaming() { phase_ = Phase::kStreaming; }
  void Restart() { phase_ = Phase::kCatchingUp; }

 private:
  Phase phase_ = Phase::kCatchingUp;
};

/// The replay check. After a (re)start the stream repeats what committed
/// after the slot's confirmed position, and much of that was acknowledged
/// before (by an earlier run, or by the catch-up), its rows deleted or
/// marked. ReplayedRows() names the rows to look up; DropAcknowledged()
/// removes those of them that are no longer unacknowledged (`live` is what
/// the lookup found) and returns their transactions, which are done at once.
/// WAL-message events have no row and are published again.
std::vector<RowRef> ReplayedRows(const std::vector<OutboxRow>& rows);
std::vector<uint64_t> DropAcknowledged(std::vector<OutboxRow>& rows, const std::unordered_set<int64_t>& live);

}  // namespace outbox::relay
