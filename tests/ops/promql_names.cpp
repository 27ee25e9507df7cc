#include "promql_names.hpp"

#include <cctype>
#include <string_view>
#include <vector>

namespace outbox::test {
namespace {

// Functions are recognised by the `(` that follows them; these words are
// keywords wherever they stand (aggregations may put `by (...)` before their `(`).
const std::set<std::string> kKeywords = {"and",   "or",       "unless", "bool",       "offset",       "atan2",
                                         "inf",   "nan",      "sum",    "min",        "max",          "avg",
                                         "group", "stddev",   "stdvar", "count",      "count_values", "bottomk",
                                         "topk",  "quantile", "limitk", "limit_ratio"};
const std::set<std::string> kGrouping = {"by", "without", "on", "ignoring", "group_left", "group_right"};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Scanner {
 public:
  explicit Scanner(const std::string& text) : s_(text) {}

  PromqlRefs Run() {
    std::string last_metric;  // a metric whose selector braces may follow
    while (true) {
      SkipSpace();
      if (i_ >= s_.size()) break;
      const char c = s_[i_];
      if (c == '"' || c == '\'' || c == '`') {
        SkipString();
        last_metric.clear();
      } else if (c == '$') {
        SkipVariable();
      } else if (c == '[') {
        SkipBrackets();  // a range, a subquery step, or a [[var]]
      } else if (c == '{') {
        ReadSelector(last_metric);
        last_metric.clear();
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
        SkipNumber();
        last_metric.clear();
      } else if (IsIdentStart(c)) {
        last_metric = ReadIdentifier();
      } else {
        ++i_;
        last_metric.clear();
      }
    }
    return std::move(refs_);
  }

 private:
  void SkipSpace() {
    while (i_ < s_.size()) {
      if (std::isspace(static_cast<unsigned char>(s_[i_]))) {
        ++i_;
      } else if (s_[i_] == '#') {  // a comment runs to the end of the line
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  char Peek() {
    SkipSpace();
    return i_ < s_.size() ? s_[i_] : '\0';
  }

  std::string SkipString() {
    const char quote = s_[i_++];
    std::string value;
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\' && quote != '`' && i_ + 1 < s_.size()) ++i_;
      value += s_[i_++];
    }
    if (i_ >= s_.size()) throw PromqlSyntaxError("unterminated string in: " + s_);
    ++i_;
    return value;
  }

  /// $name, $__name, ${name}, ${name:format}.
  void SkipVariable() {
    ++i_;
    if (i_ < s_.size() && s_[i_] == '{') {
      const size_t close = s_.find('}', i_);
      if (close == std::string::npos) throw PromqlSyntaxError("unterminated ${ in: " + s_);
      i_ = close + 1;
      return;
    }
    while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
  }

  void SkipBrackets() {
    int depth = 0;
    for (; i_ < s_.size(); ++i_) {
      if (s_[i_] == '[') ++depth;
      if (s_[i_] == ']' && --depth == 0) {
        ++i_;
        return;
      }
    }
    throw PromqlSyntaxError("unterminated [ in: " + s_);
  }

  void SkipNumber() {
    // 0.99, 1e-3, 0x1f, and durations such as 5m or 1h30m after `offset`.
    const bool hex = s_.compare(i_, 2, "0x") == 0 || s_.compare(i_, 2, "0X") == 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (!hex && (c == 'e' || c == 'E') && i_ + 1 < s_.size() && (s_[i_ + 1] == '+' || s_[i_ + 1] == '-')) {
        i_ += 2;
      } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_') {
        ++i_;
      } else {
        break;
      }
    }
  }

  std::string ReadName() {
    const size_t start = i_;
    while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }

  /// Returns the identifier when it names a metric, else "".
  std::string ReadIdentifier() {
    const std::string name = ReadName();
    const std::string lower = Lower(name);
    if (kGrouping.count(lower)) {
      if (Peek() == '(') ReadLabelList();
      return "";
    }
    if (kKeywords.count(lower)) return "";
    if (Peek() == '(') return "";  // a function call
    refs_.metrics.insert(name);
    return name;
  }

  void ReadLabelList() {
    ++i_;  // (
    while (true) {
      const char c = Peek();
      if (c == ')') {
        ++i_;
        return;
      }
      if (c == '\0') throw PromqlSyntaxError("unterminated label list in: " + s_);
      if (IsIdentStart(c)) {
        refs_.grouping_labels.insert(ReadName());
      } else if (c == '"' || c == '\'') {
        refs_.grouping_labels.insert(SkipString());  // quoted label names (Prometheus 3)
      } else {
        ++i_;  // ,
      }
    }
  }

  /// {label op "value", ...}: label names go to the metric before the brace;
  /// {__name__="x"} names the metric itself.
  void ReadSelector(const std::string& metric) {
    ++i_;  // {
    std::string label, op;
    while (true) {
      const char c = Peek();
      if (c == '}') {
        ++i_;
        return;
      }
      if (c == '\0') throw PromqlSyntaxError("unterminated { in: " + s_);
      if (c == '"' || c == '\'' || c == '`') {
        const std::string value = SkipString();
        if (label == "__name__") {
          if (op != "=") throw PromqlSyntaxError("a __name__ matcher other than = cannot be checked: " + s_);
          refs_.metrics.insert(value);
        } else if (!label.empty() && !metric.empty()) {
          refs_.selector_labels[metric].insert(label);
        }
        label.clear();
        op.clear();
      } else if (c == '$') {
        SkipVariable();
      } else if (IsIdentStart(c)) {
        label = ReadName();
      } else {
        if (c != ',') op += c;  // = != =~ !~
        ++i_;
      }
    }
  }

  const std::string& s_;
  size_t i_ = 0;
  PromqlRefs refs_;
};

/// The text between the `(` at `open` and its matching `)`, split at top-level commas.
std::vector<std::string> Arguments(const std::string& s, size_t open) {
  std::vector<std::string> args(1);
  int depth = 0;
  char quote = 0;
  for (size_t i = open; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == '\\' && i + 1 < s.size()) {
        args.back() += c;
        args.back() += s[++i];
        continue;
      }
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'' || c == '`') {
      quote = c;
    } else if (c == '(' || c == '{' || c == '[') {
      if (depth++ == 0) continue;
    } else if (c == ')' || c == '}' || c == ']') {
      if (--depth == 0) return args;
    } else if (c == ',' && depth == 1) {
      args.emplace_back();
      continue;
    }
    args.back() += c;
  }
  throw PromqlSyntaxError("unbalanced parentheses in: " + s);
}

}  // namespace

