#include "check/delivery_comparer.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "check/check_time.hpp"

namespace outbox::relay {
namespace {

std::string Where(const CheckRecord& r) {
  return r.topic + "/" + std::to_string(r.partition) + "@" + std::to_string(r.offset);
}

std::string Aggregate(const CheckRow& row) { return row.aggregate_type + "/" + row.aggregate_id; }

void AddExample(CheckReport& report, const char* kind, CheckExample example) {
  auto& list = report.examples[kind];
  if (list.size() < CheckReport::kMaxExamples) list.push_back(std::move(example));
}

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double q) {
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

}  // namespace

DeliveryComparer::DeliveryComparer(CheckWindow window) : window_(window) {}

bool DeliveryComparer::InWindow(const CheckRow& row) const {
  return !window_.since || !row.created_at || *row.created_at >= *window_.since;
}

void DeliveryComparer::AddRow(CheckRow row) {
  if (!InWindow(row)) return;
  std::string id = row.id;
  rows_[std::move(id)] = Known{std::move(row), false};
}

void DeliveryComparer::AddDeadLetter(CheckRow row) {
  if (!InWindow(row)) return;
  row.published_at.reset();
  std::string id = row.id;
  rows_.emplace(std::move(id), Known{std::move(row), true});  // an outbox row with the same id wins
}

CheckReport DeliveryComparer::Compare(std::vector<CheckRecord> records) const {
  CheckReport report;
  double min_created = INFINITY, max_published = -INFINITY;
  for (const auto& [id, known] : rows_) {
    ++report.committed;
    if (known.dead_lettered) {
      ++report.dead_lettered;
    } else if (known.row.published_at) {
      ++report.published;
      if (known.row.created_at) min_created = std::min(min_created, *known.row.created_at);
      max_published = std::max(max_published, *known.row.published_at);
    } else {
      ++report.pending;
    }
  }
  if (report.published > 0 && max_published > min_created) {
    report.throughput_per_s = static_cast<double>(report.published) / (max_published - min_created);
  }

  // One aggregate's records share a partition; offset order is the order consumers see.
  std::sort(records.begin(), records.end(), [](const CheckRecord& a, const CheckRecord& b) {
    return std::tie(a.topic, a.partition, a.offset) < std::tie(b.topic, b.partition, b.offset);
  });
  report.delivered = records.size();
  std::unordered_map<std::string, const CheckRecord*> first;  // event id -> its first delivery
  struct Last {
    int64_t seq;
    int64_t offset;
  };
  std::unordered_map<std::string, Last> highest;  // topic, partition, aggregate -> highest seq delivered first
  std::vector<double> latencies;
  for (const CheckRecord& rec : records) {
    if (!rec.event_id) {
      ++report.foreign;
      AddExample(report, "foreign", {"", rec.key, Where(rec) + ": no event_id header"});
      continue;
    }
    auto known = rows_.find(*rec.event_id);
    if (known == rows_.end()) {
      std::optional<double> created = rec.created_at;
      if (!created && rec.timestamp_ms >= 0) created = static_cast<double>(rec.timestamp_ms) / 1000.0;
      const bool in_window =
          created ? *created >= window_.phantom_since && *created <= window_.now : std::isinf(window_.phantom_since);
      if (!in_window) {
        ++report.outside_window;
        continue;
      }
      ++report.phantom;
      AddExample(report, "phantom",
                 {*rec.event_id, rec.key,
                  Where(rec) + ": no such event in the outbox or dead_letter" +
                      (rec.created_at ? " (created_at " + FormatRfc3339(*rec.created_at) + ")" : std::string())});
      continue;
    }
    const CheckRow& row = known->second.row;
    auto [it, is_first] = first.emplace(row.id, &rec);
    if (!is_first) {
      ++report.duplicates;
      AddExample(report, "duplicate",
                 {row.id, Aggregate(row), "again at " + Where(rec) + ", first at " + Where(*it->second)});
      continue;
    }
    if (row.created_at && rec.timestamp_ms >= 0) {
      latencies.push_back(static_cast<double>(rec.timestamp_ms) - *row.created_at * 1000.0);
    }
    const std::string group =
        rec.topic + '\0' + std::to_string(rec.partition) + '\0' + row.aggregate_type + '\0' + row.aggregate_id;
    auto [last, is_new] = highest.try_emplace(group, Last{row.seq, rec.offset});
    if (is_new) continue;
    if (row.seq < last->second.seq) {
      ++report.inversions;
      AddExample(report, "inversion",
                 {row.id, Aggregate(row),
                  "seq " + std::to_string(row.seq) + " at " + Where(rec) + " after seq " +
                      std::to_string(last->second.seq) + " at offset " + std::to_string(last->second.offset)});
    } else {
      last->second = Last{row.seq, rec.offset};
    }
  }

  std::vector<const CheckRow*> lost;
  for (const auto& [id, known] : rows_) {
    if (known.dead_lettered || !known.row.published_at || first.count(id)) continue;
    if (*known.row.published_at <= window_.published_before) {
      lost.push_back(&known.row);
    } else {
      ++report.published_after_start;
    }
  }
  report.lost = lost.size();
  std::sort(lost.begin(), lost.end(), [](const CheckRow* a, const CheckRow* b) { return a->seq < b->seq; });
  for (const CheckRow* row : lost) {
    AddExample(report, "lost",
               {row->id, Aggregate(*row),
                "seq " + std::to_string(row->seq) + " marked published at " + FormatRfc3339(*row->published_at) +
                    ", never in " + row->topic});
  }

  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    report.latency_p50_ms = Percentile(latencies, 0.50);
    report.latency_p99_ms = Percentile(latencies, 0.99);
    report.latency_max_ms = latencies.back();
  }
  return report;
}

}  // namespace outbox::relay
