#pragma once

#include <optional>
#include <stdexcept>
#include <string>

namespace outbox::relay {

/// Unix seconds of an RFC 3339 timestamp ("2026-11-23T09:15:02.123456Z", "...+02:00");
/// nullopt when `text` is not one.
std::optional<double> ParseRfc3339(const std::string& text);

/// RFC 3339 UTC with microseconds, as the relay's created_at header.
std::string FormatRfc3339(double unix_seconds);

/// The --since option of `outbox-relay check`: an RFC 3339 time, or a time relative
/// to now ("-90s", "-30m", "-1h", "-2d"; a decimal number is fine: "-1.5h").
struct SinceSpec {
  bool relative = false;
  double value = 0;  ///< Unix seconds when absolute, seconds back from now when relative

  /// Throws std::invalid_argument naming the accepted forms.
  static SinceSpec Parse(const std::string& text);
  double Resolve(double now) const { return relative ? now - value : value; }
};

}  // namespace outbox::relay
