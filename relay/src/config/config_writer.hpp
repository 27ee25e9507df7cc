#pragma once

#include <string>

namespace outbox::relay {

struct Config;

/// `config` as TOML text that ParseConfig() reads back into the same Config:
/// every key of docs/configuration.md, defaults included. For tests, benchmarks
/// and tools that start the outbox-relay executable; secrets (the DSN, Kafka
/// passwords) are written as plain values, so keep the file private.
std::string ConfigToToml(const Config& config);

}  // namespace outbox::relay
