#include "pipeline/connector.hpp"

#include <spdlog/spdlog.h>
#include <pqxx/except>

#include "pg/pg_failure.hpp"
#include "pipeline/stats.hpp"
#include "util/text.hpp"

namespace outbox::relay {

Connector::Connector(std::string table, std::chrono::milliseconds backoff_max, RelayStats& stats,
                     std::chrono::milliseconds standby_retry)
    : table_(std::move(table)),
      standby_retry_(standby_retry),
      backoff_(std::chrono::milliseconds(100), backoff_max),
      log_("connect", &stats.retries, &stats.connect_failing) {}

Connector::Result Connector::Ensure(Clock::time_point now, Source& source, AckStore& store) {
  if (source.connected() && store.connected()) {
    up_ = true;
    if (!stable_ && now - connected_at_ >= kStableAfter) {
      stable_ = true;
      backoff_.Reset();
      log_.Success(now);
    }
    return Result::kUp;
  }
  if (up_) {
    up_ = false;
    // A session broke soon after connecting: back off before the next attempt too.
    if (!stable_) retry_at_ = now + backoff_.Next();
  }
  if (now < retry_at_) return Result::kDown;
  try {
    if (!source.connected()) source.Connect();
    if (!store.connected()) store.Connect();
    if (standby_) spdlog::info("relay: took over {}", table_);
    standby_ = false;
    connected_at_ = now;
    up_ = true;
    stable_ = false;  // until the sessions stayed up kStableAfter
    return Result::kConnected;
  } catch (const StandbyError& e) {
    if (!standby_) spdlog::info("relay: {}", e.what());
    standby_ = true;
    retry_at_ = now + standby_retry_;
  } catch (const pqxx::broken_connection& e) {
    // Unreachable, restarting or full: what is in flight keeps going; retry with backoff.
    const std::chrono::milliseconds delay = backoff_.Next();
    log_.Failure(now, spdlog::level::warn, PgFailureReason(e),
                 "postgres: cannot connect (" + OneLine(e.what()) + "); retrying in " + std::to_string(delay.count()) +
                     " ms, backing off up to postgres.reconnect_backoff_max_ms");
    retry_at_ = now + delay;
  }
  source.Disconnect();
  store.Disconnect();
  return Result::kDown;
}

}  // namespace outbox::relay
