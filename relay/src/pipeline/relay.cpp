#include "pipeline/relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>
#include <pqxx/except>

#include "kafka/producer.hpp"
#include "pg/pg_failure.hpp"
#include "util/clock.hpp"
#include "util/text.hpp"

namespace outbox::relay {

using std::chrono::milliseconds;

Relay::Relay(Config config, const StageFactory& factory)
    : config_(std::move(config)),
      stages_(factory(config_)),
      source_(*stages_.source),
      publisher_(*stages_.publisher),
      acks_(*stages_.ack_store),
      housekeeping_(config_, stats_, source_, publisher_, acks_),
      window_(config_.source.max_in_flight),
      acks_pending_(config_.source.ack_batch_size, config_.source.ack_interval, config_.postgres.reconnect_backoff_max,
                    stats_),
      dead_letters_(config_, stats_),
      dispatcher_(config_, stats_, window_, publisher_, source_, acks_, dead_letters_, acks_pending_),
      // With a lock lease, a standby tries often: failover is the lease plus this.
      connector_(config_.outbox.schema + "." + config_.outbox.table, config_.postgres.reconnect_backoff_max, stats_,
                 config_.postgres.lock_lease.count() > 0 ? milliseconds(250) : milliseconds(1000)),
      resync_backoff_max_(std::max(config_.postgres.reconnect_backoff_max, milliseconds(100))),
      read_log_("read", &stats_.retries, &stats_.read_failing),
      tail_log_("tail", &stats_.retries, &stats_.read_failing),
      resync_log_("resync", &stats_.retries),
      recover_log_("kafka_recovery", &stats_.retries),
      recover_backoff_(milliseconds(100), std::max(config_.postgres.reconnect_backoff_max, milliseconds(100))) {
  if (pipe2(stop_pipe_, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  resync_log_.QuietRecovery();  // the cause's own loop says when it recovered
  if (stages_.ack_session) acks_pending_.UseWorker(std::make_unique<AckWorker>(std::move(stages_.ack_session)));
  publisher_.AttachTransactions(stats_, [this] { return CheckpointRows(); });
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
  Start(Clock::now());
  while (!stop_requested_) {
    Step(Clock::now());
    Wait(Clock::now());
  }
  Drain();
  return 0;
}

void Relay::Start(Clock::time_point now) {
  now_ = now;
  housekeeping_.LogStart();
  EnsureConnected(now, /*first=*/true);
}

void Relay::Step(Clock::time_point now) {
  now_ = now;
  EnsureConnected(now, false);
  if (!source_.connected() || !acks_.connected()) {
    // Postgres is going away (a fast shutdown ends normal sessions first), or
    // acknowledgements cannot be recorded: stop streaming too.
    source_.Pause();
  }
  if (inject_fatal_.exchange(false)) publisher_.InjectFatalError("injected by a test");
  // Only a full read: events wait for the producer after every commit too
  // (the settle time), which is no backlog at a steady rate.
  publisher_.SetBacklog(read_full_);
  Apply(dispatcher_.Collect(0, now));
  if (publisher_.TakeFenced()) {
    // Another relay took over (or shares the transactional.id): reconnecting
    // finds out which; the lock makes this one stand by if it lost the table.
    source_.Disconnect();
    acks_.Disconnect();
    EnterResync("fenced by another producer");
  }
  FlushAcks(false);
  MaybeFinishResync(now);
  if (const auto due = dead_letters_.due(); !resync_ && due && now >= *due) {
    resync_backoff_ = milliseconds(0);  // a held event's retry (or its move) is due: read it again
    EnterResync("retrying held events");
  }
  if (!resync_ && source_.connected()) {
    Apply(dispatcher_.Produce(now));
    // Nothing read can be recorded while the ack session is down: the window
    // would only fill up. Reading resumes after the reconnect's resync.
    if (acks_.connected() && EnsureRecovered(now)) ReadSource(now);
  }
  // A notification that arrived while a query ran on the source's session
  // was taken in by that query: the socket will not wake the wait for it.
  ApplySignals(source_.TakeSignals(/*socket_ready=*/false));
  try {
    source_.Tick(now);
  } catch (const pqxx::broken_connection& e) {
    tail_log_.Failure(now, spdlog::level::warn, PgFailureReason(e), "source: " + OneLine(e.what()));
    // A lost lock session disconnected the source: the reconnect resyncs.
    if (source_.connected()) EnterResync("replication stream lost");
  }
  housekeeping_.Run(now, View());
  stats_.round_unix_ms = UnixMillis();
}

void Relay::Apply(const Dispatcher::Outcome& o) {
  if (o.released_key) {
    resync_backoff_ = milliseconds(0);  // what waited behind the key's head is read again at once
    EnterResync("a held key was released");
  }
  if (o.resync != nullptr) EnterResync(o.resync);
}

void Relay::ApplySignals(const SourceSignals& s) {
  if (s.wake) wake_ = true;
  if (s.dead_letter_changed) {
    resync_backoff_ = milliseconds(0);
    EnterResync("the dead-letter table changed");
  }
}

PipelineView Relay::View() const {
  PipelineView v;
  v.in_flight = window_.sent();
  v.held = dispatcher_.held_this_pass();
  v.held_keys = dead_letters_.holds().held_keys();
  v.pg_connected = source_.connected() && acks_.connected();
  return v;
}

void Relay::EnsureConnected(Clock::time_point now, bool first) {
  if (connector_.Ensure(now, source_, acks_) != Connector::Result::kConnected) return;
  wake_ = true;
  if (first) {
    if (!dead_letters_.Sync(acks_, now)) throw std::runtime_error("cannot read the dead-letter table");
    return;
  }
  stats_.pg_reconnects++;
  spdlog::info("postgres: reconnected");
  // A dead-letter change notified while disconnected would be missed: read
  // again from the start (which also reloads the held keys).
  EnterResync("postgres reconnected");
}

void Relay::ReadSource(Clock::time_point now) {
  // Exactly once, tail mode: WAL messages a committed transaction published
  // are not published again when streamed again (after a resync or restart).
  source_.SkipPublishedMessages(publisher_.PublishedMessages());
  // Keep reading batches while events keep coming, there is room, and nothing waits to be sent.
  for (int round = 0; round < 64 && window_.queued() == 0 && window_.room() >= config_.source.batch_size; ++round) {
    if (!wake_ && now < next_poll_at_ && !source_.WantsRead(window_.size())) return;
    wake_ = false;
    next_poll_at_ = now + config_.source.poll_interval;
    std::vector<OutboxRow> rows;
    try {
      rows = source_.Read(config_.source.batch_size, window_.size());
    } catch (const ConfigError&) {
      throw;  // e.g. a dropped slot that cannot be created again
    } catch (const pqxx::broken_connection& e) {
      // The source either lost its connection (reconnecting resyncs) or its
      // stream (read again from the slot's confirmed position).
      const bool stream_lost = source_.connected();
      (stream_lost ? tail_log_ : read_log_)
          .Failure(now, spdlog::level::warn, PgFailureReason(e), "postgres: " + OneLine(e.what()));
      if (stream_lost) EnterResync("source connection lost");
      return;
    } catch (const std::exception& e) {
      // What failed to read or decode is not skipped: it is read again, after
      // the resync's backoff.
      read_log_.Failure(now, spdlog::level::err, PgFailureReason(e), "source: read failed: " + OneLine(e.what()));
      EnterResync("read failed");
      return;
    }
    read_log_.Success(now);
    tail_log_.Success(now);
    // Caught up (nothing more to read): the resyncs' backoff starts over.
    if (rows.empty() && window_.size() == 0) ResetResyncBackoff(now);
    stats_.read += rows.size();
    stats_.polls++;
    if (!rows.empty()) stats_.batch_rows.Observe(static_cast<double>(rows.size()));
    const bool full = rows.size() >= config_.source.batch_size;
    read_full_ = full;
    for (auto& r : rows) window_.Add(std::move(r));
    Apply(dispatcher_.Produce(now));
    Apply(dispatcher_.Collect(0, now));
    FlushAcks(false);
    if (!full || resync_) return;
    wake_ = true;  // more may be waiting
  }
}

bool Relay::EnsureRecovered(Clock::time_point now) {
  if (!publisher_.NeedsRecovery() && covered_.empty()) return true;
  if (now < recover_at_ || window_.sent() > 0) return false;
  try {
    if (publisher_.NeedsRecovery()) covered_ = publisher_.Recover().rows;
    // Published by a committed transaction, perhaps not acknowledged: reading
    // them again would publish them twice.
    if (!covered_.empty()) stats_.checkpoint_covered += acks_.Ack(covered_).size();
    covered_.clear();
    covered_.shrink_to_fit();
    recover_backoff_.Reset();
    recover_log_.Success(now);
    wake_ = true;
    return true;
  } catch (const std::exception& e) {
    recover_at_ = now + recover_backoff_.Next();
    const bool kafka = dynamic_cast<const KafkaError*>(&e) != nullptr;
    recover_log_.Failure(now, spdlog::level::warn, kafka ? "kafka" : PgFailureReason(e),
                         (kafka ? "" : "postgres: acknowledging the rows the checkpoint covers: ") + OneLine(e.what()));
    return false;
  }
}

CheckpointContent Relay::CheckpointRows() {
  CheckpointContent c;
  c.rows.reserve(window_.sent() + window_.delivered());
  window_.ForEachHandedOver(DeliveryToken{0}, [&](const InFlightWindow::Entry& e) {
    if (e.row.in_table) {
      c.rows.push_back(RowRef{e.row.seq, e.row.table_oid});
    } else if (c.messages < e.row.position) {
      c.messages = e.row.position;
    }
  });
  return c;
}

void Relay::EnterResync(const char* why) {
  if (resync_) return;
  resync_ = true;
  window_.DropQueued();  // still in the table, unacknowledged: read again after the resync
  resync_at_ = now_ + resync_backoff_;
  const std::string line = std::string("relay: ") + why + "; draining " + std::to_string(window_.sent()) +
                           " in-flight events, then reading the outbox again in " +
                           std::to_string(resync_backoff_.count()) + " ms";
  if (resync_backoff_.count() == 0) {
    spdlog::info("{}", line);  // on purpose (a held key, the dead-letter table): paced by their own delays
  } else {
    // A resync that repeats (reads failing, the stream lost again) is logged
    // once, then summarised: the reason label is `why` in snake case.
    std::string reason = why;
    for (char& c : reason) c = (c == ' ' || c == '-') ? '_' : c;
    resync_log_.Failure(now_, spdlog::level::info, reason, line);
  }
  resync_backoff_ = std::clamp(resync_backoff_ * 2, milliseconds(100), resync_backoff_max_);
}

void Relay::ResetResyncBackoff(Clock::time_point now) {
  resync_backoff_ = milliseconds(100);
  resync_log_.Success(now);
}

void Relay::MaybeFinishResync(Clock::time_point now) {
  if (!resync_ || window_.sent() > 0 || now < resync_at_) return;
  if (!acks_.connected() || !source_.connected()) return;  // finished after the reconnect
  // Postgres unreachable: try again next round.
  const AckBatcher::Result acked = acks_pending_.Flush(now_, true, window_, acks_, source_, stats_);
  if (acked == AckBatcher::Result::kStoreDown) return;  // Postgres unreachable: try again next round
  // Rows not visible yet are left unacknowledged: streamed again after the
  // resync (their LSN was never confirmed), and acknowledged then.
  if (acked == AckBatcher::Result::kInvisible) acks_pending_.Abandon(window_);
  dispatcher_.Resolve(now);
  if (!dead_letters_.Sync(acks_, now)) return;
  source_.Rewind();
  dead_letters_.NewPass();
  dispatcher_.NewPass();
  resync_ = false;
  wake_ = true;
  stats_.resyncs++;
}

bool Relay::FlushAcks(bool force) {
  const uint64_t acked = stats_.acked;
  const bool done = acks_pending_.Flush(now_, force, window_, acks_, source_, stats_) == AckBatcher::Result::kDone;
  // Progress: events acknowledged. Only then does the resyncs' backoff start over.
  if (stats_.acked > acked && !resync_) ResetResyncBackoff(now_);
  return done && acks_pending_.empty();
}

void Relay::Wait(Clock::time_point now) {
  auto deadline = now + milliseconds(1000);
  // Only deadlines that can make progress now: while Postgres is unreachable,
  // past poll or ack deadlines would spin; the reconnect time bounds the wait.
  const bool can_read =
      !resync_ && source_.connected() && acks_.connected() && window_.room() >= config_.source.batch_size;
  if (can_read && window_.queued() == 0) deadline = std::min(deadline, next_poll_at_);
  // Reading waits for the queued events to go out (ReadSource): no busy loop
  // while the producer takes none (queue full, a transaction committing).
  if (can_read && wake_ && window_.queued() == 0) deadline = now;
  if (window_.queued() > 0) deadline = std::min(deadline, now + milliseconds(5));
  if (!acks_pending_.empty() && acks_.connected()) deadline = std::min(deadline, acks_pending_.due());
  if (resync_) {
    // Finishing the resync needs its acknowledgements flushed: not before their backoff.
    const auto acks_due = acks_pending_.empty() ? now : acks_pending_.due();
    deadline = std::min(deadline, std::max({resync_at_, now + milliseconds(5), acks_due}));
  }
  if (!source_.connected() || !acks_.connected()) deadline = std::min(deadline, connector_.retry_at());
  deadline = std::min(deadline, std::max(now, publisher_.NextDue()));
  if (publisher_.NeedsRecovery() && can_read) deadline = std::min(deadline, std::max(now, recover_at_));
  const auto timeout = std::max<int64_t>(0, std::chrono::duration_cast<milliseconds>(deadline - now).count());

  std::vector<pollfd> fds = {
      {stop_pipe_[0], POLLIN, 0}, {publisher_.EventFd(), POLLIN, 0}, {acks_pending_.EventFd(), POLLIN, 0}};
  for (int fd : source_.WaitFds(can_read)) fds.push_back({fd, POLLIN, 0});
  const int n = ::poll(fds.data(), fds.size(), static_cast<int>(timeout));  // negative fds are ignored
  bool source_ready = false;
  for (size_t i = 3; n > 0 && i < fds.size(); ++i) {
    source_ready |= fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
  }
  if (source_ready) ApplySignals(source_.TakeSignals(/*socket_ready=*/true));
}

void Relay::Drain() {
  const auto deadline = Clock::now() + config_.shutdown.drain_timeout;
  spdlog::info("relay: stopping; waiting up to {} ms for {} in-flight events", config_.shutdown.drain_timeout.count(),
               window_.sent());
  window_.DropQueued();
  while (window_.sent() > 0 && (now_ = Clock::now()) < deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    dispatcher_.Collect(static_cast<int>(std::clamp<int64_t>(left, 0, 100)), now_);
  }
  while (!acks_pending_.empty() && Clock::now() < deadline + milliseconds(5000)) {
    if (!acks_.connected()) {
      try {
        acks_.Connect();
      } catch (const std::exception& e) {
        spdlog::warn("postgres: cannot acknowledge on shutdown: {}", OneLine(e.what()));
        break;
      }
    }
    now_ = Clock::now();
    if (!FlushAcks(true)) std::this_thread::sleep_for(milliseconds(100));
  }
  source_.Pause();  // reports the last confirmable LSN
  if (window_.sent() > 0 || !acks_pending_.empty()) {
    spdlog::warn("relay: {} events were not confirmed in time; they stay in the outbox and are published again",
                 window_.sent() + acks_pending_.size());
  }
  spdlog::info("relay: stopped; published={} acked={}", stats_.published.load(), stats_.acked.load());
}

}  // namespace outbox::relay
