#pragma once

#include <string>

namespace outbox::relay {

struct Config;

/// `config` as TOML text that ParseConfig() reads back into the same Config:
/// every key of docs/configuration.md, defaults included, or with
/// `only_changed` just the keys whose value differs from the default (plus
/// the DSN and the brokers). For tests, benchmarks and tools that start the
/// outbox-relay executable; secrets (the DSN, Kafka passwords) are written as
/// plain values, so keep the file private.
std::string ConfigToToml(const Config& config, bool only_changed = false);

}  // namespace outbox::relay
