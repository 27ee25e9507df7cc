#include "pipeline/relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>
#include <pqxx/except>

#include "util/clock.hpp"
#include "util/text.hpp"

namespace outbox::relay {

using std::chrono::milliseconds;

Relay::Relay(Config config, const StageFactory& factory)
    : config_(std::move(config)),
      router_(config_),
      stages_(factory(config_)),
      source_(*stages_.source),
      publisher_(*stages_.publisher),
      acks_(*stages_.ack_store),
      housekeeping_(config_, stats_, source_, publisher_, acks_),
      window_(config_.source.max_in_flight),
      acks_pending_(config_.source.ack_batch_size, config_.source.ack_interval),
      dead_letters_(config_, stats_),
      connector_(config_.outbox.schema + "." + config_.outbox.table, config_.postgres.reconnect_backoff_max) {
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
  CollectReports(0);
  FlushAcks(false);
  MaybeFinishResync(now);
  if (!resync_ && source_.connected()) {
    ProduceQueued();
    // Nothing read can be recorded while the ack session is down: the window
    // would only fill up. Reading resumes after the reconnect's resync.
    if (acks_.connected()) ReadSource(now);
  }
  try {
    source_.Tick(now);
  } catch (const pqxx::broken_connection& e) {
    spdlog::warn("tail: {}", OneLine(e.what()));
    EnterResync("replication stream lost");
  }
  housekeeping_.Run(now, View());
}

PipelineView Relay::View() const {
  PipelineView v;
  v.in_flight = window_.sent();
  v.held = held_this_pass_;
  v.held_keys = dead_letters_.holds().held_keys();
  v.pg_connected = source_.connected() && acks_.connected();
  return v;
}

void Relay::EnsureConnected(Clock::time_point now, bool first) {
  if (connector_.Ensure(now, source_, acks_) != Connector::Result::kConnected) return;
  wake_ = true;
  if (first) {
    if (!dead_letters_.Sync(acks_)) throw std::runtime_error("cannot read the dead-letter table");
    return;
  }
  stats_.pg_reconnects++;
  spdlog::info("postgres: reconnected");
  // A dead-letter change notified while disconnected would be missed: read
  // again from the start (which also reloads the held keys).
  EnterResync("postgres reconnected");
}

void Relay::ReadSource(Clock::time_point now) {
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
      spdlog::warn("postgres: {}", OneLine(e.what()));
      // The source either lost its connection (reconnecting resyncs) or its
      // stream (read again from the slot's confirmed position).
      if (source_.connected()) EnterResync("source connection lost");
      return;
    } catch (const std::exception& e) {
      // What failed to read or decode is not skipped: it is read again.
      spdlog::error("source: read failed: {}", OneLine(e.what()));
      EnterResync("read failed");
      return;
    }
    stats_.read += rows.size();
    stats_.polls++;
    if (!rows.empty()) stats_.batch_rows.Observe(static_cast<double>(rows.size()));
    const bool full = rows.size() >= config_.source.batch_size;
    for (auto& r : rows) window_.Add(std::move(r));
    ProduceQueued();
    CollectReports(0);
    FlushAcks(false);
    if (!full || resync_) return;
    wake_ = true;  // more may be waiting
  }
}

void Relay::ReleaseHeld(InFlightWindow::Entry& entry) {
  // Behind a held event of its key: stays in the outbox until that event is
  // published, requeued or skipped. Tail mode: the next catch-up finds the row
  // in the table, so the stream may confirm past it.
  ++held_this_pass_;
  const bool in_table = entry.row.in_table;
  const uint64_t txn = entry.row.txn;
  window_.Release(entry);
  if (in_table) source_.Released({txn});
}

void Relay::ProduceQueued() {
  while (!resync_) {
    InFlightWindow::Entry* e = window_.NextQueued();
    if (e == nullptr) return;
    if (!dead_letters_.Admit(e->row)) {
      ReleaseHeld(*e);
      continue;
    }
    DeliveryReport r;
    try {
      r = publisher_.Produce(router_.Route(e->row), e->token);
    } catch (const std::invalid_argument& ex) {
      r = DeliveryReport{e->token, DeliveryStatus::kPermanent, std::string("bad row: ") + OneLine(ex.what())};
    }
    if (r.status == DeliveryStatus::kRetriable) return;  // local queue full: retry after reports
    window_.MarkSent(*e);
    if (r.status != DeliveryStatus::kOk) HandleReport(r);  // a synchronous failure is handled like a report
  }
}

void Relay::CollectReports(int timeout_ms) {
  reports_.clear();
  const bool rebuilt = publisher_.Poll(timeout_ms, reports_);
  for (const auto& r : reports_) HandleReport(r);
  if (!rebuilt) return;
  // The old producer is gone with every record it had not reported: they may
  // or may not have been written, and are read and published again.
  std::vector<DeliveryToken> lost;
  window_.ForEachHandedOver(DeliveryToken{0}, [&](InFlightWindow::Entry& e) {
    if (e.state == InFlightWindow::State::kSent) lost.push_back(e.token);
  });
  for (DeliveryToken t : lost) {
    if (InFlightWindow::Entry* e = window_.Find(t)) window_.Release(*e);
  }
  stats_.producer_rebuilds++;
  EnterResync("producer rebuilt");
}

