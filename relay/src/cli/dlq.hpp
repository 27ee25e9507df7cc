#pragma once

#include <string>

namespace outbox::relay {

struct Config;

/// `outbox-relay dlq list | requeue ID | skip ID`. Prints to stdout; returns an exit code.
int DlqCommand(const Config& config, const std::string& action, const std::string& event_id);

}  // namespace outbox::relay
