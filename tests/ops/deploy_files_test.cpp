// The operations kit under deploy/, without servers: the Grafana dashboards are
// well-formed and cover what an operator needs; the consumer dashboard uses only
// the declared consumer metrics; every alert rule has labels, annotations, a
// runbook section in docs/operations.md and a promtool test file that checks
// it both firing and silent. (promtool itself runs as ops.Alerts.*; the relay
// dashboard's metric names are checked against a real relay in
// ops_dashboard_metrics_kafkatest.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "deploy_files.hpp"

namespace outbox::test {
namespace {

using nlohmann::json;

std::vector<json> AllPanels(const json& panels) {
  std::vector<json> out;
  for (const auto& p : panels) {
    out.push_back(p);
    if (p.contains("panels")) {
      for (const auto& inner : AllPanels(p["panels"])) out.push_back(inner);
    }
  }
  return out;
}

/// Structure Grafana needs to import the dashboard and render every panel.
void ExpectWellFormedDashboard(const json& d, const std::string& file) {
  SCOPED_TRACE(file);
  EXPECT_FALSE(d.value("uid", std::string()).empty());
  EXPECT_FALSE(d.value("title", std::string()).empty());
  EXPECT_GE(d.value("schemaVersion", 0), 36);
  std::set<std::string> variables;
  for (const auto& v : d["templating"]["list"]) variables.insert(v["name"].get<std::string>());
  EXPECT_TRUE(variables.count("datasource")) << "a datasource variable, so the dashboard imports anywhere";
  std::set<int> ids;
  std::vector<json> panels = AllPanels(d["panels"]);
  ASSERT_FALSE(panels.empty());
  for (const auto& p : panels) {
    const std::string title = p.value("title", std::string());
    EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate panel id in " << title;
    const auto& g = p["gridPos"];
    EXPECT_GE(g["x"].get<int>(), 0) << title;
    EXPECT_LE(g["x"].get<int>() + g["w"].get<int>(), 24) << title << ": wider than the 24-column grid";
    if (p["type"] == "row") continue;
    EXPECT_EQ(p["datasource"]["uid"], "${datasource}") << title;
    ASSERT_TRUE(p.contains("targets") && !p["targets"].empty()) << title << " has no query";
    for (const auto& t : p["targets"]) {
      EXPECT_FALSE(t.value("expr", std::string()).empty()) << title;
      EXPECT_EQ(t["datasource"]["uid"], "${datasource}") << title;
    }
  }
  // No two panels overlap on the grid.
  for (size_t i = 0; i < panels.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const auto &a = panels[i]["gridPos"], &b = panels[j]["gridPos"];
      const bool overlap = a["x"].get<int>() < b["x"].get<int>() + b["w"].get<int>() &&
                           b["x"].get<int>() < a["x"].get<int>() + a["w"].get<int>() &&
                           a["y"].get<int>() < b["y"].get<int>() + b["h"].get<int>() &&
                           b["y"].get<int>() < a["y"].get<int>() + a["h"].get<int>();
      EXPECT_FALSE(overlap) << panels[i]["title"] << " overlaps " << panels[j]["title"];
    }
  }
}

std::set<std::string> MetricsOf(const std::vector<Query>& queries) {
  std::set<std::string> out;
  for (const auto& q : queries) {
    const PromqlRefs r = RefsOf(q);
    out.insert(r.metrics.begin(), r.metrics.end());
  }
  return out;
}

TEST(GrafanaDashboards, RelayDashboardIsWellFormedAndCoversTheOperatorsQuestions) {
  const json d = LoadJsonFile(RepoPath("deploy/grafana/relay.json"));
  ExpectWellFormedDashboard(d, "relay.json");
  const auto used = MetricsOf(DashboardQueries(d));
  // Throughput per topic, backlog, oldest age, latency quantiles, dead letters
  // and held keys, in flight, reconnects and resyncs, slot WAL, and the rest.
  for (const char* m : {"outbox_relay_events_published_total", "outbox_relay_backlog_rows",
                        "outbox_relay_oldest_unpublished_age_seconds", "outbox_relay_commit_to_ack_seconds_bucket",
                        "outbox_relay_dead_lettered_total", "outbox_relay_held_events", "outbox_relay_in_flight_events",
                        "outbox_relay_postgres_reconnects_total", "outbox_relay_resyncs_total",
                        "outbox_relay_producer_rebuilds_total", "outbox_relay_slot_retained_wal_bytes",
                        "outbox_relay_publish_errors_total", "outbox_relay_active", "outbox_relay_ready",
                        "outbox_relay_build_info", "process_resident_memory_bytes", "process_cpu_seconds_total"}) {
    EXPECT_TRUE(used.count(m)) << "relay.json has no panel on " << m;
  }
  bool quantiles = false;
  for (const auto& q : DashboardQueries(d)) {
    quantiles |= q.expr.find("histogram_quantile(0.99, sum by (le) (rate(outbox_relay_commit_to_ack_seconds_bucket") !=
                 std::string::npos;
  }
  EXPECT_TRUE(quantiles) << "a p99 of the commit-to-ack histogram";
}

TEST(GrafanaDashboards, ConsumerDashboardUsesTheDeclaredConsumerMetricsAndAllOfThem) {
  const json d = LoadJsonFile(RepoPath("deploy/grafana/consumer.json"));
  ExpectWellFormedDashboard(d, "consumer.json");
  const Exposition declared = ParseMetricList(ReadTextFile(RepoPath("deploy/grafana/consumer_metrics.txt")));
  ASSERT_GE(declared.family_types.size(), 8u);
  const auto queries = DashboardQueries(d);
  for (const auto& problem : CheckQueries(queries, declared)) ADD_FAILURE() << problem;
  const auto used = MetricsOf(queries);
  for (const auto& [family, type] : declared.family_types) {
    const std::string series = type == "histogram" ? family + "_bucket" : family;
    EXPECT_TRUE(used.count(series) || used.count(family + "_sum")) << family << " is declared but on no panel";
  }
}

TEST(GrafanaDashboards, CheckQueriesCatchesUnknownNamesAndLabels) {
  // The checker itself: a typo in a name, a label the metric lacks, a grouping label nobody has.
  const Exposition e = ParseExposition(
      "# TYPE a_total counter\na_total{topic=\"t\"} 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\n"
      "h_count 1\n");
  EXPECT_TRUE(CheckQueries({{"ok", "sum by (topic) (rate(a_total{job=\"x\", topic=\"t\"}[5m]))", false},
                            {"ok2", "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m]))) / h_count", false}},
                           e)
                  .empty());
  EXPECT_EQ(CheckQueries({{"typo", "rate(a_totl[5m])", false}}, e).size(), 1u);
  EXPECT_EQ(CheckQueries({{"label", "a_total{reason=\"x\"}", false}}, e).size(), 1u);
  EXPECT_EQ(CheckQueries({{"group", "sum by (reason) (a_total)", false}}, e).size(), 1u);
  EXPECT_EQ(CheckQueries({{"histogram", "h", false}}, e).size(), 1u) << "a histogram is selected by its series";
}

// ---- alert rules ----

const std::vector<std::string> kAlerts = {"OutboxBacklogGrowing", "OutboxOldestEventTooOld", "OutboxDeadLetters",
                                          "OutboxRelayDown",      "OutboxRelayNotReady",     "OutboxSlotRetainingWal",
                                          "OutboxNoActiveRelay"};

/// GitHub's anchor of a Markdown heading: lower case, spaces to '-', punctuation dropped.
std::string Anchor(const std::string& heading) {
  std::string out;
  for (char c : heading) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (c == ' ') {
      out += '-';
    }
  }
  return out;
}

