#pragma once

#include <string>
#include <string_view>

namespace outbox::relay {

/// `s` on one line: newlines and tabs become spaces, runs of them one space,
/// trailing space is dropped (libpq's messages span several lines).
std::string OneLine(std::string_view s);

/// Escapes `s` for use inside a JSON string literal (without the quotes).
/// Invalid UTF-8 becomes U+FFFD.
std::string JsonEscape(const std::string& s);

}  // namespace outbox::relay
