#pragma once

#include <chrono>
#include <string>

#include "pipeline/stages.hpp"

namespace outbox::relay {

/// Keeps the two Postgres sessions (the source's, which holds the table's
/// relay lock, and the ack store's) connected: reconnects with capped
/// exponential backoff, and stands by while another relay holds the lock.
class Connector {
 public:
  enum class Result {
    kUp,         ///< both connected, nothing happened
    kConnected,  ///< both connected now (they were not)
    kDown,       ///< not connected; retried later
  };

  Connector(std::string table, std::chrono::milliseconds backoff_max) : table_(std::move(table)), max_(backoff_max) {}

  /// Connects what is not connected, unless the backoff says wait. Throws
  /// what retrying cannot fix (missing table, wrong mapping, no privilege).
  Result Ensure(Clock::time_point now, Source& source, AckStore& store);

  bool standby() const { return standby_; }
  /// When the next attempt is due (while kDown).
  Clock::time_point retry_at() const { return retry_at_; }

 private:
  std::string table_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds backoff_{100};
  Clock::time_point retry_at_{};
  bool standby_ = false;
};

}  // namespace outbox::relay
