#pragma once

// Private to relay/src/config: the [kafka.properties] pass-through table.

#include <map>
#include <string>

#include "config/config_reader.hpp"

namespace outbox::relay::config_internal {

/// Reads [kafka.properties] into librdkafka name -> value. Nested tables are flattened, so
/// `sasl.password = "x"` (a dotted TOML key) and `"sasl.password" = "x"` mean the same. Strings,
/// integers and booleans become strings; keys the relay owns are rejected with a hint; secret
/// values of the form "file:/path" are replaced by the file's contents.
std::map<std::string, std::string> ReadKafkaProperties(const TableReader& table);

/// Names of the properties whose "file:/path" values are read from a file.
bool IsFileSecretProperty(const std::string& name);

}  // namespace outbox::relay::config_internal
