// The batch path: one transaction per batch. The inbox rows of the batch go
// in with one INSERT ... RETURNING, each new record's handler runs in its own
// savepoint, a failing record is parked (with the later records of its key)
// instead of blocking the batch, and the batch commits once; only then do its
// offsets become committable.
#include <numeric>

#include <pqxx/except>

#include "consumer_impl.hpp"
#include "outbox/inbox.hpp"
#include "sql_text.hpp"

namespace outbox::sdk {
namespace {

constexpr size_t kNoRecord = static_cast<size_t>(-1);

/// A deadlock or serialization failure; `index` is the batch item whose
/// handler raised it, or kNoRecord for the consumer's own statements.
struct Transient {
  size_t index;
  std::string what;
};
/// Lost connection or a commit in doubt: retried as a whole, never charged.
struct Infra {
  std::string what;
};
/// Any other error in the consumer's statements or the commit (a deferred
/// constraint the handlers' writes violate): not attributable in a batch.
struct StatementFailed {
  std::string what;
};
/// Savepoints::kOnFailure: a handler failed (or the commit found the
/// transaction aborted) in a batch run without savepoints.
struct NeedSavepoints {};

// Runs a handler without a savepoint; any failure of the record's own (not
// the connection, not transient) sends the batch back to run with savepoints.
template <typename F>
void BareOrRetry(detail::RecordScope& scope, F&& body) {
  try {
    scope.RunBare(std::forward<F>(body));
  } catch (const detail::TransientFailure&) {
    throw;
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const pqxx::in_doubt_error&) {
    throw;
  } catch (const pqxx::statement_completion_unknown&) {
    throw;
  } catch (...) {
    throw NeedSavepoints{};
  }
}

}  // namespace

size_t IdempotentConsumer::Impl::ApplyBatch() {
  for (Item& item : batch_) {
    const auto first = item.record.Header("event_id");
    item.invalid = detail::EventIdProblem(first.value_or(""), first.has_value());
    item.event_id = item.invalid.empty() ? *first : "";
  }
  std::vector<size_t> all(batch_.size());
  std::iota(all.begin(), all.end(), 0);
  std::map<size_t, std::string> forced;  // charged one failed attempt without running the handler
  int transient = 0, infra = 0;
  bool isolate = false;  // one transaction per record, to find the one a failure belongs to
  bool savepoints = options_.savepoints == ConsumerOptions::Savepoints::kPerRecord;
  size_t finished = 0;
  size_t current = kNoRecord;
  for (;;) {
    try {
      if (!isolate) {
        TryBatch(all, forced, savepoints);
        finished += FinishCommitted(all);
      } else {
        for (size_t i : all) {
          if (batch_[i].committed) continue;
          current = i;
          TryBatch({i}, forced, true);
          finished += FinishCommitted({i});
          transient = 0;
        }
      }
      break;
    } catch (const Transient& t) {
      UpdateStats([](Stats& s) { ++s.transient_retries; });
      if (hooks_.on_infra_error) hooks_.on_infra_error("postgres (transient, retried): " + t.what);
      if (++transient > options_.transient_retries) {
        const size_t charged = t.index != kNoRecord ? t.index : (isolate ? current : kNoRecord);
        if (charged != kNoRecord) {
          forced[charged] =
              "transient error persisted after " + std::to_string(options_.transient_retries) + " retries: " + t.what;
        } else {
          isolate = true;
        }
        transient = 0;
      }
      if (!SleepUnlessStopped(RetryDelay(options_, std::max(transient, 1)))) return finished + Abandon();
    } catch (const Infra& e) {
      ResetConnection();
      if (!InfraBackoff(e.what, &infra)) return finished + Abandon();
    } catch (const NeedSavepoints&) {
      savepoints = true;  // again at once: the next run tells which record failed
    } catch (const StatementFailed& e) {
      if (!isolate) {
        isolate = true;
      } else if (forced.count(current) == 0) {
        forced[current] = "commit: " + e.what;
      } else {
        // Even parking the record failed: not the record's doing. Start
        // over on a fresh session.
        ResetConnection();
        if (!InfraBackoff("postgres: " + e.what, &infra)) return finished + Abandon();
      }
    }
  }
  for (const Item& item : batch_) MarkDone(item.record);
  const auto now = Clock::now();
  for (const Item& item : batch_) {
    if (item.state == Item::State::kApplied || item.state == Item::State::kDuplicate) {
      Observe(item.record, now - item.received, item.state == Item::State::kApplied);
    }
  }
  batch_.clear();
  CommitIfDue();
  return finished;
}

// One transaction over `subset` (batch indices, in batch order). Throws
// Transient, Infra or StatementFailed; anything else (a simulated crash, a
// missing table) escapes PollBatch.
void IdempotentConsumer::Impl::TryBatch(const std::vector<size_t>& subset, const std::map<size_t, std::string>& forced,
                                        bool savepoints) {
  try {
    pqxx::connection& conn = Connection();  // before the filter: it may open a new session
    detail::RecordScope scope(conn, *join_filter_);
    std::vector<const Record*> records;
    for (size_t i : subset) records.push_back(&batch_[i].record);
    // Skipped while this consumer has no parked rows at all (see holds_possible_).
    std::set<detail::KeyRef> blocked;
    if (holds_possible_) blocked = parked_.HeldKeys(scope.work(), records);
    std::vector<size_t> claimed;
    std::vector<std::string> ids;
    for (size_t i : subset) {
      Item& item = batch_[i];
      item.error.clear();
      if (!item.invalid.empty()) {
        item.state = Item::State::kInvalid;  // parked, dead-lettered by the drain; holds its key
        if (!item.record.key_is_null) blocked.insert(detail::KeyOf(item.record));
      } else if (!item.record.key_is_null && blocked.count(detail::KeyOf(item.record)) > 0) {
        item.state = Item::State::kHeld;
      } else {
        item.state = Item::State::kPending;
        claimed.push_back(i);
        ids.push_back(item.event_id);
      }
    }
    const std::set<std::string> fresh = ClaimInboxEvents(scope.work(), options_.schema, options_.consumer_name, ids);
    std::set<std::string> taken;
    for (size_t i : claimed) {
      Item& item = batch_[i];
      const bool is_new = fresh.count(item.event_id) > 0 && taken.insert(item.event_id).second;
      item.state = is_new ? Item::State::kNew : Item::State::kDuplicate;
    }
    RunHandlers(scope, claimed, forced, blocked, savepoints);
    ParkAndStore(scope, subset);
    scope.Commit();
  } catch (const Transient&) {
    throw;
  } catch (const detail::TransientFailure& e) {
    throw Transient{kNoRecord, e.what()};
  } catch (const pqxx::broken_connection& e) {
    throw Infra{std::string("postgres connection: ") + e.what()};
  } catch (const pqxx::in_doubt_error& e) {
    throw Infra{std::string("postgres commit in doubt: ") + e.what()};
  } catch (const pqxx::statement_completion_unknown& e) {
    throw Infra{std::string("postgres statement outcome unknown: ") + e.what()};
  } catch (const pqxx::transaction_rollback& e) {
    throw Transient{kNoRecord, e.what()};
  } catch (const pqxx::undefined_table& e) {
    throw ConsumerError("consumer.schema: " + std::string(e.what()) +
                        "Hint: run outbox::sdk::Migrate(conn, schema) before consuming");
  } catch (const NeedSavepoints&) {
    throw;
  } catch (const pqxx::sql_error& e) {
    if (!savepoints) throw NeedSavepoints{};
    throw StatementFailed{e.what()};
  } catch (const pqxx::usage_error& e) {
    if (!savepoints) throw NeedSavepoints{};
    throw StatementFailed{e.what()};
  }
}

// Handlers for the claimed records, in batch order. A record runs only if no
// earlier record of its key failed or is parked (`blocked`); a record behind a
// failed one is parked too, and its inbox claim is taken back.
void IdempotentConsumer::Impl::RunHandlers(detail::RecordScope& scope, const std::vector<size_t>& claimed,
                                           const std::map<size_t, std::string>& forced,
                                           std::set<detail::KeyRef>& blocked, bool savepoints) {
  auto is_blocked = [&](const Record& r) { return !r.key_is_null && blocked.count(detail::KeyOf(r)) > 0; };
  if (batch_handler_ && forced.empty()) {
    RecordRefs fresh;
    std::vector<size_t> fresh_index;
    for (size_t i : claimed) {
      if (batch_[i].state == Item::State::kNew && !is_blocked(batch_[i].record)) {
        fresh.emplace_back(batch_[i].record);
        fresh_index.push_back(i);
      }
    }
    std::string error;
    if (!savepoints) {
      if (!fresh.empty()) BareOrRetry(scope, [&](pqxx::work& tx) { batch_handler_(tx, fresh); });
      for (size_t i : fresh_index) batch_[i].state = Item::State::kApplied;
    } else if (!fresh.empty() && scope.Run([&](pqxx::work& tx) { batch_handler_(tx, fresh); }, &error) ==
                                     detail::RecordResult::kApplied) {
      for (size_t i : fresh_index) batch_[i].state = Item::State::kApplied;
    }  // else: once more record by record, below, to find the failing one
  }
  std::vector<std::string> unclaim;
  std::set<std::string> unclaimed;
  for (size_t i : claimed) {
    Item& item = batch_[i];
    if (item.state == Item::State::kApplied) continue;
    if (item.state == Item::State::kDuplicate) {
      // A copy of an event whose first copy in this batch failed is not done.
      if (unclaimed.count(item.event_id) > 0) item.state = Item::State::kHeld;
      continue;
    }
    auto give_back = [&] {
      unclaim.push_back(item.event_id);
      unclaimed.insert(item.event_id);
    };
    if (is_blocked(item.record)) {
      item.state = Item::State::kHeld;
      give_back();
      continue;
    }
    std::string error;
    detail::RecordResult result;
    if (auto f = forced.find(i); f != forced.end()) {
      result = detail::RecordResult::kFailed;
      error = f->second;
    } else {
      try {
        if (savepoints) {
          result = scope.Run([&](pqxx::work& tx) { CallHandler(tx, item.record); }, &error);
        } else {
          BareOrRetry(scope, [&](pqxx::work& tx) { CallHandler(tx, item.record); });
          result = detail::RecordResult::kApplied;
        }
      } catch (const detail::TransientFailure& t) {
        throw Transient{i, t.what()};
      }
    }
    if (result == detail::RecordResult::kApplied) {
      item.state = Item::State::kApplied;
      continue;
    }
    item.state = Item::State::kFailed;
    item.error = error;
    give_back();
    if (!item.record.key_is_null) blocked.insert(detail::KeyOf(item.record));
  }
  UnclaimInboxEvents(scope.work(), options_.schema, options_.consumer_name, unclaim);
}

void IdempotentConsumer::Impl::ParkAndStore(detail::RecordScope& scope, const std::vector<size_t>& subset) {
  std::map<Partition, int64_t> next;
  for (size_t i : subset) {
    const Item& item = batch_[i];
    int64_t& n = next[{item.record.topic, item.record.partition}];
    n = std::max(n, item.record.offset + 1);
    detail::ParkInfo info;
    switch (item.state) {
      case Item::State::kFailed:
        info.attempts = 1;
        info.error = item.error;
        info.retry_in = options_.max_attempts > 1 ? RetryDelay(options_, 1) : std::chrono::milliseconds(0);
        break;
      case Item::State::kInvalid:
        info.permanent = true;
        info.error = item.invalid;
        break;
      case Item::State::kHeld:
        break;
      default:
        continue;
    }
    parked_.Park(scope.work(), item.record, item.event_id, info);
    holds_possible_ = true;
  }
  if (options_.store_offsets_in_postgres) stored_offsets_.Store(scope.work(), next);
}

// After the commit: the test hook, counters, hooks. Returns the records
// finished (processed or duplicate).
size_t IdempotentConsumer::Impl::FinishCommitted(const std::vector<size_t>& subset) {
  for (size_t i : subset) {
    batch_[i].committed = true;
    if (batch_[i].state == Item::State::kApplied && hooks_.after_db_commit) hooks_.after_db_commit(batch_[i].record);
  }
  size_t finished = 0;
  for (size_t i : subset) {
    const Item& item = batch_[i];
    switch (item.state) {
      case Item::State::kApplied:
        ++finished;
        UpdateStats([](Stats& s) { ++s.processed; });
        break;
      case Item::State::kDuplicate:
        ++finished;
        UpdateStats([](Stats& s) { ++s.duplicates; });
        if (hooks_.on_duplicate) hooks_.on_duplicate(item.record);
        break;
      case Item::State::kFailed:
        if (options_.max_attempts > 1) {
          UpdateStats([](Stats& s) { ++s.retries; });
          if (hooks_.on_retry) hooks_.on_retry(item.record, 1, item.error);
        }
        DrainAgainWithin(options_.max_attempts > 1 ? RetryDelay(options_, 1) : std::chrono::milliseconds(0));
        break;
      case Item::State::kHeld:
        UpdateStats([](Stats& s) { ++s.held; });
        if (hooks_.on_held) hooks_.on_held(item.record);
        break;
      case Item::State::kInvalid:
        DrainAgainWithin(std::chrono::milliseconds(0));
        break;
      default:
        break;
    }
  }
  UpdateStats([&](Stats& s) {
    ++s.batches;
    s.batch_records += subset.size();
    s.last_batch = subset.size();
    s.max_batch = std::max<uint64_t>(s.max_batch, subset.size());
  });
  return finished;
}

// Stopped while retrying: nothing of the uncommitted rest is done. Each of
// their partitions is sought back to its first uncommitted record.
size_t IdempotentConsumer::Impl::Abandon() {
  std::map<Partition, int64_t> rewind;
  for (const Item& item : batch_) {
    if (item.committed) {
      MarkDone(item.record);
      continue;
    }
    const Partition tp{item.record.topic, item.record.partition};
    if (rewind.count(tp) == 0) rewind[tp] = item.record.offset;
  }
  batch_.clear();
  Rewind(rewind);
  return 0;
}

void IdempotentConsumer::Impl::CallHandler(pqxx::work& tx, const Record& record) {
  if (handler_) {
    handler_(tx, record);
  } else {
    batch_handler_(tx, RecordRefs{std::cref(record)});
  }
}

}  // namespace outbox::sdk
