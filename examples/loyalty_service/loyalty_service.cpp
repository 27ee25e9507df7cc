// loyalty-service: credits loyalty points once per OrderCreated event. The
// point update and the inbox row commit in one transaction, so a replayed or
// redelivered event is skipped, never credited twice. Records are applied in
// batches (one transaction each); /metrics serves the consumer's counters.
//
//   loyalty-service --dsn DSN --brokers HOST:PORT [options]    consume
//   loyalty-service --dsn DSN dlq list                         dead letters of this consumer
//   loyalty-service --dsn DSN dlq retry ID | dlq skip ID       release one (the running service applies it)
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "outbox/consumer.hpp"
#include "outbox/consumer_dead_letters.hpp"
#include "outbox/consumer_metrics.hpp"
#include "outbox/migrations.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Args {
  outbox::sdk::ConsumerOptions consumer;
  long max_records = 0;   // 0 = unlimited
  long idle_exit_ms = 0;  // 0 = run until a signal
  std::string metrics_listen;
  std::vector<std::string> command;  // e.g. {"dlq", "retry", "42"}
};

const char* kUsage =
    "usage: loyalty-service --dsn DSN --brokers HOST:PORT [--schema outbox] [--group loyalty-service]\n"
    "                       [--topic outbox.event.order] [--max-records N] [--idle-exit-ms MS] [--max-attempts N]\n"
    "                       [--batch-size 500] [--batch-wait-ms 10] [--metrics-listen HOST:PORT]\n"
    "       loyalty-service --dsn DSN [--schema outbox] dlq list | dlq retry ID | dlq skip ID\n";

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
  a.consumer.max_batch_size = 500;
  a.consumer.max_batch_wait = std::chrono::milliseconds(10);
  a.consumer.async_commit = true;
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      a.command.push_back(arg);
      continue;
    }
    if (i + 1 >= argc) Die("option " + arg + " needs a value\n" + kUsage);
    flags[arg] = argv[++i];
  }
  for (const auto& [flag, value] : flags) {
    if (flag == "--dsn") {
      a.consumer.pg_dsn = value;
    } else if (flag == "--brokers") {
      a.consumer.brokers = value;
    } else if (flag == "--schema") {
      a.consumer.schema = value;
    } else if (flag == "--group") {
      a.consumer.group_id = value;
    } else if (flag == "--topic") {
      a.consumer.topics = {value};
    } else if (flag == "--max-records") {
      a.max_records = ToLong(flag, value);
    } else if (flag == "--idle-exit-ms") {
      a.idle_exit_ms = ToLong(flag, value);
    } else if (flag == "--max-attempts") {
      a.consumer.max_attempts = static_cast<int>(ToLong(flag, value));
    } else if (flag == "--batch-size") {
      a.consumer.max_batch_size = static_cast<int>(ToLong(flag, value));
    } else if (flag == "--batch-wait-ms") {
      a.consumer.max_batch_wait = std::chrono::milliseconds(ToLong(flag, value));
    } else if (flag == "--metrics-listen") {
      a.metrics_listen = value;
    } else {
      Die("unknown option " + flag + "\n" + kUsage);
    }
  }
  if (a.consumer.pg_dsn.empty()) Die("--dsn is required (libpq connection string)");
  if (a.command.empty() && a.consumer.brokers.empty()) Die("--brokers is required (Kafka bootstrap servers)");
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

