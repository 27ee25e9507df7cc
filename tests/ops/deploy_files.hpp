#pragma once
// Reading the operations kit under deploy/ for the tests: Grafana dashboards
// (JSON), Prometheus rules (YAML, through libyaml), a Prometheus text
// exposition, and which metric names and labels their queries use.

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "promql_names.hpp"

namespace outbox::test {

/// `relative` under the repository (OUTBOX_ROOT).
std::string RepoPath(const std::string& relative);

/// The file's text; throws std::runtime_error naming the path when it cannot be read.
std::string ReadTextFile(const std::string& path);

nlohmann::json LoadJsonFile(const std::string& path);

/// A YAML document as JSON: mappings become objects, sequences arrays, and
/// every scalar a string (no type guessing). Throws std::runtime_error with the
/// parser's problem and line.
nlohmann::json ParseYaml(const std::string& text, const std::string& origin);

/// One query of a dashboard or rules file, with where it was found.
struct Query {
  std::string where;  ///< e.g. `panel "Backlog" target A`, `alert OutboxRelayDown`
  std::string expr;
  bool grafana_variable = false;  ///< a templating query (label_values(...), ...)
};

/// Every target expression of every panel (rows' nested panels too) and every
/// templating query of a Grafana dashboard.
std::vector<Query> DashboardQueries(const nlohmann::json& dashboard);

/// The expr of every rule (alerting and recording) of a Prometheus rules file.
std::vector<Query> RuleQueries(const nlohmann::json& rules);

PromqlRefs RefsOf(const Query& query);

/// Metric names and labels as an exporter offers them.
struct Exposition {
  std::map<std::string, std::string> family_types;  ///< # TYPE lines (or a declared list): name → type
  /// Series names a query may select (a histogram's _bucket/_sum/_count, ...), with
  /// the label names seen on their samples (declared ones for a list).
  std::map<std::string, std::set<std::string>> series_labels;
  std::set<std::string> series_with_samples;
};

/// A /metrics body in the Prometheus text format 0.0.4.
Exposition ParseExposition(const std::string& text);

/// A declared metric list: lines "name type [label,label]", '#' comments.
Exposition ParseMetricList(const std::string& text);

/// Problems, one line each, with the queries' use of names and labels that
/// `exported` does not offer. The series Prometheus records per target (up,
/// scrape_*) and the labels it adds to every target (job, instance) are always
/// allowed; a histogram's `le` is a label of its _bucket samples.
std::vector<std::string> CheckQueries(const std::vector<Query>& queries, const Exposition& exported);

}  // namespace outbox::test
