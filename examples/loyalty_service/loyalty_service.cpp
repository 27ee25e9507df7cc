// loyalty-service: credits loyalty points once per OrderCreated event. The
// point update and the inbox row commit in one transaction, so a replayed or
// redelivered event is skipped, never credited twice.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "outbox/consumer.hpp"
#include "outbox/migrations.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Args {
  outbox::sdk::ConsumerOptions consumer;
  long max_records = 0;   // 0 = unlimited
  long idle_exit_ms = 0;  // 0 = run until a signal
};

const char* kUsage =
    "usage: loyalty-service --dsn DSN --brokers HOST:PORT [--schema outbox] [--group loyalty-service]\n"
    "                       [--topic outbox.event.order] [--max-records N] [--idle-exit-ms MS] [--max-attempts N]\n";

[[noreturn]] void Die(std::string message) {
  while (!message.empty() && message.back() == '\n') message.pop_back();  // libpqxx ends messages with one
  std::fprintf(stderr, "loyalty-service: %s\n", message.c_str());
  std::exit(2);
}

long ToLong(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < 0) Die(flag + ": '" + value + "' is not a non-negative integer");
  return v;
}

Args Parse(int argc, char** argv) {
  Args a;
  a.consumer.group_id = "loyalty-service";
  a.consumer.consumer_name = "loyalty-service";
  a.consumer.topics = {"outbox.event.order"};
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) Die("unexpected argument '" + flag + "'\n" + kUsage);
    flags[flag] = argv[++i];
  }
  for (const auto& [flag, value] : flags) {
    if (flag == "--dsn")
      a.consumer.pg_dsn = value;
    else if (flag == "--brokers")
      a.consumer.brokers = value;
    else if (flag == "--schema")
      a.consumer.schema = value;
    else if (flag == "--group")
      a.consumer.group_id = value;
    else if (flag == "--topic")
      a.consumer.topics = {value};
    else if (flag == "--max-records")
      a.max_records = ToLong(flag, value);
    else if (flag == "--idle-exit-ms")
      a.idle_exit_ms = ToLong(flag, value);
    else if (flag == "--max-attempts")
      a.consumer.max_attempts = static_cast<int>(ToLong(flag, value));
    else
      Die("unknown option " + flag + "\n" + kUsage);
  }
  if (a.consumer.pg_dsn.empty()) Die("--dsn is required (libpq connection string)");
  if (a.consumer.brokers.empty()) Die("--brokers is required (Kafka bootstrap servers)");
  return a;
}

// 1 point per currency unit: "total" (units) or "total_cents" (as order-service
// writes it); 10 points when the order carries neither.
long long PointsFor(const nlohmann::json& order) {
  if (order.contains("total") && order["total"].is_number()) return order["total"].get<long long>();
  if (order.contains("total_cents") && order["total_cents"].is_number()) {
    return order["total_cents"].get<long long>() / 100;
  }
  return 10;
}

std::string CustomerOf(const nlohmann::json& order, const std::string& aggregate_id) {
  for (const char* field : {"customer_id", "customer"}) {
    if (order.contains(field) && order[field].is_string()) return order[field].get<std::string>();
  }
  return aggregate_id;  // no customer in the event: credit the order aggregate itself
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  try {
    outbox::sdk::ValidateOptions(args.consumer);
    const std::string table = outbox::sdk::QuoteIdentifier(args.consumer.schema, "--schema") + ".loyalty_points";
    {
      pqxx::connection conn(args.consumer.pg_dsn);
      outbox::sdk::Migrate(conn, args.consumer.schema);  // includes the inbox table
      pqxx::work tx(conn);
      tx.exec("CREATE TABLE IF NOT EXISTS " + table +
              " (customer_id text PRIMARY KEY, points bigint NOT NULL, orders int NOT NULL,"
              "  updated_at timestamptz NOT NULL DEFAULT now())");
      tx.commit();
    }
    auto credit = [&table](pqxx::work& tx, const outbox::sdk::Record& r) {
      if (r.event_type() != "OrderCreated") return;  // recorded in the inbox, nothing to credit
      // A payload that is not JSON throws: retried, then dead-lettered.
      const nlohmann::json order = nlohmann::json::parse(r.value);
      tx.exec_params("INSERT INTO " + table +
                         " AS p (customer_id, points, orders) VALUES ($1, $2, 1) "
                         "ON CONFLICT (customer_id) DO UPDATE SET points = p.points + EXCLUDED.points, "
                         "orders = p.orders + 1, updated_at = now()",
                     CustomerOf(order, r.key), PointsFor(order));
    };
    outbox::sdk::IdempotentConsumer consumer(args.consumer, credit);
    consumer.PurgeInbox();

    long handled = 0;
    auto last_record = std::chrono::steady_clock::now();
    while (!g_stop && (args.max_records == 0 || handled < args.max_records)) {
      if (consumer.PollOnce(std::chrono::milliseconds(200))) {
        ++handled;
        last_record = std::chrono::steady_clock::now();
      } else if (args.idle_exit_ms > 0 &&
                 std::chrono::steady_clock::now() - last_record >= std::chrono::milliseconds(args.idle_exit_ms)) {
        break;
      }
    }
    consumer.Close();

    const outbox::sdk::Stats s = consumer.stats();
    pqxx::connection conn(args.consumer.pg_dsn);
    pqxx::nontransaction tx(conn);
    const auto totals = tx.exec1("SELECT count(*), coalesce(sum(points), 0), coalesce(sum(orders), 0) FROM " + table);
    std::printf(
        "loyalty-service: handled=%ld processed=%llu duplicates=%llu retries=%llu dead_lettered=%llu "
        "dedup_hit_rate=%.2f mean_ms=%.3f | table: customers=%lld points=%lld orders=%lld\n",
        handled, static_cast<unsigned long long>(s.processed), static_cast<unsigned long long>(s.duplicates),
        static_cast<unsigned long long>(s.retries), static_cast<unsigned long long>(s.dead_lettered), s.DedupHitRate(),
        std::chrono::duration<double, std::milli>(s.MeanProcessingTime()).count(), totals[0].as<long long>(),
        totals[1].as<long long>(), totals[2].as<long long>());
    return 0;
  } catch (const std::exception& e) {
    Die(e.what());
  }
}
