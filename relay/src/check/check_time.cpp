#include "check/check_time.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <regex>

namespace outbox::relay {

std::optional<double> ParseRfc3339(const std::string& text) {
  static const std::regex kRfc3339(
      R"((\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d{1,9})?(?:([Zz])|([+-])(\d\d):(\d\d)))");
  std::smatch m;
  if (!std::regex_match(text, m, kRfc3339)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  double seconds = static_cast<double>(timegm(&tm));
  if (m[7].matched) seconds += std::stod("0" + m[7].str());
  if (m[9].matched) {
    const int offset = std::stoi(m[10]) * 3600 + std::stoi(m[11]) * 60;
    seconds -= m[9] == "+" ? offset : -offset;
  }
  return seconds;
}

std::string FormatRfc3339(double unix_seconds) {
  const double whole = std::floor(unix_seconds);
  auto micros = static_cast<long>(std::llround((unix_seconds - whole) * 1e6));
  auto t = static_cast<std::time_t>(whole);
  if (micros >= 1000000) {
    micros -= 1000000;
    ++t;
  }
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  return buf;
}

SinceSpec SinceSpec::Parse(const std::string& text) {
  static const std::regex kRelative(R"(-(\d+(?:\.\d+)?)(ms|s|m|h|d))");
  std::smatch m;
  SinceSpec spec;
  if (std::regex_match(text, m, kRelative)) {
    const std::string unit = m[2];
    const double scale = unit == "ms" ? 0.001 : unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 86400;
    spec.relative = true;
    spec.value = std::stod(m[1]) * scale;
    return spec;
  }
  if (auto t = ParseRfc3339(text)) {
    spec.value = *t;
    return spec;
  }
  throw std::invalid_argument(
      "--since: expected an RFC 3339 time (2026-11-23T09:15:00Z) or a time back from now "
      "(-30s, -15m, -1h, -2d), got '" +
      text + "'");
}

}  // namespace outbox::relay
