// The /metrics body for a known RelayStats state, line by line; label escaping;
// cumulative histogram buckets; sample value formatting; readiness decisions.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http/prometheus.hpp"
#include "http/readiness.hpp"
#include "pipeline/stats.hpp"

namespace outbox::relay {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(PrometheusRender, KnownStateGivesExactlyTheseLines) {
  RelayStats s;
  s.read = 120;
  s.acked = 100;
  s.dead_lettered = 2;
  s.held = 3;
  s.dead_letter_failures = 6;
  s.reserved_headers_dropped = 7;
  s.ack_missing_rows = 8;
  s.held_keys = 2;
  s.in_flight = 17;
  s.backlog_rows = 42;
  s.oldest_age_ms = 1500;
  s.producer_queue = 9;
  s.pg_reconnects = 1;
  s.resyncs = 4;
  s.producer_rebuilds = 5;
  s.pg_connected = true;
  s.kafka_connected = false;
  s.last_ack_unix_ms = 1700000000123;
  s.published_by_topic.Add("orders", 97);
  s.published_by_topic.Add("x\"y\\z\nw", 3);  // a label value that needs every escape
  s.errors_by_reason.Add("_MSG_TIMED_OUT", 6);
  for (double v : {0.5, 0.25, 0.25, 0.125, 8.0, 512.0}) s.commit_to_ack_seconds.Observe(v);
  for (double v : {1.0, 10.0, 11.0, 20000.0}) s.batch_rows.Observe(v);
  s.transactions_committed = 11;
  s.transactions_aborted = 2;
  s.checkpoint_covered = 4;
  s.checkpoint_unix_ms = 1700000000500;
  for (double v : {40.0, 5000.0}) s.transaction_events.Observe(v);
  s.transaction_commit_seconds.Observe(0.004);

