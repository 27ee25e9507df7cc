#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace outbox::relay {

/// The poison policy: which keys are held, and when an event the broker (or
/// the relay itself) rejects for good has used up its attempts.
///
/// A key (aggregate type + id) is held from the first permanent rejection of
/// one of its events, its "head", not only once that event is dead-lettered:
///  - while the head is retried it is sent again, and every event of the key
///    read after it waits (its row stays in the outbox) until it succeeds;
///  - once the head is dead-lettered, the key stays held until the operator
///    requeues or skips it (the dead-letter table is the record of that).
/// A resync does not forget a key being retried: each read pass (NewPass())
/// meets the head again before the events behind it, since sources read in
/// commit order. With hold_key = false rejected events are retried and
/// dead-lettered alike, but nothing waits.
/// Pure: no I/O; the pipeline thread owns it.
class KeyHolds {
 public:
  KeyHolds(uint32_t max_attempts, bool hold_key);

  /// Identity of a key: aggregate type and id.
  static std::string Key(const std::string& aggregate_type, const std::string& aggregate_id);

  /// Whether event `event_id` of `key`, met in read order, may be sent now;
  /// false: it waits behind its key's head (it must stay in the outbox).
  bool Admit(const std::string& key, const std::string& event_id);

  struct Rejection {
    uint32_t attempts = 0;     ///< attempts used so far, this one included
    bool dead_letter = false;  ///< out of attempts: move it to the dead-letter table
  };
  /// Event `event_id` of `key` was rejected for good. `recorded_attempts`:
  /// what earlier relays recorded for it (0 when unknown). Holds the key.
  Rejection Rejected(const std::string& key, const std::string& event_id, uint32_t recorded_attempts);

  /// Event `event_id` of `key` was delivered. Returns true when that released
  /// a key whose head it was: the events that waited must be read again.
  bool Delivered(const std::string& key, const std::string& event_id);

  /// The head of `key` (event `event_id`) is now in the dead-letter table.
  void DeadLettered(const std::string& key, const std::string& event_id);
  /// The head of `key` is gone (its row was removed): the key is released.
  void Forget(const std::string& key, const std::string& event_id);

  /// The keys the dead-letter table holds now (at start, and after the
  /// operator changed it). Keys being retried stay held.
  void SetDeadLettered(std::unordered_set<std::string> keys);

  /// A new read pass starts (after a resync): heads are met again.
  void NewPass();

  /// Nothing held, retried or dead-lettered: every event is admitted and no
  /// delivery releases anything (the pipeline then skips building keys).
  bool quiet() const { return dead_lettered_.empty() && heads_.empty() && attempts_.empty(); }

  /// Keys held now, for gauges.
  size_t held_keys() const;
  bool retrying(const std::string& key) const { return heads_.count(key) != 0; }

 private:
  struct Head {
    std::string event_id;
    bool met = false;        // the head was met in this read pass: what follows waits
    bool exhausted = false;  // out of attempts: the head itself waits (for its move)
  };
  uint32_t max_attempts_;
  bool hold_key_;
  std::unordered_set<std::string> dead_lettered_;       // keys
  std::unordered_map<std::string, Head> heads_;         // key -> head being retried (hold_key only)
  std::unordered_map<std::string, uint32_t> attempts_;  // event id -> attempts, while retried
};

}  // namespace outbox::relay
