#include "writers.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "outbox/outbox.hpp"

namespace outbox::test {

void CreateAggregates(const std::string& schema, int aggregates) {
  pqxx::connection c(PgDsn());
  pqxx::work tx(c);
  tx.exec("CREATE TABLE \"" + schema + "\".accounts (id text PRIMARY KEY, version int NOT NULL DEFAULT 0)");
  tx.exec_params("INSERT INTO \"" + schema + "\".accounts SELECT 'acct-' || g FROM generate_series(1, $1) g",
                 aggregates);
  tx.commit();
}

std::vector<WrittenEvent> RunWriters(const WriterOptions& o, std::vector<std::string>* rolled_back) {
  struct Committed {
    std::string aggregate;
    int version;
    int index;
    std::string id;
  };
  std::mutex mu;
  std::vector<Committed> committed;
  std::vector<std::string> aborted;
  std::vector<std::thread> threads;
  const sdk::Outbox outbox(sdk::OutboxOptions{o.schema});
  for (int w = 0; w < o.writers; ++w) {
    threads.emplace_back([&, w] {
      try {
        pqxx::connection c(PgDsn());
        std::mt19937 rng(static_cast<unsigned>(w * 7919 + 17));
        for (int t = 0; t < o.transactions_per_writer; ++t) {
          const std::string aggregate = "acct-" + std::to_string(rng() % o.aggregates + 1);
          pqxx::work tx(c);
          // Sometimes take an xid before the aggregate's lock: the case where
          // ordering by xid alone would invert an aggregate's events.
          if (rng() % 3 == 0) tx.exec("SELECT pg_current_xact_id()");
          const int version =
              tx.exec_params1(
                    "UPDATE \"" + o.schema + "\".accounts SET version = version + 1 WHERE id = $1 RETURNING version",
                    aggregate)[0]
                  .as<int>();
          std::vector<sdk::Event> events;
          for (int i = 0; i < o.events_per_transaction; ++i) {
            events.push_back(
                sdk::Event{"account", aggregate, "Credited", std::to_string(version) + "." + std::to_string(i)});
          }
          auto ids = o.events_per_transaction == 1 ? std::vector<std::string>{outbox.Enqueue(tx, events[0])}
                                                   : outbox.EnqueueBatch(tx, events);
          if (o.max_sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % o.max_sleep_us));
          if (static_cast<int>(rng() % 100) < o.rollback_percent) {
            tx.abort();
            std::lock_guard<std::mutex> lock(mu);
            aborted.insert(aborted.end(), ids.begin(), ids.end());
          } else {
            tx.commit();
            std::lock_guard<std::mutex> lock(mu);
            for (size_t i = 0; i < ids.size(); ++i)
              committed.push_back({aggregate, version, static_cast<int>(i), ids[i]});
          }
          if (o.pause_between_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(o.pause_between_us));
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "writer " << w << ": " << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  // The version bumped under the row lock gives each aggregate's commit order.
  std::sort(committed.begin(), committed.end(), [](const Committed& a, const Committed& b) {
    return std::tie(a.aggregate, a.version, a.index) < std::tie(b.aggregate, b.version, b.index);
  });
  std::vector<WrittenEvent> out;
  for (const auto& c : committed) out.push_back({c.id, c.aggregate});
  if (rolled_back) *rolled_back = std::move(aborted);
  return out;
}

}  // namespace outbox::test
