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
CommandResult RunRelayCommand(const std::vector<std::string>& args);

/// `outbox-relay -c <file with config_text> run`, its stderr in a log file;
/// SIGKILLed by the destructor if still running.
class RelayExecutable {
 public:
  explicit RelayExecutable(const std::string& config_text);
  ~RelayExecutable();
  RelayExecutable(const RelayExecutable&) = delete;
  RelayExecutable& operator=(const RelayExecutable&) = delete;
  /// SIGTERM, then waits up to 30 s; returns the exit code (128+signal if killed, -1 if it hung).
  int Stop();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string config_path_, log_path_;
};

/// Writes `text` to a fresh file under /tmp and returns its path.
std::string WriteTempFile(const std::string& prefix, const std::string& text);

}  // namespace outbox::test
