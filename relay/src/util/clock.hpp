#pragma once

#include <chrono>
#include <cstdint>

namespace outbox::relay {

/// Wall-clock milliseconds since the Unix epoch.
inline int64_t UnixMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace outbox::relay
