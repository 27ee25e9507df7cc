// order-service: writes orders and their OrderCreated events, the business row
// and its event in one transaction, from several connections at once.
//
//   order-service --dsn DSN [--schema outbox] [--orders N] [--connections C] [--events-per-tx K]
//                 [--updates-per-order M]
//
// Each transaction inserts K orders and then enqueues their K events: the
// INSERT that creates (and locks) the order row comes first, as the SDK's
// contract asks. With M > 0, each connection then walks the orders it created
// round-robin, M times, and updates one order per transaction: the UPDATE that
// bumps its version (and locks its row) first, then its OrderUpdated event. So
// the commits of different orders interleave across connections while each
// order's events keep their commit order in seq (versions 0, 1, ..., M).
// Transient failures (connection lost, Postgres restarting, serialization
// failures) are retried; a commit whose outcome was unknown is detected (by the
// order id, or by the order's version) and never written twice.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "outbox/migrations.hpp"
#include "outbox/outbox.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace sdk = outbox::sdk;

struct Args {
  std::string dsn;
  std::string schema = "outbox";
  long orders = 1000;
  long connections = 4;
  long events_per_tx = 1;
  long updates_per_order = 0;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr const char* kUsage =
    "usage: order-service --dsn DSN [--schema outbox] [--orders N] [--connections C] [--events-per-tx K] "
    "[--updates-per-order M]";

long ParseCount(const std::string& flag, const std::string& text, long min, long max) {
  size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || value < min || value > max) {
    throw UsageError(flag + ": expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                     ", got '" + text + "'");
  }
  return value;
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  if (const char* env = std::getenv("OUTBOX_PG_DSN")) a.dsn = env;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::puts(kUsage);
      std::exit(0);
    }
    long* count = flag == "--orders"              ? &a.orders
                  : flag == "--connections"       ? &a.connections
                  : flag == "--events-per-tx"     ? &a.events_per_tx
                  : flag == "--updates-per-order" ? &a.updates_per_order
                                                  : nullptr;
    if (count == nullptr && flag != "--dsn" && flag != "--schema") throw UsageError("unknown argument '" + flag + "'");
    if (i + 1 >= argc) throw UsageError(flag + ": missing value");
    const std::string value = argv[++i];
    if (flag == "--dsn") {
      a.dsn = value;
    } else if (flag == "--schema") {
      a.schema = value;
    } else {
      const bool updates = flag == "--updates-per-order";
      *count = ParseCount(flag, value, updates ? 0 : 1,
                          flag == "--orders"        ? 100000000
                          : flag == "--connections" ? 256
                                                    : 10000);
    }
  }
  if (a.dsn.empty()) throw UsageError("--dsn: required (or set OUTBOX_PG_DSN)");
  sdk::QuoteIdentifier(a.schema, "--schema");  // throws InvalidIdentifier, reported as a usage error
  return a;
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// Worth retrying with a fresh connection: the server went away or is restarting.
bool Transient(const pqxx::failure& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) || dynamic_cast<const pqxx::in_doubt_error*>(&e) ||
      dynamic_cast<const pqxx::transaction_rollback*>(&e)) {
    return true;
  }
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  return sql != nullptr && (sql->sqlstate().rfind("08", 0) == 0 || sql->sqlstate().rfind("57", 0) == 0);
}

class OrderWriter {
 public:
  OrderWriter(const Args& args, const sdk::Outbox& outbox)
      : args_(args), outbox_(outbox), orders_table_(sdk::QuoteIdentifier(args.schema) + ".orders") {}

  /// Writes orders until `next` passes args.orders, then updates each order it wrote
  /// args.updates_per_order times, round-robin. Counts what it committed as it goes.
  void Run(std::atomic<long>& next, const std::atomic<bool>& stop, std::atomic<long>& orders,
           std::atomic<long>& updates) {
    std::vector<std::string> mine;
    while (!stop) {
      const long first = next.fetch_add(args_.events_per_tx);
      if (first >= args_.orders) break;
      const long count = std::min(args_.events_per_tx, args_.orders - first);
      std::vector<Order> batch;
      for (long i = 0; i < count; ++i) batch.push_back(NewOrder(first + i));
      WithRetry([&](pqxx::work& tx, bool retrying) {
        // The last commit may have landed before the connection broke.
        if (retrying &&
            !tx.exec_params(Sql("SELECT 1 FROM @ WHERE id = $1::uuid"), batch.front().event.aggregate_id).empty()) {
          return false;
        }
        Insert(tx, batch);
        return true;
      });
      for (const auto& o : batch) mine.push_back(o.event.aggregate_id);
      orders += count;
    }
    for (long version = 1; version <= args_.updates_per_order; ++version) {
      for (const auto& id : mine) {
        if (stop) return;
        WithRetry([&](pqxx::work& tx, bool retrying) {
          if (retrying &&
              tx.exec_params1(Sql("SELECT version FROM @ WHERE id = $1::uuid"), id)[0].as<long>() >= version) {
            return false;
          }
          Update(tx, id);
          return true;
        });
        ++updates;
      }
    }
  }

 private:
  struct Order {
    std::string customer;
    long total_cents;
    sdk::Event event;
  };

