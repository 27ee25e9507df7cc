#pragma once

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "log/retry_log.hpp"
#include "pg/outbox_row.hpp"
#include "pipeline/key_holds.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

struct Config;
struct RelayStats;

/// Applies the poison policy (KeyHolds) to the pipeline's events and keeps it
/// in step with the dead-letter table:
///  - a rejected event holds its key and is retried in a later read pass, the
///    n-th retry no sooner than 0.5 s * 2^(n-1) (at most 30 s) later;
///  - an event out of attempts is moved to the dead-letter table at the next
///    resync; a move that fails (a conflicting event id, ...) leaves the row
///    where it is, its key held, and is tried again later;
///  - the table's keys are reloaded at start and after the operator changed it;
///  - events that failed together in one broker batch are only "suspects":
///    each is sent again alone before an attempt is counted against it.
class DeadLetters {
 public:
  DeadLetters(const Config& config, RelayStats& stats);

  /// Whether the event may be sent now (false: it waits behind its key's head).
  bool Admit(const OutboxRow& row);
  /// The event was rejected for good with `reason`: counts an attempt.
  void Rejected(const OutboxRow& row, const std::string& reason, Clock::time_point now);
  /// The event failed together with others; it is sent alone next time.
  void Suspected(const OutboxRow& row);
  bool suspect(const std::string& event_id) const { return suspects_.count(event_id) != 0; }
  /// The event was delivered; true when that released its key.
  bool Delivered(const OutboxRow& row);

  /// When held events are due to be read again (a retry, or a move to try);
  /// nullopt when none is.
  std::optional<Clock::time_point> due() const;

  /// At a resync: moves the events out of attempts, then reloads the table's
  /// keys. Returns false when Postgres failed (try again later).
  bool Sync(AckStore& store, Clock::time_point now);
  /// A new read pass starts (after a resync).
  void NewPass();
  const KeyHolds& holds() const { return holds_; }

 private:
  bool MovePending(AckStore& store, Clock::time_point now);
  bool Reload(AckStore& store, Clock::time_point now);

  struct Move {
    RowRef row;
    std::string event_id, key, reason;
    uint32_t attempts;
    Clock::time_point not_before;
  };
  const Config& config_;
  RelayStats& stats_;
  KeyHolds holds_;
  std::vector<Move> moves_;                            // out of attempts, not yet in the dead-letter table
  std::vector<std::pair<RowRef, uint32_t>> attempts_;  // (row, attempts) to record in the rows
  std::optional<Clock::time_point> retry_;             // earliest retry of a rejected event
  std::unordered_set<std::string> suspects_;           // event ids
  RetryLog log_;                                       // failed moves and reads: once, then summarised
};

}  // namespace outbox::relay
