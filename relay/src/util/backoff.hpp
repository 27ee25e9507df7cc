#pragma once

#include <algorithm>
#include <chrono>

namespace outbox::relay {

/// Capped exponential backoff of one retry loop: Next() gives `first`,
/// 2 x `first`, ... up to `max`; Reset() once the loop made progress.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max)
      : first_(first), max_(std::max(first, max)), next_(first) {}

  /// The delay before the next attempt; doubles the one after it.
  std::chrono::milliseconds Next() {
    const std::chrono::milliseconds d = next_;
    next_ = std::min(next_ * 2, max_);
    return d;
  }
  void Reset() { next_ = first_; }
  /// What Next() would return.
  std::chrono::milliseconds peek() const { return next_; }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
};

}  // namespace outbox::relay
