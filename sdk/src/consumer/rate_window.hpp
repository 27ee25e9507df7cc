#pragma once
// Records finished per second over a sliding window of whole seconds.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>

namespace outbox::sdk::detail {

class RateWindow {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kSeconds = 10;

  explicit RateWindow(Clock::time_point start = Clock::now()) : start_(start) {}

  void Add(uint64_t n, Clock::time_point now = Clock::now()) {
    Advance(now);
    counts_[static_cast<size_t>(second_ % (kSeconds + 1))] += n;
  }

  /// Mean rate over the last kSeconds complete seconds (fewer right after start).
  double PerSecond(Clock::time_point now = Clock::now()) {
    Advance(now);
    const int64_t full = std::min<int64_t>(second_, kSeconds);
    if (full == 0) return 0;
    uint64_t sum = 0;
    for (int64_t s = second_ - full; s < second_; ++s) sum += counts_[static_cast<size_t>(s % (kSeconds + 1))];
    return static_cast<double>(sum) / static_cast<double>(full);
  }

 private:
  void Advance(Clock::time_point now) {
    const int64_t second = std::chrono::duration_cast<std::chrono::seconds>(now - start_).count();
    for (int64_t s = second_ + 1; s <= second && s <= second_ + kSeconds + 1; ++s) {
      counts_[static_cast<size_t>(s % (kSeconds + 1))] = 0;
    }
    if (second > second_) second_ = second;
  }

  Clock::time_point start_;
  int64_t second_ = 0;
  std::array<uint64_t, kSeconds + 1> counts_{};
};

}  // namespace outbox::sdk::detail
