#pragma once

#include <string>
#include <vector>

#include "pg/outbox_row.hpp"
#include "pipeline/key_holds.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

struct Config;
struct RelayStats;

/// Applies the poison policy (KeyHolds) to the pipeline's events and keeps it
/// in step with the dead-letter table: events out of attempts are moved there
/// at the next resync, and the table's keys are reloaded at start and after
/// the operator changed it.
class DeadLetters {
 public:
  DeadLetters(const Config& config, RelayStats& stats);

  /// Whether the event may be sent now (false: it waits behind its key's head).
  bool Admit(const OutboxRow& row);
  /// The event was rejected for good with `reason`.
  void Rejected(const OutboxRow& row, const std::string& reason);
  /// The event was delivered; true when that released its key.
  bool Delivered(const OutboxRow& row);

  /// Moves the events out of attempts, then reloads the table's keys.
  /// Returns false when Postgres failed (try again later).
  bool Sync(AckStore& store);
  /// A new read pass starts (after a resync).
  void NewPass() { holds_.NewPass(); }
  const KeyHolds& holds() const { return holds_; }

 private:
  bool MovePending(AckStore& store);
  bool Reload(AckStore& store);

  struct Move {
    int64_t seq;
    std::string event_id, key, reason;
    uint32_t attempts;
  };
  const Config& config_;
  RelayStats& stats_;
  KeyHolds holds_;
  std::vector<Move> pending_;
};

}  // namespace outbox::relay
