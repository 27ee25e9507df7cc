#include "pipeline/dispatcher.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "pipeline/stats.hpp"
#include "util/clock.hpp"
#include "util/text.hpp"

namespace outbox::relay {

Dispatcher::Dispatcher(const Config& config, RelayStats& stats, InFlightWindow& window, Publisher& publisher,
                       Source& source, AckStore& store, DeadLetters& dead_letters, AckBatcher& acks)
    : config_(config),
      stats_(stats),
      window_(window),
      publisher_(publisher),
      source_(source),
      store_(store),
      dead_letters_(dead_letters),
      acks_(acks),
      router_(config),
      flights_(config.kafka.exactly_once()) {}

Dispatcher::Outcome Dispatcher::Produce(Clock::time_point now) {
  Outcome out;
  while (!isolating_) {
    InFlightWindow::Entry* e = window_.NextQueued();
    if (e == nullptr) break;
    if (!dead_letters_.Admit(e->row)) {
      if (!LeaveInTable(*e)) break;  // Postgres is down: try again later
      continue;
    }
    const bool suspect = dead_letters_.suspect(e->row.id);
    if (suspect && window_.sent() > 0) break;  // sent alone: wait until nothing else is in flight
    KafkaRecord record;
    dropped_.clear();
    try {
      record = router_.Route(e->row, &dropped_);
    } catch (const std::invalid_argument& ex) {
      if (!Refuse(*e, "bad row: " + OneLine(ex.what()), "bad_row", now)) break;
      continue;
    }
    const uint64_t key = KeyFlights::KeyHash(e->row.aggregate_type, e->row.aggregate_id);
    if (!flights_.CanSend(key, KeyFlights::TopicHash(record.topic))) break;  // until the key's reports arrive
    const DeliveryReport r = publisher_.Produce(record, e->token);
    if (r.status == DeliveryStatus::kRetriable || r.status == DeliveryStatus::kFatal) break;  // queue full; rebuild
    if (r.status != DeliveryStatus::kOk) {
      if (!Refuse(*e, r.error, r.error_name, now)) break;
      continue;
    }
    if (!dropped_.empty()) ReportDropped(*e, dropped_);
    e->key_hash = key;
    flights_.Sent(key, KeyFlights::TopicHash(record.topic));
    window_.MarkSent(*e);
    if (suspect) isolating_ = e->token;
  }
  return out;
}

bool Dispatcher::Materialize(OutboxRow& row) {
  if (row.in_table) return true;
  try {
    const RowRef ref = store_.Materialize(row);
    row.seq = ref.seq;
    row.table_oid = ref.table_oid;
    row.in_table = true;
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("postgres: cannot write WAL-message event {} into the outbox table ({}); retrying", row.id,
                 OneLine(e.what()));
    return false;
  }
}

bool Dispatcher::Refuse(InFlightWindow::Entry& e, const std::string& reason, const std::string& name,
                        Clock::time_point now) {
  // Refused before it reached the producer: nothing of its key was sent after
  // it, so holding the key keeps the order. Its row stays and is read again
  // (tail mode: the source is not told, its LSN stays unconfirmed; a
  // WAL-message event is written into the table first and lives on there).
  const bool message = !e.row.in_table;
  if (!Materialize(e.row)) return false;
  stats_.errors_by_reason.Add(name);
  stats_.failed_permanent++;
  spdlog::warn("relay: event {} of key {}/{} refused: {}", e.row.Label(), e.row.aggregate_type,
               e.row.aggregate_id.substr(0, 64), reason);
  dead_letters_.Rejected(e.row, reason, now);
  const uint64_t txn = e.row.txn;
  window_.Release(e);
  if (message) source_.Released({txn});
  return true;
}

bool Dispatcher::LeaveInTable(InFlightWindow::Entry& e) {
  // Behind a held event of its key: stays in the outbox until that event is
  // published, requeued or skipped. Tail mode: the next catch-up finds the
  // row in the table, so the stream may confirm past it.
  if (!Materialize(e.row)) return false;
  ++held_;
  const uint64_t txn = e.row.txn;
  window_.Release(e);
  source_.Released({txn});
  return true;
}

void Dispatcher::ReportDropped(const InFlightWindow::Entry& e, const std::vector<std::string>& names) {
  stats_.reserved_headers_dropped += names.size();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  spdlog::warn("relay: event {}: row header(s) {} dropped: the relay sets these names itself", e.row.Label(), list);
}

Dispatcher::Outcome Dispatcher::Collect(int timeout_ms, Clock::time_point now) {
  Outcome out;
  reports_.clear();
  const bool rebuilt = publisher_.Poll(timeout_ms, reports_);
  for (const auto& r : reports_) Handle(r, now, out);
  FlushPublished();
  if (!rebuilt) return out;
  // The old producer is gone with every record it had not reported: they may
  // or may not have been written, and are read and published again.
  std::vector<DeliveryToken> lost;
  window_.ForEachHandedOver(DeliveryToken{0}, [&](InFlightWindow::Entry& e) {
    if (e.state == InFlightWindow::State::kSent) lost.push_back(e.token);
  });
  for (DeliveryToken t : lost) {
    if (InFlightWindow::Entry* e = window_.Find(t)) {
      flights_.Reported(e->key_hash);
      window_.Release(*e);
    }
  }
  isolating_.reset();
  flights_.NewProducer();
  stats_.producer_rebuilds++;
  out.resync = "producer rebuilt";
  return out;
}

void Dispatcher::ObserveLatency(double created_epoch) {
  if (created_epoch == 0) return;  // no created_at column, or NULL
  // A created_at written by hand can be anything ('infinity', 1900, next
  // year): such a sample is skipped and counted, never recorded, so the
  // histogram's sum stays meaningful. Up to kLatencySkew in the future is
  // clock skew between hosts, recorded as 0.
  const double latency = static_cast<double>(UnixMillis()) / 1000.0 - created_epoch;
  if (std::isnan(latency)) return;
  if (latency < -kLatencySkew.count()) {
    stats_.latency_skipped.Add("future");
  } else if (latency > static_cast<double>(kLatencyMax.count())) {
    stats_.latency_skipped.Add("too_old");
  } else {
    stats_.commit_to_ack_seconds.Observe(std::max(0.0, latency));
  }
}

void Dispatcher::CountPublished(const std::string& topic) {
  // Added to the (locked) counter per run of one topic, not per event.
  if (topic != counted_topic_) {
    FlushPublished();
    counted_topic_ = topic;
  }
  ++counted_;
}

void Dispatcher::FlushPublished() {
  if (counted_ > 0) stats_.published_by_topic.Add(counted_topic_, counted_);
  counted_ = 0;
}

void Dispatcher::Handle(const DeliveryReport& r, Clock::time_point now, Outcome& out) {
  InFlightWindow::Entry* e = window_.Find(r.token);
  if (e == nullptr || e->state != InFlightWindow::State::kSent) return;
  flights_.Reported(e->key_hash);
  if (isolating_ && *isolating_ == r.token) isolating_.reset();
  if (r.status == DeliveryStatus::kOk) {
    flights_.Delivered(e->key_hash);
    stats_.published++;
    if (e->behind_failure) {
      // Written, but behind a failed event of its key: not acknowledged, so
      // it is published again after that one.
      window_.Release(*e);
      return;
    }
    window_.MarkDelivered(*e);
    acks_.Add(r.token, now);
    CountPublished(r.topic);
    ObserveLatency(e->row.created_epoch);
    if (dead_letters_.Delivered(e->row)) out.released_key = true;
    return;
  }
  stats_.errors_by_reason.Add(r.error_name.empty() ? "unknown" : r.error_name);
  (r.status == DeliveryStatus::kPermanent ? stats_.failed_permanent : stats_.failed_retriable)++;
  if (out.resync == nullptr) {
    spdlog::warn("kafka: event {} not delivered ({}: {}); it stays in the {} and is published again", e->row.Label(),
                 ToString(r.status), r.error, e->row.in_table ? "outbox" : "WAL");
  }
  if (r.status == DeliveryStatus::kPermanent) incident_.push_back(Failure{e->row, r.error});
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
  out.resync = "delivery failed";
}

void Dispatcher::Resolve(Clock::time_point now) {
  // A rejected WAL-message event lives on as a row (retried by the next
  // catch-up, dead-lettered from there); the replay check skips its message.
  // Once it is a row its event is done as far as the stream goes (as for
  // Refuse): the slot may move past its transaction, and a later pass does
  // not stream the message again next to its row.
  for (Failure& f : incident_) {
    if (f.row.in_table) continue;
    const uint64_t txn = f.row.txn;
    if (Materialize(f.row)) source_.Released({txn});
  }
  if (incident_.size() == 1) {
    dead_letters_.Rejected(incident_[0].row, incident_[0].reason, now);
  } else if (incident_.size() > 1) {
    // A broker rejects a whole batch for one record (max.message.bytes is
    // checked per batch): which one is at fault is only known by sending each
    // alone, so none is counted yet.
    spdlog::warn("kafka: {} events were rejected together ({}); each is sent alone before an attempt counts",
                 incident_.size(), incident_[0].reason);
    for (const Failure& f : incident_) dead_letters_.Suspected(f.row);
  }
  incident_.clear();
}

}  // namespace outbox::relay
