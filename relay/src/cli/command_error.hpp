#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace outbox::relay {

struct Config;

/// A subcommand's failure, already worded for the operator: printed as
/// "outbox-relay: <command>: <what()>", the process exits with `exit_code()`.
class CommandError : public std::runtime_error {
 public:
  CommandError(const std::string& reason, int exit_code) : std::runtime_error(reason), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// Prints the one line "outbox-relay: <command>: <reason>" on stderr (newlines in
/// `reason` become spaces).
void PrintCommandError(const std::string& command, const std::string& reason);

/// The reason and exit code for an exception a one-shot subcommand let escape:
/// Postgres unreachable (naming the redacted DSN), a Postgres error (its message
/// without libpq's decoration, with SQLSTATE), a configuration error (naming the
/// file), Kafka and anything else. Call inside a catch block.
std::string DescribeFailure(const std::exception_ptr& failure, const Config& config, const std::string& config_path,
                            int& exit_code);

}  // namespace outbox::relay
