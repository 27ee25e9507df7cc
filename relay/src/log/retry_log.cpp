#include "log/retry_log.hpp"

#include <cstdio>

#include <spdlog/spdlog.h>

#include "pipeline/stats.hpp"
#include "util/clock.hpp"

namespace outbox::relay {

std::string Thousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

RetryLog::RetryLog(std::string loop, LabeledCounter* counter, Failing* failing, std::chrono::seconds window, Sink sink)
    : loop_(std::move(loop)), counter_(counter), failing_(failing), window_(window), sink_(std::move(sink)) {}

void RetryLog::Emit(spdlog::level::level_enum level, const std::string& line) const {
  if (sink_) {
    sink_(level, line);
  } else {
    spdlog::log(level, "{}", line);
  }
}

void RetryLog::Summarise(PerReason& r, Clock::time_point now) const {
  if (r.suppressed == 0) return;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - r.window_start).count();
  Emit(r.level, r.last_message + " (repeated " + Thousands(r.suppressed) + (r.suppressed == 1 ? " time" : " times") +
                    " in the last " + std::to_string(std::max<int64_t>(secs, 1)) + " s)");
  r.suppressed = 0;
}

void RetryLog::Failure(Clock::time_point now, spdlog::level::level_enum level, std::string_view reason,
                       const std::string& message) {
  if (failures_ == 0) since_ = now;
  ++failures_;
  last_reason_ = std::string(reason);
  if (counter_ != nullptr) counter_->Add(loop_ + '\t' + last_reason_);
  if (failing_ != nullptr) failing_->Fail(UnixMillis(), last_reason_);
  auto it = reasons_.find(reason);
  if (it == reasons_.end()) {
    // First of its kind: logged at once, its window starts.
    PerReason r;
    r.window_start = now;
    r.level = level;
    r.last_message = message;
    reasons_.emplace(last_reason_, std::move(r));
    Emit(level, message);
    return;
  }
  PerReason& r = it->second;
  r.last_message = message;
  r.level = level;
  ++r.suppressed;
  if (now - r.window_start >= window_) {
    Summarise(r, now);
    r.window_start = now;
  }
}

void RetryLog::Success(Clock::time_point now) {
  if (failures_ == 0) return;
  if (failing_ != nullptr) failing_->Clear();
  for (auto& [reason, r] : reasons_) Summarise(r, now);
  const double secs = std::chrono::duration<double>(now - since_).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", secs);
  if (log_recovery_) {
    Emit(spdlog::level::info, loop_ + ": recovered after " + Thousands(failures_) + " failed attempt" +
                                  (failures_ == 1 ? "" : "s") + " in " + buf + " s");
  }
  reasons_.clear();
  failures_ = 0;
  last_reason_.clear();
}

}  // namespace outbox::relay
