#pragma once
// Fixtures of the relay benchmarks: topics created through the Admin API, a
// fresh outbox schema, the pre-filled backlog and the relay child process.

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace pqxx {
class connection_base;
}

namespace outbox::bench {

/// Partitions of every benchmark topic, and the number of distinct aggregates (keys).
constexpr int kPartitions = 12;
constexpr int kAggregates = 10000;
/// The W3C traceparent every benchmark event carries as its one extra header.
constexpr const char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// Creates `topic` with kPartitions partitions, replication 1 and
/// message.timestamp.type=LogAppendTime. Throws on failure (also if it exists).
void CreateTopic(const std::string& brokers, const std::string& topic);

/// Drops `schema` if present and creates the outbox tables in it (sdk::Migrate).
void FreshSchema(pqxx::connection_base& conn, const std::string& schema);

/// Drops a run's schema and, for a tail-mode run (`slot` not empty), its
/// replication slot and publication (both named `slot`).
void DropBenchSchema(pqxx::connection_base& conn, const std::string& schema, const std::string& slot);

/// Inserts `n` events with INSERT ... SELECT generate_series (seq from the
/// column default), 256-byte JSON payloads over kAggregates aggregates, in
/// transactions of `per_tx` events (0: one transaction), then VACUUM ANALYZE.
/// Returns the seconds the INSERTs took.
double Prefill(pqxx::connection_base& conn, const std::string& schema, long n, long per_tx = 0);

/// The 256-byte JSON payload of event number `n` (same shape as Prefill's).
std::string Payload(long n);

/// The Kafka key of event number `n`.
std::string AggregateId(long n);

/// Writes a relay configuration: the shipped defaults except the DSN, schema,
/// brokers and a fixed topic; `http_listen` (host:port) turns on /metrics;
/// `slot` (non-empty) selects tail mode with that slot and publication name;
/// `exactly_once` sets kafka.delivery = "exactly_once" (checkpoints on "<topic>.checkpoints").
void WriteRelayConfig(const std::string& path, const std::string& dsn, const std::string& schema,
                      const std::string& brokers, const std::string& topic, const std::string& http_listen = "",
                      const std::string& slot = "", bool exactly_once = false);

/// The real `outbox-relay run` as a child process, stderr to a log file.
class RelayProcess {
 public:
  RelayProcess(const std::string& binary, const std::string& config, const std::string& log);
  ~RelayProcess() noexcept;
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// SIGTERM, then waits (up to `timeout_s`, then SIGKILL); returns the exit status or -1.
  int Stop(double timeout_s = 30);
  /// True while the child has not exited.
  bool Alive();

 private:
  pid_t pid_ = -1;
};

/// `perf record` attached to a process, stopped with SIGINT.
class PerfRecord {
 public:
  PerfRecord(pid_t target, const std::string& out);
  ~PerfRecord() noexcept;
  void Stop();

 private:
  pid_t pid_ = -1;
};

}  // namespace outbox::bench
