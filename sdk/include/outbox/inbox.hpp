#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <pqxx/connection_base>
#include <pqxx/transaction_base>

namespace outbox::sdk {

/// Records (consumer, event_id) in `<schema>.inbox` inside `tx`. Returns true
/// when the row is new (the event was not processed yet by this consumer),
/// false for a duplicate. A concurrent claim of the same event blocks until
/// the other transaction ends, so at most one of them sees true and commits.
bool ClaimInboxEvent(pqxx::transaction_base& tx, const std::string& schema, const std::string& consumer,
                     const std::string& event_id);

struct PurgeResult {
  size_t rows = 0;     ///< rows deleted
  size_t batches = 0;  ///< transactions run (the last one deleted fewer than batch_size rows)
};

/// Deletes `consumer`'s inbox rows processed more than `retention` ago, at most
/// `batch_size` rows per transaction so no lock is held long. Rows of other
/// consumers are left alone: each consumer has its own retention window.
PurgeResult PurgeInbox(pqxx::connection_base& conn, const std::string& schema, const std::string& consumer,
                       std::chrono::milliseconds retention, int batch_size);

}  // namespace outbox::sdk
