#include "config/config_reader.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "config/config.hpp"

namespace outbox::relay::config_internal {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps cost 1.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

bool IsBareKey(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

const SectionSchema* FindSection(const std::string& path) {
  for (const auto& section : Schema()) {
    if (section.path == path) return &section;
  }
  return nullptr;
}

}  // namespace

void Fail(const std::string& origin, const std::string& key, const std::string& reason) {
  throw ConfigError(origin + ": " + (key.empty() ? "" : key + ": ") + reason);
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += s.size() > kMax ? "\"..." : "\"";
  return out;
}

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string w = Lower(word);
  std::string best;
  size_t best_distance = std::max<size_t>(1, w.size() / 3) + 1;  // a typo changes at most a third of a name
  for (const auto& candidate : candidates) {
    size_t d = EditDistance(w, Lower(candidate));
    if (d < best_distance && d < candidate.size()) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

bool ReadTextFile(const std::string& path, std::string& out, std::string& error) {
  errno = 0;
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    error = std::strerror(errno);
    return false;
  }
  out.clear();
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, file.get())) > 0) out.append(buf, n);
  if (std::ferror(file.get())) {
    error = errno != 0 ? std::strerror(errno) : "read error";
    return false;
  }
  return true;
}

std::string TrimTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

TableReader::TableReader(const toml::table* table, std::string path, std::string origin)
    : table_(table), path_(std::move(path)), origin_(std::move(origin)) {}

std::string TableReader::PathOf(std::string_view key) const {
  std::string k = IsBareKey(key) ? std::string(key) : Quote(key);
  return path_.empty() ? k : path_ + "." + k;
}

void TableReader::Fail(std::string_view key, const std::string& reason) const {
  config_internal::Fail(origin_, PathOf(key), reason);
}

void TableReader::CheckKnownKeys() const {
  if (table_ == nullptr) return;
  const SectionSchema* section = FindSection(path_);
  if (section == nullptr) return;  // free-form table

  // Report the first unknown key in file order (the table itself iterates sorted). A known name
  // holding the wrong kind of value is left to the typed readers ("expected a table, got ...").
  const toml::key* first = nullptr;
  const toml::node* first_node = nullptr;
  for (auto&& [key, node] : *table_) {
    const std::string name(key.str());
    if (std::find(section->keys.begin(), section->keys.end(), name) != section->keys.end() ||
        std::find(section->tables.begin(), section->tables.end(), name) != section->tables.end()) {
      continue;
    }
    const auto& pos = key.source().begin;
    if (first == nullptr || std::make_pair(pos.line, pos.column) <
                                std::make_pair(first->source().begin.line, first->source().begin.column)) {
      first = &key;
      first_node = &node;
    }
  }
  if (first == nullptr) return;

  const std::string name(first->str());
  const std::string what = first_node->is_table() ? "unknown table" : "unknown key";
  std::vector<std::string> here = section->keys;
  here.insert(here.end(), section->tables.begin(), section->tables.end());
  std::string match = ClosestMatch(name, here);
  if (!match.empty()) Fail(name, what + "; did you mean '" + match + "'?");

  // A known key in the wrong table: say where it belongs.
  for (const auto& other : Schema()) {
    for (const auto& key : other.keys) {
      if (other.path != path_ && Lower(key) == Lower(name)) {
        Fail(name, what + "; '" + key + "' belongs in [" + other.path + "]");
      }
    }
  }
  if (path_.empty()) Fail(name, what + "; the known tables are: " + Join(section->tables));
  Fail(name, what + "; known keys in [" + path_ + "]: " + Join(here));
}

const toml::node* TableReader::Node(std::string_view key) const { return table_ ? table_->get(key) : nullptr; }

std::optional<std::string> TableReader::String(std::string_view key) const {
  const toml::node* node = Node(key);
  if (node == nullptr) return std::nullopt;
  if (!node->is_string()) Fail(key, "expected a string, got " + TypeName(*node));
  return node->as_string()->get();
}

std::optional<bool> TableReader::Bool(std::string_view key) const {
  const toml::node* node = Node(key);
  if (node == nullptr) return std::nullopt;
  if (!node->is_boolean()) Fail(key, "expected a boolean (true or false), got " + TypeName(*node));
  return node->as_boolean()->get();
}

std::optional<int64_t> TableReader::Integer(std::string_view key, int64_t lo, int64_t hi, std::string_view unit) const {
  const toml::node* node = Node(key);
  if (node == nullptr) return std::nullopt;
  const std::string suffix = unit.empty() ? "" : " " + std::string(unit);
  if (!node->is_integer()) {
    Fail(key,
         "expected an integer" + (unit.empty() ? "" : " (" + std::string(unit) + ")") + ", got " + TypeName(*node));
  }
  int64_t v = node->as_integer()->get();
  if (v < lo || v > hi) {
    Fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + suffix + ", got " +
                  std::to_string(v));
  }
  return v;
}

std::optional<std::string> TableReader::Choice(std::string_view key, const std::vector<std::string>& choices) const {
  std::optional<std::string> value = String(key);
  if (value && std::find(choices.begin(), choices.end(), *value) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + Quote(c);
    std::string match = ClosestMatch(*value, choices);
    Fail(key, "must be one of " + list + ", got " + Quote(*value) +
                  (match.empty() ? "" : "; did you mean " + Quote(match) + "?"));
  }
  return value;
}

TableReader TableReader::Table(std::string_view key) const {
  const toml::node* node = Node(key);
  if (node != nullptr && !node->is_table()) Fail(key, "expected a table, got " + TypeName(*node));
  return TableReader(node ? node->as_table() : nullptr, PathOf(key), origin_);
}

}  // namespace outbox::relay::config_internal
