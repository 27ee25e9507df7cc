#pragma once

#include <string>

#include "pg/outbox_row.hpp"

namespace outbox::relay {

/// Prefix of the transactional logical decoding messages that carry outbox
/// events (schema/README.md, "Events as WAL messages").
inline constexpr const char* kWalMessagePrefix = "outbox.event.v1";

/// Decodes one message's content (a JSON object) into the OutboxRow the
/// same event would have been as a table row; seq is left 0 (the caller
/// assigns a token). Throws std::runtime_error naming what is malformed.
OutboxRow DecodeWalMessage(const std::string& content);

}  // namespace outbox::relay
