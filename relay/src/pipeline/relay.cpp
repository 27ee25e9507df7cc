#include "pipeline/relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <pqxx/except>

#include "kafka/producer.hpp"
#include "log/logging.hpp"
#include "pg/acknowledger.hpp"
#include "pg/dead_letter.hpp"
#include "pg/poll_source.hpp"
#include "pg/tail_source.hpp"

namespace outbox::relay {
namespace {

using std::chrono::milliseconds;
constexpr size_t kMaxCaughtUp = 1000000;  // beyond: the stream publishes them again (duplicates, never loss)

int64_t UnixMillis() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Relay::Relay(Config config)
    : config_(std::move(config)),
      router_(config_.kafka.topic_template),
      source_(std::make_unique<PollSource>(config_)),
      acker_(std::make_unique<Acknowledger>(config_)) {
  if (config_.source.mode == SourceMode::kTail) tail_ = std::make_unique<TailSource>(config_);
  if (pipe2(stop_pipe_, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
}

Relay::~Relay() noexcept {
  for (int fd : stop_pipe_) {
    if (fd >= 0) close(fd);
  }
}

void Relay::RequestStop() noexcept {
  stop_requested_ = true;
  const char c = 's';
  [[maybe_unused]] ssize_t n = write(stop_pipe_[1], &c, 1);
}

int Relay::Run() {
  producer_ = std::make_unique<Producer>(config_.kafka);
  spdlog::info("relay starting: table {}.{}, mode={}, brokers {}, cleanup={}, batch={}, max_in_flight={}",
               config_.outbox.schema, config_.outbox.table, tail_ ? "tail" : "poll", config_.kafka.brokers,
               config_.outbox.cleanup == Cleanup::kDelete ? "delete" : "mark", config_.source.batch_size,
               config_.source.max_in_flight);
  if (config_.kafka.delivery_timeout.count() > 0) {
    spdlog::warn(
        "kafka.delivery_timeout_ms = {}: records still queued after that long expire and are sent again "
        "behind later records, so a key's events can be published out of order after an outage that long; "
        "0 (the default) keeps every key's order",
        config_.kafka.delivery_timeout.count());
  }
  EnsureConnected(Clock::now(), /*first=*/true);
  next_progress_at_ = last_progress_at_ = Clock::now();
  while (!stop_requested_) {
    const auto now = Clock::now();
    EnsureConnected(now, false);
    if (streaming_ && (!source_->connected() || !acker_->connected())) {
      // Postgres is going away (a fast shutdown ends normal sessions first),
      // or acknowledgements cannot be recorded: close the stream too. A
      // walsender holding unconfirmed changes would otherwise keep the
      // server's shutdown waiting for a confirmation that cannot come.
      tail_->Stop();
      streaming_ = false;
      EnterResync("postgres connection lost");
    }
    if (inject_fatal_.exchange(false)) producer_->InjectFatalError("injected by a test");
    CollectReports(0);
    if (producer_->IsFatal()) RebuildProducer();
    FlushAcks(false);
    MaybeFinishResync(now);
    if (!resync_ && source_->connected()) {
      ProduceQueued();
      PollSourceOnce();
    }
    if (streaming_) {
      try {
        tail_->Tick(Clock::now());
      } catch (const pqxx::broken_connection& e) {
        spdlog::warn("tail: {}", OneLine(e.what()));
        EnterResync("replication stream lost");
      }
    }
    UpdateGauges(now);
    LogProgress(now);
    RunRetention(now);
    Wait(Clock::now());
  }
  Drain();
  return 0;
}

void Relay::EnsureConnected(Clock::time_point now, bool first) {
  if ((source_->connected() && acker_->connected()) || now < reconnect_at_) return;
  try {
    if (!source_->connected()) source_->Connect();
    if (!acker_->connected()) acker_->Connect();
    // Checked at start so a server or role that cannot stream fails at once
    // with its reason (ConfigError propagates).
    if (tail_ && !tail_->prepared()) tail_->Prepare();
    if (first) {
      if (!ReloadHeldKeys()) throw std::runtime_error("cannot read the dead-letter table");
    } else {
      stats_.pg_reconnects++;
      spdlog::info("postgres: reconnected");
      // A dead-letter change notified while disconnected would be missed:
      // re-read from the start (also reloads the held keys).
      EnterResync("postgres reconnected");
    }
    if (standby_) spdlog::info("relay: took over {}.{}", config_.outbox.schema, config_.outbox.table);
    standby_ = false;
    reconnect_backoff_ = milliseconds(100);
    wake_ = true;
  } catch (const StandbyError& e) {
    if (!standby_) spdlog::info("relay: {}", e.what());
    standby_ = true;
    source_->Disconnect();
    acker_->Disconnect();
    reconnect_at_ = now + std::chrono::seconds(1);
    return;
  } catch (const pqxx::broken_connection& e) {
    // Unreachable or restarting: keep publishing what is in flight, retry with backoff.
    spdlog::warn("postgres: cannot connect ({}); retrying in {} ms", OneLine(e.what()), reconnect_backoff_.count());
    source_->Disconnect();
    acker_->Disconnect();
    reconnect_at_ = now + reconnect_backoff_;
    reconnect_backoff_ = std::min(reconnect_backoff_ * 2, config_.postgres.reconnect_backoff_max);
  }
  // Anything else (missing table, wrong column mapping, no privilege) cannot
  // be fixed by retrying: it propagates and the process exits with the reason.
}

size_t Relay::Room() const {
  const size_t used = static_cast<size_t>(in_flight_) + to_send_.size() + pending_acks_.size();
  return used >= config_.source.max_in_flight ? 0 : config_.source.max_in_flight - used;
}

void Relay::PollSourceOnce() {
  if (tail_ && !streaming_ && caught_up_read_) {
    // The catch-up read everything committed before the slot's position (and
    // more): once that is acknowledged, the stream takes over. Polling on
    // would chase a busy table forever.
    if (to_send_.empty() && in_flight_ == 0 && pending_acks_.empty() && Clock::now() >= next_poll_at_) {
      StartStreaming();
    }
    if (!streaming_) return;
  }
  // Keep claiming batches while rows keep coming, there is room, and nothing waits to be sent.
  for (int round = 0; round < 64 && to_send_.empty() && Room() >= config_.source.batch_size; ++round) {
    const auto now = Clock::now();
    if (!wake_ && now < next_poll_at_) return;
    wake_ = false;
    next_poll_at_ = now + config_.source.poll_interval;
    std::vector<OutboxRow> rows;
    try {
      rows = ReadSource(config_.source.batch_size);
    } catch (const pqxx::broken_connection& e) {
      if (streaming_) {
        spdlog::warn("tail: {}", OneLine(e.what()));
        EnterResync("replication stream lost");
        return;
      }
      spdlog::warn("postgres: poll connection lost ({})", OneLine(e.what()));
      source_->Disconnect();
      return;
    } catch (const std::exception& e) {
      if (streaming_) {
        // The event that failed to decode is not skipped: the stream restarts
        // from the slot after a back-off and meets it again.
        spdlog::error("tail: {}", OneLine(e.what()));
        EnterResync("replication stream failed");
        return;
      }
      spdlog::error("postgres: poll failed: {}", OneLine(e.what()));
      return;
    }
    stats_.read += rows.size();
    stats_.polls++;
    if (!rows.empty()) stats_.batch_rows.Observe(static_cast<double>(rows.size()));
    const bool full = rows.size() >= config_.source.batch_size;
    for (auto& r : rows) to_send_.push_back(std::move(r));
    ProduceQueued();
    CollectReports(0);
    FlushAcks(false);
    if (!full || resync_) return;
    wake_ = true;  // more may be waiting
  }
}

std::vector<OutboxRow> Relay::ReadSource(size_t batch) {
  if (streaming_) return SkipAcknowledged(tail_->Read(batch));
  auto rows = source_->Poll(batch, static_cast<size_t>(in_flight_) + pending_acks_.size());
  // Tail mode: this poll saw every row committed before its snapshot, so
  // before the slot's position; whatever commits later is in the stream.
  if (tail_ && source_->covered_all()) caught_up_read_ = true;
  return rows;
}

std::vector<OutboxRow> Relay::SkipAcknowledged(std::vector<OutboxRow> rows) {
  // After a restart the stream repeats what committed after the slot's
  // confirmed position, and much of that was acknowledged (its rows deleted)
  // before the crash. A row that is gone was published (or dead-lettered):
  // skip it rather than publish it again. WAL-message events have no row and
  // are published again.
  std::vector<int64_t> seqs;
  for (const auto& r : rows) {
    if (r.replayed && r.seq > 0) seqs.push_back(r.seq);
  }
  if (seqs.empty()) return rows;
  std::unordered_set<int64_t> live;
  try {
    if (!acker_->connected()) throw pqxx::broken_connection("the ack connection is down");
    live = acker_->Unacknowledged(seqs);
  } catch (const std::exception& e) {
    // The rows were taken from the stream: start it again rather than lose them.
    spdlog::warn("postgres: cannot check replayed rows ({}); restarting the stream", OneLine(e.what()));
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr && acker_->connected()) acker_->Disconnect();
    EnterResync("replayed rows unchecked");
    return {};
  }
  std::vector<OutboxRow> out;
  std::vector<int64_t> done;
  out.reserve(rows.size());
  for (auto& r : rows) {
    if (r.replayed && r.seq > 0 && !live.count(r.seq)) {
      done.push_back(r.seq);
    } else {
      out.push_back(std::move(r));
    }
  }
  SourceDone(done);
  return out;
}

void Relay::StartStreaming() {
  try {
    if (!tail_->prepared()) {
      // The slot was dropped: recreate it, then catch up again, since rows
      // committed before it existed are not in its stream.
      tail_->Prepare();
      source_->Reset();
      caught_up_read_ = false;
      wake_ = true;
      return;
    }
    tail_->Start();
    streaming_ = true;
    wake_ = true;
  } catch (const pqxx::broken_connection& e) {
    spdlog::warn("tail: {}; retrying in {} ms", OneLine(e.what()), reconnect_backoff_.count());
    next_poll_at_ = Clock::now() + reconnect_backoff_;
    reconnect_backoff_ = std::min(reconnect_backoff_ * 2, config_.postgres.reconnect_backoff_max);
  }
}

void Relay::SourceDone(const std::vector<int64_t>& tokens) {
  if (streaming_) tail_->Done(tokens);
}

void Relay::ProduceQueued() {
  while (!to_send_.empty() && !resync_) {
    const OutboxRow& row = to_send_.front();
    if (streaming_ && !caught_up_.empty() && caught_up_.count(row.seq)) {
      SourceDone({row.seq});  // the catch-up published and acknowledged it already
      to_send_.pop_front();
      continue;
    }
    std::string key = DeadLetterStore::HeldKey(row.aggregate_type, row.aggregate_id);
    if (!held_keys_.empty() && held_keys_.count(key)) {
      // Behind a dead-lettered (or failing) event of its key: stays in the
      // outbox until the operator requeues or skips that event.
      held_seqs_.insert(row.seq);
      // Tail mode: a held row stays in the table, where the next catch-up finds it.
      if (streaming_ && row.seq > 0) SourceDone({row.seq});
      to_send_.pop_front();
      continue;
    }
    DeliveryReport r;
    try {
      r = producer_->Produce(router_.Route(row), row.seq);
    } catch (const std::invalid_argument& e) {
      r = DeliveryReport{row.seq, DeliveryStatus::kPermanent, std::string("bad row: ") + OneLine(e.what())};
    }
    if (r.status == DeliveryStatus::kRetriable) return;  // local queue full: retry after reports
    ++in_flight_;  // a synchronous failure is handled like a failed delivery report
    in_flight_info_[row.seq] = InFlightInfo{row.created_epoch, std::move(key)};
    to_send_.pop_front();
    if (r.status != DeliveryStatus::kOk) HandleReport(r);
  }
}

void Relay::CollectReports(int timeout_ms) {
  reports_.clear();
  producer_->Poll(timeout_ms, reports_);
  for (const auto& r : reports_) HandleReport(r);
}

void Relay::HandleReport(const DeliveryReport& r) {
  --in_flight_;
  InFlightInfo info{0, ""};
  if (auto it = in_flight_info_.find(r.token); it != in_flight_info_.end()) {
    info = std::move(it->second);
    in_flight_info_.erase(it);
  }
  const double created_epoch = info.created_epoch;
  if (r.status == DeliveryStatus::kOk) {
    if (pending_acks_.empty()) first_pending_ack_ = Clock::now();
    pending_acks_.push_back(r.token);
    stats_.published++;
    stats_.published_by_topic.Add(r.topic);
    if (created_epoch > 0) {
      stats_.commit_to_ack_seconds.Observe(std::max(0.0, UnixMillis() / 1000.0 - created_epoch));
    }
    return;
  }
  stats_.errors_by_reason.Add(r.error_name.empty() ? "bad_row" : r.error_name);
  (r.status == DeliveryStatus::kPermanent ? stats_.failed_permanent : stats_.failed_retriable)++;
  if (r.status == DeliveryStatus::kPermanent) {
    // Counted at the next resync; until then later events of its key wait.
    permanent_.push_back(PermanentFailure{r.token, r.error, info.key, 0});
    if (config_.dead_letter.hold_key) held_keys_.insert(info.key);
  }
  if (!resync_) {
    spdlog::warn("kafka: event seq={} not delivered ({}: {}); it stays in the outbox and is published again", r.token,
                 ToString(r.status), r.error);
  }
  EnterResync("delivery failed");
}

void Relay::EnterResync(const char* why) {
  if (resync_) return;
  resync_ = true;
  to_send_.clear();  // still in the table, unacknowledged: read again after the resync
  resync_at_ = Clock::now() + resync_backoff_;
  spdlog::info("relay: {}; draining {} in-flight events, then re-reading the outbox in {} ms", why, in_flight_,
               resync_backoff_.count());
  resync_backoff_ = std::clamp(resync_backoff_ * 2, milliseconds(100), milliseconds(30000));
}

void Relay::MaybeFinishResync(Clock::time_point now) {
  if (!resync_ || in_flight_ > 0 || now < resync_at_) return;
  FlushAcks(true);
  if (!pending_acks_.empty()) return;  // Postgres unreachable: try again next round
  if (!ProcessPermanentFailures() || !ReloadHeldKeys()) return;
  held_seqs_.clear();
  if (tail_) {
    // Re-read from the slot's confirmed position, after catching up with the table.
    tail_->Stop();
    streaming_ = false;
    caught_up_read_ = false;
    caught_up_.clear();
  }
  source_->Reset();
  resync_ = false;
  wake_ = true;
  stats_.resyncs++;
}

bool Relay::ProcessPermanentFailures() {
  for (auto& f : permanent_) {
    f.attempts = ++attempts_[f.seq];
    if (f.attempts >= config_.dead_letter.max_attempts) {
      to_dead_letter_.push_back(f);
    } else {
      spdlog::warn("kafka: event seq={} rejected ({}), attempt {} of {}", f.seq, f.reason, f.attempts,
                   config_.dead_letter.max_attempts);
    }
  }
  permanent_.clear();
  if (to_dead_letter_.empty() || !acker_->connected()) return to_dead_letter_.empty();
  try {
    for (auto it = to_dead_letter_.begin(); it != to_dead_letter_.end(); it = to_dead_letter_.erase(it)) {
      if (acker_->DeadLetter(it->seq, it->reason, it->attempts)) {
        stats_.dead_lettered++;
        spdlog::error("dead-letter: event seq={} moved to {}.dead_letter after {} attempts: {}{}", it->seq,
                      config_.outbox.schema, it->attempts, it->reason,
                      config_.dead_letter.hold_key ? "; later events of its key are held" : "");
      }
      attempts_.erase(it->seq);
    }
  } catch (const std::exception& e) {
    spdlog::warn("postgres: cannot move an event to the dead-letter table ({}); retrying", OneLine(e.what()));
    return false;
  }
  return true;
}

bool Relay::ReloadHeldKeys() {
  if (!config_.dead_letter.hold_key) return true;
  try {
    held_keys_ = acker_->HeldKeys();
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("postgres: cannot read the dead-letter table ({}); retrying", OneLine(e.what()));
    return false;
  }
}

void Relay::RebuildProducer() {
  std::string reason;
  producer_->IsFatal(&reason);
  spdlog::error("kafka: rebuilding the producer after a fatal error ({})", reason);
  reports_.clear();
  producer_->PurgeAll(reports_);
  for (const auto& r : reports_) HandleReport(r);
  producer_ = std::make_unique<Producer>(config_.kafka);
  in_flight_ = 0;  // the old instance's outstanding records are gone with it
  in_flight_info_.clear();
  stats_.producer_rebuilds++;
  EnterResync("producer rebuilt");
}

void Relay::FlushAcks(bool force) {
  if (pending_acks_.empty() || !acker_->connected()) return;
  if (!force && pending_acks_.size() < config_.source.ack_batch_size &&
      Clock::now() - first_pending_ack_ < config_.source.ack_interval) {
    return;
  }
  try {
    if (std::any_of(pending_acks_.begin(), pending_acks_.end(), [](int64_t t) { return t <= 0; })) {
      std::vector<int64_t> rows;  // WAL-message events (tail mode) have no row
      for (int64_t t : pending_acks_) {
        if (t > 0) rows.push_back(t);
      }
      acker_->Ack(rows);
    } else {
      acker_->Ack(pending_acks_);
    }
    SourceDone(pending_acks_);
    if (tail_ && !streaming_ && caught_up_.size() + pending_acks_.size() <= kMaxCaughtUp) {
      caught_up_.insert(pending_acks_.begin(), pending_acks_.end());
    }
    stats_.acked += pending_acks_.size();
    stats_.last_ack_unix_ms = UnixMillis();
    pending_acks_.clear();
    if (!resync_) resync_backoff_ = milliseconds(100);
  } catch (const pqxx::broken_connection& e) {
    spdlog::warn("postgres: ack connection lost ({}); {} confirmed events wait to be acknowledged", OneLine(e.what()),
                 pending_acks_.size());
    acker_->Disconnect();
  } catch (const std::exception& e) {
    spdlog::error("postgres: acknowledging {} events failed: {}; retrying", pending_acks_.size(), OneLine(e.what()));
  }
}

void Relay::Wait(Clock::time_point now) {
  auto deadline = now + milliseconds(1000);
  // Only deadlines that can make progress now: while Postgres is unreachable,
  // past poll or ack deadlines would spin; the reconnect time bounds the wait.
  const bool can_poll = !resync_ && source_->connected() && Room() >= config_.source.batch_size;
  if (can_poll && to_send_.empty()) deadline = std::min(deadline, next_poll_at_);
  if (can_poll && wake_) deadline = now;
  if (!to_send_.empty()) deadline = std::min(deadline, now + milliseconds(5));
  if (!pending_acks_.empty() && acker_->connected()) {
    deadline = std::min(deadline, first_pending_ack_ + config_.source.ack_interval);
  }
  if (resync_) deadline = std::min(deadline, std::max(resync_at_, now + milliseconds(5)));
  if (!source_->connected() || !acker_->connected()) deadline = std::min(deadline, reconnect_at_);
  const auto timeout = std::max<int64_t>(0, std::chrono::duration_cast<milliseconds>(deadline - now).count());

  if (streaming_) deadline = std::min(deadline, now + milliseconds(1000));  // status updates
  const int tail_fd = streaming_ && can_poll ? tail_->Socket() : -1;
  pollfd fds[4] = {{stop_pipe_[0], POLLIN, 0},
                   {producer_->EventFd(), POLLIN, 0},
                   {source_->Socket(), POLLIN, 0},
                   {tail_fd, POLLIN, 0}};
  const int n = ::poll(fds, 4, static_cast<int>(timeout));  // negative fds are ignored
  if (n > 0 && tail_fd >= 0 && (fds[3].revents & (POLLIN | POLLERR | POLLHUP))) wake_ = true;
  if (n > 0 && fds[2].fd >= 0 && (fds[2].revents & (POLLIN | POLLERR | POLLHUP))) {
    try {
      if (source_->TakeWakeups()) wake_ = true;
      if (source_->TakeDeadLetterChange()) {
        resync_backoff_ = milliseconds(0);
        EnterResync("the dead-letter table changed");
      }
    } catch (const pqxx::broken_connection&) {
      source_->Disconnect();
    }
  }
}

void Relay::Drain() {
  const auto deadline = Clock::now() + config_.shutdown.drain_timeout;
  spdlog::info("relay: stopping; waiting up to {} ms for {} in-flight events", config_.shutdown.drain_timeout.count(),
               in_flight_);
  to_send_.clear();
  while (in_flight_ > 0 && Clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    CollectReports(static_cast<int>(std::clamp<int64_t>(left, 0, 100)));
  }
  while (!pending_acks_.empty() && Clock::now() < deadline + milliseconds(5000)) {
    if (!acker_->connected()) {
      try {
        acker_->Connect();
      } catch (const std::exception& e) {
        spdlog::warn("postgres: cannot acknowledge on shutdown: {}", OneLine(e.what()));
        break;
      }
    }
    FlushAcks(true);
  }
  if (tail_) tail_->Stop();  // reports the last confirmable LSN
  if (in_flight_ > 0 || !pending_acks_.empty()) {
    spdlog::warn("relay: {} events were not confirmed in time; they stay in the outbox and are published again",
                 in_flight_ + static_cast<int64_t>(pending_acks_.size()));
  }
  spdlog::info("relay: stopped; published={} acked={}", stats_.published.load(), stats_.acked.load());
}

void Relay::UpdateGauges(Clock::time_point now) {
  stats_.in_flight = in_flight_;
  stats_.held = static_cast<int64_t>(held_seqs_.size());
  stats_.producer_queue = static_cast<int64_t>(producer_->OutQueueLength());
  stats_.pg_connected = source_->connected() && acker_->connected();
  if (now < next_broker_check_) return;
  next_broker_check_ = now + std::chrono::seconds(2);
  stats_.kafka_connected = !producer_->BrokersDown();
  if (tail_) {
    stats_.slot_confirmed_lsn = static_cast<int64_t>(tail_->confirmed());
    if (acker_->connected()) {
      try {
        stats_.slot_retained_bytes = acker_->SlotRetainedWal(config_.source.slot_name).value_or(-1);
      } catch (const std::exception& e) {
        spdlog::debug("postgres: slot query failed: {}", OneLine(e.what()));
      }
    }
  }
  if (acker_->connected()) {
    try {
      const std::optional<double> oldest = acker_->OldestAgeSeconds();
      if (!oldest) {
        stats_.backlog_rows = 0;
        stats_.oldest_age_ms = 0;
      } else {
        stats_.oldest_age_ms = static_cast<int64_t>(*oldest * 1000);
        // The full count scans the backlog (~0.1 s at a million rows): every
        // 10 s, and at once when rows appeared in an outbox last seen empty.
        if (now >= next_backlog_count_ || stats_.backlog_rows.load() <= 0) {
          next_backlog_count_ = now + std::chrono::seconds(10);
          stats_.backlog_rows = acker_->CountBacklog();
        }
      }
    } catch (const std::exception& e) {
      spdlog::debug("postgres: backlog query failed: {}", OneLine(e.what()));
    }
  }
}

void Relay::LogProgress(Clock::time_point now) {
  if (config_.log.progress_interval.count() == 0 || now < next_progress_at_) return;
  next_progress_at_ = now + config_.log.progress_interval;
  const uint64_t published = stats_.published;
  const double secs = std::chrono::duration<double>(now - last_progress_at_).count();
  spdlog::info(
      "progress: published={} (+{}, {:.0f}/s) acked={} in_flight={} backlog={} oldest={:.1f}s gaps={} "
      "failed={} resyncs={} dead_lettered={} held={}",
      published, published - last_progress_published_, secs > 0 ? (published - last_progress_published_) / secs : 0.0,
      stats_.acked.load(), in_flight_, stats_.backlog_rows.load(), stats_.oldest_age_ms.load() / 1000.0,
      source_->tracker().gap_points(), stats_.failed_retriable + stats_.failed_permanent, stats_.resyncs.load(),
      stats_.dead_lettered.load(), held_seqs_.size());
  last_progress_published_ = published;
  last_progress_at_ = now;
}

void Relay::RunRetention(Clock::time_point now) {
  if (config_.outbox.cleanup != Cleanup::kMark || now < next_retention_at_ || !acker_->connected()) return;
  next_retention_at_ = now + std::chrono::seconds(60);
  try {
    size_t total = 0, n = 0;
    for (int i = 0; i < 10 && (n = acker_->PurgeRetention()) > 0; ++i) total += n;
    if (total > 0) spdlog::info("retention: deleted {} published rows", total);
  } catch (const std::exception& e) {
    spdlog::warn("retention: {}", OneLine(e.what()));
  }
}

}  // namespace outbox::relay
