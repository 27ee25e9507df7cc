#include "check/check_format.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "check/check_time.hpp"

namespace outbox::relay {
namespace {

// Problem kinds in the order they are printed.
constexpr const char* kKinds[] = {"lost", "phantom", "inversion", "duplicate", "foreign"};

std::string Fixed(const std::optional<double>& v, const char* format) {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

nlohmann::json OrNull(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

}  // namespace

std::string CheckSummaryLine(const CheckReport& r) {
  auto n = [](size_t v) { return std::to_string(v); };
  return "check: committed=" + n(r.committed) + " published=" + n(r.published) + " pending=" + n(r.pending) +
         " dead_lettered=" + n(r.dead_lettered) + " delivered=" + n(r.delivered) + " lost=" + n(r.lost) +
         " phantom=" + n(r.phantom) + " duplicates=" + n(r.duplicates) + " inversions=" + n(r.inversions) +
         " latency_ms p50=" + Fixed(r.latency_p50_ms, "%.1f") + " p99=" + Fixed(r.latency_p99_ms, "%.1f") +
         " max=" + Fixed(r.latency_max_ms, "%.1f") + " throughput=" + Fixed(r.throughput_per_s, "%.0f") + "/s" +
         " foreign=" + n(r.foreign) + " outside_window=" + n(r.outside_window);
}

std::vector<std::string> CheckDetailLines(const CheckReport& r) {
  std::vector<std::string> lines;
  for (const char* kind : kKinds) {
    auto it = r.examples.find(kind);
    if (it == r.examples.end()) continue;
    for (const auto& e : it->second) {
      std::string line = std::string("check: ") + kind;
      if (!e.event_id.empty()) line += " event " + e.event_id;
      // Records without a row have only their key to show.
      const bool row = std::string(kind) != "phantom" && std::string(kind) != "foreign";
      line += (row ? " aggregate " : " key ") + e.aggregate + ": " + e.detail;
      lines.push_back(std::move(line));
    }
  }
  if (!r.complete) {
    lines.push_back("check: INCOMPLETE: " + r.incomplete_reason +
                    "; the figures above are partial; Hint: raise --timeout-ms");
  }
  if (!r.note.empty()) lines.push_back("check: note: " + r.note);
  return lines;
}

std::string CheckReportJson(const CheckReport& r) {
  nlohmann::json j;
  j["ok"] = r.Ok();
  j["complete"] = r.complete;
  if (!r.complete) j["incomplete_reason"] = r.incomplete_reason;
  j["since"] = r.since ? nlohmann::json(FormatRfc3339(*r.since)) : nlohmann::json();
  j["topics"] = r.topics;
  j["committed"] = r.committed;
  j["published"] = r.published;
  j["pending"] = r.pending;
  j["dead_lettered"] = r.dead_lettered;
  j["delivered"] = r.delivered;
  j["lost"] = r.lost;
  j["phantom"] = r.phantom;
  j["duplicates"] = r.duplicates;
  j["inversions"] = r.inversions;
  j["foreign"] = r.foreign;
  j["outside_window"] = r.outside_window;
  j["published_after_start"] = r.published_after_start;
  j["latency_ms"] = {
      {"p50", OrNull(r.latency_p50_ms)}, {"p99", OrNull(r.latency_p99_ms)}, {"max", OrNull(r.latency_max_ms)}};
  j["throughput_per_s"] = OrNull(r.throughput_per_s);
  nlohmann::json examples = nlohmann::json::object();
  for (const auto& [kind, list] : r.examples) {
    for (const auto& e : list) {
      examples[kind].push_back({{"event_id", e.event_id}, {"aggregate", e.aggregate}, {"detail", e.detail}});
    }
  }
  j["examples"] = std::move(examples);
  if (!r.note.empty()) j["note"] = r.note;
  return j.dump(2) + "\n";
}

}  // namespace outbox::relay
