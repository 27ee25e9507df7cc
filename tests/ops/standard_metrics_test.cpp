// The standard families on /metrics: process_* read from /proc/self (checked
// against what the kernel reports by other means and against changes the test
// makes), outbox_relay_build_info with the version and commit of this build,
// outbox_relay_ready and outbox_relay_active.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "http/build_info.hpp"
#include "http/process_metrics.hpp"
#include "http/prometheus.hpp"
#include "ops_util.hpp"
#include "pipeline/stats.hpp"

namespace outbox::relay {
namespace {

const double kTestStart = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

// A real /proc/<pid>/stat line; the command name holds spaces and parentheses.
constexpr const char* kStat =
    "4711 (outbox (relay) x) S 1 4711 4711 0 -1 4194560 2066 0 0 0 250 75 0 0 20 0 9 0 123456 "
    "1073741824 3000 18446744073709551615 1 1 0 0 0 0 0 4096 17642 0 0 0 17 1 0 0 0 0 0";

TEST(ProcessMetrics, ParsesStatFieldsCountedFromTheLastParenthesis) {
  const auto s = ParseProcStat(kStat, 100, 4096, 1700000000);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 3.25);  // (250 + 75) ticks / 100
  EXPECT_DOUBLE_EQ(s->virtual_bytes, 1073741824);
  EXPECT_DOUBLE_EQ(s->resident_bytes, 3000.0 * 4096);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1700000000 + 1234.56);
  EXPECT_FALSE(ParseProcStat("4711 (x) S 1 2 3", 100, 4096, 0)) << "too few fields";
  EXPECT_FALSE(ParseProcStat("no parenthesis", 100, 4096, 0));
  std::string bad = kStat;
  bad.replace(bad.find(" 250 "), 5, " 2x0 ");
  EXPECT_FALSE(ParseProcStat(bad, 100, 4096, 0)) << "a field that is no number";
  EXPECT_EQ(ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"), 1700000000.0);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\n"));
}

TEST(ProcessMetrics, OpenFdsFollowsDescriptorsTheTestOpens) {
  const auto before = ReadProcessSample();
  ASSERT_TRUE(before);
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const auto during = ReadProcessSample();
  for (int fd : fds) close(fd);
  const auto after = ReadProcessSample();
  ASSERT_TRUE(during && after);
  EXPECT_EQ(during->open_fds, before->open_fds + 5);
  EXPECT_EQ(after->open_fds, before->open_fds);
}

TEST(ProcessMetrics, MaxFdsIsTheSoftNofileLimit) {
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  rlimit lower = original;
  lower.rlim_cur = 777;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lower), 0);
  const auto s = ReadProcessSample();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &original), 0);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->max_fds, 777);
}

double RusageCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

TEST(ProcessMetrics, CpuSecondsAgreeWithGetrusage) {
  // Burn 0.3 s of CPU (by the kernel's count: the machine may be busy) so both clocks have something to count.
  volatile double x = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (RusageCpuSeconds() < 0.3 && std::chrono::steady_clock::now() < give_up) {
    for (int i = 0; i < 100000; ++i) x = x + std::sqrt(x + 1.0);
  }
  const double before = RusageCpuSeconds();
  const auto s = ReadProcessSample();
  const double after = RusageCpuSeconds();
  ASSERT_TRUE(s);
  ASSERT_GE(before, 0.3);
  // /proc counts in clock ticks (10 ms) and rounds down; allow a few of them.
  EXPECT_GE(s->cpu_seconds, before - 0.05);
  EXPECT_LE(s->cpu_seconds, after + 0.01);
}

TEST(ProcessMetrics, ResidentMemoryGrowsWithTouchedPages) {
  const auto before = ReadProcessSample();
  ASSERT_TRUE(before);
  constexpr size_t kBytes = 64 << 20;
  std::unique_ptr<char[]> block(new char[kBytes]);
  std::memset(block.get(), 1, kBytes);  // touch every page
  const auto after = ReadProcessSample();
  ASSERT_TRUE(after);
  EXPECT_GE(after->resident_bytes - before->resident_bytes, 0.9 * kBytes);
  EXPECT_GE(after->virtual_bytes, after->resident_bytes);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  EXPECT_LE(after->resident_bytes, static_cast<double>(ru.ru_maxrss) * 1024 + (1 << 20)) << "at most the peak RSS";
  volatile char sink = block[kBytes - 1];
  (void)sink;
}

