#pragma once
// The hostile side of the fault suite: rows written with plain SQL, as a
// service in another language would, under the writers' contract (lock the
// aggregate, enqueue, ledger row in the same transaction), so they take their
// commit-order place among the writers' events of the same key; and the
// operator's dead-letter actions (`outbox-relay dlq`, fixes in the table).

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "config/config.hpp"
#include "relay_harness.hpp"

namespace outbox::test::fault {

/// What a hostile row does to the relay.
enum class Poison {
  kOversized,        ///< a payload over the topic's max.message.bytes: rejected by the broker
  kInvalidTopic,     ///< a topic name Kafka refuses ("bad topic!")
  kMissingTopic,     ///< a topic that does not exist (the relay may not create it)
  kReservedHeaders,  ///< row headers with names the relay owns (event_id, aggregate_id): dropped, not poison
};
const char* Name(Poison p);

/// One event written by HostileRows::Write.
struct RawEvent {
  Poison kind = Poison::kReservedHeaders;
  std::string id;
  std::string aggregate;
  std::string topic;  ///< the row's topic override, "" for none
  int64_t seq = 0;
  int version = 0;  ///< the aggregate's version its transaction set (its commit order)
};

class HostileRows {
 public:
  /// `config`: the relay's (topic template, outbox schema), for topics and `dlq`.
  HostileRows(const std::string& dsn, const std::string& schema, relay::Config config);

  /// Writes one event of `kind` on `aggregate`; `missing_topic` names the topic for kMissingTopic.
  RawEvent Write(Poison kind, const std::string& aggregate, const std::string& missing_topic = "");

  /// Rows in the dead-letter table matching `where` (SQL).
  int64_t DeadLetters(const std::string& where = "true");
  bool IsDeadLettered(const RawEvent& e) { return DeadLetters("id::text = '" + e.id + "'") == 1; }
  /// In one snapshot: every event committed on `head`'s key after it is still
  /// in the outbox (or dead-lettered itself): none was acknowledged, the key is
  /// held. Returns the number of events held behind `head`, -1 when not held.
  int64_t HeldBehind(const RawEvent& head);

  /// The highest seq in the outbox now (0 when empty).
  int64_t MaxSeq();
  /// Rows of `e`'s key still in the outbox with a seq up to `seq`.
  int64_t RowsUpTo(const RawEvent& e, int64_t seq);

  /// The operator's fix in the dead-letter table before a requeue: a small
  /// payload (kOversized), no topic override (kInvalidTopic). A missing topic
  /// is fixed by creating it.
  void Fix(const RawEvent& e);
  /// Runs `outbox-relay dlq <action> <id>` (requeue, skip); fails the test unless it exits 0.
  void Dlq(const std::string& action, const RawEvent& e);

  /// Every event written so far, for the writers' view of what committed.
  const std::vector<WrittenEvent>& written() const { return written_; }

 private:
  std::string schema_;
  relay::Config config_;
  pqxx::connection conn_;
  std::vector<WrittenEvent> written_;
};

}  // namespace outbox::test::fault
