// The per-record path: inbox claim + handler in one transaction, retries with
// backoff, dead letters, and the order "database commit, then offset commit".
#include <thread>

#include <pqxx/except>
#include <pqxx/transaction>

#include "consumer_impl.hpp"
#include "outbox/inbox.hpp"

namespace outbox::sdk {

bool IdempotentConsumer::Impl::PollOnce(std::chrono::milliseconds timeout) {
  if (broken_) {
    throw ConsumerError(
        "consumer: unusable after an exception escaped mid-record; Hint: destroy it and build a new one");
  }
  if (closed_) throw ConsumerError("consumer: PollOnce after Close()");
  detail::MessagePtr m(rd_kafka_consumer_poll(consumer_.get(), static_cast<int>(timeout.count())));
  CommitIfDue();  // a batch whose interval ran out while the stream was idle
  if (!m) return false;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return false;
    CheckFatal();
    if (hooks_.on_infra_error) hooks_.on_infra_error(std::string("kafka: ") + rd_kafka_message_errstr(m.get()));
    return false;
  }
  const Record record = detail::ToRecord(m.get());
  m.reset();
  const auto start = std::chrono::steady_clock::now();
  broken_ = true;  // stays set if an exception (a simulated crash) escapes before the end
  const Outcome outcome = Handle(record);
  if (outcome == Outcome::kAbandoned) {
    Rewind(record);  // stopped mid-retry: the record must come again, uncommitted
    broken_ = false;
    return false;
  }
  // The offset becomes committable only now, after the database commit (or
  // the dead-letter ack); the commit itself is synchronous, per record by
  // default (commit_every = 1) or batched. A crash before it only causes a
  // redelivery, which the inbox turns into a counted duplicate.
  CommitOffset(record);
  broken_ = false;
  Finish(record, outcome, std::chrono::steady_clock::now() - start);
  return true;
}

IdempotentConsumer::Impl::Outcome IdempotentConsumer::Impl::Handle(const Record& record) {
  const std::string event_id = record.event_id();
  if (event_id.empty()) {
    // Permanent and handler-independent: retrying cannot help.
    return DeadLetter(record, "missing event_id header", 0) ? Outcome::kDeadLettered : Outcome::kAbandoned;
  }
  int attempts = 0;
  int infra_failures = 0;
  for (;;) {
    std::string error;
    switch (TryOnce(record, event_id, &error)) {
      case Step::kCommitted:
        if (hooks_.after_db_commit) hooks_.after_db_commit(record);
        return Outcome::kProcessed;
      case Step::kDuplicate:
        return Outcome::kDuplicate;
      case Step::kHandlerFailed:
        if (++attempts >= options_.max_attempts) {
          return DeadLetter(record, error, attempts) ? Outcome::kDeadLettered : Outcome::kAbandoned;
        }
        UpdateStats([](Stats& s) { ++s.retries; });
        if (hooks_.on_retry) hooks_.on_retry(record, attempts, error);
        if (!SleepUnlessStopped(RetryDelay(options_, attempts))) return Outcome::kAbandoned;
        break;
      case Step::kInfraFailed:
        if (!InfraBackoff(error, &infra_failures)) return Outcome::kAbandoned;
        break;
    }
  }
}

// One attempt. Handler exceptions roll the transaction back, inbox row
// included, so a retry starts clean. Postgres failures outside the handler
// (lost connection, commit in doubt) are not the record's fault: they are
// retried without counting as attempts; if a commit in doubt did succeed, the
// retry finds the inbox row and reports a duplicate.
IdempotentConsumer::Impl::Step IdempotentConsumer::Impl::TryOnce(const Record& record, const std::string& event_id,
                                                                 std::string* error) {
  try {
    pqxx::work tx(Connection(), "outbox_consumer");
    if (!ClaimInboxEvent(tx, options_.schema, options_.consumer_name, event_id)) return Step::kDuplicate;
    try {
      handler_(tx, record);
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const std::exception& e) {
      *error = e.what();
      return Step::kHandlerFailed;
    } catch (...) {
      *error = "handler threw a non-std exception";
      return Step::kHandlerFailed;
    }
    try {
      tx.commit();
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::in_doubt_error&) {
      throw;
    } catch (const std::exception& e) {
      // A deferred constraint the handler's writes violate, or a handler that
      // swallowed an SQL error (libpqxx then refuses to commit).
      *error = std::string("commit: ") + e.what();
      return Step::kHandlerFailed;
    }
    return Step::kCommitted;
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    *error = std::string("postgres connection: ") + e.what();
  } catch (const pqxx::in_doubt_error& e) {
    conn_.reset();
    *error = std::string("postgres commit in doubt: ") + e.what();
  } catch (const pqxx::transaction_rollback& e) {
    *error = std::string("postgres inbox claim: ") + e.what();
  } catch (const pqxx::undefined_table& e) {
    throw ConsumerError("consumer.schema: " + std::string(e.what()) + "Hint: run outbox::sdk::Migrate(conn, schema)");
  }
  return Step::kInfraFailed;
}

bool IdempotentConsumer::Impl::DeadLetter(const Record& record, const std::string& error, int attempts) {
  const std::string topic = DeadLetterTopicFor(options_, record.topic);
  int failures = 0;
  for (;;) {
    const std::string failure = dead_letters_->Send(topic, record, error, attempts);
    if (failure.empty()) break;
    if (!InfraBackoff(failure, &failures)) return false;
  }
  if (hooks_.on_dead_letter) hooks_.on_dead_letter(record, error, attempts);
  return true;
}

bool IdempotentConsumer::Impl::InfraBackoff(const std::string& error, int* failures) {
  ++*failures;
  UpdateStats([](Stats& s) { ++s.infra_retries; });
  if (hooks_.on_infra_error) hooks_.on_infra_error(error);
  return SleepUnlessStopped(RetryDelay(options_, *failures));
}

bool IdempotentConsumer::Impl::SleepUnlessStopped(std::chrono::milliseconds delay) {
  const auto deadline = std::chrono::steady_clock::now() + delay;
  while (!Stopping()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    const std::chrono::steady_clock::duration slice = std::chrono::milliseconds(20);
    std::this_thread::sleep_for(std::min(deadline - now, slice));
  }
  return false;
}

void IdempotentConsumer::Impl::Finish(const Record& record, Outcome outcome, std::chrono::nanoseconds elapsed) {
  UpdateStats([&](Stats& s) {
    if (outcome == Outcome::kProcessed) ++s.processed;
    if (outcome == Outcome::kDuplicate) ++s.duplicates;
    if (outcome == Outcome::kDeadLettered) ++s.dead_lettered;
    s.processing_time_sum += elapsed;
    s.processing_time_max = std::max(s.processing_time_max, elapsed);
    ++s.processing_count;
  });
  if (outcome == Outcome::kProcessed && hooks_.on_processed) hooks_.on_processed(record, elapsed);
  if (outcome == Outcome::kDuplicate && hooks_.on_duplicate) hooks_.on_duplicate(record);
}

void IdempotentConsumer::Impl::CheckFatal() {
  char reason[512];
  if (rd_kafka_fatal_error(consumer_.get(), reason, sizeof reason) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    broken_ = true;
    throw ConsumerError(std::string("kafka consumer fatal error: ") + reason);
  }
}

}  // namespace outbox::sdk
