#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/ack_batcher.hpp"
#include "pipeline/dead_letters.hpp"
#include "pipeline/in_flight_window.hpp"
#include "pipeline/key_flights.hpp"
#include "pipeline/routing.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

struct Config;
struct RelayStats;

/// The publishing side of the pipe: hands queued events to the Publisher in
/// read order and turns its delivery reports into window state.
///  - An event whose key is held stays in the outbox (left to the source);
///    a WAL-message event (no row) is written into the table first, so the
///    slot can move past it (Materialize).
///  - An event waits while earlier events of its key are in flight to another
///    topic (KeyFlights), and a suspect (failed in a batch with others) is
///    sent alone.
///  - A record refused at once (a bad row, no such topic, too large for the
///    producer) costs only its key: it is rejected, its key held, the others
///    flow; nothing needs a resync.
///  - A failed report releases the event unacknowledged, marks later events
///    of its key already handed over as behind a failure, and asks for a
///    resync; a permanent one is counted there (Resolve()), alone, or as a
///    suspect when several failed at once.
class Dispatcher {
 public:
  Dispatcher(const Config& config, RelayStats& stats, InFlightWindow& window, Publisher& publisher, Source& source,
             AckStore& store, DeadLetters& dead_letters, AckBatcher& acks);

  /// What a round of reports asks of the loop.
  struct Outcome {
    const char* resync = nullptr;  ///< a reason to resync, or nullptr
    bool released_key = false;     ///< a held key's head went through: read what waited again at once
  };

  /// Hands queued events over until the window has none, the producer's
  /// queue is full, or an event must wait. Returns what refusals ask for.
  Outcome Produce(Clock::time_point now);

  /// Collects reports for up to `timeout_ms`.
  Outcome Collect(int timeout_ms, Clock::time_point now);

  /// At the end of a resync (nothing in flight): counts the permanent
  /// failures of this incident, alone or as suspects.
  void Resolve(Clock::time_point now);

  /// Events left in the table behind a held key in this read pass.
  int64_t held_this_pass() const { return held_; }
  void NewPass() { held_ = 0; }

 public:
  /// commit_to_ack samples further in the future than this are skipped ("future").
  static constexpr std::chrono::seconds kLatencySkew{1};
  /// Older samples are skipped ("too_old"): a created_at from 1900, or a week's outage.
  static constexpr std::chrono::hours kLatencyMax{7 * 24};

 private:
  void ObserveLatency(double created_epoch);
  void Handle(const DeliveryReport& r, Clock::time_point now, Outcome& out);
  void CountPublished(const std::string& topic);
  void FlushPublished();
  bool Refuse(InFlightWindow::Entry& e, const std::string& reason, const std::string& name, Clock::time_point now);
  bool LeaveInTable(InFlightWindow::Entry& e);
  bool Materialize(OutboxRow& row);
  void ReportDropped(const InFlightWindow::Entry& e, const std::vector<std::string>& names);

  const Config& config_;
  RelayStats& stats_;
  InFlightWindow& window_;
  Publisher& publisher_;
  Source& source_;
  AckStore& store_;
  DeadLetters& dead_letters_;
  AckBatcher& acks_;
  Router router_;
  KeyFlights flights_;
  std::vector<DeliveryReport> reports_;
  std::string counted_topic_;  // published events of one topic, not yet added to the stats
  uint64_t counted_ = 0;
  std::optional<DeliveryToken> isolating_;  // a suspect sent alone, until its report
  struct Failure {
    OutboxRow row;
    std::string reason;
  };
  std::vector<Failure> incident_;  // permanent failures reported since the last Resolve()
  int64_t held_ = 0;
  std::vector<std::string> dropped_;
};

}  // namespace outbox::relay
