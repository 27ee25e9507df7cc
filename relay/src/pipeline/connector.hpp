#pragma once

#include <chrono>
#include <string>

#include "log/retry_log.hpp"
#include "pipeline/stages.hpp"
#include "util/backoff.hpp"

namespace outbox::relay {

struct RelayStats;

/// Keeps the two Postgres sessions (the source's, which holds the table's
/// relay lock, and the ack store's) connected: reconnects with capped
/// exponential backoff, and stands by while another relay holds the lock.
/// The backoff resets (and the log says "recovered") only once both sessions
/// stayed up for kStableAfter, so
/// a session that breaks right after connecting (max_connections reached, a
/// server terminating it) cannot make the loop spin.
class Connector {
 public:
  enum class Result {
    kUp,         ///< both connected, nothing happened
    kConnected,  ///< both connected now (they were not)
    kDown,       ///< not connected; retried later
  };
  static constexpr std::chrono::seconds kStableAfter{10};

  /// `standby_retry`: how often a standby tries to take the table's lock.
  Connector(std::string table, std::chrono::milliseconds backoff_max, RelayStats& stats,
            std::chrono::milliseconds standby_retry = std::chrono::seconds(1));

  /// Connects what is not connected, unless the backoff says wait. Throws
  /// what retrying cannot fix (missing table, wrong mapping, no privilege).
  Result Ensure(Clock::time_point now, Source& source, AckStore& store);

  bool standby() const { return standby_; }
  /// When the next attempt is due (while kDown).
  Clock::time_point retry_at() const { return retry_at_; }

 private:
  std::string table_;
  std::chrono::milliseconds standby_retry_;
  Backoff backoff_;
  RetryLog log_;
  Clock::time_point retry_at_{};
  Clock::time_point connected_at_{};
  bool up_ = false;     // both sessions were up at the last call
  bool stable_ = true;  // up for kStableAfter since the last connect
  bool standby_ = false;
};

}  // namespace outbox::relay
