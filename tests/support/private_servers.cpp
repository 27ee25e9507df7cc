#include "private_servers.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <stdexcept>

#include <gtest/gtest.h>

#include "test_env.hpp"

namespace outbox::test {
namespace {

/// The port of a "host:port" address or of a postgresql://user:pw@host:port/db URL.
int PortOf(const std::string& address) {
  const size_t at = address.find('@');
  const size_t host = at == std::string::npos ? 0 : at + 1;
  const size_t colon = address.find(':', host);
  if (colon == std::string::npos) throw std::runtime_error("no port in " + address);
  return std::stoi(address.substr(colon + 1));
}

}  // namespace

int RunScript(const std::string& script, const std::string& args) {
  const char* root = std::getenv("OUTBOX_ROOT");
  const std::string cmd =
      std::string(root ? root : ".") + "/scripts/" + script + " " + args + " >>/tmp/outbox-fault-scripts.log 2>&1";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

PrivateBroker::PrivateBroker(int offset) : port_(PortOf(KafkaBrokers()) + offset) {
  if (Script("start") != 0) {
    throw std::runtime_error("scripts/kafka.sh start " + std::to_string(port_) +
                             " failed; see /tmp/outbox-fault-scripts.log");
  }
}

PrivateBroker::~PrivateBroker() { Script("stop"); }

int PrivateBroker::Script(const std::string& verb) const {
  const int rc = RunScript("kafka.sh", verb + " " + std::to_string(port_));
  if (rc != 0) {
    // Keep the broker's log: stop() removes its directory.
    const char* run_dir = std::getenv("OUTBOX_RUN_DIR");
    const std::string dir = std::string(run_dir ? run_dir : "/tmp/outbox-relay") + "/kafka-" + std::to_string(port_);
    const std::string keep = "/tmp/outbox-fault-kafka-" + std::to_string(port_) + "-" + verb + ".log";
    std::system(("cat " + dir + "/server.log " + dir + "/stdout.log >" + keep + " 2>&1").c_str());
    ADD_FAILURE() << "scripts/kafka.sh " << verb << " " << port_ << " failed (" << rc << "); broker log kept in "
                  << keep;
  }
  return rc;
}

PrivatePostgres::PrivatePostgres(int offset) : port_(PortOf(PgDsn()) + offset) {
  if (RunScript("pg.sh", "start " + std::to_string(port_)) != 0) {
    throw std::runtime_error("scripts/pg.sh start " + std::to_string(port_) +
                             " failed; see /tmp/outbox-fault-scripts.log");
  }
  dsn_ = "postgresql://outbox:outbox@127.0.0.1:" + std::to_string(port_) + "/outbox";
}

PrivatePostgres::~PrivatePostgres() { RunScript("pg.sh", "stop " + std::to_string(port_)); }

int PrivatePostgres::Restart(const std::string& mode) const {
  return RunScript("pg.sh", "restart " + std::to_string(port_) + " " + mode);
}

}  // namespace outbox::test
