#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace outbox::relay {

enum class LogFormat;

/// Sets up the process-wide spdlog logger: stderr, text or one JSON object per
/// line, at `level` (trace|debug|info|warn|error). Safe to call again.
void SetupLogging(const std::string& level, LogFormat format);

/// `s` on one line: newlines and tabs become spaces, trailing space is dropped
/// (libpq's messages span several lines).
std::string OneLine(const std::string& s);

/// Escapes `s` for use inside a JSON string literal.
std::string JsonEscape(const std::string& s);

}  // namespace outbox::relay
