#pragma once
// What a PromQL expression refers to, for the checks that dashboards and alert
// rules use only metrics (and labels) that outbox-relay really exports.

#include <map>
#include <set>
#include <stdexcept>
#include <string>

namespace outbox::test {

struct PromqlRefs {
  /// Metric names: identifiers that select series (followed by `{`, `[`, or bare),
  /// not functions, aggregations, keywords, label names or Grafana variables.
  std::set<std::string> metrics;
  /// Label names matched in each metric's selector braces (`foo{topic=~"a"}` → foo: {topic}).
  std::map<std::string, std::set<std::string>> selector_labels;
  /// Label names of by/without/on/ignoring/group_left/group_right clauses.
  std::set<std::string> grouping_labels;
};

/// Thrown for text the scanner cannot read (an unterminated string or brace).
class PromqlSyntaxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Scans one PromQL expression, which may contain Grafana variables
/// ($var, ${var}, ${var:format}, [[var]], $__rate_interval).
PromqlRefs ExtractPromqlRefs(const std::string& expr);

/// A Grafana templating query: `label_values(<expr>, label)`, `query_result(<expr>)`,
/// `metrics(regex)` / `label_names()` (no metric), or a plain PromQL expression.
PromqlRefs ExtractGrafanaQueryRefs(const std::string& query);

/// Adds `more` to `into`.
void Merge(PromqlRefs& into, const PromqlRefs& more);

}  // namespace outbox::test