std::set<std::string> DocAnchors(const std::string& markdown) {
  std::set<std::string> anchors;
  size_t at = 0;
  while (at < markdown.size()) {
    size_t end = markdown.find('\n', at);
    if (end == std::string::npos) end = markdown.size();
    std::string line = markdown.substr(at, end - at);
    if (!line.empty() && line[0] == '#') {
      const size_t text = line.find_first_not_of('#');
      if (text != std::string::npos) anchors.insert(Anchor(line.substr(line.find_first_not_of(' ', text))));
    }
    at = end + 1;
  }
  return anchors;
}

TEST(AlertRules, EveryRuleHasSeverityAnnotationsAndARunbookSection) {
  const json rules =
      ParseYaml(ReadTextFile(RepoPath("deploy/prometheus/outbox-alerts.yml")), "deploy/prometheus/outbox-alerts.yml");
  const auto anchors = DocAnchors(ReadTextFile(RepoPath("docs/operations.md")));
  std::set<std::string> names;
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      const std::string name = rule["alert"].get<std::string>();
      SCOPED_TRACE(name);
      names.insert(name);
      EXPECT_TRUE(rule["labels"]["severity"] == "critical" || rule["labels"]["severity"] == "warning");
      for (const char* a : {"summary", "description", "runbook_url"}) {
        EXPECT_FALSE(rule["annotations"].value(a, std::string()).empty()) << a;
      }
      const std::string runbook = rule["annotations"]["runbook_url"].get<std::string>();
      EXPECT_EQ(runbook, "docs/operations.md#" + Anchor(name));
      EXPECT_TRUE(anchors.count(Anchor(name))) << "docs/operations.md has no section \"" << name << "\"";
    }
  }
  EXPECT_EQ(names, std::set<std::string>(kAlerts.begin(), kAlerts.end()));
}

TEST(AlertRules, EveryRuleHasAPromtoolTestFileThatSeesItFireAndStaySilent) {
  for (const auto& name : kAlerts) {
    SCOPED_TRACE(name);
    const std::string file = "deploy/prometheus/tests/" + name + ".test.yml";
    const json t = ParseYaml(ReadTextFile(RepoPath(file)), file);
    ASSERT_EQ(t["rule_files"], json::array({"../outbox-alerts.yml"}));
    bool fires = false, silent = false;
    for (const auto& test : t["tests"]) {
      for (const auto& check : test.value("alert_rule_test", json::array())) {
        EXPECT_EQ(check["alertname"], name) << "one rule per test file";
        const json& exp = check.value("exp_alerts", json());
        const bool none = exp.is_null() || (exp.is_array() && exp.empty()) || exp == "[]";
        (none ? silent : fires) = true;
      }
    }
    EXPECT_TRUE(fires) << file << " never expects the alert to fire";
    EXPECT_TRUE(silent) << file << " never expects it to stay silent";
  }
}

}  // namespace
}  // namespace outbox::test