TEST(ProcessMetrics, StartTimeIsWhenThisProcessStarted) {
  const auto s = ReadProcessSample();
  ASSERT_TRUE(s);
  // btime has whole seconds and the start is counted in ticks: within 2 s of
  // the moment this test binary initialised its globals.
  EXPECT_NEAR(s->start_time_seconds, kTestStart, 2.0);
}

TEST(ProcessMetrics, RenderedUnderTheStandardNames) {
  ProcessSample s;
  s.cpu_seconds = 1.5;
  s.resident_bytes = 1024;
  s.virtual_bytes = 4096;
  s.start_time_seconds = 1700000000.25;
  s.open_fds = 12;
  s.max_fds = 1024;
  const std::string text = RenderProcessMetrics(s);
  EXPECT_NE(text.find("\n# TYPE process_cpu_seconds_total counter\n"), std::string::npos) << text;
  for (const char* gauge : {"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
                            "process_max_fds", "process_start_time_seconds"}) {
    EXPECT_NE(text.find("\n# TYPE " + std::string(gauge) + " gauge\n"), std::string::npos) << gauge;
  }
  EXPECT_EQ(test::SampleValue(text, "process_cpu_seconds_total"), 1.5);
  EXPECT_EQ(test::SampleValue(text, "process_resident_memory_bytes"), 1024);
  EXPECT_EQ(test::SampleValue(text, "process_virtual_memory_bytes"), 4096);
  EXPECT_EQ(test::SampleValue(text, "process_start_time_seconds"), 1700000000.25);
  EXPECT_EQ(test::SampleValue(text, "process_open_fds"), 12);
  EXPECT_EQ(test::SampleValue(text, "process_max_fds"), 1024);
}

/// The commit git reports for the checkout the test runs from, or "unknown" (as CMake does).
std::string CheckoutCommit() {
  const char* root = std::getenv("OUTBOX_ROOT");
  if (root == nullptr) return "OUTBOX_ROOT is not set; run through ctest";
  const std::string cmd = "git -C '" + std::string(root) + "' rev-parse --short=12 HEAD 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  char buf[64] = {0};
  if (!p || fgets(buf, sizeof buf, p.get()) == nullptr) return "unknown";
  std::string out(buf);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out.empty() ? "unknown" : out;
}

TEST(BuildInfo, VersionOfTheProjectAndCommitOfTheCheckout) {
  EXPECT_EQ(GetBuildInfo().version, OUTBOX_EXPECTED_VERSION);
  EXPECT_EQ(GetBuildInfo().commit, CheckoutCommit())
      << "outbox_relay_build_info must name the commit this binary was built from (rebuild after committing)";
}

TEST(ServingState, ReadyActiveAndBuildInfoSamples) {
  RelayStats stats;
  std::string text = RenderServingState(stats, TableLabels{"billing", "out\"box"}, false);
  EXPECT_EQ(test::SampleValue(text, "outbox_relay_ready"), 0);
  EXPECT_EQ(test::SampleValue(text, R"(outbox_relay_active{schema="billing",table="out\"box"})"), 0);
  stats.pg_connected = true;  // the poll session holds the table's lock
  text = RenderServingState(stats, TableLabels{"billing", "outbox"}, true);
  EXPECT_EQ(test::SampleValue(text, "outbox_relay_ready"), 1);
  EXPECT_EQ(test::SampleValue(text, R"(outbox_relay_active{schema="billing",table="outbox"})"), 1);
  const std::string build =
      "outbox_relay_build_info{version=\"" + GetBuildInfo().version + "\",commit=\"" + GetBuildInfo().commit + "\"}";
  EXPECT_EQ(test::SampleValue(text, build), 1) << text;
  for (const char* gauge : {"outbox_relay_ready", "outbox_relay_active", "outbox_relay_build_info"}) {
    EXPECT_NE(text.find("# TYPE " + std::string(gauge) + " gauge\n"), std::string::npos) << gauge;
  }
}

TEST(MetricsPage, RelayFamiliesThenServingStateThenProcess) {
  RelayStats stats;
  stats.acked = 5;
  const std::string page = RenderMetricsPage(stats, TableLabels{"outbox", "outbox"}, true);
  EXPECT_EQ(page.rfind(RenderPrometheus(stats), 0), 0u) << "starts with the relay's own families";
  EXPECT_NE(page.find(RenderServingState(stats, TableLabels{"outbox", "outbox"}, true)), std::string::npos);
  EXPECT_GT(test::SampleValue(page, "process_resident_memory_bytes").value_or(0), 0);
  EXPECT_GT(test::SampleValue(page, "process_open_fds").value_or(0), 0);
}

}  // namespace
}  // namespace outbox::relay
