#include "pipeline/stats.hpp"

#include <algorithm>

namespace outbox::relay {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::Observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  counts_[static_cast<size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  double s = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(s, s + value, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::Counts() const {
  std::vector<uint64_t> out(counts_.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

void LabeledCounter::Add(const std::string& label, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[label] += n;
}

std::map<std::string, uint64_t> LabeledCounter::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return values_;
}

void Failing::Fail(int64_t now_unix_ms, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_.since_unix_ms == 0) state_.since_unix_ms = now_unix_ms;
  state_.reason = reason;
}

void Failing::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = State{};
}

Failing::State Failing::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

}  // namespace outbox::relay
