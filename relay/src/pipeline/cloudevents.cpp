#include "pipeline/cloudevents.hpp"

#include <stdexcept>
#include <utility>
#include <vector>

namespace outbox::relay {
namespace {

const std::string kSpecVersion = "1.0";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

/// Digits at `at`..`at + n` of `s`.
bool Digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return false;
  for (size_t i = at; i < at + n; ++i) {
    if (!IsDigit(s[i])) return false;
  }
  return true;
}

}  // namespace

bool IsRfc3339(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  if (!(Digits(t, 0, 4) && t.size() > 4 && t[4] == '-' && Digits(t, 5, 2) && t.size() > 7 && t[7] == '-' &&
        Digits(t, 8, 2) && t.size() > 10 && t[10] == 'T' && Digits(t, 11, 2) && t.size() > 13 && t[13] == ':' &&
        Digits(t, 14, 2) && t.size() > 16 && t[16] == ':' && Digits(t, 17, 2))) {
    return false;
  }
  size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    const size_t first = ++i;
    while (i < t.size() && IsDigit(t[i])) ++i;
    if (i == first) return false;
  }
  if (i + 1 == t.size() && (t[i] == 'Z' || t[i] == 'z')) return true;
  return i + 6 == t.size() && (t[i] == '+' || t[i] == '-') && Digits(t, i + 1, 2) && t[i + 3] == ':' &&
         Digits(t, i + 4, 2);
}

CloudEventsHeaders::CloudEventsHeaders(std::string source, std::string content_type)
    : source_(std::move(source)), content_type_(std::move(content_type)) {}

void CloudEventsHeaders::Apply(const OutboxRow& row, size_t first_row_header, KafkaRecord& record) const {
  if (row.id.empty()) throw std::invalid_argument("cloudevents: the event has no id (ce_id is required)");
  if (row.event_type.empty()) {
    throw std::invalid_argument("cloudevents: the event has no event type (ce_type is required)");
  }
  auto& headers = record.headers;
  auto row_header = [&](const char* name) -> const std::string* {
    for (size_t i = first_row_header; i < headers.size(); ++i) {
      if (headers[i].first == name) return &headers[i].second;
    }
    return nullptr;
  };
  // The relay's own attributes: a row may repeat them, not change them.
  const std::pair<const char*, const std::string&> owned[] = {{"ce_specversion", kSpecVersion}, {"ce_id", row.id}};
  std::vector<std::pair<std::string, std::string>> ce;
  ce.reserve(7);
  for (const auto& [name, value] : owned) {
    const std::string* mine = row_header(name);
    if (mine != nullptr && *mine != value) {
      throw std::invalid_argument(std::string("cloudevents: the row's header '") + name + "' is \"" + *mine +
                                  "\", but the relay sets it to \"" + value + "\"");
    }
    if (mine == nullptr) ce.emplace_back(name, value);
  }
  // Attributes a row's own header may set for its event.
  const bool has_time = IsRfc3339(row.created_at);
  const std::pair<const char*, const std::string*> defaults[] = {
      {"ce_source", &source_},
      {"ce_type", &row.event_type},
      {"ce_subject", &row.aggregate_id},
      {"ce_time", has_time ? &row.created_at : nullptr},
      {"content-type", content_type_.empty() ? nullptr : &content_type_},
  };
  for (const auto& [name, value] : defaults) {
    const std::string* mine = row_header(name);
    if (mine == nullptr) {
      if (value != nullptr) ce.emplace_back(name, *value);
    } else if (mine->empty() || (name == std::string_view("ce_time") && !IsRfc3339(*mine))) {
      throw std::invalid_argument(std::string("cloudevents: the row's header '") + name + "' is \"" + *mine +
                                  "\", not a valid value for that attribute");
    }
  }
  headers.insert(headers.begin() + static_cast<std::ptrdiff_t>(first_row_header), std::make_move_iterator(ce.begin()),
                 std::make_move_iterator(ce.end()));
}

}  // namespace outbox::relay
