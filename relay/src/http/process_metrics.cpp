#include "http/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "http/metric_writer.hpp"

namespace outbox::relay {
namespace {

std::string ReadWholeFile(const char* path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool ParseNumber(const std::string& token, double* out) {
  if (token.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(token.c_str(), &end);
  return end == token.c_str() + token.size();
}

/// Entries of /proc/self/fd, without the descriptor used to list them.
std::optional<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  const std::string own = std::to_string(dirfd(dir));
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || own == e->d_name) continue;
    ++n;
  }
  closedir(dir);
  return n;
}

}  // namespace

std::optional<ProcessSample> ParseProcStat(std::string_view stat, long ticks_per_second, long page_size,
                                           double boot_time) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so the
  // fields are counted from the last ')'. Field 3 (state) is tokens[0].
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0 || page_size <= 0) return std::nullopt;
  std::istringstream in{std::string(stat.substr(close + 1))};
  std::vector<std::string> tokens;
  for (std::string t; in >> t;) tokens.push_back(t);
  // utime(14) stime(15) starttime(22) vsize(23) rss(24), as in proc(5).
  constexpr size_t kUtime = 14 - 3, kStime = 15 - 3, kStart = 22 - 3, kVsize = 23 - 3, kRss = 24 - 3;
  if (tokens.size() <= kRss) return std::nullopt;
  double utime, stime, start, vsize, rss;
  if (!ParseNumber(tokens[kUtime], &utime) || !ParseNumber(tokens[kStime], &stime) ||
      !ParseNumber(tokens[kStart], &start) || !ParseNumber(tokens[kVsize], &vsize) ||
      !ParseNumber(tokens[kRss], &rss)) {
    return std::nullopt;
  }
  const double hz = static_cast<double>(ticks_per_second);
  ProcessSample s;
  s.cpu_seconds = (utime + stime) / hz;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * static_cast<double>(page_size);
  s.start_time_seconds = boot_time + start / hz;
  return s;
}

std::optional<double> ParseBootTime(std::string_view proc_stat) {
  for (size_t at = 0; at < proc_stat.size();) {
    size_t end = proc_stat.find('\n', at);
    if (end == std::string_view::npos) end = proc_stat.size();
    const std::string_view line = proc_stat.substr(at, end - at);
    if (line.substr(0, 6) == "btime ") {
      double v;
      if (ParseNumber(std::string(line.substr(6)), &v)) return v;
      return std::nullopt;
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::optional<ProcessSample> ReadProcessSample() {
  // btime cannot change while the system runs: read it once.
  static const std::optional<double> boot_time = ParseBootTime(ReadWholeFile("/proc/stat"));
  if (!boot_time) return std::nullopt;
  auto sample =
      ParseProcStat(ReadWholeFile("/proc/self/stat"), sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), *boot_time);
  const auto fds = CountOpenFds();
  rlimit limit{};
  if (!sample || !fds || getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  sample->open_fds = *fds;
  sample->max_fds = limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur);
  return sample;
}

std::string RenderProcessMetrics(const ProcessSample& s) {
  MetricWriter w;
  w.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", s.cpu_seconds);
  w.Gauge("process_open_fds", "Number of open file descriptors.", s.open_fds);
  w.Gauge("process_max_fds", "Maximum number of open file descriptors.", s.max_fds);
  w.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", s.virtual_bytes);
  w.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", s.resident_bytes);
  w.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", s.start_time_seconds);
  return w.Take();
}

}  // namespace outbox::relay
