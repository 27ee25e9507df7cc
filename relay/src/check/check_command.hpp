#pragma once

#include <stdexcept>
#include <string>

#include "check/check_report.hpp"

namespace outbox::relay {

struct Config;

/// Options of `outbox-relay check` (docs/checker.md).
struct CheckOptions {
  std::string since;             ///< RFC 3339 time or "-1h" style; "" = every row
  long long timeout_ms = 30000;  ///< for reading Kafka up to the high watermarks
  std::string json_path;         ///< "" = no JSON report
};

/// A usage or configuration problem of the check; what() is the one line to print.
class CheckUsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The delivery check as a library call: reads the outbox and dead-letter rows, then
/// their topics up to the high watermarks, and compares. Throws CheckUsageError for
/// usage/config problems, other exceptions when Postgres or Kafka fail.
CheckReport RunCheck(const Config& config, const CheckOptions& options);

/// `outbox-relay check`: RunCheck, the summary and example lines on stdout, the JSON
/// file. Returns 0 when nothing is lost, phantom or inverted, 1 otherwise or when the
/// check could not complete, 2 on usage/config errors.
int CheckCommand(const Config& config, const CheckOptions& options);

}  // namespace outbox::relay
