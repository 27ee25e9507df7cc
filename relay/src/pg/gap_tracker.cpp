#include "pg/gap_tracker.hpp"

#include <algorithm>
#include <iterator>

namespace outbox::relay {

GapTracker::Query GapTracker::NextQuery() const {
  Query q;
  q.after = high_water_;
  q.lows.reserve(gaps_.size());
  q.highs.reserve(gaps_.size());
  for (const auto& [lo, gap] : gaps_) {
    q.lows.push_back(lo);
    q.highs.push_back(gap.hi);
  }
  return q;
}

std::vector<size_t> GapTracker::Apply(const std::vector<int64_t>& seqs, int64_t covered_upto, uint64_t snapshot_xmin) {
  std::vector<size_t> publish;
  const int64_t old_high = high_water_;
  int64_t last_new = old_high;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t s = seqs[i];
    if (s > old_high) {
      if (s <= last_new) continue;  // duplicate seq in one result: impossible with a primary key
      if (s > last_new + 1) AddGap(last_new + 1, s - 1);
      last_new = s;
      publish.push_back(i);
    } else if (TakePoint(s)) {
      publish.push_back(i);
    }
    // else: at or below H and not a gap: already handed over.
  }
  high_water_ = last_new;
  DropResolved(covered_upto, snapshot_xmin);
  return publish;
}

bool GapTracker::TakePoint(int64_t seq) {
  auto it = gaps_.upper_bound(seq);
  if (it == gaps_.begin()) return false;
  --it;
  const int64_t lo = it->first;
  const Gap gap = it->second;
  if (seq > gap.hi) return false;
  gaps_.erase(it);
  if (gap.bound == 0) --unbound_;
  if (lo <= seq - 1) {
    gaps_.emplace(lo, Gap{seq - 1, gap.bound});
    if (gap.bound == 0) ++unbound_;
  }
  if (seq + 1 <= gap.hi) {
    gaps_.emplace(seq + 1, Gap{gap.hi, gap.bound});
    if (gap.bound == 0) ++unbound_;
  }
  return true;
}

void GapTracker::AddGap(int64_t lo, int64_t hi) {
  gaps_.emplace(lo, Gap{hi, 0});
  ++unbound_;
}

void GapTracker::DropResolved(int64_t covered_upto, uint64_t snapshot_xmin) {
  for (auto it = gaps_.begin(); it != gaps_.end() && it->first <= covered_upto;) {
    const Gap gap = it->second;
    if (gap.bound == 0 || gap.bound > snapshot_xmin) {
      ++it;
      continue;
    }
    // Every writer that could fill [lo, min(hi, covered_upto)] has ended and
    // the rows were not in this snapshot: they were rolled back (or the values
    // were never used).
    it = gaps_.erase(it);
    if (gap.hi > covered_upto) {
      it = gaps_.emplace(covered_upto + 1, Gap{gap.hi, gap.bound}).first;
      ++it;
    }
  }
}

void GapTracker::BindGaps(uint64_t xid) {
  for (auto& [lo, gap] : gaps_) {
    if (gap.bound == 0) gap.bound = xid;
  }
  unbound_ = 0;
}

void GapTracker::Reset() {
  high_water_ = 0;
  gaps_.clear();
  unbound_ = 0;
}

uint64_t GapTracker::gap_points() const {
  uint64_t n = 0;
  for (const auto& [lo, gap] : gaps_) n += static_cast<uint64_t>(gap.hi - lo + 1);
  return n;
}

}  // namespace outbox::relay
