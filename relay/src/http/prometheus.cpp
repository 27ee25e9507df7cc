#include "http/prometheus.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "http/build_info.hpp"
#include "http/metric_writer.hpp"
#include "http/process_metrics.hpp"
#include "pipeline/stats.hpp"

namespace outbox::relay {

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", value);
    return buf;
  }
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string RenderPrometheus(const RelayStats& s) {
  MetricWriter w;
  w.LabeledCounters("outbox_relay_events_published_total", "Events the broker confirmed, by topic.", "topic",
                    s.published_by_topic.Snapshot());
  w.LabeledCounters("outbox_relay_publish_errors_total",
                    "Failed deliveries, by librdkafka error name (\"bad_row\": a row that cannot become a record).",
                    "reason", s.errors_by_reason.Snapshot());
  w.Family("outbox_relay_retries_total",
           "Failed attempts of the relay's retry loops (connect, read, tail, ack, resync, dead_letter), by loop and "
           "reason class.",
           "counter");
  for (const auto& [key, n] : s.retries.Snapshot()) {
    const size_t tab = key.find('\t');
    w.Sample("outbox_relay_retries_total", {{"loop", key.substr(0, tab)}, {"reason", key.substr(tab + 1)}},
             static_cast<double>(n));
  }
  w.LabeledCounters("outbox_relay_gauge_errors_total",
                    "Backlog, age or slot measurements that failed (the gauge is then absent), by reason class.",
                    "reason", s.gauge_errors.Snapshot());
  w.LabeledCounters("outbox_relay_commit_to_ack_skipped_total",
                    "commit_to_ack samples left out because created_at is in the future or more than 7 days old.",
                    "reason", s.latency_skipped.Snapshot());
  w.Counter("outbox_relay_events_read_total", "Outbox rows read from Postgres (re-reads after a resync included).",
            static_cast<double>(s.read.load()));
  w.Counter("outbox_relay_events_acked_total", "Events acknowledged in Postgres (rows deleted or marked).",
            static_cast<double>(s.acked.load()));
  w.Counter("outbox_relay_dead_lettered_total", "Events moved to the dead-letter table.",
            static_cast<double>(s.dead_lettered.load()));
  w.Counter("outbox_relay_dead_letter_failures_total",
            "Moves to the dead-letter table that failed; the row stays in the outbox and its key is held.",
            static_cast<double>(s.dead_letter_failures.load()));
  w.Counter("outbox_relay_reserved_headers_dropped_total",
            "Row headers dropped because the relay sets that name itself (event_id, event_type, ...).",
            static_cast<double>(s.reserved_headers_dropped.load()));
  w.Counter("outbox_relay_ack_missing_rows_total",
            "Published events whose outbox row was already gone when the relay acknowledged them.",
            static_cast<double>(s.ack_missing_rows.load()));
  w.Gauge("outbox_relay_held_keys", "Keys held behind an event being retried or dead-lettered.",
          static_cast<double>(s.held_keys.load()));
  w.Gauge("outbox_relay_held_events", "Events held behind a dead-lettered event of their key.",
          static_cast<double>(s.held.load()));
  w.Gauge("outbox_relay_in_flight_events", "Events handed to the producer without a delivery report yet.",
          static_cast<double>(s.in_flight.load()));
  const int64_t backlog = s.backlog_rows.load();
  w.GaugeIfKnown("outbox_relay_backlog_rows", "Unpublished outbox rows, in flight included (measured every 2 s).",
                 backlog, static_cast<double>(backlog));
  const int64_t retained = s.slot_retained_bytes.load();
  if (retained >= 0) {  // tail mode only
    w.GaugeIfKnown(
        "outbox_relay_slot_retained_wal_bytes",
        "Tail mode: WAL the replication slot retains (pg_current_wal_lsn() - restart_lsn), measured every 2 s.",
        retained, static_cast<double>(retained));
  }
  const int64_t oldest_ms = s.oldest_age_ms.load();
  w.GaugeIfKnown("outbox_relay_oldest_unpublished_age_seconds",
                 "Age of the oldest unpublished outbox row, 0 when there is none (measured every 2 s).", oldest_ms,
                 static_cast<double>(oldest_ms) / 1000.0);
  w.HistogramFamily("outbox_relay_commit_to_ack_seconds",
                    "From the writing transaction's created_at to the broker's confirmation.", s.commit_to_ack_seconds);
  w.HistogramFamily("outbox_relay_poll_batch_rows", "Rows per non-empty poll of the outbox.", s.batch_rows);
  w.Gauge("outbox_relay_producer_queue_records", "Records inside librdkafka's queue, not yet confirmed.",
          static_cast<double>(s.producer_queue.load()));
  w.Counter("outbox_relay_postgres_reconnects_total", "Reconnections to Postgres after a lost connection.",
            static_cast<double>(s.pg_reconnects.load()));
  w.Counter("outbox_relay_resyncs_total",
            "Times the relay re-read the outbox from its first row after a failed delivery or a reconnect.",
            static_cast<double>(s.resyncs.load()));
  w.Counter("outbox_relay_producer_rebuilds_total", "Kafka producers rebuilt after a fatal librdkafka error.",
            static_cast<double>(s.producer_rebuilds.load()));
  w.Counter("outbox_relay_transactions_committed_total",
            "Kafka transactions committed (kafka.delivery = \"exactly_once\").",
            static_cast<double>(s.transactions_committed.load()));
  w.Counter("outbox_relay_transactions_aborted_total",
            "Kafka transactions aborted; their events are published again in a later one.",
            static_cast<double>(s.transactions_aborted.load()));
  w.Counter("outbox_relay_checkpoint_covered_rows_total",
            "Rows acknowledged without publishing because the last committed checkpoint covered them.",
            static_cast<double>(s.checkpoint_covered.load()));
  w.Gauge("outbox_relay_checkpoint_timestamp_seconds",
          "Commit time of the last checkpoint this relay wrote or recovered (0: none).",
          static_cast<double>(s.checkpoint_unix_ms.load()) / 1000.0);
  w.HistogramFamily("outbox_relay_transaction_events", "Events per committed Kafka transaction.", s.transaction_events);
  w.HistogramFamily("outbox_relay_transaction_commit_seconds",
                    "Time commit_transaction() took, its flush of the transaction's records included.",
                    s.transaction_commit_seconds);
  w.Gauge("outbox_relay_postgres_up", "1 when the relay's Postgres connections are up.", s.pg_connected.load() ? 1 : 0);
  w.Gauge("outbox_relay_kafka_up", "1 when at least one Kafka broker is reachable (librdkafka's view).",
          s.kafka_connected.load() ? 1 : 0);
  w.Gauge("outbox_relay_last_ack_timestamp_seconds",
          "Unix time of the last acknowledgement in Postgres, 0 before the first.",
          static_cast<double>(s.last_ack_unix_ms.load()) / 1000.0);
  return w.Take();
}