  const std::string expected = R"(# HELP outbox_relay_events_published_total Events the broker confirmed, by topic.
# TYPE outbox_relay_events_published_total counter
outbox_relay_events_published_total{topic="orders"} 97
outbox_relay_events_published_total{topic="x\"y\\z\nw"} 3
# HELP outbox_relay_publish_errors_total Failed deliveries, by librdkafka error name ("bad_row": a row that cannot become a record).
# TYPE outbox_relay_publish_errors_total counter
outbox_relay_publish_errors_total{reason="_MSG_TIMED_OUT"} 6
# HELP outbox_relay_retries_total Failed attempts of the relay's retry loops (connect, read, tail, ack, resync, dead_letter), by loop and reason class.
# TYPE outbox_relay_retries_total counter
# HELP outbox_relay_gauge_errors_total Backlog, age or slot measurements that failed (the gauge is then absent), by reason class.
# TYPE outbox_relay_gauge_errors_total counter
# HELP outbox_relay_commit_to_ack_skipped_total commit_to_ack samples left out because created_at is in the future or more than 7 days old.
# TYPE outbox_relay_commit_to_ack_skipped_total counter
# HELP outbox_relay_events_read_total Outbox rows read from Postgres (re-reads after a resync included).
# TYPE outbox_relay_events_read_total counter
outbox_relay_events_read_total 120
# HELP outbox_relay_events_acked_total Events acknowledged in Postgres (rows deleted or marked).
# TYPE outbox_relay_events_acked_total counter
outbox_relay_events_acked_total 100
# HELP outbox_relay_dead_lettered_total Events moved to the dead-letter table.
# TYPE outbox_relay_dead_lettered_total counter
outbox_relay_dead_lettered_total 2
# HELP outbox_relay_dead_letter_failures_total Moves to the dead-letter table that failed; the row stays in the outbox and its key is held.
# TYPE outbox_relay_dead_letter_failures_total counter
outbox_relay_dead_letter_failures_total 6
# HELP outbox_relay_reserved_headers_dropped_total Row headers dropped because the relay sets that name itself (event_id, event_type, ...).
# TYPE outbox_relay_reserved_headers_dropped_total counter
outbox_relay_reserved_headers_dropped_total 7
# HELP outbox_relay_ack_missing_rows_total Published events whose outbox row was already gone when the relay acknowledged them.
# TYPE outbox_relay_ack_missing_rows_total counter
outbox_relay_ack_missing_rows_total 8
# HELP outbox_relay_held_keys Keys held behind an event being retried or dead-lettered.
# TYPE outbox_relay_held_keys gauge
outbox_relay_held_keys 2
# HELP outbox_relay_held_events Events held behind a dead-lettered event of their key.
# TYPE outbox_relay_held_events gauge
outbox_relay_held_events 3
# HELP outbox_relay_in_flight_events Events handed to the producer without a delivery report yet.
# TYPE outbox_relay_in_flight_events gauge
outbox_relay_in_flight_events 17
# HELP outbox_relay_backlog_rows Unpublished outbox rows, in flight included (measured every 2 s).
# TYPE outbox_relay_backlog_rows gauge
outbox_relay_backlog_rows 42
# HELP outbox_relay_oldest_unpublished_age_seconds Age of the oldest unpublished outbox row, 0 when there is none (measured every 2 s).
# TYPE outbox_relay_oldest_unpublished_age_seconds gauge
outbox_relay_oldest_unpublished_age_seconds 1.5
# HELP outbox_relay_commit_to_ack_seconds From the writing transaction's created_at to the broker's confirmation.
# TYPE outbox_relay_commit_to_ack_seconds histogram
outbox_relay_commit_to_ack_seconds_bucket{le="0.001"} 0
outbox_relay_commit_to_ack_seconds_bucket{le="0.0025"} 0
outbox_relay_commit_to_ack_seconds_bucket{le="0.005"} 0
outbox_relay_commit_to_ack_seconds_bucket{le="0.01"} 0
outbox_relay_commit_to_ack_seconds_bucket{le="0.025"} 0
outbox_relay_commit_to_ack_seconds_bucket{le="0.05"} 0
outbox_relay_commit_to_ack_seconds_bucket{le="0.1"} 0
outbox_relay_commit_to_ack_seconds_bucket{le="0.25"} 3
outbox_relay_commit_to_ack_seconds_bucket{le="0.5"} 4
outbox_relay_commit_to_ack_seconds_bucket{le="1"} 4
outbox_relay_commit_to_ack_seconds_bucket{le="2.5"} 4
outbox_relay_commit_to_ack_seconds_bucket{le="5"} 4
outbox_relay_commit_to_ack_seconds_bucket{le="10"} 5
outbox_relay_commit_to_ack_seconds_bucket{le="30"} 5
outbox_relay_commit_to_ack_seconds_bucket{le="120"} 5
outbox_relay_commit_to_ack_seconds_bucket{le="+Inf"} 6
outbox_relay_commit_to_ack_seconds_sum 521.125
outbox_relay_commit_to_ack_seconds_count 6
# HELP outbox_relay_poll_batch_rows Rows per non-empty poll of the outbox.
# TYPE outbox_relay_poll_batch_rows histogram
outbox_relay_poll_batch_rows_bucket{le="1"} 1
outbox_relay_poll_batch_rows_bucket{le="10"} 2
outbox_relay_poll_batch_rows_bucket{le="50"} 3
outbox_relay_poll_batch_rows_bucket{le="100"} 3
outbox_relay_poll_batch_rows_bucket{le="250"} 3
outbox_relay_poll_batch_rows_bucket{le="500"} 3
outbox_relay_poll_batch_rows_bucket{le="1000"} 3
outbox_relay_poll_batch_rows_bucket{le="2500"} 3
outbox_relay_poll_batch_rows_bucket{le="5000"} 3
outbox_relay_poll_batch_rows_bucket{le="10000"} 3
outbox_relay_poll_batch_rows_bucket{le="+Inf"} 4
outbox_relay_poll_batch_rows_sum 20022
outbox_relay_poll_batch_rows_count 4
# HELP outbox_relay_producer_queue_records Records inside librdkafka's queue, not yet confirmed.
# TYPE outbox_relay_producer_queue_records gauge
outbox_relay_producer_queue_records 9
# HELP outbox_relay_postgres_reconnects_total Reconnections to Postgres after a lost connection.
# TYPE outbox_relay_postgres_reconnects_total counter
outbox_relay_postgres_reconnects_total 1
# HELP outbox_relay_resyncs_total Times the relay re-read the outbox from its first row after a failed delivery or a reconnect.
# TYPE outbox_relay_resyncs_total counter
outbox_relay_resyncs_total 4
# HELP outbox_relay_producer_rebuilds_total Kafka producers rebuilt after a fatal librdkafka error.
# TYPE outbox_relay_producer_rebuilds_total counter
outbox_relay_producer_rebuilds_total 5
# HELP outbox_relay_transactions_committed_total Kafka transactions committed (kafka.delivery = "exactly_once").
# TYPE outbox_relay_transactions_committed_total counter
outbox_relay_transactions_committed_total 11
# HELP outbox_relay_transactions_aborted_total Kafka transactions aborted; their events are published again in a later one.
# TYPE outbox_relay_transactions_aborted_total counter
outbox_relay_transactions_aborted_total 2
# HELP outbox_relay_checkpoint_covered_rows_total Rows acknowledged without publishing because the last committed checkpoint covered them.
# TYPE outbox_relay_checkpoint_covered_rows_total counter
outbox_relay_checkpoint_covered_rows_total 4
# HELP outbox_relay_checkpoint_timestamp_seconds Commit time of the last checkpoint this relay wrote or recovered (0: none).
# TYPE outbox_relay_checkpoint_timestamp_seconds gauge
outbox_relay_checkpoint_timestamp_seconds 1700000000.5
# HELP outbox_relay_transaction_events Events per committed Kafka transaction.
# TYPE outbox_relay_transaction_events histogram
outbox_relay_transaction_events_bucket{le="1"} 0
outbox_relay_transaction_events_bucket{le="10"} 0
outbox_relay_transaction_events_bucket{le="50"} 1
outbox_relay_transaction_events_bucket{le="100"} 1
outbox_relay_transaction_events_bucket{le="250"} 1
outbox_relay_transaction_events_bucket{le="500"} 1
outbox_relay_transaction_events_bucket{le="1000"} 1
outbox_relay_transaction_events_bucket{le="2500"} 1
outbox_relay_transaction_events_bucket{le="5000"} 2
outbox_relay_transaction_events_bucket{le="10000"} 2
outbox_relay_transaction_events_bucket{le="+Inf"} 2
outbox_relay_transaction_events_sum 5040
outbox_relay_transaction_events_count 2
# HELP outbox_relay_transaction_commit_seconds Time commit_transaction() took, its flush of the transaction's records included.
# TYPE outbox_relay_transaction_commit_seconds histogram
outbox_relay_transaction_commit_seconds_bucket{le="0.001"} 0
outbox_relay_transaction_commit_seconds_bucket{le="0.0025"} 0
outbox_relay_transaction_commit_seconds_bucket{le="0.005"} 1
outbox_relay_transaction_commit_seconds_bucket{le="0.01"} 1
outbox_relay_transaction_commit_seconds_bucket{le="0.025"} 1
outbox_relay_transaction_commit_seconds_bucket{le="0.05"} 1
outbox_relay_transaction_commit_seconds_bucket{le="0.1"} 1
outbox_relay_transaction_commit_seconds_bucket{le="0.25"} 1
outbox_relay_transaction_commit_seconds_bucket{le="0.5"} 1
outbox_relay_transaction_commit_seconds_bucket{le="1"} 1
outbox_relay_transaction_commit_seconds_bucket{le="2.5"} 1
outbox_relay_transaction_commit_seconds_bucket{le="5"} 1
outbox_relay_transaction_commit_seconds_bucket{le="10"} 1
outbox_relay_transaction_commit_seconds_bucket{le="+Inf"} 1
outbox_relay_transaction_commit_seconds_sum 0.004
outbox_relay_transaction_commit_seconds_count 1
# HELP outbox_relay_postgres_up 1 when the relay's Postgres connections are up.
# TYPE outbox_relay_postgres_up gauge
outbox_relay_postgres_up 1
# HELP outbox_relay_kafka_up 1 when at least one Kafka broker is reachable (librdkafka's view).
# TYPE outbox_relay_kafka_up gauge
outbox_relay_kafka_up 0
# HELP outbox_relay_last_ack_timestamp_seconds Unix time of the last acknowledgement in Postgres, 0 before the first.
# TYPE outbox_relay_last_ack_timestamp_seconds gauge
outbox_relay_last_ack_timestamp_seconds 1700000000.123
)";
  const auto got = Lines(RenderPrometheus(s)), want = Lines(expected);
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    EXPECT_EQ(i < got.size() ? got[i] : "<missing>", i < want.size() ? want[i] : "<extra>") << "line " << i + 1;
  }
  EXPECT_EQ(RenderPrometheus(s).back(), '\n');
}

