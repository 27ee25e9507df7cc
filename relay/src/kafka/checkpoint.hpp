#pragma once
// Exactly-once delivery's checkpoint: a record on a compacted topic, written in
// the same Kafka transaction as the events it covers, that says which outbox
// rows were published and not yet acknowledged in Postgres when that
// transaction committed. docs/exactly-once.md gives the proof.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/outbox_row.hpp"

namespace outbox::relay {

struct KafkaConfig;

struct Checkpoint {
  std::string transactional_id;  ///< also the record's key
  uint64_t transaction = 0;      ///< transactions this relay process committed (a restart starts at 1 again)
  int64_t committed_unix_ms = 0;
  /// Rows whose events this transaction, or an earlier committed one, published
  /// and whose acknowledgement had not been recorded in Postgres yet.
  std::vector<RowRef> rows;
  /// Tail mode: the stream position of the last WAL-message event published
  /// by this or an earlier committed transaction (empty: none).
  StreamPosition messages;
};

/// JSON: {"version":1,"transactional_id":…,"transaction":…,"committed_at_ms":…,
/// "rows":[[table_oid,first_seq,last_seq],…],"messages":[final_lsn,index]}
/// with rows as sorted ranges; "messages" only when not empty.
std::string EncodeCheckpoint(const Checkpoint& checkpoint);

/// Throws std::invalid_argument naming what is wrong.
Checkpoint DecodeCheckpoint(const std::string& value);

/// Reads `config.checkpoint_topic` with read_committed, backwards from its
/// last stable offset in growing windows, and returns the last checkpoint of
/// `config.transactional_id`; nullopt when there is none (or no such topic).
/// Throws KafkaError when the topic cannot be read within `timeout`, or a record of this
/// transactional.id cannot be decoded. Call it after InitTransactions: an
/// open transaction of a fenced producer holds back the last stable offset.
/// `scanned`, when given, is set to the number of records read.
std::optional<Checkpoint> ReadCheckpoint(const KafkaConfig& config, std::chrono::milliseconds timeout,
                                         size_t* scanned = nullptr);

/// Creates `config.checkpoint_topic` (one partition, cleanup.policy=compact, 64 MiB segments,
/// the broker's default replication) when it does not exist. Throws
/// KafkaError with the broker's reason when it cannot.
void EnsureCheckpointTopic(const KafkaConfig& config, std::chrono::milliseconds timeout);

}  // namespace outbox::relay
