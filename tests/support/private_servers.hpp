#pragma once
// Private throwaway servers a test may kill or restart without disturbing the
// shared ones every other test uses: on the shared server's port + an offset,
// started and stopped by the project's own scripts.

#include <string>

namespace outbox::test {

/// A throwaway Kafka broker on the shared test broker's port + `offset`
/// (controller: +1), started by scripts/kafka.sh; Kill/Restart keep its data.
class PrivateBroker {
 public:
  explicit PrivateBroker(int offset);
  ~PrivateBroker();
  PrivateBroker(const PrivateBroker&) = delete;
  PrivateBroker& operator=(const PrivateBroker&) = delete;
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// scripts/kafka.sh `verb` on this broker's port; returns its exit status.
  int Script(const std::string& verb) const;

 private:
  int port_ = 0;
};

/// A throwaway PostgreSQL cluster on the shared test cluster's port + `offset`,
/// started by scripts/pg.sh (removed on destruction).
class PrivatePostgres {
 public:
  explicit PrivatePostgres(int offset);
  ~PrivatePostgres();
  PrivatePostgres(const PrivatePostgres&) = delete;
  PrivatePostgres& operator=(const PrivatePostgres&) = delete;
  const std::string& dsn() const { return dsn_; }
  /// scripts/pg.sh restart PORT `mode` (fast | immediate); returns its exit status.
  int Restart(const std::string& mode) const;

 private:
  int port_ = 0;
  std::string dsn_;
};

/// Runs scripts/<script> with `args`, its output appended to
/// /tmp/outbox-fault-scripts.log; returns its exit status.
int RunScript(const std::string& script, const std::string& args);

}  // namespace outbox::test
