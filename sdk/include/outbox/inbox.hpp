#pragma once

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include <pqxx/connection_base>
#include <pqxx/transaction_base>

namespace outbox::sdk {

/// Records (consumer, event_id) in `<schema>.inbox` inside `tx`. Returns true
/// when the row is new (the event was not processed yet by this consumer),
/// false for a duplicate. A concurrent claim of the same event blocks until
/// the other transaction ends, so at most one of them sees true and commits.
bool ClaimInboxEvent(pqxx::transaction_base& tx, const std::string& schema, const std::string& consumer,
                     const std::string& event_id);

/// ClaimInboxEvent for many events in one statement
/// (INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING RETURNING event_id).
/// Returns the ids that are new; an id repeated in `event_ids` is new at most once.
std::set<std::string> ClaimInboxEvents(pqxx::transaction_base& tx, const std::string& schema,
                                       const std::string& consumer, const std::vector<std::string>& event_ids);

/// Removes claims made in `tx` again (for records whose handler failed).
void UnclaimInboxEvents(pqxx::transaction_base& tx, const std::string& schema, const std::string& consumer,
                        const std::vector<std::string>& event_ids);

struct PurgeResult {
  size_t rows = 0;     ///< rows deleted
  size_t batches = 0;  ///< transactions run (the last one deleted fewer than batch_size rows)
};

/// Deletes `consumer`'s inbox rows processed more than `retention` ago, at most
/// `batch_size` rows per transaction so no lock is held long. Rows of other
/// consumers are left alone: each consumer has its own retention window.
PurgeResult PurgeInbox(pqxx::connection_base& conn, const std::string& schema, const std::string& consumer,
                       std::chrono::milliseconds retention, int batch_size);

/// One transaction of PurgeInbox: deletes at most `batch_size` rows and
/// returns how many. Fewer than `batch_size` means the purge is complete.
size_t PurgeInboxBatch(pqxx::connection_base& conn, const std::string& schema, const std::string& consumer,
                       std::chrono::milliseconds retention, int batch_size);

}  // namespace outbox::sdk
