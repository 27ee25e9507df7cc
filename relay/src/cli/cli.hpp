#pragma once

namespace outbox::relay {

/// Exit codes of outbox-relay (documented in the README).
enum ExitCode : int { kExitOk = 0, kExitRuntime = 1, kExitUsage = 2 };

/// The outbox-relay command line: run | migrate | check-config.
int RunCli(int argc, char** argv);

}  // namespace outbox::relay
