// Issue 16: a consumer process SIGKILLed at random moments during its batches,
// 30 times, loses no side effect and applies none twice. Each round produces
// more records, starts a consumer process (consumer-kill-child), waits until
// it is applying records and kills it a few milliseconds later. Half of the
// processes keep their offsets in Postgres. A last process drains the topic.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "consumer_test_util.hpp"
#include "test_env.hpp"

extern char** environ;

namespace outbox::test {
namespace {

constexpr int kKills = 30;
constexpr int kPerRound = 100;

int AppliedRows(const std::string& schema) {
  pqxx::connection c(PgDsn());
  pqxx::nontransaction tx(c);
  return tx.exec1("SELECT coalesce(sum(applied), 0) FROM \"" + schema + "\".effects")[0].as<int>();
}

pid_t Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

}  // namespace

TEST(ConsumerKill, ThirtySigkillsDuringBatchesApplyEachEffectExactlyOnce) {
  const char* bin_dir = std::getenv("OUTBOX_BIN_DIR");
  ASSERT_NE(bin_dir, nullptr) << "OUTBOX_BIN_DIR is not set; run through ctest";
  const std::string child = std::string(bin_dir) + "/tests/consumer/consumer-kill-child";
  ScopedSchema schema("cons");
  const std::string topic = UniqueName("cons_kill");
  const std::string group = UniqueName("group_kill");
  CreateTopic(topic, 3);
  CreateEffectsTable(schema.name());
  std::mt19937 rng(std::random_device{}());
  int produced = 0, kills_mid_batch = 0;
  for (int round = 0; round < kKills; ++round) {
    std::vector<OutRecord> records;
    for (int i = 0; i < kPerRound; ++i) {
      records.push_back(
          EventRecord("k" + std::to_string(round) + "-" + std::to_string(i), "order-" + std::to_string(i % 13)));
    }
    Produce(topic, records);
    produced += kPerRound;
    const int before = AppliedRows(schema.name());
    const pid_t pid = Spawn({child, PgDsn(), KafkaBrokers(), topic, schema.name(), group, round % 2 ? "1" : "0", "0"});
    ASSERT_GT(pid, 0) << "cannot start " << child;
    // Wait until it applies records, then kill it a moment later: mostly in the middle of a batch.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int now_applied = before;
    while ((now_applied = AppliedRows(schema.name())) == before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status)) << "round " << round << ": the consumer exited on its own, status " << status;
    ASSERT_GT(now_applied, before) << "round " << round << ": the consumer applied nothing in 30 s";
    if (AppliedRows(schema.name()) < produced) ++kills_mid_batch;
  }
  const pid_t last = Spawn({child, PgDsn(), KafkaBrokers(), topic, schema.name(), group, "1", "3000"});
  ASSERT_GT(last, 0);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (waitpid(last, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(last, SIGKILL);
      waitpid(last, &status, 0);
      FAIL() << "the last consumer did not drain the topic in 120 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  std::cout << "kills with records still to apply: " << kills_mid_batch << " of " << kKills << "\n";
  ExpectEachAppliedOnce(schema.name(), static_cast<size_t>(produced));
  EXPECT_EQ(InboxRows(schema.name(), "loyalty"), produced);
}

}  // namespace outbox::test
