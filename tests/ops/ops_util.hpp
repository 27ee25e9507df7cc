#pragma once
// Helpers of the ops tests: GET a path of a local HTTP endpoint, read one
// sample out of a Prometheus text body, run the outbox-relay executable.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace outbox::test {

struct HttpAnswer {
  int status = 0;  ///< 0: no answer (connection refused, timeout)
  std::string body;
  std::string content_type;
};

/// GET http://127.0.0.1:<port><path> with short timeouts.
HttpAnswer HttpGet(int port, const std::string& path);

/// The value of the sample whose name and labels are exactly `series`
/// (e.g. `outbox_relay_events_published_total{topic="t"}`), or nullopt.
std::optional<double> SampleValue(const std::string& metrics, const std::string& series);

/// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();

/// Path of the outbox-relay executable (from OUTBOX_BIN_DIR).
std::string RelayBinary();

/// Runs outbox-relay with `args`; returns its exit code, stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
/// A command still running after `timeout_s` is killed (exit code 128 + 9).
CommandResult RunRelayCommand(const std::vector<std::string>& args, int timeout_s = 60);

/// The lines of `text` (without their '\n'); a last line without '\n' counts too.
std::vector<std::string> Lines(const std::string& text);

/// Writes `text` to a fresh file under /tmp and returns its path.
std::string WriteTempFile(const std::string& prefix, const std::string& text);

}  // namespace outbox::test