std::string RenderServingState(const RelayStats& stats, const TableLabels& table, bool ready) {
  MetricWriter w;
  w.Gauge("outbox_relay_ready", "1 while /readyz answers 200, else 0.", ready ? 1 : 0);
  // The poll session takes the table's advisory lock when it connects and
  // holds it while connected, so "both sessions up" means "holds the lock". A
  // standby, or a relay cut off from Postgres, is 0.
  w.Family("outbox_relay_active", "1 while this relay holds its outbox table's lock and publishes it, 0 on a standby.",
           "gauge");
  w.Sample("outbox_relay_active", {{"schema", table.schema}, {"table", table.table}},
           stats.pg_connected.load() ? 1 : 0);
  const BuildInfo& build = GetBuildInfo();
  w.Family("outbox_relay_build_info", "Always 1; the labels say which build of outbox-relay runs.", "gauge");
  w.Sample("outbox_relay_build_info", {{"version", build.version}, {"commit", build.commit}}, 1);
  return w.Take();
}

std::string RenderMetricsPage(const RelayStats& stats, const TableLabels& table, bool ready) {
  std::string page = RenderPrometheus(stats) + RenderServingState(stats, table, ready);
  if (const auto process = ReadProcessSample()) page += RenderProcessMetrics(*process);
  return page;
}

}  // namespace outbox::relay
