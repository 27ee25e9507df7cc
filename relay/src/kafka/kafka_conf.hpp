#pragma once
// The librdkafka configuration of the relay's producer, built in one place so
// that `run` and `check-config` agree on what librdkafka accepts.

#include <string>
#include <vector>

#include "kafka/producer.hpp"
#include "kafka/rdkafka_handles.hpp"

namespace outbox::relay {

struct KafkaConfig;

/// librdkafka refused some of kafka.properties. what() is the first problem.
class KafkaConfError : public KafkaError {
 public:
  explicit KafkaConfError(std::vector<std::string> problems);
  /// One line per property, "kafka.properties.<name>: <librdkafka's reason>".
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

/// The producer's configuration: the relay's throughput defaults, then
/// kafka.properties (which may override them), then the settings the relay owns
/// (bootstrap.servers, enable.idempotence, acks, message.timeout.ms). Callbacks
/// and the opaque are the caller's to set. Throws KafkaConfError naming every
/// property rd_kafka_conf_set refuses.
rdk::ConfPtr BuildProducerConf(const KafkaConfig& config);

/// What creating the producer would reject, found without connecting: every
/// property rd_kafka_conf_set refuses (unknown names, invalid values); if none,
/// what rd_kafka_new refuses for the whole configuration (e.g. max.in.flight > 5
/// with idempotence, SASL without credentials, an unreadable ssl.ca.location),
/// checked with a producer that has no brokers. One line per problem, naming the
/// property when librdkafka's message does; empty when the producer can be made.
std::vector<std::string> ProducerConfProblems(const KafkaConfig& config);

}  // namespace outbox::relay
