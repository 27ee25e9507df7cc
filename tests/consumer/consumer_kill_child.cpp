// consumer-kill-child: a consumer process for ConsumerKill, which SIGKILLs it
// at random moments during its batches.
//   consumer-kill-child DSN BROKERS TOPIC SCHEMA GROUP STORE_OFFSETS(0|1) IDLE_EXIT_MS(0 = never)
// Applies each record as an increment of <schema>.effects(event_id), so a
// doubled or lost application shows in the table. Static group membership
// lets the next process take over the killed one's partitions at once.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <pqxx/pqxx>

#include "outbox/consumer.hpp"

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: consumer-kill-child DSN BROKERS TOPIC SCHEMA GROUP STORE_OFFSETS IDLE_EXIT_MS\n");
    return 2;
  }
  namespace sdk = outbox::sdk;
  sdk::ConsumerOptions o;
  o.pg_dsn = argv[1];
  o.brokers = argv[2];
  o.topics = {argv[3]};
  o.schema = argv[4];
  o.group_id = argv[5];
  o.consumer_name = "loyalty";
  o.store_offsets_in_postgres = std::string(argv[6]) == "1";
  const long idle_exit_ms = std::strtol(argv[7], nullptr, 10);
  o.max_batch_size = 50;
  o.max_batch_wait = std::chrono::milliseconds(20);
  o.async_commit = true;
  o.backoff_initial = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(50);
  o.kafka_properties = {{"group.instance.id", "kill-child"},
                        {"session.timeout.ms", "6000"},
                        {"heartbeat.interval.ms", "300"},
                        {"topic.metadata.refresh.interval.ms", "1000"}};
  const std::string table = "\"" + o.schema + "\".effects";
  try {
    sdk::IdempotentConsumer consumer(o, [&table](pqxx::work& tx, const sdk::Record& r) {
      tx.exec_params("INSERT INTO " + table +
                         " (event_id, applied) VALUES ($1, 1) "
                         "ON CONFLICT (event_id) DO UPDATE SET applied = effects.applied + 1",
                     r.event_id());
      std::this_thread::sleep_for(std::chrono::microseconds(500));  // batches take a while: kills land inside
    });
    auto last = std::chrono::steady_clock::now();
    for (;;) {
      if (consumer.PollBatch(std::chrono::milliseconds(100)) > 0) {
        last = std::chrono::steady_clock::now();
      } else if (idle_exit_ms > 0 &&
                 std::chrono::steady_clock::now() - last > std::chrono::milliseconds(idle_exit_ms)) {
        break;
      }
    }
    consumer.Close();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer-kill-child: %s\n", e.what());
    return 1;
  }
}
