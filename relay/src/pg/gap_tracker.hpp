#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

namespace outbox::relay {

/// Decides which outbox rows a poll must read so that no committed row is ever
/// skipped, without a persisted cursor (schema/README.md, "Ordering").
///
/// Rows are numbered by `seq`, whose default takes the writer's xid before the
/// sequence value. The tracker keeps a high-water mark H (largest seq seen) and
/// the seq values below H not seen yet ("gaps": transactions still running, or
/// rolled back). A gap is re-read by every poll until either its row shows up,
/// or a snapshot proves no transaction that could still commit it is running:
/// when the gap was found, the relay obtained a fresh xid X (its "bound"); the
/// gap's writer had its xid before that, so once a snapshot's xmin >= X and the
/// row is not visible in that snapshot, it never will be.
class GapTracker {
 public:
  static constexpr int64_t kCoveredAll = std::numeric_limits<int64_t>::max();

  /// What the next poll reads: rows with seq > `after`, plus rows whose seq
  /// lies in a gap, [lows[i], highs[i]]. Only gaps are read below H, however
  /// wide they are: rows handed over before (in flight, or left behind a held
  /// key) are never read again, and a wide gap is one index range probe.
  struct Query {
    int64_t after = 0;
    std::vector<int64_t> lows;
    std::vector<int64_t> highs;
  };
  Query NextQuery() const;

  /// Applies one poll. `seqs`: the seq of every row returned, ascending.
  /// `covered_upto`: every visible matching row with seq <= this was returned
  /// (kCoveredAll when the poll returned fewer rows than its limit).
  /// `snapshot_xmin`: pg_snapshot_xmin of the poll's snapshot.
  /// Returns the indexes into `seqs` of rows to publish now, in order.
  std::vector<size_t> Apply(const std::vector<int64_t>& seqs, int64_t covered_upto, uint64_t snapshot_xmin);

  /// True when gaps found by the last Apply() still need a bound (BindGaps).
  bool HasUnboundGaps() const { return unbound_ > 0; }

  /// Gives every unbound gap the bound `xid`: an xid assigned after the poll
  /// that found the gap (pg_current_xact_id() in a later statement).
  void BindGaps(uint64_t xid);

  /// Forgets everything (restart from the table's first row).
  void Reset();

  int64_t high_water() const { return high_water_; }
  /// Number of seq values currently tracked as gaps.
  uint64_t gap_points() const;
  size_t gap_ranges() const { return gaps_.size(); }

 private:
  struct Gap {
    int64_t hi;      // inclusive
    uint64_t bound;  // 0: not bound yet
  };
  bool TakePoint(int64_t seq);  // removes seq from a gap; false if it was not one
  void AddGap(int64_t lo, int64_t hi);
  void DropResolved(int64_t covered_upto, uint64_t snapshot_xmin);

  int64_t high_water_ = 0;
  std::map<int64_t, Gap> gaps_;  // keyed by lo; ranges are disjoint
  size_t unbound_ = 0;
};

}  // namespace outbox::relay
