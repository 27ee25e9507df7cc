// The loyalty-service example end to end: every OrderCreated is credited once,
// and a replay of the topic from offset 0 (a fresh group) credits nothing more.
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <pqxx/pqxx>

#include "consumer_test_util.hpp"
#include "test_env.hpp"

namespace outbox::test {
namespace {

extern "C" char** environ;

std::string Binary() {
  const char* bin_dir = std::getenv("OUTBOX_BIN_DIR");
  if (bin_dir == nullptr) throw std::runtime_error("OUTBOX_BIN_DIR is not set; run through ctest");
  return std::string(bin_dir) + "/examples/loyalty_service/loyalty-service";
}

// Runs a short command of the service; returns (exit code, output).
std::pair<int, std::string> RunCommand(const std::string& args) {
  FILE* p = popen(("timeout 60 " + Binary() + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) throw std::runtime_error("cannot run loyalty-service");
  std::string out;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// The value of the first sample of `metric` whose labels contain `labels`, or -1.
double Metric(const std::string& text, const std::string& metric, const std::string& labels = "") {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(metric + "{", 0) != 0 || line.find(labels) == std::string::npos) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

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

TEST(ConsumerLoyaltyExample, ServesMetricsAndReleasesADeadLetterFromTheCommandLine) {
  ScopedSchema schema("loyal");
  const std::string topic = UniqueName("loyal_dlq");
  CreateTopic(topic, 1);
  CreateTopic(topic + ".dlq", 1);
  Produce(topic, {EventRecord("m1", "order-1", "OrderCreated", R"({"customer":"bob","total":5})"),
                  EventRecord("m2", "order-9", "OrderCreated", "not json"),
                  EventRecord("m3", "order-9", "OrderCreated", R"({"customer":"carol","total":7})")});
  const int port = FreePort();
  const std::string base = "--dsn '" + PgDsn() + "' --schema " + schema.name();
  const std::vector<std::string> args = {Binary(),
                                         "--dsn",
                                         PgDsn(),
                                         "--schema",
                                         schema.name(),
                                         "--brokers",
                                         KafkaBrokers(),
                                         "--topic",
                                         topic,
                                         "--group",
                                         UniqueName("loyalty"),
                                         "--max-attempts",
                                         "1",
                                         "--metrics-listen",
                                         "127.0.0.1:" + std::to_string(port)};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  httplib::Client http("127.0.0.1", port);
  auto scrape_until = [&](const std::function<bool(const std::string&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string text;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto res = http.Get("/metrics"); res && res->status == 200) {
        text = res->body;
        if (done(text)) return text;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "metrics never got there; last scrape:\n" << text;
    return text;
  };
  std::string text = scrape_until([](const std::string& t) {
    return Metric(t, "outbox_consumer_records_total", "outcome=\"dead_lettered\"") == 1 &&
           Metric(t, "outbox_consumer_dead_letter_depth") == 1;
  });
  EXPECT_EQ(Metric(text, "outbox_consumer_records_total", "outcome=\"processed\""), 1);
  EXPECT_EQ(Metric(text, "outbox_consumer_held_records_total"), 1);
  EXPECT_EQ(Metric(text, "outbox_consumer_parked_records"), 2);  // the dead letter and m3 behind it
  EXPECT_EQ(Metric(text, "outbox_consumer_lag_records", "partition=\"0\""), 0);
  EXPECT_NE(text.find("outbox_consumer_processing_seconds_bucket{consumer=\"loyalty-service\",le=\"+Inf\"}"),
            std::string::npos);

  const auto [list_code, list] = RunCommand(base + " dlq list");
  EXPECT_EQ(list_code, 0) << list;
  // "<id> <topic>[0]@1 key=order-9 event_id=m2 attempts=1 held_behind=1 error=..."
  const size_t line_end = list.find('\n');
  const std::string line = list.substr(0, line_end);
  const std::string id = line.substr(0, line.find(' '));
  ASSERT_FALSE(id.empty()) << list;
  EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << list;
  EXPECT_NE(line.find("[0]@1 key=order-9 event_id=m2 attempts=1 held_behind=1 error="), std::string::npos) << list;
  EXPECT_EQ(RunCommand(base + " dlq skip 999999").first, 1);
  const auto [skip_code, skip] = RunCommand(base + " dlq skip " + id);
  EXPECT_EQ(skip_code, 0) << skip;
  text = scrape_until([](const std::string& t) {
    return Metric(t, "outbox_consumer_records_total", "outcome=\"processed\"") == 2 &&
           Metric(t, "outbox_consumer_dead_letter_depth") == 0;
  });
  EXPECT_EQ(Metric(text, "outbox_consumer_skipped_dead_letters_total"), 1);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const auto [after_code, after] = RunCommand(base + " dlq list");
  EXPECT_NE(after.find("0 dead letter(s)"), std::string::npos) << after;

  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec1("SELECT string_agg(customer_id || ':' || points, ',' ORDER BY customer_id) FROM \"" +
                     schema.name() + "\".loyalty_points")[0]
                .as<std::string>(),
            "bob:5,carol:7");
}

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
