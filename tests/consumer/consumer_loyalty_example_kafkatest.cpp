// The loyalty-service example end to end: every OrderCreated is credited once,
// and a replay of the topic from offset 0 (a fresh group) credits nothing more.
#include <array>
#include <cstdio>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "consumer_test_util.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

std::string RunLoyaltyService(const std::string& schema, const std::string& topic, const std::string& group) {
  const char* bin_dir = std::getenv("OUTBOX_BIN_DIR");
  if (bin_dir == nullptr) throw std::runtime_error("OUTBOX_BIN_DIR is not set; run through ctest");
  const std::string cmd = "timeout 120 " + std::string(bin_dir) + "/examples/loyalty_service/loyalty-service --dsn '" +
                          PgDsn() + "' --brokers " + KafkaBrokers() + " --schema " + schema + " --topic " + topic +
                          " --group " + group + " --max-records 4 --idle-exit-ms 20000 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("cannot run " + cmd);
  std::string out;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  EXPECT_EQ(pclose(p), 0) << out;
  return out;
}

}  // namespace

TEST(ConsumerLoyaltyExample, CreditsPointsOncePerOrderCreatedAcrossAReplay) {
  ScopedSchema schema("loyal");
  const std::string topic = UniqueName("loyal_orders");
  CreateTopic(topic, 2);
  Produce(topic, {EventRecord("e1", "order-1", "OrderCreated", R"({"customer":"alice","total_cents":1999})"),
                  EventRecord("e2", "order-2", "OrderCreated", R"({"customer_id":"alice","total":25})"),
                  EventRecord("e3", "order-3", "OrderCreated", "{}"),
                  EventRecord("e4", "order-1", "OrderShipped", R"({"customer":"alice"})")});

  const std::string first = RunLoyaltyService(schema.name(), topic, UniqueName("loyalty"));
  EXPECT_NE(first.find("processed=4 duplicates=0"), std::string::npos) << first;
  const std::string replay = RunLoyaltyService(schema.name(), topic, UniqueName("loyalty"));
  EXPECT_NE(replay.find("processed=0 duplicates=4"), std::string::npos) << replay;

  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  std::map<std::string, std::pair<long long, int>> points;
  for (const auto& row : tx.exec("SELECT customer_id, points, orders FROM \"" + schema.name() + "\".loyalty_points")) {
    points[row[0].as<std::string>()] = {row[1].as<long long>(), row[2].as<int>()};
  }
  const std::map<std::string, std::pair<long long, int>> expected = {{"alice", {19 + 25, 2}}, {"order-3", {10, 1}}};
  EXPECT_EQ(points, expected);
}

}  // namespace outbox::test
