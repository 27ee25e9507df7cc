#pragma once

#include <cstdint>

#include "log/retry_log.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

struct Config;
struct RelayStats;

/// What the pipeline holds right now, for gauges and the progress line.
struct PipelineView {
  size_t in_flight = 0;  ///< handed to the producer, no report yet
  int64_t held = -1;     ///< events waiting behind a held key in this read pass
  size_t held_keys = 0;
  bool pg_connected = false;
};

/// The periodic work beside the pipe: gauges (backlog, oldest age, slot
/// WAL, connections), retention in cleanup = "mark" mode, and the progress
/// line. Each part runs on its own schedule, so the hot path pays nothing
/// between them. Runs on the pipeline thread.
class Housekeeping {
 public:
  Housekeeping(const Config& config, RelayStats& stats, Source& source, Publisher& publisher, AckStore& acks);

  /// The start-up line (and warnings about risky settings).
  void LogStart() const;

  void Run(Clock::time_point now, const PipelineView& view);

  /// The publisher changed (rebuilt after a fatal error).
  void SetPublisher(Publisher& publisher) { publisher_ = &publisher; }

 private:
  void UpdateGauges(Clock::time_point now, const PipelineView& view);
  void LogProgress(Clock::time_point now, const PipelineView& view);
  void RunRetention(Clock::time_point now);

  const Config& config_;
  RelayStats& stats_;
  Source& source_;
  Publisher* publisher_;
  AckStore& acks_;
  Clock::time_point started_;
  Clock::time_point next_broker_check_{};
  Clock::time_point next_backlog_count_{};
  Clock::time_point next_progress_at_{};
  Clock::time_point next_retention_at_{};
  Clock::time_point last_progress_at_{};
  uint64_t last_progress_published_ = 0;
  RetryLog gauge_log_;  // failing measurements: logged once, then summarised
};

}  // namespace outbox::relay
