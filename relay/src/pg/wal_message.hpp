#pragma once

#include <string>

#include "pg/outbox_row.hpp"

namespace outbox::relay {

/// The events of outbox schema S travel as transactional logical decoding
/// messages with prefix sdk::WalMessagePrefix(S) ("outbox.v1.S"); see
/// schema/README.md, "Events as WAL messages".
/// Decodes one message's content (a JSON object) into the OutboxRow the
/// same event would have been as a table row; seq is left 0 (the caller
/// assigns a token). Throws std::runtime_error naming what is malformed.
OutboxRow DecodeWalMessage(const std::string& content);

}  // namespace outbox::relay
