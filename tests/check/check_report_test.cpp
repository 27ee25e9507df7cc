// The comparison behind `outbox-relay check`: rows + records -> report, with no servers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "check/check_format.hpp"
#include "check/check_time.hpp"
#include "check/delivery_comparer.hpp"

namespace outbox::relay {
namespace {

constexpr double kT0 = 1767225600;  // 2026-01-01T00:00:00Z

CheckRow Row(const std::string& id, const std::string& aggregate, int64_t seq, double created,
             std::optional<double> published) {
  return CheckRow{id, "order", aggregate, seq, "t.order", kT0 + created, published ? kT0 + *published : published};
}

CheckRecord Record(const std::string& id, const std::string& key, int32_t partition, int64_t offset,
                   double timestamp_s) {
  return CheckRecord{
      "t.order", partition, offset, key, id, std::nullopt, static_cast<int64_t>((kT0 + timestamp_s) * 1000)};
}

CheckWindow Window() {
  CheckWindow w;
  w.now = kT0 + 1000;
  w.published_before = kT0 + 1000;
  return w;
}

TEST(CheckReport, CleanRunCountsEverything) {
  DeliveryComparer c(Window());
  c.AddRow(Row("e1", "o-1", 1, 0, 1));
  c.AddRow(Row("e2", "o-1", 2, 1, 2));
  c.AddRow(Row("e3", "o-2", 3, 2, 3));
  c.AddRow(Row("e4", "o-2", 4, 3, std::nullopt));  // pending: not published yet, not delivered
  // Latencies 10, 20, 30 ms.
  const CheckReport r =
      c.Compare({Record("e3", "o-2", 1, 0, 2.030), Record("e1", "o-1", 0, 0, 0.010), Record("e2", "o-1", 0, 1, 1.020)});
  EXPECT_EQ(r.committed, 4u);
  EXPECT_EQ(r.published, 3u);
  EXPECT_EQ(r.pending, 1u);
  EXPECT_EQ(r.delivered, 3u);
  EXPECT_EQ(r.lost + r.phantom + r.duplicates + r.inversions + r.foreign, 0u);
  EXPECT_TRUE(r.Ok());
  ASSERT_TRUE(r.latency_p50_ms && r.latency_p99_ms && r.latency_max_ms);
  EXPECT_NEAR(*r.latency_p50_ms, 20, 0.01);
  EXPECT_NEAR(*r.latency_p99_ms, 30, 0.01);
  EXPECT_NEAR(*r.latency_max_ms, 30, 0.01);
  ASSERT_TRUE(r.throughput_per_s);
  EXPECT_NEAR(*r.throughput_per_s, 1.0, 1e-9) << "3 published rows from created 0 s to published 3 s";
  EXPECT_EQ(CheckSummaryLine(r),
            "check: committed=4 published=3 pending=1 dead_lettered=0 delivered=3 lost=0 phantom=0 duplicates=0 "
            "inversions=0 latency_ms p50=20.0 p99=30.0 max=30.0 throughput=1/s foreign=0 outside_window=0");
}

TEST(CheckReport, LostIsAPublishedRowNeverDelivered) {
  CheckWindow w = Window();
  w.published_before = kT0 + 50;
  DeliveryComparer c(w);
  c.AddRow(Row("e1", "o-1", 1, 0, 1));
  c.AddRow(Row("e2", "o-1", 2, 0, 2));             // lost
  c.AddRow(Row("e3", "o-1", 3, 0, std::nullopt));  // pending, not lost
  c.AddRow(Row("e4", "o-1", 4, 0, 60));            // marked after the watermarks: not lost
  const CheckReport r = c.Compare({Record("e1", "o-1", 0, 0, 1)});
  EXPECT_EQ(r.lost, 1u);
  EXPECT_EQ(r.published_after_start, 1u);
  EXPECT_EQ(r.pending, 1u);
  EXPECT_FALSE(r.Ok());
  ASSERT_EQ(r.examples.at("lost").size(), 1u);
  EXPECT_EQ(r.examples.at("lost")[0].event_id, "e2");
  EXPECT_EQ(r.examples.at("lost")[0].aggregate, "order/o-1");
  EXPECT_EQ(CheckDetailLines(r)[0],
            "check: lost event e2 aggregate order/o-1: seq 2 marked published at 2026-01-01T00:00:02.000000Z, "
            "never in t.order");
}

TEST(CheckReport, DeadLetteredIsCommittedNotLost) {
  DeliveryComparer c(Window());
  c.AddRow(Row("e1", "o-1", 1, 0, 1));
  c.AddDeadLetter(Row("e2", "o-1", 2, 0, std::nullopt));
  const CheckReport r = c.Compare({Record("e1", "o-1", 0, 0, 1)});
  EXPECT_EQ(r.committed, 2u);
  EXPECT_EQ(r.dead_lettered, 1u);
  EXPECT_EQ(r.published, 1u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_TRUE(r.Ok());
}

TEST(CheckReport, PhantomIsAnUnknownEventIdInsideTheWindow) {
  CheckWindow w = Window();
  w.phantom_since = kT0 + 100;
  DeliveryComparer c(w);
  c.AddRow(Row("e1", "o-1", 1, 150, 151));
  CheckRecord in_window = Record("ghost", "o-9", 0, 1, 200);
  in_window.created_at = kT0 + 200;
  CheckRecord too_old = Record("old", "o-8", 0, 2, 50);
  too_old.created_at = kT0 + 50;                              // e.g. a row retention deleted long ago
  CheckRecord no_header = Record("stamp", "o-7", 0, 3, 300);  // no created_at header: broker timestamp decides
  CheckRecord future = Record("future", "o-6", 0, 4, 300);
  future.created_at = kT0 + 5000;
  CheckRecord foreign = Record("", "k", 0, 5, 300);
  foreign.event_id.reset();
  const CheckReport r = c.Compare({Record("e1", "o-1", 0, 0, 151), in_window, too_old, no_header, future, foreign});
  EXPECT_EQ(r.phantom, 2u) << "ghost and stamp";
  EXPECT_EQ(r.outside_window, 2u) << "old and future";
  EXPECT_EQ(r.foreign, 1u);
  EXPECT_EQ(r.delivered, 6u);
  EXPECT_FALSE(r.Ok());
  ASSERT_EQ(r.examples.at("phantom").size(), 2u);
  EXPECT_EQ(r.examples.at("phantom")[0].event_id, "ghost");
  EXPECT_EQ(r.examples.at("phantom")[0].detail,
            "t.order/0@1: no such event in the outbox or dead_letter (created_at 2026-01-01T00:03:20.000000Z)");
  EXPECT_EQ(r.examples.at("foreign")[0].detail, "t.order/0@5: no event_id header");
}

TEST(CheckReport, ForeignRecordsAloneDoNotFail) {
  DeliveryComparer c(Window());
  CheckRecord foreign = Record("", "k", 0, 0, 1);
  foreign.event_id.reset();
  const CheckReport r = c.Compare({foreign});
  EXPECT_EQ(r.foreign, 1u);
  EXPECT_EQ(r.phantom, 0u);
  EXPECT_TRUE(r.Ok());
}

TEST(CheckReport, DuplicatesAreDeliveriesBeyondTheFirst) {
  DeliveryComparer c(Window());
  c.AddRow(Row("e1", "o-1", 1, 0, 1));
  c.AddRow(Row("e2", "o-1", 2, 0, 1));
  // e1 again after e2 (a relay restart re-published it): a duplicate, not an inversion.
  const CheckReport r = c.Compare({Record("e1", "o-1", 0, 0, 1), Record("e2", "o-1", 0, 1, 1),
                                   Record("e1", "o-1", 0, 2, 2), Record("e1", "o-1", 0, 3, 3)});
  EXPECT_EQ(r.duplicates, 2u);
  EXPECT_EQ(r.inversions, 0u);
  EXPECT_EQ(r.delivered, 4u);
  EXPECT_TRUE(r.Ok()) << "duplicates are allowed by at-least-once";
  EXPECT_EQ(r.examples.at("duplicate")[0].detail, "again at t.order/0@2, first at t.order/0@0");
}

TEST(CheckReport, InversionIsALowerSeqAfterAHigherOneOfTheSameAggregate) {
  DeliveryComparer c(Window());
  c.AddRow(Row("a1", "o-1", 10, 0, 1));
  c.AddRow(Row("a2", "o-1", 11, 0, 1));
  c.AddRow(Row("a3", "o-1", 12, 0, 1));
  c.AddRow(Row("b1", "o-2", 5, 0, 1));  // another aggregate, interleaved: no inversion
  // Offsets in the partition: a2, b1, a1, a3 -> a1 (seq 10) after a2 (seq 11).
  const CheckReport r = c.Compare({Record("a3", "o-1", 0, 3, 1), Record("a1", "o-1", 0, 2, 1),
                                   Record("b1", "o-2", 0, 1, 1), Record("a2", "o-1", 0, 0, 1)});
  EXPECT_EQ(r.inversions, 1u);
  EXPECT_FALSE(r.Ok());
  EXPECT_EQ(r.examples.at("inversion")[0].event_id, "a1");
  EXPECT_EQ(r.examples.at("inversion")[0].detail, "seq 10 at t.order/0@2 after seq 11 at offset 0");
}

TEST(CheckReport, SinceWindowDropsOlderRows) {
  CheckWindow w = Window();
  w.since = kT0 + 100;
  w.phantom_since = kT0 + 100;
  DeliveryComparer c(w);
  c.AddRow(Row("old", "o-1", 1, 10, 11));  // before the window: ignored, even though never delivered
  c.AddRow(Row("new", "o-1", 2, 110, 111));
  CheckRecord old_record = Record("older", "o-1", 0, 0, 5);
  old_record.created_at = kT0 + 5;
  CheckRecord new_record = Record("new", "o-1", 0, 1, 111);
  new_record.created_at = kT0 + 110;
  const CheckReport r = c.Compare({old_record, new_record});
  EXPECT_EQ(r.committed, 1u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.phantom, 0u);
  EXPECT_EQ(r.outside_window, 1u);
  EXPECT_TRUE(r.Ok());
}

TEST(CheckReport, NoDeliveriesMeansNoLatency) {
  DeliveryComparer c(Window());
  const CheckReport r = c.Compare({});
  EXPECT_FALSE(r.latency_p50_ms);
  EXPECT_FALSE(r.throughput_per_s);
  EXPECT_NE(CheckSummaryLine(r).find("latency_ms p50=- p99=- max=- throughput=-/s"), std::string::npos);
  const auto j = nlohmann::json::parse(CheckReportJson(r));
  EXPECT_TRUE(j["latency_ms"]["p50"].is_null());
  EXPECT_TRUE(j["ok"].get<bool>());
}

TEST(CheckReport, IncompleteFailsAndSaysSo) {
  DeliveryComparer c(Window());
  CheckReport r = c.Compare({});
  r.complete = false;
  r.incomplete_reason = "timed out";
  EXPECT_FALSE(r.Ok());
  EXPECT_EQ(CheckDetailLines(r).back(),
            "check: INCOMPLETE: timed out; the figures above are partial; Hint: raise --timeout-ms");
  EXPECT_FALSE(nlohmann::json::parse(CheckReportJson(r))["complete"].get<bool>());
}

TEST(CheckReport, JsonHasTheSameFigures) {
  DeliveryComparer c(Window());
  c.AddRow(Row("e1", "o-1", 1, 0, 1));
  const auto j = nlohmann::json::parse(CheckReportJson(c.Compare({Record("e1", "o-1", 0, 0, 0.5)})));
  EXPECT_EQ(j["committed"], 1);
  EXPECT_EQ(j["delivered"], 1);
  EXPECT_EQ(j["lost"], 0);
  EXPECT_NEAR(j["latency_ms"]["max"].get<double>(), 500, 0.01);
}

TEST(CheckTime, ParsesAndFormatsRfc3339) {
  EXPECT_EQ(ParseRfc3339("2026-01-01T00:00:00Z"), kT0);
  EXPECT_NEAR(*ParseRfc3339("2026-01-01T02:00:00.25+02:00"), kT0 + 0.25, 1e-6);
  EXPECT_NEAR(*ParseRfc3339("2025-12-31T23:00:00-01:00"), kT0, 1e-6);
  EXPECT_FALSE(ParseRfc3339("2026-01-01"));
  EXPECT_FALSE(ParseRfc3339("2026-13-01T00:00:00Z"));
  EXPECT_EQ(FormatRfc3339(kT0 + 1.5), "2026-01-01T00:00:01.500000Z");
}

TEST(CheckTime, SinceIsAbsoluteOrRelative) {
  EXPECT_EQ(SinceSpec::Parse("-1h").Resolve(kT0), kT0 - 3600);
  EXPECT_EQ(SinceSpec::Parse("-30m").Resolve(kT0), kT0 - 1800);
  EXPECT_EQ(SinceSpec::Parse("-2d").Resolve(kT0), kT0 - 172800);
  EXPECT_EQ(SinceSpec::Parse("-1.5s").Resolve(kT0), kT0 - 1.5);
  EXPECT_EQ(SinceSpec::Parse("2026-01-01T00:00:00Z").Resolve(kT0 + 99), kT0);
  for (const char* bad : {"1h", "-1w", "yesterday", ""}) EXPECT_THROW(SinceSpec::Parse(bad), std::invalid_argument);
}

}  // namespace
}  // namespace outbox::relay