TEST(PrometheusRender, FreshStatsAreWellFormedAndOmitUnknownGauges) {
  const RelayStats s;  // backlog and oldest age unknown (-1), nothing published yet
  const std::string text = RenderPrometheus(s);
  // Every line is a comment or "name{labels} value" in the 0.0.4 grammar.
  const std::regex sample(
      R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (\S+)$)re");
  const std::regex comment(R"re(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)re");
  std::set<std::string> typed;
  for (const auto& line : Lines(text)) {
    EXPECT_TRUE(std::regex_match(line, sample) || std::regex_match(line, comment)) << line;
    if (line.rfind("# TYPE ", 0) == 0) {
      EXPECT_TRUE(typed.insert(line.substr(7, line.find(' ', 7) - 7)).second) << line;
    }
  }
  EXPECT_EQ(typed.size(), 31u) << "one TYPE line per metric family";
  EXPECT_NE(text.find("# TYPE outbox_relay_backlog_rows gauge\n# HELP outbox_relay_oldest_unpublished_age_seconds"),
            std::string::npos)
      << "an unknown backlog has no sample";
  EXPECT_EQ(text.find("\noutbox_relay_backlog_rows "), std::string::npos);
  EXPECT_EQ(text.find("\noutbox_relay_oldest_unpublished_age_seconds "), std::string::npos);
  EXPECT_NE(text.find("\noutbox_relay_commit_to_ack_seconds_bucket{le=\"+Inf\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("\noutbox_relay_commit_to_ack_seconds_count 0\n"), std::string::npos);
  EXPECT_NE(text.find("\noutbox_relay_last_ack_timestamp_seconds 0\n"), std::string::npos);
  EXPECT_EQ(text.find("outbox_relay_events_published_total{"), std::string::npos);
}

TEST(PrometheusRender, BucketsAreCumulativeAndEndWithTheCount) {
  RelayStats s;
  for (int i = 0; i < 1000; ++i) s.commit_to_ack_seconds.Observe(0.0001 * i * i);  // 0 .. ~100 s
  const std::string text = RenderPrometheus(s);
  const std::regex bucket(R"re(outbox_relay_commit_to_ack_seconds_bucket\{le="([^"]+)"\} (\d+))re");
  double last = -1;
  std::string last_le;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), bucket); it != std::sregex_iterator(); ++it) {
    const double n = std::stod((*it)[2]);
    EXPECT_GE(n, last) << "le=" << (*it)[1];
    last = n;
    last_le = (*it)[1];
  }
  EXPECT_EQ(last_le, "+Inf");
  EXPECT_EQ(last, 1000);
  EXPECT_NE(text.find("\noutbox_relay_commit_to_ack_seconds_count 1000\n"), std::string::npos);
}

