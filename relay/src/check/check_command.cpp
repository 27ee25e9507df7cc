#include "check/check_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include <spdlog/spdlog.h>

#include "check/check_format.hpp"
#include "check/check_rows.hpp"
#include "check/check_time.hpp"
#include "check/delivery_comparer.hpp"
#include "config/config.hpp"
#include "kafka/topic_snapshot_reader.hpp"
#include "pg/pg_connect.hpp"
#include "util/exit_codes.hpp"

namespace outbox::relay {
namespace {

constexpr std::chrono::milliseconds kWatermarkBudget{15000};

// Retention may delete a published row while the check runs; stay this far inside it.
double RetentionMargin(double retention_s) { return std::min(60.0, retention_s / 10); }

std::vector<CheckRecord> ToCheckRecords(std::vector<SnapshotRecord>&& records) {
  std::vector<CheckRecord> out;
  out.reserve(records.size());
  for (auto& r : records) {
    CheckRecord c;
    c.topic = std::move(r.topic);
    c.partition = r.partition;
    c.offset = r.offset;
    c.key = std::move(r.key);
    c.timestamp_ms = r.timestamp_ms;
    for (auto& [name, value] : r.headers) {
      if (name == "event_id") c.event_id = std::move(value);
      if (name == "created_at") c.created_at = ParseRfc3339(value);
    }
    out.push_back(std::move(c));
  }
  records.clear();
  return out;
}

}  // namespace

CheckReport RunCheck(const Config& config, const CheckOptions& options) {
  if (config.outbox.cleanup != Cleanup::kMark) {
    throw CheckUsageError(
        "check: needs outbox.cleanup = \"mark\" (rows are deleted after publishing in delete mode, so there is "
        "nothing to compare); Hint: set cleanup = \"mark\" under [outbox], restart the relay, and check the events "
        "written since then with --since");
  }
  std::optional<SinceSpec> since_spec;
  if (!options.since.empty()) {
    try {
      since_spec = SinceSpec::Parse(options.since);
    } catch (const std::invalid_argument& e) {
      throw CheckUsageError(std::string("check: ") + e.what());
    }
    if (config.outbox.columns.created_at.empty()) {
      throw CheckUsageError("check: --since needs a created_at column; Hint: map outbox.columns.created_at");
    }
  }
  if (options.timeout_ms < 1) throw CheckUsageError("check: --timeout-ms: must be at least 1");

  auto conn = PgConnect(config.postgres, "check", /*bounded=*/false);  // --timeout-ms bounds it
  CheckRowReader rows(config, *conn);
  // Order matters (docs/checker.md): the time, then the topics, then the watermarks,
  // then the rows. A row marked published before `start` has its record below the
  // watermarks; every record below them has its row in the later snapshot.
  const double start = rows.Now();
  std::optional<double> since;
  if (since_spec) since = since_spec->Resolve(start);
  CheckReport head;
  head.since = since;
  head.topics = rows.Topics(since);
  spdlog::debug("check: {} topics", head.topics.size());

  // Metadata and watermarks get their own budget: --timeout-ms bounds the reading.
  TopicSnapshotReader kafka(config.kafka, {"event_id", "created_at"});
  kafka.TakeWatermarks(head.topics, std::chrono::steady_clock::now() +
                                        std::max(kWatermarkBudget, std::chrono::milliseconds(options.timeout_ms)));

  std::vector<CheckRow> outbox_rows, dead_letters;
  CheckWindow window;
  window.since = since;
  window.published_before = start;
  window.now = rows.Read(since, outbox_rows, dead_letters);
  const auto retention = static_cast<double>(config.outbox.retention.count());
  const double retained = window.now - retention + RetentionMargin(retention);
  window.phantom_since = std::max(since.value_or(retained), retained);
  DeliveryComparer comparer(window);
  for (auto& r : outbox_rows) comparer.AddRow(std::move(r));
  for (auto& r : dead_letters) comparer.AddDeadLetter(std::move(r));
  outbox_rows.clear();
  dead_letters.clear();

  TopicSnapshotReader::Result read =
      kafka.Read(std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms));
  CheckReport report = comparer.Compare(ToCheckRecords(std::move(read.records)));
  report.since = head.since;
  report.topics = std::move(head.topics);
  report.complete = read.complete;
  if (!read.complete) {
    report.incomplete_reason = "timed out after " + std::to_string(options.timeout_ms) +
                               " ms before reaching the high watermarks: " + read.incomplete_reason;
  }
  if (report.lost > 0 && read.truncated_partitions > 0) {
    report.note = std::to_string(read.truncated_partitions) + " of " + std::to_string(read.partitions) +
                  " partitions no longer start at offset 0 (Kafka retention deleted records): events older than "
                  "the topics' retention count as lost; choose --since within it";
  }
  return report;
}

int CheckCommand(const Config& config, const CheckOptions& options) {
  CheckReport report;
  try {
    report = RunCheck(config, options);
  } catch (const CheckUsageError& e) {
    std::fprintf(stderr, "outbox-relay: %s\n", e.what());  // what() starts with "check: "
    return kExitUsage;
  }
  std::printf("%s\n", CheckSummaryLine(report).c_str());
  for (const auto& line : CheckDetailLines(report)) std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path);
    out << CheckReportJson(report);
    if (!out.flush()) {
      std::fprintf(stderr, "outbox-relay: check: --json: cannot write %s\n", options.json_path.c_str());
      return kExitUsage;
    }
  }
  return report.Ok() ? kExitOk : kExitRuntime;
}

}  // namespace outbox::relay
