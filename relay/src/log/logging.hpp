#pragma once

#include <string>

#include <spdlog/spdlog.h>

#include "util/text.hpp"

namespace outbox::relay {

enum class LogFormat;

/// Sets up the process-wide spdlog logger: stderr, text or one JSON object per
/// line, at `level` (trace|debug|info|warn|error). Safe to call again.
void SetupLogging(const std::string& level, LogFormat format);

}  // namespace outbox::relay