// dlq list | dlq retry ID | dlq skip ID
int DeadLetterCommand(const Args& args) {
  namespace sdk = outbox::sdk;
  const auto& cmd = args.command;
  pqxx::connection conn(args.consumer.pg_dsn);
  const std::string& schema = args.consumer.schema;
  const std::string& consumer = args.consumer.consumer_name;
  if (cmd.size() == 2 && cmd[0] == "dlq" && cmd[1] == "list") {
    const auto dead = sdk::ListDeadLetters(conn, schema, consumer);
    for (const auto& d : dead) {
      std::printf("%lld %s[%d]@%lld key=%s event_id=%s attempts=%d held_behind=%lld%s error=%s\n",
                  static_cast<long long>(d.id), d.topic.c_str(), d.partition, static_cast<long long>(d.offset),
                  d.key_is_null ? "(null)" : d.key.c_str(), d.event_id.c_str(), d.attempts,
                  static_cast<long long>(d.held_behind), d.release.empty() ? "" : (" release=" + d.release).c_str(),
                  d.error.c_str());
    }
    std::printf("loyalty-service: %zu dead letter(s)\n", dead.size());
    return 0;
  }
  if (cmd.size() == 3 && cmd[0] == "dlq" && (cmd[1] == "retry" || cmd[1] == "skip")) {
    const long id = ToLong("dlq " + cmd[1], cmd[2]);
    const auto action = cmd[1] == "retry" ? sdk::ReleaseAction::kRetry : sdk::ReleaseAction::kSkip;
    if (!sdk::ReleaseDeadLetter(conn, schema, consumer, id, action)) {
      std::fprintf(stderr, "loyalty-service: %ld is not a dead letter of %s; see dlq list\n", id, consumer.c_str());
      return 1;
    }
    std::printf("loyalty-service: dead letter %ld marked for %s; the consumer owning its partition applies it\n", id,
                cmd[1].c_str());
    return 0;
  }
  Die("unknown command; " + std::string(kUsage));
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  try {
    if (!args.command.empty()) return DeadLetterCommand(args);
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

    httplib::Server metrics;
    std::thread metrics_thread;
    if (!args.metrics_listen.empty()) {
      const size_t colon = args.metrics_listen.rfind(':');
      if (colon == std::string::npos) Die("--metrics-listen: expected HOST:PORT");
      const std::string host = args.metrics_listen.substr(0, colon);
      const int port = static_cast<int>(ToLong("--metrics-listen port", args.metrics_listen.substr(colon + 1)));
      metrics.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(outbox::sdk::PrometheusText(consumer.stats(), args.consumer.consumer_name),
                        outbox::sdk::kPrometheusContentType);
      });
      if (!metrics.bind_to_port(host, port)) Die("--metrics-listen: cannot listen on " + args.metrics_listen);
      metrics_thread = std::thread([&metrics] { metrics.listen_after_bind(); });
    }

    long handled = 0;
    auto last_record = std::chrono::steady_clock::now();
    while (!g_stop && (args.max_records == 0 || handled < args.max_records)) {
      if (const size_t n = consumer.PollBatch(std::chrono::milliseconds(200)); n > 0) {
        handled += static_cast<long>(n);
        last_record = std::chrono::steady_clock::now();
      } else if (args.idle_exit_ms > 0 &&
                 std::chrono::steady_clock::now() - last_record >= std::chrono::milliseconds(args.idle_exit_ms)) {
        break;
      }
    }
    consumer.Close();
    if (metrics_thread.joinable()) {
      metrics.stop();
      metrics_thread.join();
    }

    const outbox::sdk::Stats s = consumer.stats();
    pqxx::connection conn(args.consumer.pg_dsn);
    pqxx::nontransaction tx(conn);
    const auto totals = tx.exec1("SELECT count(*), coalesce(sum(points), 0), coalesce(sum(orders), 0) FROM " + table);
    std::printf(
        "loyalty-service: handled=%ld processed=%llu duplicates=%llu retries=%llu dead_lettered=%llu "
        "dedup_hit_rate=%.2f mean_ms=%.3f mean_batch=%.1f | table: customers=%lld points=%lld orders=%lld\n",
        handled, static_cast<unsigned long long>(s.processed), static_cast<unsigned long long>(s.duplicates),
        static_cast<unsigned long long>(s.retries), static_cast<unsigned long long>(s.dead_lettered), s.DedupHitRate(),
        std::chrono::duration<double, std::milli>(s.MeanProcessingTime()).count(), s.MeanBatchSize(),
        totals[0].as<long long>(), totals[1].as<long long>(), totals[2].as<long long>());
    return 0;
  } catch (const std::exception& e) {
    Die(e.what());
  }
}
