#include "config/config_checks.hpp"

#include <cctype>
#include <cstdint>
#include <string_view>
#include <vector>

namespace outbox::relay::config_internal {
namespace {

constexpr size_t kMaxIdentifier = 48;
constexpr size_t kMaxTopicName = 249;  // Kafka's limit
constexpr std::string_view kPlaceholder = "${aggregate_type}";
constexpr int64_t kMaxRetentionSeconds = 3650LL * 24 * 3600;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsTopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '.' || c == '_' || c == '-';
}
bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::string IdentifierProblem(const std::string& value) {
  bool ok = !value.empty() && value.size() <= kMaxIdentifier && !IsDigit(value[0]);
  for (char c : value) ok = ok && ((c >= 'a' && c <= 'z') || IsDigit(c) || c == '_');
  if (ok) return "";
  return "must be a lower-case SQL identifier matching [a-z_][a-z0-9_]{0,47}, got " + Quote(value);
}

std::string TopicTemplateProblem(const std::string& value) {
  if (value.empty()) return "must not be empty";
  std::string literal;  // the template without placeholders
  for (size_t i = 0; i < value.size();) {
    if (value.compare(i, kPlaceholder.size(), kPlaceholder) == 0) {
      i += kPlaceholder.size();
      continue;
    }
    if (value.compare(i, 2, "${") == 0) {
      size_t end = value.find('}', i);
      std::string name = value.substr(i, end == std::string::npos ? std::string::npos : end - i + 1);
      return "unknown placeholder " + Quote(name) + "; the only placeholder is ${aggregate_type}";
    }
    if (!IsTopicChar(value[i])) {
      return "contains " + Quote(value.substr(i, 1)) + " at position " + std::to_string(i + 1) +
             "; Kafka topic names allow only a-z, A-Z, 0-9, '.', '_' and '-' (plus the ${aggregate_type} "
             "placeholder)";
    }
    literal += value[i++];
  }
  if (literal.size() > kMaxTopicName) {
    return "is " + std::to_string(literal.size()) + " characters long without placeholders; Kafka allows at most 249";
  }
  if (value == "." || value == "..") return "\".\" and \"..\" are not valid Kafka topic names";
  return "";
}

std::string TopicNameProblem(const std::string& value) {
  if (value.find("${") != std::string::npos) return "takes no placeholder; name one topic";
  return TopicTemplateProblem(value);
}

std::string CloudEventsSourceProblem(const std::string& value) {
  if (value.empty()) return "must not be empty; leave it out for the default \"/outbox-relay/<schema>.<table>\"";
  if (value.size() > 1024) return "is " + std::to_string(value.size()) + " characters long; at most 1024";
  for (size_t i = 0; i < value.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c <= 0x20 || c >= 0x7f) {
      return "must be a URI-reference without spaces or control characters (printable ASCII; percent-encode the "
             "rest), e.g. \"/outbox-relay/orders\" or \"urn:example:orders\"; character " +
             std::to_string(i + 1) + " is not";
    }
  }
  return "";
}

std::string ContentTypeProblem(const std::string& value) {
  if (value.empty()) return "";
  // RFC 2045: type "/" subtype, each a token (printable ASCII except tspecials), then "; parameters".
  auto is_token = [](unsigned char c) {
    return c > 0x20 && c < 0x7f &&
           std::string_view("()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) == std::string_view::npos;
  };
  const std::string example = "; expected a media type such as \"application/json\", got " + Quote(value);
  size_t i = 0;
  while (i < value.size() && is_token(static_cast<unsigned char>(value[i]))) ++i;
  if (i == 0 || i == value.size() || value[i] != '/') return "must be type/subtype" + example;
  const size_t subtype = ++i;
  while (i < value.size() && is_token(static_cast<unsigned char>(value[i]))) ++i;
  if (i == subtype) return "must be type/subtype" + example;
  for (size_t p = i; p < value.size(); ++p) {
    const unsigned char c = static_cast<unsigned char>(value[p]);
    if (c < 0x20 || c >= 0x7f) return "must be printable ASCII" + example;
  }
  if (i < value.size() && value.find_first_not_of(' ', i) != std::string::npos &&
      value[value.find_first_not_of(' ', i)] != ';') {
    return "parameters must follow \";\"" + example;
  }
  return "";
}

std::string ListenProblem(const std::string& value) {
  if (value.empty()) return "";
  const std::string example = "; expected host:port, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\", got " + Quote(value);
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) return "missing port" + example;
  std::string host = value.substr(0, colon), port = value.substr(colon + 1);
  if (host.empty()) return "missing host (use \"0.0.0.0:PORT\" to listen on all interfaces)" + example;
  for (char c : host) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@') return "invalid host" + example;
  }
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find(':') != std::string::npos) return "an IPv6 host must be in brackets" + example;
  if (!AllDigits(port) || port.size() > 5 || std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return "port must be between 1 and 65535" + example;
  }
  return "";
}

std::string BrokersProblem(const std::string& value, std::string& normalized) {
  normalized.clear();
  size_t start = 0;
  while (true) {
    size_t comma = value.find(',', start);
    std::string entry =
        Trim(std::string_view(value).substr(start, comma == std::string::npos ? value.npos : comma - start));
    if (entry.empty()) return "has an empty entry; expected host:port[,host:port...], got " + Quote(value);
    for (char c : entry) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        return "entries must be separated by commas, got " + Quote(value);
      }
    }
    normalized += (normalized.empty() ? "" : ",") + entry;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return "";
}

std::optional<std::chrono::seconds> ReadRetention(const TableReader& table, const char* key) {
  const toml::node* node = table.Node(key);
  if (node == nullptr) return std::nullopt;
  const std::string expected =
      "expected a duration such as \"7d\", \"12h\", \"30m\", \"45s\" or an integer number of seconds";
  int64_t seconds = 0;
  std::string shown;
  if (node->is_integer()) {
    seconds = node->as_integer()->get();
    shown = std::to_string(seconds);
  } else if (node->is_string()) {
    const std::string& s = node->as_string()->get();
    shown = Quote(s);
    std::string digits = s.empty() ? "" : s.substr(0, s.size() - 1);
    const char unit = s.empty() ? '\0' : s.back();
    int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
    if (scale == 0 || !AllDigits(digits)) table.Fail(key, expected + ", got " + shown);
    // More digits than the bound has cannot be in range; stop before stoll could overflow.
    seconds = digits.size() > 12 ? kMaxRetentionSeconds + 1 : std::stoll(digits) * scale;
  } else {
    table.Fail(key, expected + ", got " + TypeName(*node));
  }
  if (seconds < 1 || seconds > kMaxRetentionSeconds) table.Fail(key, "must be between 1s and 3650d, got " + shown);
  return std::chrono::seconds(seconds);
}

}  // namespace outbox::relay::config_internal
