#include "cli/cli.hpp"

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "check/check_command.hpp"
#include "cli/command_error.hpp"
#include "cli/commands.hpp"
#include "cli/dlq.hpp"
#include "cli/status.hpp"
#include "config/config.hpp"
#include "kafka/kafka_conf.hpp"
#include "log/logging.hpp"

namespace outbox::relay {
namespace {

/// CLI11's usage errors as one line, like every other failure.
std::string UsageFailure(const CLI::App* app, const CLI::Error& e) {
  std::string command;
  for (const CLI::App* sub = app; sub != nullptr;) {
    const auto selected = sub->get_subcommands();
    sub = selected.empty() ? nullptr : selected.front();
    if (sub != nullptr) command += (command.empty() ? "" : " ") + sub->get_name();
  }
  const std::string help = "outbox-relay " + (command.empty() ? "" : command + " ") + "--help";
  return "outbox-relay: " + (command.empty() ? "" : command + ": ") + OneLine(e.what()) + "; see `" + help + "`\n";
}

/// One-shot subcommands print their result on stdout and a failure as one line:
/// library messages (librdkafka's, retries) only when log.level asks for debug.
std::string OneShotLogLevel(const std::string& level) { return level == "debug" || level == "trace" ? level : "off"; }

}  // namespace

int RunCli(int argc, char** argv) {
  InstallStopHandlers();
  CLI::App app{"outbox-relay: publishes a PostgreSQL transactional outbox to Kafka, at least once, in order per key"};
  app.require_subcommand(1);
  app.failure_message(&UsageFailure);
  std::string config_path = "relay.toml";
  app.add_option("-c,--config", config_path, "TOML configuration file")->capture_default_str();

  auto* run = app.add_subcommand("run", "Publish outbox events until SIGTERM/SIGINT, then drain and exit 0");
  auto* migrate = app.add_subcommand("migrate", "Create or upgrade the outbox tables (idempotent)");
  auto* check = app.add_subcommand(
      "check-config", "Validate the configuration file, the DSN and the Kafka settings (connects nowhere) and exit");
  auto* dlq = app.add_subcommand("dlq", "Dead-lettered events: list, requeue ID or skip ID");
  std::string dlq_action, dlq_id;
  dlq->add_option("action", dlq_action, "list | requeue | skip")
      ->required()
      ->check(CLI::IsMember({"list", "requeue", "skip"}));
  dlq->add_option("id", dlq_id, "event id (requeue, skip)");
  auto* status = app.add_subcommand("status", "Print backlog, oldest unpublished age, dead letters, schema version");
  bool status_json = false;
  status->add_flag("--json", status_json, "Print one JSON object instead of text");
  auto* check_events = app.add_subcommand(
      "check", "Compare the outbox (cleanup = \"mark\") with its topics: lost, phantom, duplicate, reordered events");
  CheckOptions check_options;
  check_events->add_option("--since", check_options.since, "Events created since: RFC 3339 time or -30m, -1h, -2d");
  check_events->add_option("--timeout-ms", check_options.timeout_ms, "Read Kafka up to the high watermarks within this")
      ->check(CLI::Range(1LL, 86400000LL))
      ->capture_default_str();
  check_events->add_option("--json", check_options.json_path, "Also write the figures as a JSON object to FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  std::string command = app.get_subcommands().front()->get_name();
  if (dlq->parsed()) command += " " + dlq_action;

  if (dlq->parsed() && dlq_action != "list" && dlq_id.empty()) {
    PrintCommandError(command, "needs the event id; see `outbox-relay dlq list`");
    return kExitUsage;
  }

  Config config;
  try {
    config = LoadConfig(config_path);
  } catch (const ConfigError& e) {
    PrintCommandError(command, e.what());
    return kExitUsage;
  }
  // What creating the producer would reject, found before connecting anywhere (run would exit 1 later).
  if (check->parsed() || run->parsed() || check_events->parsed()) {
    const std::vector<std::string> problems = ProducerConfProblems(config.kafka);
    for (const auto& problem : problems) PrintCommandError(command, config_path + ": " + problem);
    if (!problems.empty()) return kExitUsage;
  }
  if (check->parsed()) {
    std::printf("%s: ok\n", config_path.c_str());
    return kExitOk;
  }

  if (run->parsed()) {
    // A daemon: failures go to its log (text or JSON), like everything it reports.
    SetupLogging(config.log.level, config.log.format);
    try {
      return RunCommand(config);
    } catch (const ConfigError& e) {
      spdlog::critical("{}: {}", config_path, e.what());
      return kExitUsage;
    } catch (const std::exception& e) {
      spdlog::critical("{}", OneLine(e.what()));
      return kExitRuntime;
    }
  }

  SetupLogging(OneShotLogLevel(config.log.level), config.log.format);
  try {
    if (migrate->parsed()) return MigrateCommand(config);
    if (dlq->parsed()) return DlqCommand(config, dlq_action, dlq_id);
    if (status->parsed()) return StatusCommand(config, status_json);
    return CheckCommand(config, check_options);
  } catch (...) {
    int exit_code = kExitRuntime;
    const std::string reason = DescribeFailure(std::current_exception(), config, config_path, exit_code);
    PrintCommandError(command, reason);
    return exit_code;
  }
}

}  // namespace outbox::relay
