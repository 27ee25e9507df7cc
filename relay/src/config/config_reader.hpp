#pragma once

// Private to relay/src/config: typed, bounded reads from one TOML table, with
// errors that name the key path. Nothing outside the config loader includes this.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace outbox::relay::config_internal {

/// Throws ConfigError "<origin>: <key>: <reason>" (key may be empty).
[[noreturn]] void Fail(const std::string& origin, const std::string& key, const std::string& reason);

/// `s` in double quotes, control characters escaped, cut after 80 characters: safe in a one-line message.
std::string Quote(std::string_view s);

/// "an integer", "a string", ... for messages like "expected an integer, got a string".
std::string TypeName(const toml::node& node);

/// The candidate closest to `word` by edit distance, or "" when none is close enough to be a likely typo.
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

/// Reads the whole file into `out`; on failure returns false and sets `error` (strerror-like text).
bool ReadTextFile(const std::string& path, std::string& out, std::string& error);

/// Removes trailing '\n' and '\r' (files written by `echo` or editors end with a newline).
std::string TrimTrailingNewlines(std::string s);

/// One TOML table at key path `path` ("" for the root). A missing table reads as empty.
class TableReader {
 public:
  TableReader(const toml::table* table, std::string path, std::string origin);

  /// Fails on the first key (in file order) that Schema() does not list for this table, suggesting
  /// the closest known name here, or where the key belongs when it is a known key of another table.
  void CheckKnownKeys() const;

  /// The dotted path of `key` in this table, e.g. "source.batch_size".
  std::string PathOf(std::string_view key) const;
  [[noreturn]] void Fail(std::string_view key, const std::string& reason) const;

  const toml::node* Node(std::string_view key) const;
  std::optional<std::string> String(std::string_view key) const;
  std::optional<bool> Bool(std::string_view key) const;
  /// An integer in [lo, hi]; the message names `unit` when given ("must be between 1 and 3600000 ms").
  std::optional<int64_t> Integer(std::string_view key, int64_t lo, int64_t hi, std::string_view unit = {}) const;
  /// A string that must be one of `choices`.
  std::optional<std::string> Choice(std::string_view key, const std::vector<std::string>& choices) const;
  /// A nested table (nullptr when absent); fails when the key holds something else.
  TableReader Table(std::string_view key) const;

  const toml::table* table() const { return table_; }
  const std::string& path() const { return path_; }
  const std::string& origin() const { return origin_; }

 private:
  const toml::table* table_;
  std::string path_;
  std::string origin_;
};

/// The known keys and sub-tables of one table of the configuration file.
struct SectionSchema {
  std::string path;  ///< "" for the root, "outbox.columns" for a nested table
  std::vector<std::string> keys;
  std::vector<std::string> tables;
};

/// The file's layout, one entry per table (defined next to the loader in config.cpp).
const std::vector<SectionSchema>& Schema();

}  // namespace outbox::relay::config_internal
