#include "deploy_files.hpp"

#include <yaml.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace outbox::test {
namespace {

const std::set<std::string> kTargetLabels = {"job", "instance"};
/// Series Prometheus itself records for every target it scrapes.
const std::set<std::string> kScrapeSeries = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                             "scrape_samples_post_metric_relabeling", "scrape_series_added"};

nlohmann::json YamlNode(yaml_document_t* doc, yaml_node_t* node, int depth) {
  if (node == nullptr) return nullptr;
  if (depth > 64) throw std::runtime_error("YAML nested too deep");
  switch (node->type) {
    case YAML_SCALAR_NODE:
      return std::string(reinterpret_cast<const char*>(node->data.scalar.value), node->data.scalar.length);
    case YAML_SEQUENCE_NODE: {
      nlohmann::json out = nlohmann::json::array();
      for (yaml_node_item_t* it = node->data.sequence.items.start; it < node->data.sequence.items.top; ++it) {
        out.push_back(YamlNode(doc, yaml_document_get_node(doc, *it), depth + 1));
      }
      return out;
    }
    case YAML_MAPPING_NODE: {
      nlohmann::json out = nlohmann::json::object();
      for (yaml_node_pair_t* p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; ++p) {
        const nlohmann::json key = YamlNode(doc, yaml_document_get_node(doc, p->key), depth + 1);
        if (!key.is_string()) throw std::runtime_error("YAML mapping key is not a scalar");
        out[key.get<std::string>()] = YamlNode(doc, yaml_document_get_node(doc, p->value), depth + 1);
      }
      return out;
    }
    default:
      return nullptr;
  }
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

void AddPanels(const nlohmann::json& panels, std::vector<Query>& out) {
  if (!panels.is_array()) return;
  for (const auto& p : panels) {
    const std::string title = p.value("title", std::string("?"));
    if (p.contains("targets") && p["targets"].is_array()) {
      for (const auto& t : p["targets"]) {
        if (t.contains("expr")) {
          out.push_back({"panel \"" + title + "\" target " + t.value("refId", std::string("?")),
                         t["expr"].get<std::string>(), false});
        }
      }
    }
    if (p.contains("panels")) AddPanels(p["panels"], out);  // a row's collapsed panels
  }
}

/// Names a series family offers to queries, by its type.
std::vector<std::string> SeriesOf(const std::string& family, const std::string& type) {
  if (type == "histogram") return {family + "_bucket", family + "_sum", family + "_count"};
  if (type == "summary") return {family, family + "_sum", family + "_count"};
  return {family};
}

}  // namespace

