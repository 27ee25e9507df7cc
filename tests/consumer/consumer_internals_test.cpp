// Pure checks of the consumer's building blocks: SQL text helpers, header
// encoding, event id validation, the rate window, histograms and the
// Prometheus text.
#include <cmath>

#include <gtest/gtest.h>

#include "outbox/consumer_metrics.hpp"
#include "rate_window.hpp"
#include "sql_text.hpp"

namespace outbox::sdk::detail {

TEST(ConsumerSqlText, ArrayLiteralsEscapeQuotesAndBackslashes) {
  EXPECT_EQ(TextArray({}), "{}");
  EXPECT_EQ(TextArray({"a", "b\"c", "d\\e", ""}), R"({"a","b\"c","d\\e",""})");
  EXPECT_EQ(IntArray({1, -2, 3}), "{1,-2,3}");
}

TEST(ConsumerSqlText, HexRoundTripsAnyBytes) {
  const std::string bytes("\x00\xff k\x7f", 5);
  EXPECT_EQ(ToHex(bytes), "00ff206b7f");
  EXPECT_EQ(FromHex(ToHex(bytes)), bytes);
  EXPECT_EQ(FromHex("abc"), "");
  EXPECT_EQ(FromHex("zz"), "");
}

TEST(ConsumerSqlText, HeadersRoundTripWithRepeatsEmptyValuesAndBinary) {
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"event_id", "a"}, {"event_id", "b"}, {"empty", ""}, {"bin", std::string("\x00\x01", 2)}};
  EXPECT_EQ(DecodeHeaders(EncodeHeaders(headers)), headers);
  EXPECT_TRUE(DecodeHeaders("").empty());
  EXPECT_TRUE(DecodeHeaders(std::string("\x00\x00\x00\x09short", 9)).empty());  // truncated: stops
}

TEST(ConsumerSqlText, StorableTextReplacesInvalidUtf8AndNulAndCuts) {
  EXPECT_TRUE(IsStorableText("plain ascii"));
  EXPECT_TRUE(IsStorableText("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsStorableText(std::string("nul\0x", 5)));
  EXPECT_FALSE(IsStorableText("\xc3"));          // truncated sequence
  EXPECT_FALSE(IsStorableText("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsStorableText("\xed\xa0\x80"));  // surrogate
  EXPECT_EQ(StorableText(std::string("a\0b\xff", 4)), "a?b?");
  EXPECT_EQ(StorableText("\xe2\x82\xac\xe2\x82\xac", 4), "\xe2\x82\xac");  // never cuts inside a character
}

TEST(ConsumerSqlText, EventIdProblems) {
  EXPECT_EQ(EventIdProblem("0af7651916cd43dd", true), "");
  EXPECT_EQ(EventIdProblem("", false), "missing event_id header");
  EXPECT_EQ(EventIdProblem("", true), "missing event_id header");
  EXPECT_EQ(EventIdProblem(std::string(kMaxEventIdBytes, 'x'), true), "");
  EXPECT_EQ(EventIdProblem(std::string(kMaxEventIdBytes + 1, 'x'), true),
            "invalid event_id header: 1025 bytes, at most 1024");
  EXPECT_EQ(EventIdProblem("a\xff", true), "invalid event_id header: not UTF-8 text without NUL bytes");
}

TEST(ConsumerRateWindow, AveragesTheLastTenFullSeconds) {
  const auto t0 = RateWindow::Clock::now();
  RateWindow w(t0);
  EXPECT_EQ(w.PerSecond(t0), 0.0);
  w.Add(100, t0);
  w.Add(50, t0 + std::chrono::milliseconds(1500));
  EXPECT_DOUBLE_EQ(w.PerSecond(t0 + std::chrono::milliseconds(2100)), 75.0);                         // seconds 0 and 1
  EXPECT_DOUBLE_EQ(w.PerSecond(t0 + std::chrono::seconds(11) + std::chrono::milliseconds(1)), 5.0);  // 50 / 10
  EXPECT_DOUBLE_EQ(w.PerSecond(t0 + std::chrono::seconds(40)), 0.0);
}

}  // namespace outbox::sdk::detail

namespace outbox::sdk {

TEST(ConsumerStats, HistogramBucketsAndQuantiles) {
  LatencyHistogram h;
  for (double ms : {0.5, 3.0, 3.0, 40.0, 90000.0}) h.Observe(ms);
  EXPECT_EQ(h.count, 5u);
  EXPECT_EQ(h.buckets[0], 1u);  // <= 1 ms
  EXPECT_EQ(h.buckets[2], 2u);  // <= 5 ms
  EXPECT_EQ(h.buckets[5], 1u);  // <= 50 ms
  EXPECT_EQ(h.buckets.back(), 1u);
  EXPECT_EQ(h.QuantileUpperBoundMs(0.5), 5.0);
  EXPECT_EQ(h.QuantileUpperBoundMs(0.8), 50.0);
  EXPECT_TRUE(std::isinf(h.QuantileUpperBoundMs(1.0)));
}

TEST(ConsumerMetrics, PrometheusTextCarriesCountersGaugesLagAndHistograms) {
  Stats s;
  s.processed = 7;
  s.duplicates = 3;
  s.dead_lettered = 1;
  s.dead_letter_depth = 1;
  s.batches = 2;
  s.lag = {{"outbox.event.order", 0, 10, 12, 2}, {"outbox.event.order", 1, -1, -1, -1}};
  s.processing_time.Observe(3);
  const std::string text = PrometheusText(s, "loyal\"ty");
  EXPECT_NE(text.find("# TYPE outbox_consumer_records_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("outbox_consumer_records_total{consumer=\"loyal\\\"ty\",outcome=\"processed\"} 7\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("outbox_consumer_dedup_hit_ratio{consumer=\"loyal\\\"ty\"} 0.3\n"), std::string::npos);
  EXPECT_NE(text.find("outbox_consumer_lag_records{consumer=\"loyal\\\"ty\",topic=\"outbox.event.order\","
                      "partition=\"0\"} 2\n"),
            std::string::npos);
  EXPECT_EQ(text.find("partition=\"1\""), std::string::npos);  // unknown lag is left out
  EXPECT_NE(text.find("outbox_consumer_processing_seconds_bucket{consumer=\"loyal\\\"ty\",le=\"0.005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("outbox_consumer_processing_seconds_count{consumer=\"loyal\\\"ty\"} 1\n"), std::string::npos);
}

}  // namespace outbox::sdk
