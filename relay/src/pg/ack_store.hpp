#pragma once

#include <memory>
#include <string>

#include <pqxx/connection>

#include "pg/dead_letter.hpp"
#include "pg/outbox_monitor.hpp"
#include "pg/outbox_sql.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

struct Config;

/// The AckStore on Postgres: the relay's second session. Deletes (or marks)
/// acknowledged rows, moves dead letters, runs retention and the gauges'
/// queries. Acknowledging is idempotent, so a batch whose commit was in doubt
/// is simply acknowledged again.
class PgAckStore : public AckStore {
 public:
  /// `role`: the session's name (application_name outbox-relay/<role>).
  explicit PgAckStore(const Config& config, std::string role = "ack");
  ~PgAckStore() noexcept override;

  void Connect() override;
  bool connected() const override { return conn_ != nullptr; }
  void Disconnect() noexcept override;

  std::vector<RowRef> Ack(const std::vector<RowRef>& rows) override;
  bool MoveToDeadLetter(RowRef row, const std::string& reason, uint32_t attempts) override;
  void RecordAttempts(const std::vector<std::pair<RowRef, uint32_t>>& attempts) override;
  RowRef Materialize(const OutboxRow& event) override;
  std::unordered_set<std::string> DeadLetteredKeys() override;
  size_t PurgeRetention(size_t limit) override;
  std::optional<BacklogReading> ReadBacklog(bool count) override;
  std::optional<int64_t> SlotRetainedWal() override;

 private:
  template <typename F>
  auto Guard(F&& f) -> decltype(f());

  const Config& config_;
  std::string role_;
  std::unique_ptr<pqxx::connection> conn_;
  OutboxSql sql_;
  std::unique_ptr<DeadLetterStore> dead_letter_;
  std::unique_ptr<OutboxMonitor> monitor_;
};

}  // namespace outbox::relay
