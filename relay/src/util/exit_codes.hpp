#pragma once

namespace outbox::relay {

/// Exit codes of outbox-relay (documented in the README).
enum ExitCode : int { kExitOk = 0, kExitRuntime = 1, kExitUsage = 2 };

}  // namespace outbox::relay
