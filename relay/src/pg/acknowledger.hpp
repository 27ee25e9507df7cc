#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <pqxx/connection>

#include "pg/dead_letter.hpp"
#include "pg/outbox_sql.hpp"

namespace outbox::relay {

struct Config;

/// Records in Postgres that events were confirmed by the broker: deletes their
/// rows (cleanup = "delete") or sets published_at (cleanup = "mark"). Acking is
/// idempotent, so a batch whose commit was in doubt is simply acked again.
class Acknowledger {
 public:
  explicit Acknowledger(const Config& config);
  ~Acknowledger() noexcept;

  void Connect();
  bool connected() const { return conn_ != nullptr; }
  void Disconnect() noexcept { conn_.reset(); }

  /// Acknowledges the rows with these seq values in one transaction.
  void Ack(const std::vector<int64_t>& seqs);

  /// Moves row `seq` to the dead-letter table (see DeadLetterStore::Move).
  bool DeadLetter(int64_t seq, const std::string& reason, uint32_t attempts);

  /// Keys with a dead-lettered event (DeadLetterStore::HeldKey).
  std::unordered_set<std::string> HeldKeys();

  /// cleanup = "mark": deletes up to `limit` published rows older than the
  /// retention window; returns how many. No-op in delete mode.
  size_t PurgeRetention(size_t limit = 10000);

  /// Unpublished rows, including those in flight. A full count: scans the
  /// table's unpublished index, so callers keep it infrequent.
  int64_t CountBacklog();

  /// Age of the oldest unpublished row (by seq); nullopt when there is none,
  /// 0 when the table has no created_at column. One index probe.
  std::optional<double> OldestAgeSeconds();

  /// Those of `seqs` whose rows are still unacknowledged (not deleted, not marked).
  std::unordered_set<int64_t> Unacknowledged(const std::vector<int64_t>& seqs);

  /// Tail mode: WAL retained by replication slot `slot` in bytes; nullopt if it does not exist.
  std::optional<int64_t> SlotRetainedWal(const std::string& slot);

 private:
  const Config& config_;
  std::unique_ptr<pqxx::connection> conn_;
  OutboxSql sql_;
  std::unique_ptr<DeadLetterStore> dead_letter_;
};

}  // namespace outbox::relay