TEST(PrometheusRender, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("plain.topic-1_x"), "plain.topic-1_x");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), "two\\nlines");
  EXPECT_EQ(EscapeLabelValue("ünïcode"), "ünïcode");
  RelayStats s;
  s.errors_by_reason.Add("Local: \"bad\" \\ row\n");
  EXPECT_NE(
      RenderPrometheus(s).find("outbox_relay_publish_errors_total{reason=\"Local: \\\"bad\\\" \\\\ row\\n\"} 1\n"),
      std::string::npos);
}

TEST(PrometheusRender, SampleValues) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(42), "42");
  EXPECT_EQ(FormatSampleValue(-3), "-3");
  EXPECT_EQ(FormatSampleValue(0.0025), "0.0025");
  EXPECT_EQ(FormatSampleValue(0.1), "0.1");
  EXPECT_EQ(FormatSampleValue(2.5), "2.5");
  EXPECT_EQ(FormatSampleValue(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(FormatSampleValue(18446744073709551615.0), "1.8446744073709552e+19");
  EXPECT_EQ(FormatSampleValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatSampleValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatSampleValue(NAN), "NaN");
}

// ---- /readyz decisions ----

constexpr int64_t kNow = 1'700'000'000'000;
constexpr std::chrono::milliseconds kLag{60000};

RelayStats& Healthy(RelayStats& s) {
  s.pg_connected = true;
  s.kafka_connected = true;
  s.backlog_rows = 0;
  s.oldest_age_ms = 0;
  return s;
}

TEST(ReadyzDecision, ReadyWhenConnectedAndIdle) {
  RelayStats s;
  const Readiness r = EvaluateReadiness(Healthy(s), kLag, kNow, kNow - 3'600'000);
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.reason, "ok");
}

TEST(ReadyzDecision, NotReadyUntilConnected) {
  RelayStats s;  // a relay that has not connected yet
  EXPECT_EQ(EvaluateReadiness(s, kLag, kNow, kNow).reason, "postgres: not connected");
  s.pg_connected = true;
  EXPECT_EQ(EvaluateReadiness(s, kLag, kNow, kNow).reason, "kafka: no broker reachable");
  s.kafka_connected = true;
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow).ready) << "an unknown backlog cannot stall";
}

TEST(ReadyzDecision, StalledOnlyWhenOldRowsAndNoRecentAck) {
  RelayStats s;
  Healthy(s);
  s.backlog_rows = 500;
  s.oldest_age_ms = 90'000;
  s.last_ack_unix_ms = kNow - 61'000;
  const Readiness stalled = EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000);
  EXPECT_FALSE(stalled.ready);
  EXPECT_EQ(stalled.reason,
            "stalled: 500 unpublished rows, the oldest 90.0 s old, no acknowledgement for 61.0 s "
            "(http.ready_max_lag_ms = 60000)");

  s.last_ack_unix_ms = kNow - 59'000;  // old rows, but acks keep coming: catching up
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000).ready);

  s.last_ack_unix_ms = kNow - 61'000;
  s.oldest_age_ms = 59'000;  // no recent ack, but nothing old waits (a quiet outbox)
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000).ready);

  s.oldest_age_ms = 90'000;
  s.backlog_rows = 0;
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000).ready);
}