PromqlRefs ExtractPromqlRefs(const std::string& expr) { return Scanner(expr).Run(); }

PromqlRefs ExtractGrafanaQueryRefs(const std::string& query) {
  size_t start = 0;
  while (start < query.size() && std::isspace(static_cast<unsigned char>(query[start]))) ++start;
  const std::string_view q(query.data() + start, query.size() - start);
  for (const char* fn : {"label_values", "query_result", "metrics", "label_names"}) {
    const std::string_view name(fn);
    if (q.substr(0, name.size()) != name) continue;
    size_t open = start + name.size();
    while (open < query.size() && std::isspace(static_cast<unsigned char>(query[open]))) ++open;
    if (open >= query.size() || query[open] != '(') continue;
    const auto args = Arguments(query, open);
    if (name == "metrics" || name == "label_names") return {};
    // label_values(label) has no expression; label_values(expr, label) has one.
    if (name == "label_values" && args.size() < 2) return {};
    PromqlRefs refs = ExtractPromqlRefs(args[0]);
    if (name == "label_values") {
      std::string label = args[1];
      while (!label.empty() && std::isspace(static_cast<unsigned char>(label.back()))) label.pop_back();
      while (!label.empty() && std::isspace(static_cast<unsigned char>(label.front()))) label.erase(0, 1);
      refs.grouping_labels.insert(label);
    }
    return refs;
  }
  return ExtractPromqlRefs(query);
}

void Merge(PromqlRefs& into, const PromqlRefs& more) {
  into.metrics.insert(more.metrics.begin(), more.metrics.end());
  for (const auto& [metric, labels] : more.selector_labels)
    into.selector_labels[metric].insert(labels.begin(), labels.end());
  into.grouping_labels.insert(more.grouping_labels.begin(), more.grouping_labels.end());
}

}  // namespace outbox::test
