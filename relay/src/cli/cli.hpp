#pragma once

#include "util/exit_codes.hpp"

namespace outbox::relay {

/// The outbox-relay command line; its subcommands are defined (with their
/// help) in cli.cpp and documented in the README.
int RunCli(int argc, char** argv);

}  // namespace outbox::relay