TEST(ReadyzDecision, StartUpIsAGracePeriod) {
  RelayStats s;
  Healthy(s);
  s.backlog_rows = 10;
  s.oldest_age_ms = 3'600'000;  // rows older than the relay itself
  s.last_ack_unix_ms = 0;       // nothing acknowledged yet
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow - 5'000).ready);
  const Readiness r = EvaluateReadiness(s, kLag, kNow, kNow - 70'000);
  EXPECT_FALSE(r.ready);
  EXPECT_NE(r.reason.find("no acknowledgement for 70.0 s"), std::string::npos) << r.reason;
}

TEST(ReadyzDecision, FailingReadsOrAcknowledgementsFailItOnceOlderThanTheLag) {
  RelayStats s;
  Healthy(s);
  s.read_failing.Fail(kNow - 59'000, "undefined_table");
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000).ready) << "not yet for longer than the lag";
  s.read_failing.Fail(kNow, "undefined_table");  // a later failure keeps the start of the run
  Readiness r = EvaluateReadiness(s, kLag, kNow + 2'000, kNow - 3'600'000);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason, "postgres: cannot read the outbox for 61.0 s (undefined_table) (http.ready_max_lag_ms = 60000)");
  s.read_failing.Clear();
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000).ready);

  s.ack_failing.Fail(kNow - 61'000, "permission_denied");
  r = EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason,
            "postgres: cannot acknowledge published events for 61.0 s (permission_denied) (http.ready_max_lag_ms = "
            "60000)");
}

TEST(ReadyzDecision, NotConnectedSaysWhyReconnectsFail) {
  RelayStats s;
  Healthy(s);
  s.pg_connected = false;
  s.connect_failing.Fail(kNow - 12'000, "too_many_connections");
  EXPECT_EQ(EvaluateReadiness(s, kLag, kNow, kNow).reason,
            "postgres: not connected (too_many_connections, failing for 12.0 s)");
}

TEST(ReadyzDecision, APipelineRoundThatDoesNotEndFailsIt) {
  RelayStats s;
  Healthy(s);
  s.round_unix_ms = kNow - 1'000;
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000).ready);
  s.round_unix_ms = kNow - 61'000;  // e.g. a poll waiting on a table lock without statement_timeout
  const Readiness r = EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason.rfind("stuck: the pipeline has not finished a round for 61.0 s", 0), 0u) << r.reason;
}

TEST(ReadyzDecision, AnUnmeasurableBacklogFailsItOnlyWithoutAcknowledgements) {
  RelayStats s;
  Healthy(s);
  s.backlog_rows = -1;
  s.oldest_age_ms = -1;
  s.gauge_failing.Fail(kNow - 61'000, "undefined_table");
  s.last_ack_unix_ms = kNow - 1'000;  // acknowledgements come: the pipeline moves
  EXPECT_TRUE(EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000).ready);
  s.last_ack_unix_ms = kNow - 61'000;
  const Readiness r = EvaluateReadiness(s, kLag, kNow, kNow - 3'600'000);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason.rfind("unknown: the backlog cannot be measured for 61.0 s (undefined_table)", 0), 0u) << r.reason;
}

// ---- gauges that cannot be measured, retries ----

TEST(PrometheusText, UnknownGaugesAreAbsentAndRetriesCarryLoopAndReason) {
  RelayStats s;
  s.backlog_rows = -1;
  s.oldest_age_ms = -1;
  s.retries.Add("ack\tpermission_denied", 3);
  s.gauge_errors.Add("undefined_table");
  s.latency_skipped.Add("too_old");
  const std::string text = RenderPrometheus(s);
  EXPECT_EQ(text.find("\noutbox_relay_backlog_rows "), std::string::npos) << text;
  EXPECT_EQ(text.find("\noutbox_relay_oldest_unpublished_age_seconds "), std::string::npos) << text;
  EXPECT_NE(text.find("outbox_relay_retries_total{loop=\"ack\",reason=\"permission_denied\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("outbox_relay_gauge_errors_total{reason=\"undefined_table\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("outbox_relay_commit_to_ack_skipped_total{reason=\"too_old\"} 1\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace outbox::relay
