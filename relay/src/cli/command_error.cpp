#include "cli/command_error.hpp"

#include <cstdio>

#include <pqxx/except>

#include "cli/cli.hpp"
#include "config/config.hpp"
#include "kafka/producer.hpp"
#include "log/logging.hpp"

namespace outbox::relay {
namespace {

/// libpq's "ERROR:  message\nDETAIL:  ...\nHINT:  ..." as "message (DETAIL ...)".
std::string PostgresMessage(const std::string& what) {
  std::string s = what;
  for (const char* prefix : {"ERROR:  ", "FATAL:  "}) {
    if (s.rfind(prefix, 0) == 0) s = s.substr(std::char_traits<char>::length(prefix));
  }
  const size_t newline = s.find('\n');
  std::string first = s.substr(0, newline);
  if (newline != std::string::npos) {
    const size_t detail = s.find("DETAIL:  ", newline);
    if (detail != std::string::npos) {
      const size_t end = s.find('\n', detail);
      first += " (" + s.substr(detail + 9, end == std::string::npos ? end : end - detail - 9) + ")";
    }
  }
  return OneLine(first);
}

}  // namespace

void PrintCommandError(const std::string& command, const std::string& reason) {
  std::fprintf(stderr, "outbox-relay: %s: %s\n", command.c_str(), OneLine(reason).c_str());
  std::fflush(stderr);
}

std::string DescribeFailure(const std::exception_ptr& failure, const Config& config, const std::string& config_path,
                            int& exit_code) {
  exit_code = kExitRuntime;
  try {
    std::rethrow_exception(failure);
  } catch (const CommandError& e) {
    exit_code = e.exit_code();
    return e.what();
  } catch (const ConfigError& e) {
    exit_code = kExitUsage;
    return config_path + ": " + e.what();
  } catch (const pqxx::broken_connection& e) {
    return "cannot connect to Postgres (" + RedactDsn(config.postgres.dsn) + "): " + OneLine(e.what());
  } catch (const pqxx::undefined_table& e) {
    return "Postgres: " + PostgresMessage(e.what()) + "; Hint: run `outbox-relay migrate`, or check outbox.schema";
  } catch (const pqxx::insufficient_privilege& e) {
    return "Postgres: " + PostgresMessage(e.what()) + "; Hint: grant the relay's role access to the outbox tables";
  } catch (const pqxx::sql_error& e) {
    return "Postgres: " + PostgresMessage(e.what()) + (e.sqlstate().empty() ? "" : " (SQLSTATE " + e.sqlstate() + ")");
  } catch (const KafkaError& e) {
    std::string what = OneLine(e.what());
    if (what.rfind("kafka: ", 0) == 0) what = what.substr(7);
    return "Kafka (" + config.kafka.brokers + "): " + what;
  } catch (const std::exception& e) {
    return OneLine(e.what());
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace outbox::relay
