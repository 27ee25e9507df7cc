#include "pipeline/key_holds.hpp"

#include <algorithm>

namespace outbox::relay {

KeyHolds::KeyHolds(uint32_t max_attempts, bool hold_key)
    : max_attempts_(std::max<uint32_t>(1, max_attempts)), hold_key_(hold_key) {}

std::string KeyHolds::Key(const std::string& aggregate_type, const std::string& aggregate_id) {
  std::string key;
  key.reserve(aggregate_type.size() + 1 + aggregate_id.size());
  key += aggregate_type;
  key += '\x1f';
  key += aggregate_id;
  return key;
}

bool KeyHolds::Admit(const std::string& key, const std::string& event_id) {
  if (!hold_key_) return true;
  if (!dead_lettered_.empty() && dead_lettered_.count(key) != 0) return false;
  if (heads_.empty()) return true;
  const auto it = heads_.find(key);
  if (it == heads_.end()) return true;
  Head& head = it->second;
  if (head.event_id == event_id) {
    head.met = true;
    return !head.exhausted;
  }
  // Read before the head in this pass: earlier in commit order, so it goes first.
  return !head.met;
}

KeyHolds::Rejection KeyHolds::Rejected(const std::string& key, const std::string& event_id,
                                       uint32_t recorded_attempts) {
  if (hold_key_) {
    Head& head = heads_[key];
    // A rejected event of a held key is its head, or one read ahead of the
    // head in this pass (earlier in commit order): that one is the head now.
    if (head.event_id != event_id) head = Head{event_id, true};
  }
  uint32_t& attempts = attempts_[event_id];
  attempts = std::max(attempts, recorded_attempts) + 1;
  const Rejection r{attempts, attempts >= max_attempts_};
  if (r.dead_letter && hold_key_) heads_[key].exhausted = true;
  return r;
}

bool KeyHolds::Delivered(const std::string& key, const std::string& event_id) {
  if (!attempts_.empty()) attempts_.erase(event_id);
  if (heads_.empty()) return false;
  const auto it = heads_.find(key);
  if (it == heads_.end() || it->second.event_id != event_id) return false;
  heads_.erase(it);
  return true;
}

void KeyHolds::DeadLettered(const std::string& key, const std::string& event_id) {
  attempts_.erase(event_id);
  const auto it = heads_.find(key);
  if (it != heads_.end() && it->second.event_id == event_id) heads_.erase(it);
  if (hold_key_) dead_lettered_.insert(key);
}

void KeyHolds::Forget(const std::string& key, const std::string& event_id) {
  attempts_.erase(event_id);
  const auto it = heads_.find(key);
  if (it != heads_.end() && it->second.event_id == event_id) heads_.erase(it);
}

void KeyHolds::SetDeadLettered(std::unordered_set<std::string> keys) { dead_lettered_ = std::move(keys); }

void KeyHolds::NewPass() {
  for (auto& [key, head] : heads_) head.met = false;
}

size_t KeyHolds::held_keys() const {
  if (!hold_key_) return 0;
  size_t n = dead_lettered_.size();
  for (const auto& [key, head] : heads_) n += dead_lettered_.count(key) == 0 ? 1 : 0;
  return n;
}

}  // namespace outbox::relay
