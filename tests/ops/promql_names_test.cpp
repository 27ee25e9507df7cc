// The PromQL scanner that finds the metric names (and labels) a dashboard or an
// alert rule uses: functions, aggregations, keywords, label lists, strings,
// durations and Grafana variables are not metric names.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "promql_names.hpp"

namespace outbox::test {
namespace {

using Names = std::set<std::string>;

TEST(PromqlNames, SelectorsWithBracesRangesAndBareNames) {
  const auto r = ExtractPromqlRefs(
      R"(sum by (topic) (rate(outbox_relay_events_published_total{job=~"$job", instance=~"$instance"}[$__rate_interval])))"
      " / on (job, instance) group_left (version) outbox_relay_build_info + up");
  EXPECT_EQ(r.metrics, (Names{"outbox_relay_events_published_total", "outbox_relay_build_info", "up"}));
  EXPECT_EQ(r.selector_labels.at("outbox_relay_events_published_total"), (Names{"job", "instance"}));
  EXPECT_EQ(r.grouping_labels, (Names{"topic", "job", "instance", "version"}));
}

TEST(PromqlNames, AggregationsFunctionsAndKeywordsAreNotMetrics) {
  const auto r = ExtractPromqlRefs(
      "histogram_quantile(0.99, sum without (instance) (rate(a_bucket[5m]))) > bool 0.5 and b unless c or "
      "topk(3, count_values(\"v\", d)) * atan2 e offset -5m @ start() + avg(f) by (le) + time() + vector(1) + "
      "sum(g) + max_over_time(h[1h:30s]) + 1e-3 + 0x1F + Inf + NaN + label_replace(i, \"dst\", \"$1\", \"src\", "
      "\"(.*)\")");
  EXPECT_EQ(r.metrics, (Names{"a_bucket", "b", "c", "d", "e", "f", "g", "h", "i"}));
  EXPECT_EQ(r.grouping_labels, (Names{"instance", "le"}));
}

TEST(PromqlNames, StringsCommentsAndVariablesNeverCount) {
  const auto r = ExtractPromqlRefs(
      "# a comment naming not_a_metric\n"
      "foo{path=\"not_a_metric{x}\", q='also[not]', r=`raw \\ string`} + ${bar} + $baz + ${qux:csv} + "
      "[[old_style]] + bar_total");
  EXPECT_EQ(r.metrics, (Names{"foo", "bar_total"}));
  EXPECT_EQ(r.selector_labels.at("foo"), (Names{"path", "q", "r"}));
}

TEST(PromqlNames, NameMatcherAndSelectorsWithoutName) {
  const auto r = ExtractPromqlRefs(R"({__name__="outbox_relay_ready", job="x"} == 0)");
  EXPECT_EQ(r.metrics, (Names{"outbox_relay_ready"}));
  EXPECT_THROW(ExtractPromqlRefs(R"({__name__=~"outbox_.*"})"), PromqlSyntaxError)
      << "a regular expression over names cannot be checked";
}

TEST(PromqlNames, MultiLineAlertExpressions) {
  const auto r = ExtractPromqlRefs(
      "max by (job, schema, table) (max_over_time(outbox_relay_active[1h]))\n"
      "unless on (job, schema, table)\n"
      "max by (job, schema, table) (outbox_relay_active == 1)\n");
  EXPECT_EQ(r.metrics, (Names{"outbox_relay_active"}));
  EXPECT_EQ(r.grouping_labels, (Names{"job", "schema", "table"}));
}

TEST(PromqlNames, GrafanaTemplatingQueries) {
  auto r = ExtractGrafanaQueryRefs(R"(label_values(outbox_relay_build_info{job=~"$job"}, instance))");
  EXPECT_EQ(r.metrics, (Names{"outbox_relay_build_info"}));
  EXPECT_EQ(r.selector_labels.at("outbox_relay_build_info"), (Names{"job"}));
  EXPECT_EQ(r.grouping_labels, (Names{"instance"})) << "the label a variable lists must exist";
  EXPECT_TRUE(ExtractGrafanaQueryRefs("label_values(job)").metrics.empty());
  EXPECT_TRUE(ExtractGrafanaQueryRefs("metrics(outbox_.*)").metrics.empty());
  r = ExtractGrafanaQueryRefs("query_result(topk(5, sum by (topic) (outbox_relay_events_published_total)))");
  EXPECT_EQ(r.metrics, (Names{"outbox_relay_events_published_total"}));
  EXPECT_EQ(ExtractGrafanaQueryRefs("up{job=\"x\"}").metrics, (Names{"up"}));
}

TEST(PromqlNames, UnterminatedTextIsAnError) {
  EXPECT_THROW(ExtractPromqlRefs("foo{job=\"x}"), PromqlSyntaxError);
  EXPECT_THROW(ExtractPromqlRefs("rate(foo[5m)"), PromqlSyntaxError);
  EXPECT_THROW(ExtractPromqlRefs("sum by (le"), PromqlSyntaxError);
  EXPECT_THROW(ExtractGrafanaQueryRefs("label_values(foo, job"), PromqlSyntaxError);
}

}  // namespace
}  // namespace outbox::test
