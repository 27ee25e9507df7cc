#pragma once

#include <map>
#include <string>

namespace outbox::sdk::detail {

/// Appends `s` as a JSON string literal (quoted, escaped). `s` must be UTF-8.
void AppendJsonString(std::string& out, const std::string& s);

/// The headers as one JSON object of string values, e.g. {"traceparent":"00-…"}.
std::string HeadersJson(const std::map<std::string, std::string>& headers);

/// Builds a Postgres array literal ({"a","b",NULL}) element by element, for
/// sending a whole column of a batch as one text parameter.
class ArrayLiteral {
 public:
  explicit ArrayLiteral(size_t reserve_bytes = 0);
  /// A text element, quoted; any characters allowed except NUL.
  void Add(const std::string& text);
  /// A bytea element in hex form ("\\x0aff"), so every byte value survives.
  void AddBytea(const std::string& bytes);
  void AddNull();
  /// The finished literal; the builder is left empty.
  std::string Finish();

 private:
  void Separator();
  std::string text_;
  bool empty_ = true;
};

}  // namespace outbox::sdk::detail