  static Order NewOrder(long n) {
    Order o{"customer-" + std::to_string(n % 1000), 100 + n % 9900, {}};
    sdk::Event& e = o.event;
    e.aggregate_type = "order";
    e.aggregate_id = sdk::NewEventId();  // the order id: a UUIDv7 too
    e.event_type = "OrderCreated";
    e.payload = "{\"order_id\":\"" + e.aggregate_id + "\",\"customer\":\"" + o.customer +
                "\",\"total_cents\":" + std::to_string(o.total_cents) + ",\"currency\":\"EUR\",\"version\":0}";
    return o;
  }

  std::string Sql(const std::string& text) const {
    const auto at = text.find('@');
    return text.substr(0, at) + orders_table_ + text.substr(at + 1);
  }

  void Insert(pqxx::work& tx, const std::vector<Order>& orders) {
    tx.conn().prepare("insert_order", Sql("INSERT INTO @ (id, customer, total_cents, status) "
                                          "VALUES ($1::uuid, $2, $3, 'created')"));
    std::vector<sdk::Event> events;
    for (const auto& o : orders) {  // the business write comes first: it creates and locks the aggregate
      tx.exec_prepared0("insert_order", o.event.aggregate_id, o.customer, o.total_cents);
      events.push_back(o.event);
    }
    if (events.size() == 1) {
      outbox_.Enqueue(tx, events.front());
    } else {
      outbox_.EnqueueBatch(tx, events);
    }
  }

  void Update(pqxx::work& tx, const std::string& id) {
    // The UPDATE locks the order's row until commit: a second transaction on this
    // order waits here, before it takes its seq, so seq order is its commit order.
    const pqxx::row r =
        tx.exec_params1(Sql("UPDATE @ SET status = (ARRAY['paid', 'packed', 'shipped', 'delivered'])[version % 4 + 1], "
                            "version = version + 1 WHERE id = $1::uuid RETURNING version, status"),
                        id);
    outbox_.Enqueue(tx, sdk::Event{"order", id, "OrderUpdated",
                                   "{\"order_id\":\"" + id + "\",\"version\":" + r[0].as<std::string>() +
                                       ",\"status\":\"" + r[1].as<std::string>() + "\"}"});
  }

  // Runs `write` in a fresh transaction and commits when it returns true. After a
  // failure, `retrying` is true: the last commit's outcome may be unknown, so
  // `write` checks whether it landed and then returns false.
  template <typename Write>
  void WithRetry(Write&& write) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (int attempt = 0;; ++attempt) {
      try {
        if (!conn_) conn_ = std::make_unique<pqxx::connection>(args_.dsn);
        pqxx::work tx(*conn_);
        if (write(tx, attempt > 0)) tx.commit();
        return;
      } catch (const pqxx::failure& e) {
        if (!Transient(e) || Clock::now() > deadline) throw;
        if (!dynamic_cast<const pqxx::transaction_rollback*>(&e)) conn_.reset();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 << std::min(attempt, 5), 1000)));
    }
  }

  const Args& args_;
  const sdk::Outbox& outbox_;
  const std::string orders_table_;
  std::unique_ptr<pqxx::connection> conn_;
};

void Setup(const Args& args) {
  pqxx::connection conn(args.dsn);
  sdk::Migrate(conn, args.schema);
  pqxx::work tx(conn);
  // Several services may start at once; CREATE TABLE IF NOT EXISTS alone can race.
  tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "order-service:" + args.schema);
  tx.exec("CREATE TABLE IF NOT EXISTS " + sdk::QuoteIdentifier(args.schema) +
          ".orders (id uuid PRIMARY KEY, customer text NOT NULL, total_cents bigint NOT NULL, "
          "created_at timestamptz NOT NULL DEFAULT now())");
  // Tables created by an older version of this example lack these columns. ALTER TABLE
  // takes an exclusive lock even when there is nothing to add, so look first.
  const std::string orders = sdk::QuoteIdentifier(args.schema) + ".orders";
  if (tx.exec_params1("SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) "
                      "AND attname IN ('version', 'status') AND NOT attisdropped",
                      orders)[0]
          .as<int>() < 2) {
    tx.exec("ALTER TABLE " + orders +
            " ADD COLUMN IF NOT EXISTS version int NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS status text");
  }
  tx.commit();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "order-service: %s; see --help\n", e.what());
    return 2;
  }
  try {
    Setup(args);
    const sdk::Outbox outbox(sdk::OutboxOptions{args.schema});
    std::atomic<long> next{0};
    std::atomic<long> written{0};
    std::atomic<long> updated{0};
    std::atomic<bool> stop{false};
    std::mutex error_mutex;
    std::string error;
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (long t = 0; t < args.connections; ++t) {
      threads.emplace_back([&] {
        try {
          OrderWriter writer(args, outbox);
          writer.Run(next, stop, written, updated);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (error.empty()) error = FirstLine(e.what());
          stop = true;
        }
      });
    }
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!error.empty()) {
      std::fprintf(stderr, "order-service: failed after %ld orders and %ld updates: %s\n", written.load(),
                   updated.load(), error.c_str());
      return 1;
    }
    const long events = written.load() + updated.load();
    std::printf(
        "order-service: wrote %ld orders (%ld OrderCreated events) in %.3f s from %ld connections, "
        "%ld per transaction: %.0f orders/s; %ld events written (%ld OrderUpdated): %.0f events/s\n",
        written.load(), written.load(), seconds, args.connections, args.events_per_tx, written.load() / seconds, events,
        updated.load(), events / seconds);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "order-service: %s\n", FirstLine(e.what()).c_str());
    return 1;
  }
}
