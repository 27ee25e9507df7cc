#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace outbox::relay {

/// Per-key order across topics. Kafka orders one key's records only within
/// one partition; a row's topic override can send consecutive events of a key
/// to different topics. An event of a key whose earlier events are in flight
/// to another topic waits until they are reported, so the first delivery of
/// each event still comes in commit order (and a failed one holds the rest).
/// Keys and topics are tracked by hash: a collision only makes an event wait
/// for a report it did not need to wait for. Pure; the pipeline thread owns it.
class KeyFlights {
 public:
  static uint64_t KeyHash(const std::string& aggregate_type, const std::string& aggregate_id);
  static uint64_t TopicHash(const std::string& topic);

  /// False when events of `key` are in flight to another topic.
  bool CanSend(uint64_t key, uint64_t topic) const;
  void Sent(uint64_t key, uint64_t topic);
  /// The report of an event sent with Sent(key, ...) arrived (or the event was lost).
  void Reported(uint64_t key);
  size_t keys() const { return flights_.size(); }

 private:
  struct Flight {
    uint64_t topic;
    uint32_t count;
  };
  std::unordered_map<uint64_t, Flight> flights_;
};

}  // namespace outbox::relay
