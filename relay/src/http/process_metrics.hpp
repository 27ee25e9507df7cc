#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace outbox::relay {

/// The standard process metrics of Prometheus client libraries (client_golang's
/// process collector), read from /proc/self on Linux.
struct ProcessSample {
  double cpu_seconds = 0;         ///< process_cpu_seconds_total: user + system time
  double resident_bytes = 0;      ///< process_resident_memory_bytes
  double virtual_bytes = 0;       ///< process_virtual_memory_bytes
  double start_time_seconds = 0;  ///< process_start_time_seconds: Unix time
  double open_fds = 0;            ///< process_open_fds
  double max_fds = 0;             ///< process_max_fds: the soft RLIMIT_NOFILE
};

/// The values of /proc/<pid>/stat that ProcessSample needs (cpu, memory, start).
/// `boot_time` is btime of /proc/stat, in Unix seconds. nullopt when `stat` is malformed.
std::optional<ProcessSample> ParseProcStat(std::string_view stat, long ticks_per_second, long page_size,
                                           double boot_time);

/// btime of a /proc/stat text (boot time, Unix seconds), or nullopt.
std::optional<double> ParseBootTime(std::string_view proc_stat);

/// This process now. nullopt when /proc cannot be read (the metrics are then omitted).
std::optional<ProcessSample> ReadProcessSample();

/// The process_* families in the Prometheus text format.
std::string RenderProcessMetrics(const ProcessSample& sample);

}  // namespace outbox::relay
