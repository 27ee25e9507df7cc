#include "kafka/transactional_publisher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "kafka/checkpoint.hpp"
#include "pg/pgoutput.hpp"
#include "pipeline/stats.hpp"
#include "util/clock.hpp"

namespace outbox::relay {
namespace {

constexpr int kCallTimeoutMs = 5000;  // one blocking transactional call; retried when it times out
// The checkpoint record's token: never a window token (those count up from 1).
constexpr DeliveryToken kCheckpointToken{~uint64_t{0}};

}  // namespace

TransactionalPublisher::TransactionalPublisher(const KafkaConfig& config, size_t max_events)
    : config_(config), max_events_(std::max<size_t>(1, max_events)) {
  if (const char* at = std::getenv("OUTBOX_RELAY_CRASH_AT"); at != nullptr) {
    const std::string spec = at;
    const size_t colon = spec.find(':');
    if (colon != std::string::npos) {
      crash_point_ = spec.substr(0, colon);
      crash_at_ = std::strtoull(spec.c_str() + colon + 1, nullptr, 10);
      spdlog::warn("kafka: fault injection: the relay kills itself at {} of transaction {}", crash_point_, crash_at_);
    }
  }
  if (pipe2(commit_pipe_, O_NONBLOCK | O_CLOEXEC) != 0) throw KafkaError("kafka: pipe2 failed");
  // Built now so a bad property fails at start-up; initialised by Recover().
  producer_ = std::make_unique<Producer>(config_);
}

TransactionalPublisher::~TransactionalPublisher() {
  if (commit_.valid()) commit_.wait();  // bounded by the commit call's timeout
  for (int fd : commit_pipe_) {
    if (fd >= 0) close(fd);
  }
}

void TransactionalPublisher::InjectFatalError(const std::string& reason) {
  if (producer_) producer_->InjectFatalError(reason);
}

int TransactionalPublisher::EventFd() const {
  if (commit_.valid()) return commit_pipe_[0];
  return producer_ ? producer_->EventFd() : -1;
}

Clock::time_point TransactionalPublisher::NextDue() const {
  if (commit_.valid()) return Clock::time_point::max();  // the pipe says when it is over
  if (committing_ || aborting_) return Clock::now();
  if (!open_) return settle_until_ > Clock::now() ? settle_until_ : Clock::time_point::max();
  return opened_at_ + Interval();
}

Clock::duration TransactionalPublisher::Interval() const {
  // Draining a backlog: fewer, larger transactions. Each commit waits for its
  // records and the coordinator, and nothing is produced meanwhile; at 10 ms,
  // a 100k-event drain ran at 0.76x at-least-once, at 100 ms 0.91x. Latency
  // is the backlog's then, not the transaction's.
  constexpr int kBacklogFactor = 10;
  return backlog_ ? config_.transaction_interval * kBacklogFactor : config_.transaction_interval;
}

bool TransactionalPublisher::TakeFenced() {
  const bool f = fenced_;
  fenced_ = false;
  return f;
}

CheckpointContent TransactionalPublisher::Recover() {
  if (!producer_) producer_ = std::make_unique<Producer>(config_);
  if (!topic_checked_) {
    EnsureCheckpointTopic(config_, std::chrono::milliseconds(kCallTimeoutMs));
    topic_checked_ = true;
  }
  const TxnResult init = producer_->InitTransactions(kCallTimeoutMs);
  if (!init.ok) {
    if (!init.retriable) producer_.reset();  // fatal: a new instance next time
    throw KafkaError("kafka: cannot initialise transactions for transactional.id " + config_.transactional_id + ": " +
                     init.error);
  }
  // After InitTransactions: an open transaction of an earlier producer was
  // aborted, so the last stable offset covers everything that committed.
  std::optional<Checkpoint> cp = ReadCheckpoint(config_, std::chrono::milliseconds(kCallTimeoutMs));
  ready_ = true;
  open_ = committing_ = aborting_ = false;
  tokens_.clear();
  reports_.clear();
  if (!cp) {
    spdlog::info("kafka: transactions ready (transactional.id {}); no checkpoint in {} yet", config_.transactional_id,
                 config_.checkpoint_topic);
    return {};
  }
  stats_->checkpoint_unix_ms = cp->committed_unix_ms;
  if (published_messages_ < cp->messages) published_messages_ = cp->messages;
  spdlog::info(
      "kafka: transactions ready (transactional.id {}); the last checkpoint (transaction {}, committed at {} ms) "
      "covers {} rows, acknowledged without publishing them again{}",
      config_.transactional_id, cp->transaction, cp->committed_unix_ms, cp->rows.size(),
      cp->messages.empty()
          ? std::string()
          : ", and the WAL messages up to " + FormatLsn(cp->messages.lsn) + " #" + std::to_string(cp->messages.index));
  CheckpointContent content;
  content.rows = std::move(cp->rows);
  content.messages = cp->messages;
  return content;
}

DeliveryReport TransactionalPublisher::Produce(const KafkaRecord& record, DeliveryToken token) {
  DeliveryReport r;
  r.token = token;
  // Not ready, the transaction is full, or it is being committed or aborted:
  // "queue full" to the dispatcher, which tries again after Poll().
  if (!ready_ || committing_ || aborting_ || tokens_.size() >= max_events_ ||
      (!open_ && Clock::now() < settle_until_)) {
    r.status = DeliveryStatus::kRetriable;
    return r;
  }
  if (!open_) {
    const TxnResult begin = producer_->BeginTransaction();
    if (!begin.ok) {
      spdlog::error("kafka: cannot begin a transaction: {}", begin.error);
      r.status = begin.fatal ? DeliveryStatus::kFatal : DeliveryStatus::kRetriable;
      return r;
    }
    open_ = true;
    opened_at_ = Clock::now();
  }
  r = producer_->Produce(record, token);
  if (r.status == DeliveryStatus::kOk) tokens_.push_back(token);
  return r;
}

bool TransactionalPublisher::Drop(const TxnResult& r, const char* during) {
  if (r.fenced) {
    fenced_ = true;
    spdlog::error(
        "kafka: fenced while {}: another producer with transactional.id {} started (a relay that took over, or "
        "another outbox table configured with the same kafka.transactional_id); this relay stops publishing",
        during, config_.transactional_id);
  } else {
    spdlog::error("kafka: fatal error while {} ({}); the producer is rebuilt and the checkpoint read again", during,
                  r.error);
  }
  if (!tokens_.empty()) stats_->transactions_aborted++;
  producer_.reset();  // its transaction, if any, is aborted by the next producer's InitTransactions
  ready_ = open_ = committing_ = aborting_ = false;
  tokens_.clear();
  reports_.clear();
  return true;
}

void TransactionalPublisher::TakeReports() {
  scratch_.clear();
  producer_->Poll(0, scratch_);
  for (DeliveryReport& r : scratch_) {
    if (r.status != DeliveryStatus::kOk && abort_reason_.empty()) abort_reason_ = r.error;
    if (r.token.value != kCheckpointToken.value) reports_[r.token.value] = std::move(r);
  }
}

bool TransactionalPublisher::Poll(int timeout_ms, std::vector<DeliveryReport>& out) {
  if (!producer_) return false;
  if (commit_.valid()) {
    // Nothing touches the producer while the commit's thread uses it.
    if (commit_.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) return false;
    char drain[16];
    while (read(commit_pipe_[0], drain, sizeof drain) > 0) {
    }
    const TxnResult commit = commit_.get();
    FinishCommit(commit, std::chrono::duration<double>(Clock::now() - commit_started_).count(), out);
    return producer_ == nullptr;
  }
  scratch_.clear();
  producer_->Poll(timeout_ms, scratch_);
  bool failed = false;
  for (DeliveryReport& r : scratch_) {
    if (r.status != DeliveryStatus::kOk) {
      failed = true;
      if (abort_reason_.empty()) abort_reason_ = r.error;
    }
    if (r.token.value != kCheckpointToken.value) reports_[r.token.value] = std::move(r);
  }
  TxnResult fatal;
  if (producer_->IsFatal(&fatal.error, &fatal.fenced)) {
    fatal.ok = false;
    fatal.fatal = true;
    return Drop(fatal, "publishing");
  }
  if (aborting_ || (open_ && !committing_ && failed)) {
    Abort(abort_reason_.empty() ? "a record failed" : abort_reason_, out);
    return producer_ == nullptr;
  }
  if (open_ && (committing_ || tokens_.size() >= max_events_ || Clock::now() - opened_at_ >= Interval())) {
    StartCommit(out);
    return producer_ == nullptr;
  }
  return false;
}

void TransactionalPublisher::StartCommit(std::vector<DeliveryReport>& out) {
  if (!committing_) {
    if (crash_point_ == "before_commit" && committed_ + 1 == crash_at_) kill(getpid(), SIGKILL);
    Checkpoint cp;
    cp.transactional_id = config_.transactional_id;
    cp.transaction = committed_ + 1;
    cp.committed_unix_ms = UnixMillis();
    if (checkpoint_) {
      CheckpointContent content = checkpoint_();
      cp.rows = std::move(content.rows);
      cp.messages = content.messages;
    }
    // Monotonic: a transaction without WAL messages keeps the last position.
    if (cp.messages < published_messages_) cp.messages = published_messages_;
    committing_messages_ = cp.messages;
    KafkaRecord record;
    record.topic = config_.checkpoint_topic;
    record.key = config_.transactional_id;
    record.value = EncodeCheckpoint(cp);
    const DeliveryReport r = producer_->Produce(record, kCheckpointToken);
    if (r.status != DeliveryStatus::kOk) {
      Abort("the checkpoint record was refused: " + r.error, out);
      return;
    }
    committing_ = true;
  }
  // A commit that timed out is resumed by calling it again (librdkafka).
  commit_started_ = Clock::now();
  Producer* producer = producer_.get();
  const int done_fd = commit_pipe_[1];
  commit_ = std::async(std::launch::async, [producer, done_fd] {
    TxnResult r = producer->CommitTransaction(kCallTimeoutMs);
    const char c = 'c';
    [[maybe_unused]] const ssize_t n = write(done_fd, &c, 1);
    return r;
  });
}

void TransactionalPublisher::FinishCommit(const TxnResult& commit, double seconds, std::vector<DeliveryReport>& out) {
  if (commit.ok) {
    ++committed_;
    if (crash_point_ == "after_commit" && committed_ == crash_at_) kill(getpid(), SIGKILL);
    published_messages_ = committing_messages_;
    stats_->transactions_committed++;
    stats_->transaction_events.Observe(static_cast<double>(tokens_.size()));
    stats_->transaction_commit_seconds.Observe(seconds);
    stats_->checkpoint_unix_ms = UnixMillis();
    settle_until_ = Clock::now() + config_.transaction_settle;
    TakeReports();  // those the commit's flush served
    for (const DeliveryToken t : tokens_) {
      auto it = reports_.find(t.value);
      DeliveryReport r = it != reports_.end() ? std::move(it->second) : DeliveryReport{};
      r.token = t;
      r.status = DeliveryStatus::kOk;  // committed: whatever a report said, the record is there
      r.error.clear();
      r.error_name.clear();
      out.push_back(std::move(r));
    }
    open_ = committing_ = false;
    tokens_.clear();
    reports_.clear();
    abort_reason_.clear();
    return;
  }
  if (commit.retriable) {
    spdlog::warn("kafka: committing a transaction of {} events: {}; retrying", tokens_.size(), commit.error);
    return;  // committing_ stays: the next Poll resumes it
  }
  if (commit.abortable) {
    committing_ = false;
    Abort(commit.error, out);
    return;
  }
  // Fatal: the broker may have committed it anyway (librdkafka reports a
  // fatal error when EndTxn succeeded after a local failure); the checkpoint
  // says which, when Recover() reads it.
  Drop(commit, "committing a transaction");
}

void TransactionalPublisher::Abort(const std::string& why, std::vector<DeliveryReport>& out) {
  if (!aborting_) {
    spdlog::warn("kafka: aborting a transaction of {} events ({}); they are published again", tokens_.size(), why);
    aborting_ = true;
  }
  const TxnResult abort = producer_->AbortTransaction(kCallTimeoutMs);
  if (!abort.ok && abort.retriable) return;  // resumed on the next Poll
  if (!abort.ok && !abort.abortable) {
    Drop(abort, "aborting a transaction");
    return;
  }
  stats_->transactions_aborted++;
  TakeReports();
  for (const DeliveryToken t : tokens_) {
    auto it = reports_.find(t.value);
    DeliveryReport r;
    if (it != reports_.end() && it->second.status == DeliveryStatus::kPermanent) {
      r = std::move(it->second);  // the broker rejected this record: the dispatcher counts it (or isolates it)
    } else {
      r.status = DeliveryStatus::kRetriable;
      r.error = "transaction aborted: " + why;
      r.error_name = "_TRANSACTION_ABORTED";
      if (it != reports_.end()) r.topic = it->second.topic;
    }
    r.token = t;
    out.push_back(std::move(r));
  }
  open_ = aborting_ = committing_ = false;
  tokens_.clear();
  reports_.clear();
  abort_reason_.clear();
}

}  // namespace outbox::relay
