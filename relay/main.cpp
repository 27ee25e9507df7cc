// outbox-relay: everything lives in relay_core; see relay/src/cli/cli.cpp.
#include "cli/cli.hpp"

int main(int argc, char** argv) { return outbox::relay::RunCli(argc, argv); }
