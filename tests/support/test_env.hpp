#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <pqxx/connection>

namespace outbox::test {

/// DSN of the test PostgreSQL (OUTBOX_TEST_PG_DSN). Fails the test when unset.
std::string PgDsn();

/// Bootstrap servers of the test Kafka broker (OUTBOX_TEST_KAFKA_BROKERS). Fails the test when unset.
std::string KafkaBrokers();

/// A name unique to this process and call, safe as a schema or topic name: prefix_<pid>_<n>_<random>.
std::string UniqueName(const std::string& prefix);

/// Creates a fresh schema for one test and drops it (CASCADE) on destruction.
class ScopedSchema {
 public:
  explicit ScopedSchema(const std::string& prefix = "t");
  ~ScopedSchema();
  ScopedSchema(const ScopedSchema&) = delete;
  ScopedSchema& operator=(const ScopedSchema&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

/// Creates `topic` with `partitions` partitions through the Admin API and waits until it is usable.
void CreateTopic(const std::string& topic, int partitions = 3, const std::map<std::string, std::string>& configs = {});

struct ConsumedRecord {
  std::string topic;
  int partition = 0;
  long long offset = 0;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  long long timestamp_ms = 0;

  /// The value of header `name`, or "" when absent.
  std::string Header(const std::string& name) const;
};

/// A consumed message (err == 0) as a ConsumedRecord: topic, partition, offset, key, value, headers, timestamp.
ConsumedRecord ToConsumedRecord(const rd_kafka_message_t* m);

/// Reads `topics` from the beginning with isolation.level=read_committed until
/// `expected` records arrived or `timeout_ms` passed (then returns what it has).
std::vector<ConsumedRecord> ConsumeAll(const std::vector<std::string>& topics, size_t expected, int timeout_ms = 30000,
                                       const std::string& brokers = "");

/// Reads `topics` from the beginning (read_committed) until `done(records so far)`
/// is true or `timeout_ms` passed. `brokers` "" means KafkaBrokers().
std::vector<ConsumedRecord> ConsumeUntil(const std::vector<std::string>& topics,
                                         const std::function<bool(const std::vector<ConsumedRecord>&)>& done,
                                         int timeout_ms = 30000, const std::string& brokers = "");

/// Path of the outbox-relay executable (from OUTBOX_BIN_DIR).
std::string RelayBinary();

/// Runs outbox-relay with `args`; returns its exit code, stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
/// A command still running after `timeout_s` is killed (exit code 128 + 9).
CommandResult RunRelayCommand(const std::vector<std::string>& args, int timeout_s = 60);

/// The lines of `text` (without their '\n'); a last line without '\n' counts too.
std::vector<std::string> Lines(const std::string& text);

/// Writes `text` to a fresh file under /tmp and returns its path.
std::string WriteTempFile(const std::string& prefix, const std::string& text);

}  // namespace outbox::test
