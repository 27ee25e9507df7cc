#include "pipeline/housekeeping.hpp"

#include <cstdio>
#include <string>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "http/build_info.hpp"
#include "pg/pg_failure.hpp"
#include "pipeline/stats.hpp"
#include "util/text.hpp"

namespace outbox::relay {

Housekeeping::Housekeeping(const Config& config, RelayStats& stats, Source& source, Publisher& publisher,
                           AckStore& acks)
    : config_(config),
      stats_(stats),
      source_(source),
      publisher_(&publisher),
      acks_(acks),
      gauge_log_("gauges", nullptr, &stats.gauge_failing) {
  started_ = last_progress_at_ = Clock::now();
  next_progress_at_ = started_ + config_.log.progress_interval;
}

void Housekeeping::LogStart() const {
  const Config& c = config_;
  spdlog::info("relay starting: table {}.{}, mode={}, brokers {}, cleanup={}, batch={}, max_in_flight={}, malloc={}",
               c.outbox.schema, c.outbox.table, c.source.mode == SourceMode::kTail ? "tail" : "poll", c.kafka.brokers,
               c.outbox.cleanup == Cleanup::kDelete ? "delete" : "mark", c.source.batch_size, c.source.max_in_flight,
               MallocName());
  if (c.kafka.delivery_timeout.count() > 0) {
    spdlog::warn(
        "kafka.delivery_timeout_ms = {}: records still queued after that long expire and are sent again "
        "behind later records, so a key's events can be published out of order after an outage that long; "
        "0 (the default) keeps every key's order",
        c.kafka.delivery_timeout.count());
  }
}

void Housekeeping::Run(Clock::time_point now, const PipelineView& view) {
  UpdateGauges(now, view);
  LogProgress(now, view);
  RunRetention(now);
}

void Housekeeping::UpdateGauges(Clock::time_point now, const PipelineView& view) {
  stats_.in_flight = static_cast<int64_t>(view.in_flight);
  if (view.held >= 0) stats_.held = view.held;
  stats_.held_keys = static_cast<int64_t>(view.held_keys);
  stats_.producer_queue = static_cast<int64_t>(publisher_->OutQueueLength());
  stats_.pg_connected = view.pg_connected;
  if (now < next_broker_check_) return;
  next_broker_check_ = now + std::chrono::seconds(2);
  stats_.kafka_connected = !publisher_->BrokersDown();
  stats_.slot_confirmed_lsn = static_cast<int64_t>(source_.confirmed_lsn());
  if (!acks_.connected()) {
    // Cannot be measured now: unknown (no sample), never a stale or zero value.
    stats_.backlog_rows = -1;
    stats_.oldest_age_ms = -1;
    stats_.slot_retained_bytes = -1;
    return;
  }
  try {
    if (config_.source.mode == SourceMode::kTail) stats_.slot_retained_bytes = acks_.SlotRetainedWal().value_or(-1);
  } catch (const std::exception& e) {
    stats_.slot_retained_bytes = -1;
    stats_.gauge_errors.Add(PgFailureReason(e));
    gauge_log_.Failure(now, spdlog::level::warn, "slot_" + PgFailureReason(e),
                       "postgres: cannot measure the slot's retained WAL (" + OneLine(e.what()) +
                           "); outbox_relay_slot_retained_wal_bytes is absent until it can");
  }
  try {
    // The full count scans the backlog (~0.1 s at a million rows): every
    // 10 s, and at once when rows appeared in an outbox last seen empty.
    const bool count = now >= next_backlog_count_ || stats_.backlog_rows.load() <= 0;
    const std::optional<BacklogReading> backlog = acks_.ReadBacklog(count);
    gauge_log_.Success(now);
    if (!backlog) {
      stats_.backlog_rows = 0;
      stats_.oldest_age_ms = 0;
      return;
    }
    stats_.oldest_age_ms = static_cast<int64_t>(backlog->oldest_age_s * 1000);
    if (count) {
      next_backlog_count_ = now + std::chrono::seconds(10);
      stats_.backlog_rows = backlog->rows;
    }
  } catch (const std::exception& e) {
    // Unknown: absent from /metrics, counted in gauge_errors_total.
    stats_.backlog_rows = -1;
    stats_.oldest_age_ms = -1;
    stats_.gauge_errors.Add(PgFailureReason(e));
    gauge_log_.Failure(now, spdlog::level::warn, PgFailureReason(e),
                       "postgres: cannot measure the backlog (" + OneLine(e.what()) +
                           "); the backlog and age gauges are absent until it can");
  }
}

void Housekeeping::LogProgress(Clock::time_point now, const PipelineView& view) {
  if (config_.log.progress_interval.count() == 0 || now < next_progress_at_) return;
  next_progress_at_ = now + config_.log.progress_interval;
  const uint64_t published = stats_.published;
  const double secs = std::chrono::duration<double>(now - last_progress_at_).count();
  const std::string note = source_.ProgressNote();
  const int64_t backlog = stats_.backlog_rows.load();
  const int64_t oldest_ms = stats_.oldest_age_ms.load();
  char oldest[32] = "unknown";  // not measured yet, or the query fails
  if (oldest_ms >= 0) std::snprintf(oldest, sizeof oldest, "%.1fs", static_cast<double>(oldest_ms) / 1000.0);
  spdlog::info(
      "progress: published={} (+{}, {:.0f}/s) acked={} in_flight={} backlog={} oldest={}{}{} failed={} "
      "resyncs={} dead_lettered={} held={}",
      published, published - last_progress_published_,
      secs > 0 ? static_cast<double>(published - last_progress_published_) / secs : 0.0, stats_.acked.load(),
      view.in_flight, backlog >= 0 ? std::to_string(backlog) : "unknown", oldest, note.empty() ? "" : " ", note,
      stats_.failed_retriable + stats_.failed_permanent, stats_.resyncs.load(), stats_.dead_lettered.load(),
      stats_.held.load());
  last_progress_published_ = published;
  last_progress_at_ = now;
}

void Housekeeping::RunRetention(Clock::time_point now) {
  if (config_.outbox.cleanup != Cleanup::kMark || now < next_retention_at_ || !acks_.connected()) return;
  next_retention_at_ = now + std::chrono::seconds(60);
  try {
    size_t total = 0, n = 0;
    for (int i = 0; i < 10 && (n = acks_.PurgeRetention(10000)) > 0; ++i) total += n;
    if (total > 0) spdlog::info("retention: deleted {} published rows", total);
  } catch (const std::exception& e) {
    spdlog::warn("retention: {}", OneLine(e.what()));
  }
}

}  // namespace outbox::relay