std::string RepoPath(const std::string& relative) {
  const char* root = std::getenv("OUTBOX_ROOT");
  if (root == nullptr) throw std::runtime_error("OUTBOX_ROOT is not set; run through ctest");
  return std::string(root) + "/" + relative;
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::json LoadJsonFile(const std::string& path) {
  try {
    return nlohmann::json::parse(ReadTextFile(path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

nlohmann::json ParseYaml(const std::string& text, const std::string& origin) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) throw std::runtime_error("yaml_parser_initialize failed");
  std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> parser_guard(&parser, yaml_parser_delete);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  yaml_document_t doc;
  if (!yaml_parser_load(&parser, &doc)) {
    throw std::runtime_error(origin + ":" + std::to_string(parser.problem_mark.line + 1) +
                             ": YAML: " + (parser.problem ? parser.problem : "parse error"));
  }
  std::unique_ptr<yaml_document_t, void (*)(yaml_document_t*)> doc_guard(&doc, yaml_document_delete);
  return YamlNode(&doc, yaml_document_get_root_node(&doc), 0);
}

std::vector<Query> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<Query> out;
  AddPanels(dashboard.value("panels", nlohmann::json::array()), out);
  if (dashboard.contains("templating")) {
    for (const auto& v : dashboard["templating"].value("list", nlohmann::json::array())) {
      if (v.value("type", std::string()) != "query") continue;
      const nlohmann::json& q = v["query"];
      const std::string text = q.is_object() ? q.value("query", std::string()) : q.get<std::string>();
      out.push_back({"variable $" + v.value("name", std::string("?")), text, true});
    }
  }
  return out;
}

std::vector<Query> RuleQueries(const nlohmann::json& rules) {
  std::vector<Query> out;
  for (const auto& group : rules.value("groups", nlohmann::json::array())) {
    for (const auto& rule : group.value("rules", nlohmann::json::array())) {
      const std::string name = rule.contains("alert") ? "alert " + rule["alert"].get<std::string>()
                                                      : "record " + rule.value("record", std::string("?"));
      out.push_back({name, rule.value("expr", std::string()), false});
    }
  }
  return out;
}

PromqlRefs RefsOf(const Query& query) {
  return query.grafana_variable ? ExtractGrafanaQueryRefs(query.expr) : ExtractPromqlRefs(query.expr);
}

Exposition ParseExposition(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name, type;
      words >> hash >> kind >> name >> type;
      if (kind == "TYPE") {
        e.family_types[name] = type;
        for (const auto& s : SeriesOf(name, type)) e.series_labels[s];
      }
      continue;
    }
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name = line.substr(0, i);
    std::set<std::string>& labels = e.series_labels[name];
    e.series_with_samples.insert(name);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const size_t eq = line.find('=', i);
        if (eq == std::string::npos) break;
        labels.insert(Trim(line.substr(i, eq - i)));
        i = eq + 2;  // ="
        while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
        ++i;  // closing quote
        if (i < line.size() && line[i] == ',') ++i;
      }
    }
  }
  return e;
}

Exposition ParseMetricList(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    line = Trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::istringstream words(line);
    std::string name, type, labels;
    words >> name >> type >> labels;
    e.family_types[name] = type;
    std::set<std::string> label_set;
    std::istringstream parts(labels);
    for (std::string l; std::getline(parts, l, ',');) {
      if (!l.empty()) label_set.insert(l);
    }
    for (const auto& s : SeriesOf(name, type)) {
      e.series_labels[s] = label_set;
      if (type == "histogram" && s == name + "_bucket") e.series_labels[s].insert("le");
      e.series_with_samples.insert(s);
    }
  }
  return e;
}

std::vector<std::string> CheckQueries(const std::vector<Query>& queries, const Exposition& exported) {
  std::vector<std::string> problems;
  for (const auto& q : queries) {
    PromqlRefs refs;
    try {
      refs = RefsOf(q);
    } catch (const std::exception& e) {
      problems.push_back(q.where + ": " + e.what());
      continue;
    }
    if (refs.metrics.empty()) problems.push_back(q.where + ": uses no metric: " + q.expr);
    std::set<std::string> offered = kTargetLabels;  // labels some series of this query carries
    for (const auto& m : refs.metrics) {
      if (kScrapeSeries.count(m)) {
        for (const auto& label : refs.selector_labels[m]) {
          if (!kTargetLabels.count(label)) problems.push_back(q.where + ": " + m + " has no label " + label);
        }
        continue;
      }
      const auto it = exported.series_labels.find(m);
      if (it == exported.series_labels.end()) {
        problems.push_back(q.where + ": metric " + m + " is not exported");
        continue;
      }
      offered.insert(it->second.begin(), it->second.end());
      const auto used = refs.selector_labels.find(m);
      if (used == refs.selector_labels.end()) continue;
      for (const auto& label : used->second) {
        if (kTargetLabels.count(label)) continue;
        if (!exported.series_with_samples.count(m)) {
          problems.push_back(q.where + ": " + m + " has no sample to show whether it has label " + label);
        } else if (!it->second.count(label)) {
          problems.push_back(q.where + ": " + m + " has no label " + label);
        }
      }
    }
    for (const auto& label : refs.grouping_labels) {
      if (!offered.count(label)) {
        problems.push_back(q.where + ": groups or joins by label " + label + ", which none of its metrics has");
      }
    }
  }
  return problems;
}

}  // namespace outbox::test
