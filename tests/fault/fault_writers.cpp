#include "fault_writers.hpp"

#include <algorithm>
#include <memory>
#include <random>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/event.hpp"
#include "outbox/outbox.hpp"

namespace outbox::test::fault {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string WithConnectTimeout(const std::string& dsn) {
  return dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=5";
}

}  // namespace

FaultWriters::FaultWriters(FaultWriterOptions options) : o_(std::move(options)) {
  for (int w = 0; w < o_.writers; ++w) threads_.emplace_back([this, w] { Run(w); });
}

FaultWriters::~FaultWriters() { Stop(); }

void FaultWriters::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool FaultWriters::WaitForCommitted(size_t n, int timeout_ms) const {
  return WaitFor([&] { return committed_count_.load() >= n; }, timeout_ms);
}

std::vector<WrittenEvent> FaultWriters::Committed() const {
  std::vector<Entry> sorted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sorted = committed_;
  }
  // The version bumped under the aggregate's row lock gives its commit order.
  std::sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.aggregate, a.version, a.index) < std::tie(b.aggregate, b.version, b.index);
  });
  std::vector<WrittenEvent> out;
  out.reserve(sorted.size());
  for (const auto& e : sorted) out.push_back({e.id, e.aggregate});
  return out;
}

void FaultWriters::Run(int w) {
  const sdk::Outbox outbox(sdk::OutboxOptions{o_.schema});
  const std::string q = "\"" + o_.schema + "\"";
  const std::string dsn = WithConnectTimeout(o_.dsn);
  std::mt19937 rng(static_cast<unsigned>(w * 7919) + o_.seed);
  std::unique_ptr<pqxx::connection> conn;
  const auto end_of_life = Clock::now() + o_.max_duration;

  // Connects, retrying with backoff (the server may be restarting) until `deadline`.
  auto connect = [&](Clock::time_point deadline) {
    milliseconds backoff(50);
    while (!conn && Clock::now() < deadline) {
      try {
        conn = std::make_unique<pqxx::connection>(dsn);
      } catch (const std::exception&) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, milliseconds(1000));
      }
    }
    return conn != nullptr;
  };
  auto record = [&](const std::string& aggregate, int version, const std::vector<std::string>& ids) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < ids.size(); ++i) committed_.push_back({aggregate, version, static_cast<int>(i), ids[i]});
    committed_count_ += ids.size();
  };

  while (!stop_ && Clock::now() < end_of_life) {
    const std::string aggregate = "acct-" + std::to_string(rng() % o_.aggregates + o_.first_aggregate);
    const int n = 1 + static_cast<int>(rng() % std::max(1, o_.max_events_per_transaction));
    const bool rollback = static_cast<int>(rng() % 100) < o_.rollback_percent;
    const int spread = o_.max_sleep_us - o_.min_sleep_us;
    const int sleep_us = o_.min_sleep_us + (spread > 0 ? static_cast<int>(rng() % spread) : 0);
    std::vector<sdk::Event> events;
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      ids.push_back(sdk::NewEventId());
      sdk::Event e;
      e.aggregate_type = "account";
      e.aggregate_id = aggregate;
      e.event_type = "Credited";
      e.payload = std::to_string(i);
      e.id = ids.back();
      events.push_back(std::move(e));
    }

    const auto deadline = Clock::now() + o_.retry_deadline;
    bool done = false;
    for (int attempt = 0; !done; ++attempt) {
      if (Clock::now() >= deadline) {
        ADD_FAILURE() << "writer " << w << ": a transaction on " << aggregate << " did not get through in "
                      << o_.retry_deadline.count() << " s of retries";
        return;
      }
      if (attempt > 0) {
        retries_++;
        std::this_thread::sleep_for(milliseconds(50));
      }
      if (!connect(deadline)) continue;
      bool committing = false;
      try {
        pqxx::work tx(*conn);
        const int version = tx.exec_params1("UPDATE " + q +
                                                ".accounts SET version = version + 1 WHERE id = $1 "
                                                "RETURNING version",
                                            aggregate)[0]
                                .as<int>();
        outbox.EnqueueBatch(tx, events);
        for (int i = 0; i < n; ++i) {
          tx.exec_params(
              "INSERT INTO " + q + ".ledger (event_id, aggregate, version, idx) VALUES ($1::uuid, $2, $3, $4)", ids[i],
              aggregate, version, i);
        }
        if (sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
        if (rollback) {
          tx.abort();
          done = true;
          break;
        }
        committing = true;
        tx.commit();
        record(aggregate, version, ids);
        done = true;
      } catch (const std::exception&) {
        // Whatever failed, this connection is suspect: start over on a new one.
        conn.reset();
        if (!committing) continue;  // never reached COMMIT: the server rolled it back
        // The COMMIT was sent and its answer lost: the ledger row says whether it happened.
        unknown_++;
        bool resolved = false;
        while (!resolved && Clock::now() < deadline) {
          if (!connect(deadline)) break;
          try {
            pqxx::nontransaction look(*conn);
            auto r = look.exec_params("SELECT version FROM " + q + ".ledger WHERE event_id = $1::uuid", ids[0]);
            resolved = true;
            if (!r.empty()) {
              unknown_committed_++;
              record(aggregate, r[0][0].as<int>(), ids);
              done = true;
            }
          } catch (const std::exception&) {
            conn.reset();
            std::this_thread::sleep_for(milliseconds(100));
          }
        }
      }
    }
    if (o_.pause_between_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(o_.pause_between_us));
  }
}

}  // namespace outbox::test::fault
