#pragma once

#include <cstddef>
#include <string>

namespace outbox::relay {

/// A bytea value's text output as bytes: the hex format ("\x4142...", the
/// server default since PostgreSQL 9.0) or the legacy escape format
/// (bytea_output = escape). Throws std::runtime_error on a malformed value.
std::string DecodeBytea(const char* text, size_t len);
inline std::string DecodeBytea(const std::string& text) { return DecodeBytea(text.data(), text.size()); }

}  // namespace outbox::relay
