// RetryLog: a repeating failure is logged once, then summarised at most once a
// window, counted per loop and reason; Backoff doubles up to its cap and resets.
#include "log/retry_log.hpp"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/stats.hpp"
#include "util/backoff.hpp"

namespace outbox::relay {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TimePoint = RetryLog::Clock::time_point;

struct Captured {
  std::vector<std::pair<spdlog::level::level_enum, std::string>> lines;
  RetryLog::Sink sink() {
    return [this](spdlog::level::level_enum l, const std::string& s) { lines.emplace_back(l, s); };
  }
};

TEST(RetryLog, ARepeatingFailureIsLoggedOnceThenSummarisedPerWindow) {
  Captured out;
  LabeledCounter counter;
  Failing failing;
  RetryLog log("ack", &counter, &failing, seconds(60), out.sink());
  const TimePoint t0{};
  // 10,000 failures a second for 150 s: the old flood.
  uint64_t n = 0;
  for (TimePoint t = t0; t < t0 + seconds(150); t += milliseconds(1)) {
    log.Failure(t, spdlog::level::err, "permission_denied", "postgres: acknowledging 50 events failed: denied");
    ++n;
  }
  ASSERT_EQ(out.lines.size(), 3u);  // the first, then one summary at 60 s and one at 120 s
  EXPECT_EQ(out.lines[0].second, "postgres: acknowledging 50 events failed: denied");
  EXPECT_EQ(out.lines[0].first, spdlog::level::err);
  EXPECT_EQ(out.lines[1].second,
            "postgres: acknowledging 50 events failed: denied (repeated 60,000 times in the last 60 s)");
  EXPECT_EQ(out.lines[2].second,
            "postgres: acknowledging 50 events failed: denied (repeated 60,000 times in the last 60 s)");
  EXPECT_TRUE(log.failing());
  EXPECT_EQ(log.failures(), n);
  EXPECT_EQ(log.last_reason(), "permission_denied");
  EXPECT_EQ(counter.Snapshot().at("ack\tpermission_denied"), n);
  EXPECT_GT(failing.Get().since_unix_ms, 0);
  EXPECT_EQ(failing.Get().reason, "permission_denied");

  // Recovery: the repeats not yet summarised, then one line.
  log.Success(t0 + seconds(150));
  ASSERT_EQ(out.lines.size(), 5u);
  EXPECT_EQ(out.lines[3].second,
            "postgres: acknowledging 50 events failed: denied (repeated 29,999 times in the last 30 s)");
  EXPECT_EQ(out.lines[4].second, "ack: recovered after 150,000 failed attempts in 150.0 s");
  EXPECT_EQ(out.lines[4].first, spdlog::level::info);
  EXPECT_FALSE(log.failing());
  EXPECT_EQ(failing.Get().since_unix_ms, 0) << "cleared on recovery";
  log.Success(t0 + seconds(151));
  EXPECT_EQ(out.lines.size(), 5u) << "a success without failures logs nothing";
}

TEST(RetryLog, EachReasonHasItsOwnWindowSoAlternatingReasonsDoNotFlood) {
  Captured out;
  LabeledCounter counter;
  RetryLog log("connect", &counter, nullptr, seconds(60), out.sink());
  const TimePoint t0{};
  for (int i = 0; i < 1000; ++i) {
    const bool even = i % 2 == 0;
    log.Failure(t0 + milliseconds(i), spdlog::level::warn, even ? "too_many_connections" : "connection_refused",
                even ? "postgres: too many clients" : "postgres: refused");
  }
  ASSERT_EQ(out.lines.size(), 2u);
  EXPECT_EQ(out.lines[0].second, "postgres: too many clients");
  EXPECT_EQ(out.lines[1].second, "postgres: refused");
  EXPECT_EQ(counter.Snapshot().at("connect\ttoo_many_connections"), 500u);
  EXPECT_EQ(counter.Snapshot().at("connect\tconnection_refused"), 500u);
  EXPECT_EQ(log.failing_since(), t0);
}

TEST(RetryLog, AFailureAfterARecoveryIsLoggedAgainAtOnce) {
  Captured out;
  RetryLog log("poll", nullptr, nullptr, seconds(60), out.sink());
  const TimePoint t0{};
  log.Failure(t0, spdlog::level::warn, "undefined_table", "poll failed");
  log.Success(t0 + seconds(1));
  log.Failure(t0 + seconds(2), spdlog::level::warn, "undefined_table", "poll failed");
  ASSERT_EQ(out.lines.size(), 3u);
  EXPECT_EQ(out.lines[1].second, "poll: recovered after 1 failed attempt in 1.0 s");
  EXPECT_EQ(out.lines[2].second, "poll failed");
  EXPECT_EQ(log.failing_since(), t0 + seconds(2));
}

TEST(RetryLog, Thousands) {
  EXPECT_EQ(Thousands(0), "0");
  EXPECT_EQ(Thousands(999), "999");
  EXPECT_EQ(Thousands(1000), "1,000");
  EXPECT_EQ(Thousands(1234567), "1,234,567");
}

TEST(Backoff, DoublesUpToItsCapAndResets) {
  Backoff b(milliseconds(100), milliseconds(1000));
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(200));
  EXPECT_EQ(b.Next(), milliseconds(400));
  EXPECT_EQ(b.Next(), milliseconds(800));
  EXPECT_EQ(b.Next(), milliseconds(1000));
  EXPECT_EQ(b.Next(), milliseconds(1000));
  b.Reset();
  EXPECT_EQ(b.peek(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(100));
}

}  // namespace
}  // namespace outbox::relay
