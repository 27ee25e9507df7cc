#include "pipeline/connector.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <pqxx/except>

#include "util/text.hpp"

namespace outbox::relay {

Connector::Result Connector::Ensure(Clock::time_point now, Source& source, AckStore& store) {
  if (source.connected() && store.connected()) return Result::kUp;
  if (now < retry_at_) return Result::kDown;
  try {
    if (!source.connected()) source.Connect();
    if (!store.connected()) store.Connect();
    if (standby_) spdlog::info("relay: took over {}", table_);
    standby_ = false;
    backoff_ = std::chrono::milliseconds(100);
    return Result::kConnected;
  } catch (const StandbyError& e) {
    if (!standby_) spdlog::info("relay: {}", e.what());
    standby_ = true;
    retry_at_ = now + std::chrono::seconds(1);
  } catch (const pqxx::broken_connection& e) {
    // Unreachable or restarting: what is in flight keeps going; retry with backoff.
    spdlog::warn("postgres: cannot connect ({}); retrying in {} ms", OneLine(e.what()), backoff_.count());
    retry_at_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, max_);
  }
  source.Disconnect();
  store.Disconnect();
  return Result::kDown;
}

}  // namespace outbox::relay