void Relay::HandleReport(const DeliveryReport& r) {
  InFlightWindow::Entry* e = window_.Find(r.token);
  if (e == nullptr || e->state != InFlightWindow::State::kSent) return;
  if (r.status == DeliveryStatus::kOk) {
    stats_.published++;
    if (e->behind_failure) {
      // Written, but behind a failed event of its key: not acknowledged, so
      // it is published again after that one.
      window_.Release(*e);
      return;
    }
    window_.MarkDelivered(*e);
    acks_pending_.Add(r.token, now_);
    stats_.published_by_topic.Add(r.topic);
    if (e->row.created_epoch > 0) {
      stats_.commit_to_ack_seconds.Observe(
          std::max(0.0, static_cast<double>(UnixMillis()) / 1000.0 - e->row.created_epoch));
    }
    if (dead_letters_.Delivered(e->row)) {
      // The head of a held key went through: what waited behind it is read again.
      resync_backoff_ = milliseconds(0);
      EnterResync("a held key was released");
    }
    return;
  }
  stats_.errors_by_reason.Add(r.error_name.empty() ? "bad_row" : r.error_name);
  (r.status == DeliveryStatus::kPermanent ? stats_.failed_permanent : stats_.failed_retriable)++;
  if (!resync_) {
    spdlog::warn("kafka: event seq={} not delivered ({}: {}); it stays in the outbox and is published again",
                 e->row.seq, ToString(r.status), r.error);
  }
  if (r.status == DeliveryStatus::kPermanent) dead_letters_.Rejected(e->row, r.error);
  // Later events of the key already handed over must not be acknowledged
  // ahead of this one: their rows stay too, and are read again after it.
  window_.ForEachHandedOver(e->token, [&](InFlightWindow::Entry& later) {
    if (later.row.aggregate_id == e->row.aggregate_id && later.row.aggregate_type == e->row.aggregate_type) {
      later.behind_failure = true;
    }
  });
  // The event leaves the window unacknowledged: its row stays and is read
  // again, and the source is not told (tail mode keeps its LSN unconfirmed).
  window_.Release(*e);
  EnterResync("delivery failed");
}

void Relay::EnterResync(const char* why) {
  if (resync_) return;
  resync_ = true;
  window_.DropQueued();  // still in the table, unacknowledged: read again after the resync
  resync_at_ = now_ + resync_backoff_;
  spdlog::info("relay: {}; draining {} in-flight events, then reading the outbox again in {} ms", why, window_.sent(),
               resync_backoff_.count());
  resync_backoff_ = std::clamp(resync_backoff_ * 2, milliseconds(100), milliseconds(30000));
}

void Relay::MaybeFinishResync(Clock::time_point now) {
  if (!resync_ || window_.sent() > 0 || now < resync_at_) return;
  // Postgres unreachable: try again next round.
  if (!FlushAcks(true) || !dead_letters_.Sync(acks_)) return;
  source_.Rewind();
  dead_letters_.NewPass();
  held_this_pass_ = 0;
  resync_ = false;
  wake_ = true;
  stats_.resyncs++;
}

bool Relay::FlushAcks(bool force) {
  const bool done = acks_pending_.Flush(now_, force, window_, acks_, source_, stats_);
  if (done && acks_pending_.empty() && !resync_) resync_backoff_ = milliseconds(100);
  return done && acks_pending_.empty();
}

void Relay::Wait(Clock::time_point now) {
  auto deadline = now + milliseconds(1000);
  // Only deadlines that can make progress now: while Postgres is unreachable,
  // past poll or ack deadlines would spin; the reconnect time bounds the wait.
  const bool can_read =
      !resync_ && source_.connected() && acks_.connected() && window_.room() >= config_.source.batch_size;
  if (can_read && window_.queued() == 0) deadline = std::min(deadline, next_poll_at_);
  if (can_read && wake_) deadline = now;
  if (window_.queued() > 0) deadline = std::min(deadline, now + milliseconds(5));
  if (!acks_pending_.empty() && acks_.connected()) deadline = std::min(deadline, acks_pending_.due());
  if (resync_) deadline = std::min(deadline, std::max(resync_at_, now + milliseconds(5)));
  if (!source_.connected() || !acks_.connected()) deadline = std::min(deadline, connector_.retry_at());
  const auto timeout = std::max<int64_t>(0, std::chrono::duration_cast<milliseconds>(deadline - now).count());

  std::vector<pollfd> fds = {{stop_pipe_[0], POLLIN, 0}, {publisher_.EventFd(), POLLIN, 0}};
  for (int fd : source_.WaitFds(can_read)) fds.push_back({fd, POLLIN, 0});
  const int n = ::poll(fds.data(), fds.size(), static_cast<int>(timeout));  // negative fds are ignored
  bool source_ready = false;
  for (size_t i = 2; n > 0 && i < fds.size(); ++i) {
    source_ready |= fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
  }
  if (!source_ready) return;
  const SourceSignals s = source_.TakeSignals();
  if (s.wake) wake_ = true;
  if (s.dead_letter_changed) {
    resync_backoff_ = milliseconds(0);
    EnterResync("the dead-letter table changed");
  }
}

void Relay::Drain() {
  const auto deadline = Clock::now() + config_.shutdown.drain_timeout;
  spdlog::info("relay: stopping; waiting up to {} ms for {} in-flight events", config_.shutdown.drain_timeout.count(),
               window_.sent());
  window_.DropQueued();
  while (window_.sent() > 0 && (now_ = Clock::now()) < deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    CollectReports(static_cast<int>(std::clamp<int64_t>(left, 0, 100)));
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
