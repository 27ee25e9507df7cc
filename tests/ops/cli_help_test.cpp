// Every subcommand of the outbox-relay executable answers --help with exit 0,
// and usage errors exit 2 (the codes docs/operations.md documents).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <string>
#include <vector>

#include "ops_util.hpp"

namespace outbox::test {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Subcommand names listed in the top-level --help ("Subcommands:" section).
std::vector<std::string> Subcommands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help);
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (Lower(line).rfind("subcommands:", 0) == 0) {
      in_section = true;
      continue;
    }
    if (!in_section) continue;
    if (line.empty() || !std::isspace(static_cast<unsigned char>(line[0]))) break;
    std::istringstream words(line);
    std::string name;
    words >> name;
    names.push_back(name);
  }
  return names;
}

TEST(CliHelp, EverySubcommandAnswersHelp) {
  const CommandResult top = RunRelayCommand({"--help"});
  ASSERT_EQ(top.exit_code, 0) << top.err;
  const auto names = Subcommands(top.out);
  for (const char* expected : {"run", "migrate", "check-config", "dlq", "status"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected << " in\n" << top.out;
  }
  for (const auto& name : names) {
    const CommandResult r = RunRelayCommand({name, "--help"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_NE(r.out.find(name), std::string::npos) << name << " --help:\n" << r.out;
    EXPECT_NE(Lower(r.out).find("usage"), std::string::npos) << name << " --help:\n" << r.out;
  }
  const CommandResult status = RunRelayCommand({"status", "--help"});
  EXPECT_NE(status.out.find("--json"), std::string::npos) << status.out;
}

TEST(CliHelp, UsageAndConfigErrorsExitTwo) {
  EXPECT_EQ(RunRelayCommand({}).exit_code, 2);
  EXPECT_EQ(RunRelayCommand({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(RunRelayCommand({"status", "--no-such-flag"}).exit_code, 2);
  const CommandResult missing = RunRelayCommand({"-c", "/nonexistent/relay.toml", "status"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("/nonexistent/relay.toml: cannot read the configuration file"), std::string::npos)
      << missing.err;
}

}  // namespace
}  // namespace outbox::test
