#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace outbox::relay {

/// Per-key order across topics. Kafka orders one key's records only within
/// one partition; a row's topic override can send consecutive events of a key
/// to different topics. An event of a key whose earlier events are in flight
/// to another topic waits until they are reported, so the first delivery of
/// each event still comes in commit order (and a failed one holds the rest).
/// Keys and topics are tracked by hash: a collision only makes an event wait
/// for a report it did not need to wait for. Pure; the pipeline thread owns it.
///
/// Also, until the current producer has delivered an event of a key, only one
/// event of that key is in flight. A broker accepts any first sequence number
/// from a producer id it has no state for on a partition, so when a new
/// producer's first batch there is rejected (an oversized record), a later
/// batch already in flight would be written before it; once one event of the
/// key is written, the partition knows the producer, and a batch behind a
/// rejected one fails as out of sequence. Transactions need no such probe:
/// a rejected record aborts its transaction, and with it every record behind
/// it (`transactional`).
class KeyFlights {
 public:
  explicit KeyFlights(bool transactional = false) : transactional_(transactional) {}

  static uint64_t KeyHash(const std::string& aggregate_type, const std::string& aggregate_id);
  static uint64_t TopicHash(const std::string& topic);

  /// False when events of `key` are in flight to another topic.
  bool CanSend(uint64_t key, uint64_t topic) const;
  void Sent(uint64_t key, uint64_t topic);
  /// The report of an event sent with Sent(key, ...) arrived (or the event was lost).
  void Reported(uint64_t key);
  /// An event of `key` was delivered by the current producer.
  void Delivered(uint64_t key);
  /// A new producer (a new producer id) replaces the old one.
  void NewProducer() { delivered_.clear(); }
  size_t keys() const { return flights_.size(); }

 private:
  struct Flight {
    uint64_t topic;
    uint32_t count;
  };
  std::unordered_map<uint64_t, Flight> flights_;
  std::unordered_set<uint64_t> delivered_;  // keys the current producer delivered (bounded: cleared when full)
  bool transactional_ = false;
};

}  // namespace outbox::relay
