// Parked records: retries after backoff, dead letters, and releases. Work is
// done per key group (topic, partition, key) in offset order, only for
// partitions this member owns, between two batches: records of a held key
// that arrive meanwhile are parked behind, so the key's order is kept.
#include <optional>

#include <pqxx/except>

#include "consumer_impl.hpp"
#include "outbox/inbox.hpp"

namespace outbox::sdk {
namespace {

struct RowTransient {
  int64_t id;
  std::string what;
};

}  // namespace

void IdempotentConsumer::Impl::DrainAgainWithin(std::chrono::milliseconds delay) {
  next_drain_ = std::min(next_drain_, Clock::now() + std::max(delay, std::chrono::milliseconds(0)));
}

size_t IdempotentConsumer::Impl::DrainIfDue() {
  const auto now = Clock::now();
  if (now < next_drain_) return 0;
  next_drain_ = now + options_.release_check_interval;
  std::vector<detail::ParkedTable::Head> heads;
  try {
    pqxx::work tx(Connection());
    heads = parked_.Heads(tx);
    const auto [dead, parked] = parked_.Depth(tx);
    tx.commit();
    // No parked row of this consumer name anywhere: a batch need not ask
    // which of its keys are held until something is parked again (here, or by
    // another member, whose partitions reach this one only by an assignment).
    holds_possible_ = parked > 0;
    UpdateStats([&, dead = dead, parked = parked](Stats& s) {
      s.dead_letter_depth = dead;
      s.parked_records = parked;
    });
  } catch (const pqxx::undefined_table& e) {
    throw ConsumerError("consumer.schema: " + std::string(e.what()) +
                        "Hint: run outbox::sdk::Migrate(conn, schema) before consuming");
  } catch (const pqxx::failure& e) {
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) ResetConnection();
    UpdateStats([](Stats& s) { ++s.infra_retries; });
    if (hooks_.on_infra_error) hooks_.on_infra_error(std::string("parked records: ") + e.what());
    return 0;
  }
  size_t finished = 0;
  for (const auto& h : heads) {
    if (Stopping()) break;
    if (!Assigned(h.topic, h.partition)) continue;  // its owner drains it
    const bool due =
        h.release ||
        (!h.dead && (h.permanent || h.attempts == 0 || h.attempts >= options_.max_attempts || h.due_in.count() <= 0));
    if (due) {
      finished += DrainGroup(h.topic, h.partition, h.key_group);
    } else if (!h.dead) {
      DrainAgainWithin(h.due_in);
    }
  }
  return finished;
}

