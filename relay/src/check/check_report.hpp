#pragma once
// The data of `outbox-relay check`: what it reads from Postgres and Kafka, and
// the report it makes of them (docs/checker.md defines every figure).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace outbox::relay {

/// One committed event: an outbox row or a dead-lettered one. Times are Unix seconds.
struct CheckRow {
  std::string id;  ///< event id, as the relay writes it into the event_id header
  std::string aggregate_type;
  std::string aggregate_id;
  int64_t seq = 0;
  std::string topic;                   ///< Router::TopicFor(row)
  std::optional<double> created_at;    ///< nullopt when the table has no created_at column
  std::optional<double> published_at;  ///< nullopt: not published yet (pending); always nullopt for dead letters
};

/// One record read from Kafka, reduced to what the comparison needs.
struct CheckRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::optional<std::string> event_id;  ///< header event_id; nullopt: a record not written by the relay
  std::optional<double> created_at;     ///< header created_at, parsed; nullopt when absent or malformed
  int64_t timestamp_ms = -1;            ///< broker timestamp (CreateTime or LogAppendTime)
};

/// The window the comparison applies to. Times are Unix seconds on the database's clock.
struct CheckWindow {
  /// Rows created before this are ignored; nullopt = all rows (the default of --since).
  std::optional<double> since;
  /// Records with an unknown event id count as phantoms only when created at or after this
  /// (the later of `since` and the oldest time mark-mode retention surely kept) ...
  double phantom_since = -std::numeric_limits<double>::infinity();
  /// ... and at or before this (the time the rows were read).
  double now = std::numeric_limits<double>::infinity();
  /// A published row is lost only if it was marked published at or before this: the time
  /// taken just before the high watermarks, so every such record lies below them.
  double published_before = std::numeric_limits<double>::infinity();
};

/// One example of a problem, for the human output and the JSON report.
struct CheckExample {
  std::string event_id;
  std::string aggregate;  ///< "type/id", or the record key for records without a row
  std::string detail;
};

struct CheckReport {
  size_t committed = 0;       ///< outbox rows + dead-lettered rows in the window
  size_t published = 0;       ///< outbox rows with published_at set
  size_t pending = 0;         ///< outbox rows with published_at NULL (not a violation)
  size_t dead_lettered = 0;   ///< rows of <schema>.dead_letter in the window
  size_t delivered = 0;       ///< records read from Kafka, all of them
  size_t lost = 0;            ///< published rows (before the watermarks) whose event id never appears
  size_t phantom = 0;         ///< records in the window whose event id is no row
  size_t foreign = 0;         ///< records without an event_id header
  size_t outside_window = 0;  ///< records with an unknown event id created outside the window
  size_t duplicates = 0;      ///< deliveries beyond the first of a known event id
  size_t inversions = 0;      ///< per aggregate and partition, first deliveries with a lower seq than an earlier one
  size_t published_after_start = 0;  ///< rows marked published after the watermarks (not counted as lost)
  std::optional<double> latency_p50_ms, latency_p99_ms, latency_max_ms;  ///< first deliveries
  std::optional<double> throughput_per_s;  ///< published / (max published_at - min created_at)

  /// Up to kMaxExamples per kind: "lost", "phantom", "duplicate", "inversion", "foreign".
  std::map<std::string, std::vector<CheckExample>> examples;
  static constexpr size_t kMaxExamples = 5;

  std::optional<double> since;      ///< the window's start (nullopt: all rows); set by RunCheck
  std::vector<std::string> topics;  ///< the topics read; set by RunCheck

  bool complete = true;  ///< false: Kafka was not read up to the watermarks in time
  std::string incomplete_reason;
  std::string note;  ///< advice that is not a violation (e.g. truncated topics)

  /// The check passes: read to the end, nothing lost, no phantom, no inversion.
  bool Ok() const { return complete && lost == 0 && phantom == 0 && inversions == 0; }
};

}  // namespace outbox::relay
