#pragma once
// Operator view of a consumer's dead letters: records it gave up on after
// max_attempts (or could never apply, e.g. without an event_id), kept in
// <schema>.consumer_parked together with the later records of the same key
// that are held behind them. Releasing one is a request the consumer that
// owns the partition carries out at its next release check, in key order.

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/connection_base>

namespace outbox::sdk {

struct DeadLetterInfo {
  int64_t id = 0;  ///< what ReleaseDeadLetter takes
  std::string consumer;
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;  ///< the record's key bytes ("" also for a null key)
  bool key_is_null = false;
  std::string event_id;
  int attempts = 0;
  std::string error;             ///< the last failure
  std::string dead_lettered_at;  ///< timestamptz text
  int64_t held_behind = 0;       ///< parked records of the same key and partition after it
  std::string release;           ///< "" or the pending request: "retry" / "skip"
};

/// Dead letters of `consumer` (every consumer when empty), oldest first.
std::vector<DeadLetterInfo> ListDeadLetters(pqxx::connection_base& conn, const std::string& schema,
                                            const std::string& consumer = "");

enum class ReleaseAction {
  kRetry,  ///< run the handler again (max_attempts fresh attempts), then the held records in order
  kSkip,   ///< drop it (recorded in the inbox, so a redelivery is skipped too), then the held records
};

/// Asks the owning consumer to retry or skip dead letter `id`. Returns false
/// when `id` is not a dead letter of `consumer`. Same as
/// UPDATE <schema>.consumer_parked SET release = 'retry' | 'skip' WHERE id = ... .
bool ReleaseDeadLetter(pqxx::connection_base& conn, const std::string& schema, const std::string& consumer, int64_t id,
                       ReleaseAction action);

}  // namespace outbox::sdk