size_t IdempotentConsumer::Impl::DrainGroup(const std::string& topic, int32_t partition, const std::string& key_group) {
  using Row = detail::ParkedTable::Row;
  enum class Outcome { kApplied, kDuplicate, kSkipped, kRetry };
  struct Done {
    Row row;
    Outcome outcome;
    int attempts = 0;
    std::string error;
  };
  const int chunk = std::max(options_.max_batch_size, 100);
  size_t finished = 0;
  int transient = 0;
  std::map<int64_t, std::string> forced;
  while (!Stopping()) {
    std::vector<Done> done;
    std::optional<Done> dead;  // to dead-letter once the transaction is committed
    bool more = false;
    try {
      pqxx::connection& conn = Connection();  // before the filter: it may open a new session
      detail::RecordScope scope(conn, *join_filter_);
      std::vector<Row> rows = parked_.LockGroup(scope.work(), topic, partition, key_group, chunk);
      bool stopped = false;
      for (Row& row : rows) {
        if (row.release == "skip" && row.dead) {
          parked_.Delete(scope.work(), row.id);
          if (!row.event_id.empty())
            ClaimInboxEvent(scope.work(), options_.schema, options_.consumer_name, row.event_id);
          done.push_back({row, Outcome::kSkipped});
          continue;
        }
        if (row.release == "retry" && row.dead) {
          parked_.ResetForRetry(scope.work(), row.id);
          row.dead = row.permanent = false;
          row.attempts = 0;
        }
        if (row.dead) {
          stopped = true;  // a dead letter holding its key
          break;
        }
        if (row.permanent || row.attempts >= options_.max_attempts) {
          dead = Done{row, Outcome::kRetry, row.attempts, row.error};
          stopped = true;
          break;
        }
        if (row.attempts > 0 && !row.due) {
          stopped = true;
          break;
        }
        std::string error;
        bool duplicate = false;
        detail::RecordResult result = detail::RecordResult::kFailed;
        if (auto f = forced.find(row.id); f != forced.end()) {
          error = f->second;
        } else {
          try {
            result = scope.Run(
                [&](pqxx::work& tx) {
                  if (!ClaimInboxEvent(tx, options_.schema, options_.consumer_name, row.event_id)) {
                    duplicate = true;
                    return;
                  }
                  CallHandler(tx, row.record);
                },
                &error);
          } catch (const detail::TransientFailure& t) {
            throw RowTransient{row.id, t.what()};
          }
        }
        if (result == detail::RecordResult::kApplied) {
          parked_.Delete(scope.work(), row.id);
          done.push_back({row, duplicate ? Outcome::kDuplicate : Outcome::kApplied});
          continue;
        }
        const int attempts = row.attempts + 1;
        parked_.RecordFailure(scope.work(), row.id, attempts, error, RetryDelay(options_, attempts));
        if (attempts >= options_.max_attempts) {
          dead = Done{row, Outcome::kRetry, attempts, error};
        } else {
          done.push_back({row, Outcome::kRetry, attempts, error});
          DrainAgainWithin(RetryDelay(options_, attempts));
        }
        stopped = true;
        break;
      }
      scope.Commit();
      more = !stopped && static_cast<int>(rows.size()) == chunk;
      transient = 0;
    } catch (const RowTransient& t) {
      UpdateStats([](Stats& s) { ++s.transient_retries; });
      if (hooks_.on_infra_error) hooks_.on_infra_error("postgres (transient, retried): " + t.what);
      if (++transient > options_.transient_retries) {
        forced[t.id] =
            "transient error persisted after " + std::to_string(options_.transient_retries) + " retries: " + t.what;
        transient = 0;
      }
      if (!SleepUnlessStopped(RetryDelay(options_, std::max(transient, 1)))) break;
      continue;
    } catch (const pqxx::undefined_table& e) {
      throw ConsumerError("consumer.schema: " + std::string(e.what()) +
                          "Hint: run outbox::sdk::Migrate(conn, schema) before consuming");
    } catch (const pqxx::failure& e) {
      // Lost connection, commit in doubt, a transient error in our own
      // statements, anything else: nothing was charged; look again later.
      if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
          dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
        ResetConnection();
      }
      UpdateStats([](Stats& s) { ++s.infra_retries; });
      if (hooks_.on_infra_error) hooks_.on_infra_error(std::string("parked records: ") + e.what());
      DrainAgainWithin(options_.backoff_initial);
      break;
    }

    for (const Done& d : done) {
      if (d.outcome == Outcome::kApplied && hooks_.after_db_commit) hooks_.after_db_commit(d.row.record);
    }
    for (const Done& d : done) {
      switch (d.outcome) {
        case Outcome::kApplied:
        case Outcome::kDuplicate:
          ++finished;
          UpdateStats([&](Stats& s) {
            ++(d.outcome == Outcome::kApplied ? s.processed : s.duplicates);
            ++s.released;
          });
          if (d.outcome == Outcome::kDuplicate && hooks_.on_duplicate) hooks_.on_duplicate(d.row.record);
          Observe(d.row.record, d.row.parked_for, false);
          break;
        case Outcome::kSkipped:
          UpdateStats([](Stats& s) { ++s.skipped; });
          break;
        case Outcome::kRetry:
          UpdateStats([](Stats& s) { ++s.retries; });
          if (hooks_.on_retry) hooks_.on_retry(d.row.record, d.attempts, d.error);
          break;
      }
    }
    if (dead) {
      // One try per look: while the dead-letter topic cannot be written, the
      // record stays parked (its key held) and other keys keep flowing.
      if (!DeadLetter(dead->row.record, dead->error, dead->attempts)) break;
      try {
        pqxx::work tx(Connection());
        parked_.MarkDead(tx, dead->row.id, options_.hold_key);
        tx.commit();
      } catch (const pqxx::failure& e) {
        // Sent but not marked: the next look sends it again (dead letters are at-least-once).
        if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) ResetConnection();
        if (hooks_.on_infra_error) hooks_.on_infra_error(std::string("parked records: ") + e.what());
        DrainAgainWithin(options_.backoff_initial);
        break;
      }
      ++finished;
      UpdateStats([](Stats& s) { ++s.dead_lettered; });
      if (hooks_.on_dead_letter) hooks_.on_dead_letter(dead->row.record, dead->error, dead->attempts);
      Observe(dead->row.record, dead->row.parked_for, false);
      if (options_.hold_key) break;  // the rest of the key waits for a release
      continue;                      // the rest of the key flows past it
    }
    if (!more) break;
  }
  return finished;
}

bool IdempotentConsumer::Impl::DeadLetter(const Record& record, const std::string& error, int attempts) {
  const std::string failure = dead_letters_->Send(DeadLetterTopicFor(options_, record.topic), record, error, attempts);
  if (failure.empty()) {
    dead_letter_failures_ = 0;
    return true;
  }
  UpdateStats([](Stats& s) { ++s.infra_retries; });
  if (hooks_.on_infra_error) hooks_.on_infra_error(failure);
  DrainAgainWithin(RetryDelay(options_, ++dead_letter_failures_));
  return false;
}

}  // namespace outbox::sdk
