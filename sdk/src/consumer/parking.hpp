#pragma once
// SQL over <schema>.consumer_parked (migrations/0010_consumer_parked.sql):
// records that failed, were dead-lettered, or wait behind such a record of
// their key. Only the consumer owning a partition writes its rows (operators
// only set `release`).
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <pqxx/transaction_base>

#include "outbox/consumer_record.hpp"

namespace outbox::sdk::detail {

/// (topic, partition, key bytes): the unit a hold applies to.
using KeyRef = std::tuple<std::string, int32_t, std::string>;

inline KeyRef KeyOf(const Record& r) { return {r.topic, r.partition, r.key}; }

/// What goes into a parked row besides the record itself.
struct ParkInfo {
  int attempts = 0;        ///< failed attempts so far (0: held, never tried)
  bool permanent = false;  ///< can never be applied (bad event_id): dead-letter at once
  std::string error;
  std::chrono::milliseconds retry_in{0};  ///< until the next attempt
};

class ParkedTable {
 public:
  ParkedTable(const std::string& schema, std::string consumer);

  /// Keys among `records` (non-null keys only) with a holding row.
  std::set<KeyRef> HeldKeys(pqxx::transaction_base& tx, const std::vector<const Record*>& records) const;
  /// Parks `record` (nothing if it is parked already: a redelivery).
  void Park(pqxx::transaction_base& tx, const Record& record, const std::string& event_id, const ParkInfo& info) const;

  /// The first holding row (or row with a release request) of every key group.
  struct Head {
    std::string topic;
    int32_t partition = 0;
    std::string key_group;
    bool dead = false;
    bool release = false;
    int attempts = 0;
    bool permanent = false;
    std::chrono::milliseconds due_in{0};  ///< <= 0: the next attempt is due
  };
  std::vector<Head> Heads(pqxx::transaction_base& tx) const;

  /// A parked row, locked FOR UPDATE, as the drain works through a key group.
  struct Row {
    int64_t id = 0;
    Record record;
    std::string event_id;
    int attempts = 0;
    bool permanent = false;
    bool dead = false;
    bool due = false;
    std::string release;  ///< "", "retry", "skip"
    std::string error;
    std::chrono::nanoseconds parked_for{0};
  };
  std::vector<Row> LockGroup(pqxx::transaction_base& tx, const std::string& topic, int32_t partition,
                             const std::string& key_group, int limit) const;

  void Delete(pqxx::transaction_base& tx, int64_t id) const;
  void RecordFailure(pqxx::transaction_base& tx, int64_t id, int attempts, const std::string& error,
                     std::chrono::milliseconds retry_in) const;
  /// A dead letter the operator asked to retry: fresh attempts, holding again.
  void ResetForRetry(pqxx::transaction_base& tx, int64_t id) const;
  /// Marks a row dead-lettered; `holds` = it keeps holding its key.
  void MarkDead(pqxx::transaction_base& tx, int64_t id, bool holds) const;

  /// (dead letters, parked rows) of this consumer.
  std::pair<int64_t, int64_t> Depth(pqxx::transaction_base& tx) const;

 private:
  std::string table_;
  std::string consumer_;
};

}  // namespace outbox::sdk::detail
