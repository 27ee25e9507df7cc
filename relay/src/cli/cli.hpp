#pragma once

#include "util/exit_codes.hpp"

namespace outbox::relay {

/// The outbox-relay command line: run | migrate | check-config | dlq | status | check.
/// A failure is one line on stderr, "outbox-relay: <command>: <reason>" (run logs
/// its runtime failures instead), and the exit code says what kind it was.
int RunCli(int argc, char** argv);

}  // namespace outbox::relay
