#pragma once
// Small helpers shared by the relay benchmarks: flags, clocks, /proc readings
// and the JSON line each benchmark appends to its results file.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace outbox::bench {

/// "--name value" pairs. Unknown names are errors; every name must be declared
/// with a default (the usage line lists them).
class Flags {
 public:
  Flags(const char* program, std::map<std::string, std::string> defaults);
  void Parse(int argc, char** argv);
  const std::string& Str(const std::string& name) const;
  long Int(const std::string& name) const;
  double Num(const std::string& name) const;

 private:
  std::string program_;
  std::map<std::string, std::string> values_;
};

/// Seconds on the monotonic clock.
double Now();
/// Wall-clock time in microseconds since the Unix epoch.
int64_t UnixMicros();

/// The 1-minute load average (the machine is shared; results record it).
double LoadAverage1();

/// User + system CPU seconds of `pid` (with `children`: plus those of its
/// waited-for children, and of every live descendant).
double ProcessCpuSeconds(pid_t pid, bool children = false);
/// CPU seconds of this process (all threads).
double SelfCpuSeconds();
/// A field of /proc/PID/status in kB (VmHWM: peak RSS, VmRSS: current), -1 if absent.
long ProcStatusKb(pid_t pid, const char* field);

/// Appends `j` as one line to `path` (the results file bench.sh collects).
void AppendJsonLine(const std::string& path, const nlohmann::json& j);

/// p in [0, 1] of an ascending vector; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

/// A loopback TCP port that was free a moment ago (bound to port 0, then closed).
int FreeLoopbackPort();

/// The body of http://127.0.0.1:`port``path` (HTTP/1.0 GET); throws on failure.
std::string HttpGet(int port, const std::string& path);

/// A Prometheus histogram read back from text exposition: cumulative bucket
/// counts by upper bound (+Inf last).
struct ScrapedHistogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count)
  double count = 0;
  /// The q-quantile estimated as Prometheus' histogram_quantile() does:
  /// linear interpolation inside the bucket that holds it.
  double Quantile(double q) const;
};

/// Histogram `name` (the base name, without _bucket) from `exposition`; empty when absent.
ScrapedHistogram ParseHistogram(const std::string& exposition, const std::string& name);

}  // namespace outbox::bench
