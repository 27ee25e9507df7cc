#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <spdlog/common.h>

namespace outbox::relay {

class Failing;
class LabeledCounter;

/// The log of one retry loop (reconnects, acknowledgements, polls, ...),
/// without floods: the first failure of a reason is logged at once; repeats
/// of that reason are counted and summarised at most once per `window`,
/// "<last message> (repeated 1,234 times in the last 60 s)"; the first success
/// after failures logs one "<loop>: recovered ..." line. Every failure is
/// counted in `counter` under "<loop>\t<reason>" (RenderPrometheus splits it).
///
/// `failing`, when given, follows the run of failures (for /readyz).
///
/// `reason` must be a short class ("permission_denied", PgFailureReason),
/// never the raw message: it is a metric label.
class RetryLog {
 public:
  using Sink = std::function<void(spdlog::level::level_enum, const std::string&)>;
  using Clock = std::chrono::steady_clock;

  RetryLog(std::string loop, LabeledCounter* counter, Failing* failing = nullptr,
           std::chrono::seconds window = std::chrono::seconds(60), Sink sink = {});

  /// One failed attempt.
  void Failure(Clock::time_point now, spdlog::level::level_enum level, std::string_view reason,
               const std::string& message);
  /// An attempt succeeded: ends a run of failures (logs the recovery once).
  void Success(Clock::time_point now);

  /// Without the "recovered" line (summaries of repeats are still written):
  /// for loops whose recovery another log already tells (resyncs).
  void QuietRecovery() { log_recovery_ = false; }

  bool failing() const { return failures_ > 0; }
  /// When the current run of failures began (meaningful while failing()).
  Clock::time_point failing_since() const { return since_; }
  /// The reason of the last failure ("" before any).
  const std::string& last_reason() const { return last_reason_; }
  /// Failed attempts in the current run.
  uint64_t failures() const { return failures_; }

 private:
  struct PerReason {
    Clock::time_point window_start{};
    uint64_t suppressed = 0;
    std::string last_message;
    spdlog::level::level_enum level = spdlog::level::warn;
  };
  void Emit(spdlog::level::level_enum level, const std::string& line) const;
  void Summarise(PerReason& r, Clock::time_point now) const;

  std::string loop_;
  LabeledCounter* counter_;
  Failing* failing_;
  std::chrono::seconds window_;
  Sink sink_;
  std::map<std::string, PerReason, std::less<>> reasons_;
  uint64_t failures_ = 0;
  bool log_recovery_ = true;
  Clock::time_point since_{};
  std::string last_reason_;
};

/// 1234567 -> "1,234,567".
std::string Thousands(uint64_t n);

}  // namespace outbox::relay
