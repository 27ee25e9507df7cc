// sdk-bench: per-event cost of writing events through the SDK, against the
// cost of the business write alone, all measured in one run on one connection.
//
//   sdk-bench --dsn DSN [--n 2000] [--batch-events 50000] [--synchronous-commit on|off]
//
//   (a) one business row per transaction (the baseline)
//   (b) one business row + Enqueue of its event, one transaction
//   (c) one business row + EnqueueBatch of 10 events, one transaction
//   (d) EnqueueBatch of 1000 events per transaction
//
// Each case writes about N events ((d): --batch-events). The cases run
// interleaved in 10 rounds, so drift in the machine's load or fsync latency
// hits them alike. Commits dominate (a)-(b); --synchronous-commit off shows
// the SDK's own cost. Runs in a throwaway schema that it drops.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"

namespace {

namespace sdk = outbox::sdk;

struct Args {
  std::string dsn;
  long n = 2000;
  long batch_events = 50000;
  std::string synchronous_commit;  // "" = the server's setting
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  if (const char* env = std::getenv("OUTBOX_PG_DSN")) a.dsn = env;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::puts("usage: sdk-bench --dsn DSN [--n 2000] [--batch-events 50000] [--synchronous-commit on|off]");
      std::exit(0);
    }
    if (flag != "--dsn" && flag != "--n" && flag != "--batch-events" && flag != "--synchronous-commit") {
      throw std::invalid_argument("unknown argument '" + flag + "'");
    }
    if (i + 1 >= argc) throw std::invalid_argument(flag + ": missing value");
    const std::string value = argv[++i];
    if (flag == "--dsn") {
      a.dsn = value;
      continue;
    }
    if (flag == "--synchronous-commit") {
      if (value != "on" && value != "off")
        throw std::invalid_argument(flag + ": expected on or off, got '" + value + "'");
      a.synchronous_commit = value;
      continue;
    }
    char* end = nullptr;
    const long v = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || v < 10 || v > 10000000) {
      throw std::invalid_argument(flag + ": expected an integer from 10 to 10000000, got '" + value + "'");
    }
    (flag == "--n" ? a.n : a.batch_events) = v;
  }
  if (a.dsn.empty()) throw std::invalid_argument("--dsn: required (or set OUTBOX_PG_DSN)");
  return a;
}

class Bench {
 public:
  Bench(pqxx::connection& conn, const std::string& schema)
      : conn_(conn), outbox_(sdk::OutboxOptions{schema}), table_(sdk::QuoteIdentifier(schema) + ".orders") {
    conn_.prepare("bench_order", "INSERT INTO " + table_ + " (id, customer, total_cents) VALUES ($1::uuid, $2, $3)");
  }

  struct Case {
    const char* name;
    long txns;
    long events_per_tx;
    std::function<void(pqxx::work&)> body;
    double seconds = 0;
  };

  /// Runs every case's transactions, interleaved in `rounds` slices after a
  /// warm-up, and prints µs per event and the ratio to the first case.
  void Measure(std::vector<Case>& cases, int rounds) {
    for (auto& c : cases) {
      for (int i = 0; i < 20; ++i) Transaction(c.body);
    }
    for (int r = 0; r < rounds; ++r) {
      for (auto& c : cases) {
        const long txns = c.txns * (r + 1) / rounds - c.txns * r / rounds;
        const auto start = std::chrono::steady_clock::now();
        for (long i = 0; i < txns; ++i) Transaction(c.body);
        c.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    std::printf("%-40s %9s %9s %11s %8s\n", "case", "events", "seconds", "us/event", "vs (a)");
    const double base = cases.front().seconds * 1e6 / static_cast<double>(cases.front().txns);
    for (const auto& c : cases) {
      const double us = c.seconds * 1e6 / static_cast<double>(c.txns * c.events_per_tx);
      std::printf("%-40s %9ld %9.3f %11.2f %8.2f\n", c.name, c.txns * c.events_per_tx, c.seconds, us, us / base);
    }
  }

  void Order(pqxx::work& tx) {
    const std::string id = sdk::NewEventId();
    ++counter_;
    tx.exec_prepared0("bench_order", id, "customer-" + std::to_string(counter_ % 1000), counter_ % 9900);
    last_order_ = id;
  }

  /// The OrderCreated event of the last order written (or of a new id before the first).
  sdk::Event Event() const {
    sdk::Event e;
    e.aggregate_type = "order";
    e.aggregate_id = last_order_.empty() ? sdk::NewEventId() : last_order_;
    e.event_type = "OrderCreated";
    e.payload = "{\"order_id\":\"" + last_order_ +
                "\",\"customer\":\"customer-17\",\"lines\":[{\"sku\":\"A-1\",\"qty\":2,\"price_cents\":1250}],"
                "\"total_cents\":2500,\"currency\":\"EUR\"}";
    e.headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    return e;
  }

  const sdk::Outbox& outbox() const { return outbox_; }

 private:
  void Transaction(const std::function<void(pqxx::work&)>& body) {
    pqxx::work tx(conn_);
    body(tx);
    tx.commit();
  }

  pqxx::connection& conn_;
  sdk::Outbox outbox_;
  std::string table_;
  std::string last_order_;
  long counter_ = 0;
};

void Run(const Args& args, pqxx::connection& conn, const std::string& schema) {
  sdk::Migrate(conn, schema);
  if (!args.synchronous_commit.empty())
    pqxx::nontransaction(conn).exec("SET synchronous_commit TO " + args.synchronous_commit);
  {
    pqxx::work tx(conn);
    tx.exec("CREATE TABLE " + sdk::QuoteIdentifier(schema) +
            ".orders (id uuid PRIMARY KEY, customer text NOT NULL, total_cents bigint NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())");
    std::printf("sdk-bench: %s, synchronous_commit=%s, one connection\n",
                tx.exec1("SELECT split_part(version(), ' ', 2)")[0].c_str(),
                tx.exec1("SHOW synchronous_commit")[0].c_str());
    tx.commit();
  }
  Bench b(conn, schema);
  std::vector<sdk::Event> thousand(1000, b.Event());
  for (auto& e : thousand) e.aggregate_id = sdk::NewEventId();
  std::vector<Bench::Case> cases;
  cases.push_back({"(a) business row alone", args.n, 1, [&](pqxx::work& tx) { b.Order(tx); }});
  cases.push_back({"(b) business row + Enqueue", args.n, 1, [&](pqxx::work& tx) {
                     b.Order(tx);
                     b.outbox().Enqueue(tx, b.Event());
                   }});
  cases.push_back({"(c) business row + EnqueueBatch(10)", std::max(args.n / 10, 1L), 10, [&](pqxx::work& tx) {
                     b.Order(tx);
                     b.outbox().EnqueueBatch(tx, std::vector<sdk::Event>(10, b.Event()));
                   }});
  cases.push_back({"(d) EnqueueBatch(1000)", std::max(args.batch_events / 1000, 1L), 1000,
                   [&](pqxx::work& tx) { b.outbox().EnqueueBatch(tx, thousand); }});
  b.Measure(cases, 10);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sdk-bench: %s; see --help\n", e.what());
    return 2;
  }
  const std::string schema = "sdk_bench_" + std::to_string(getpid());
  try {
    pqxx::connection conn(args.dsn);
    try {
      Run(args, conn, schema);
    } catch (...) {
      pqxx::nontransaction(conn).exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
      throw;
    }
    pqxx::nontransaction(conn).exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    return 0;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::fprintf(stderr, "sdk-bench: %s\n", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
