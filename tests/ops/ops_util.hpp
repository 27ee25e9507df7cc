#pragma once
// Helpers of the ops tests: GET a path of a local HTTP endpoint, read one
// sample out of a Prometheus text body, run the outbox-relay executable.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "test_env.hpp"  // RelayBinary, RunRelayCommand, WriteTempFile

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

}  // namespace outbox::test
