#include "pipeline/key_flights.hpp"

#include <functional>
#include <string_view>

namespace outbox::relay {

uint64_t KeyFlights::KeyHash(const std::string& aggregate_type, const std::string& aggregate_id) {
  const uint64_t a = std::hash<std::string_view>()(aggregate_type);
  const uint64_t b = std::hash<std::string_view>()(aggregate_id);
  return a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
}

uint64_t KeyFlights::TopicHash(const std::string& topic) { return std::hash<std::string_view>()(topic); }

bool KeyFlights::CanSend(uint64_t key, uint64_t topic) const {
  if (flights_.empty()) return true;
  const auto it = flights_.find(key);
  if (it == flights_.end()) return true;
  return it->second.topic == topic && (transactional_ || delivered_.count(key) != 0);
}

void KeyFlights::Delivered(uint64_t key) {
  if (transactional_) return;
  constexpr size_t kMaxDelivered = 1 << 20;  // about 40 MB; clearing costs a round trip per key
  if (delivered_.size() >= kMaxDelivered) delivered_.clear();
  delivered_.insert(key);
}

void KeyFlights::Sent(uint64_t key, uint64_t topic) {
  auto [it, inserted] = flights_.try_emplace(key, Flight{topic, 0});
  ++it->second.count;
}

void KeyFlights::Reported(uint64_t key) {
  const auto it = flights_.find(key);
  if (it == flights_.end()) return;
  if (--it->second.count == 0) flights_.erase(it);
}

}  // namespace outbox::relay
