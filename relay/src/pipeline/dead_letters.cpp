#include "pipeline/dead_letters.hpp"

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "pipeline/stats.hpp"
#include "util/text.hpp"

namespace outbox::relay {

DeadLetters::DeadLetters(const Config& config, RelayStats& stats)
    : config_(config), stats_(stats), holds_(config.dead_letter.max_attempts, config.dead_letter.hold_key) {}

bool DeadLetters::Admit(const OutboxRow& row) {
  return holds_.Admit(KeyHolds::Key(row.aggregate_type, row.aggregate_id), row.id);
}

bool DeadLetters::Delivered(const OutboxRow& row) {
  return holds_.Delivered(KeyHolds::Key(row.aggregate_type, row.aggregate_id), row.id);
}

void DeadLetters::Rejected(const OutboxRow& row, const std::string& reason) {
  const std::string key = KeyHolds::Key(row.aggregate_type, row.aggregate_id);
  const KeyHolds::Rejection r = holds_.Rejected(key, row.id, 0);
  if (r.dead_letter) {
    pending_.push_back(Move{row.seq, row.id, key, reason, r.attempts});
  } else {
    spdlog::warn("kafka: event seq={} rejected ({}), attempt {} of {}", row.seq, reason, r.attempts,
                 config_.dead_letter.max_attempts);
  }
}

bool DeadLetters::Sync(AckStore& store) { return MovePending(store) && Reload(store); }

bool DeadLetters::MovePending(AckStore& store) {
  if (pending_.empty()) return true;
  if (!store.connected()) return false;
  try {
    for (auto it = pending_.begin(); it != pending_.end(); it = pending_.erase(it)) {
      if (!store.MoveToDeadLetter(it->seq, it->reason, it->attempts)) continue;
      holds_.DeadLettered(it->key, it->event_id);
      stats_.dead_lettered++;
      spdlog::error("dead-letter: event seq={} moved to {}.dead_letter after {} attempts: {}{}", it->seq,
                    config_.outbox.schema, it->attempts, it->reason,
                    config_.dead_letter.hold_key ? "; later events of its key are held" : "");
    }
  } catch (const std::exception& e) {
    spdlog::warn("postgres: cannot move an event to the dead-letter table ({}); retrying", OneLine(e.what()));
    return false;
  }
  return true;
}

bool DeadLetters::Reload(AckStore& store) {
  if (!config_.dead_letter.hold_key) return true;
  try {
    holds_.SetDeadLettered(store.DeadLetteredKeys());
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("postgres: cannot read the dead-letter table ({}); retrying", OneLine(e.what()));
    return false;
  }
}

}  // namespace outbox::relay
