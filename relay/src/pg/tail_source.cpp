#include "pg/tail_source.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <pqxx/except>

#include "config/config.hpp"
#include "pg/pg_failure.hpp"
#include "pg/slot_setup.hpp"
#include "util/text.hpp"

namespace outbox::relay {

TailSource::TailSource(const Config& config) : config_(config), poll_(config), stream_(config) {}

TailSource::~TailSource() noexcept { StopStream(); }

void TailSource::Connect() {
  poll_.Connect();
  // At start, so a server or role that cannot stream fails at once with its reason.
  if (!prepared_) {
    PrepareSlot(config_);
    prepared_ = true;
  }
}

bool TailSource::WantsRead(size_t outstanding) const { return phase_.ReadyToStream(outstanding == 0); }

std::vector<OutboxRow> TailSource::Read(size_t max, size_t outstanding) {
  if (phase_.polling()) {
    auto rows = poll_.Read(max, outstanding);
    // This poll saw every row committed before its snapshot, so before the
    // stream's start position; whatever commits later is in the stream.
    if (poll_.covered_all()) phase_.CoveredAll();
    return rows;
  }
  if (!phase_.streaming()) {
    const auto now = Clock::now();
    if (!phase_.ReadyToStream(outstanding == 0) || now < next_start_) return {};
    StartStreaming(now);
    if (!phase_.streaming()) return {};
  }
  return SkipAcknowledged(ReadStream(max));
}

void TailSource::StartStreaming(Clock::time_point now) {
  if (!prepared_) {
    // The slot was dropped: create it again, then catch up again, since rows
    // committed before it existed are not in its stream.
    PrepareSlot(config_);
    prepared_ = true;
    poll_.Rewind();
    phase_.Restart();
    return;
  }
  try {
    const ReplicationStream::Position pos = stream_.Start();
    lsn_.Reset(pos.confirmed);
    replay_until_ = pos.wal_end;
    phase_.Streaming();
    next_status_ = now + config_.source.status_interval;
    start_backoff_ = std::chrono::milliseconds(100);
    start_log_.Success(now);
  } catch (const SlotMissingError& e) {
    spdlog::warn("tail: {}; creating it again", OneLine(e.what()));
    prepared_ = false;
  } catch (const pqxx::broken_connection& e) {
    start_log_.Failure(
        now, spdlog::level::warn, PgFailureReason(e),
        "tail: " + OneLine(e.what()) + "; retrying in " + std::to_string(start_backoff_.count()) + " ms");
    next_start_ = now + start_backoff_;
    start_backoff_ = std::min(start_backoff_ * 2, config_.postgres.reconnect_backoff_max);
  }
}

std::vector<OutboxRow> TailSource::ReadStream(size_t max) {
  std::vector<OutboxRow> out;
  while (out.size() < max) {
    StreamMessage m = stream_.Next();  // throws when the stream ends: the relay resyncs
    switch (m.kind) {
      case StreamMessage::Kind::kNone:
        return out;
      case StreamMessage::Kind::kBegin:
        txn_ = lsn_.Begin();
        // Committed before this stream began: an earlier run may have acknowledged it.
        txn_replayed_ = m.lsn <= replay_until_;
        txn_xid_ = m.xid;
        txn_position_ = StreamPosition{m.lsn, 0};  // Begin carries the transaction's final LSN
        break;
      case StreamMessage::Kind::kEvent:
        lsn_.Add(txn_);
        m.event.txn = txn_;
        m.event.replayed = txn_replayed_;
        m.event.xid = txn_xid_;
        ++txn_position_.index;
        m.event.position = txn_position_;
        out.push_back(std::move(m.event));
        break;
      case StreamMessage::Kind::kCommit:
        lsn_.Commit(m.lsn);
        break;
      case StreamMessage::Kind::kKeepalive:
        lsn_.Keepalive(m.lsn);
        break;
    }
  }
  return out;
}

std::vector<OutboxRow> TailSource::SkipAcknowledged(std::vector<OutboxRow> rows) {
  // Exactly once: a WAL-message event at or before the committed checkpoint's
  // position was published (events are published in stream order, and one
  // that was not, held or rejected, became a row): it leaves at once.
  if (!published_upto_.empty()) {
    size_t kept = 0;
    for (auto& r : rows) {
      if (!r.in_table && !r.position.empty() && r.position <= published_upto_) {
        lsn_.Done(r.txn);
      } else {
        if (&rows[kept] != &r) rows[kept] = std::move(r);
        ++kept;
      }
    }
    rows.resize(kept);
  }
  // A replayed WAL-message event that an earlier pass wrote into the table
  // (held or rejected) lives on as that row: skip the message.
  std::vector<std::string> messages;
  for (const auto& r : rows) {
    if (r.replayed && !r.in_table) messages.push_back(r.id);
  }
  if (!messages.empty()) {
    const std::unordered_set<std::string> done = poll_.Materialized(messages);
    if (!done.empty()) {
      size_t kept = 0;
      for (auto& r : rows) {
        if (r.replayed && !r.in_table && done.count(r.id) != 0) {
          lsn_.Done(r.txn);
        } else {
          if (&rows[kept] != &r) rows[kept] = std::move(r);
          ++kept;
        }
      }
      rows.resize(kept);
    }
  }
  const std::vector<RowRef> seqs = ReplayedRows(rows);
  if (seqs.empty()) return rows;
  // On failure the rows stay unreleased, so the LSN stays before them and a
  // resync streams them again.
  std::unordered_set<int64_t> live = poll_.Unacknowledged(seqs);
  // A row is also missing while its transaction, committed in the WAL, is not
  // visible yet (its COMMIT waits for a synchronous standby): not acknowledged,
  // it is published (as any streamed row is) and acknowledged once visible.
  std::vector<uint32_t> missing;
  for (const auto& r : rows) {
    if (r.replayed && r.in_table && live.count(r.seq) == 0) missing.push_back(r.xid);
  }
  if (!missing.empty()) {
    const std::unordered_set<uint32_t> running = poll_.Running(missing);
    for (auto& r : rows) {
      if (r.replayed && r.in_table && running.count(r.xid) != 0) {
        live.insert(r.seq);
        r.replayed = false;  // not acknowledged by an earlier run: acknowledged once visible (AckBatcher)
      }
    }
  }
  for (uint64_t txn : DropAcknowledged(rows, live)) lsn_.Done(txn);
  return rows;
}

void TailSource::Released(const std::vector<uint64_t>& txns) {
  for (uint64_t t : txns) lsn_.Done(t);
}

void TailSource::Rewind() {
  // Read again from the slot's confirmed position, after catching up with the table.
  StopStream();
  phase_.Restart();
  poll_.Rewind();
}

void TailSource::StopStream() noexcept {
  if (!stream_.open()) return;
  stream_.Close(lsn_.confirmed());  // reports the last confirmable LSN
  lsn_.Reset(lsn_.confirmed());     // events read from this stream no longer count
  if (phase_.streaming()) phase_.Restart();
}

void TailSource::Tick(Clock::time_point now) {
  try {
    poll_.Tick(now);  // the lock
  } catch (const pqxx::broken_connection&) {
    StopStream();
    throw;
  }
  if (!stream_.open()) return;
  // Progress is reported at the status interval, not at once: one message per
  // interval however many transactions were confirmed in it.
  if (stream_.reply_requested() || now >= next_status_) {
    stream_.SendStatus(lsn_.confirmed());
    next_status_ = now + config_.source.status_interval;
  }
}

std::vector<int> TailSource::WaitFds(bool want_events) const {
  std::vector<int> fds = poll_.WaitFds(want_events);
  if (want_events && stream_.open()) fds.push_back(stream_.Socket());
  return fds;
}

SourceSignals TailSource::TakeSignals(bool socket_ready) {
  SourceSignals s = poll_.TakeSignals(socket_ready);
  if (socket_ready && stream_.open()) s.wake = true;
  return s;
}

std::string TailSource::ProgressNote() const {
  // Gap points are poll mode's business: the catch-up reads the whole table once.
  if (phase_.polling()) return "phase=catch-up";
  return "phase=streaming confirmed=" + FormatLsn(lsn_.confirmed());
}

}  // namespace outbox::relay
