#pragma once

namespace outbox::relay {

/// Exit codes of outbox-relay (documented in the README).
enum ExitCode : int { kExitOk = 0, kExitRuntime = 1, kExitUsage = 2 };

/// The outbox-relay command line: run | migrate | check-config | dlq | status | check.
/// A failure is one line on stderr, "outbox-relay: <command>: <reason>" (run logs
/// its runtime failures instead), and the exit code says what kind it was.
int RunCli(int argc, char** argv);

}  // namespace outbox::relay
