#include "kafka/kafka_conf.hpp"

#include <cctype>
#include <map>
#include <mutex>
#include <utility>

#include "config/config.hpp"
#include "util/text.hpp"

namespace outbox::relay {
namespace {

/// Sets one property; a refusal becomes a line naming it.
void Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, std::vector<std::string>& problems) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    problems.push_back("kafka.properties." + key + ": " + err);
  }
}

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'; }

/// The longest of the user's property names that librdkafka's message mentions as a whole word.
std::string MentionedProperty(const std::string& message, const std::map<std::string, std::string>& properties) {
  std::string best;
  for (const auto& entry : properties) {
    const std::string& name = entry.first;
    for (size_t at = message.find(name); at != std::string::npos; at = message.find(name, at + 1)) {
      const bool starts = at == 0 || !IsNameChar(message[at - 1]);
      const size_t end = at + name.size();
      // A name may end a sentence: "... failed: x.y." still mentions x.y.
      const bool ends = end == message.size() || !IsNameChar(message[end]) ||
                        (message[end] == '.' && (end + 1 == message.size() || !IsNameChar(message[end + 1])));
      if (starts && ends && name.size() > best.size()) best = name;
    }
  }
  return best;
}

/// librdkafka's error-level log lines while the check producer is created (e.g. the
/// OpenSSL reason behind "ssl.ca.location failed").
struct LogCapture {
  std::mutex mu;
  std::string first_error;
};

void CaptureLog(const rd_kafka_t* rk, int level, const char*, const char* buf) {
  auto* capture = static_cast<LogCapture*>(rd_kafka_opaque(rk));
  if (capture == nullptr || level > 3) return;  // syslog levels: 0-3 are errors
  std::lock_guard<std::mutex> lock(capture->mu);
  if (capture->first_error.empty()) capture->first_error = buf;
}

}  // namespace

KafkaConfError::KafkaConfError(std::vector<std::string> problems)
    : KafkaError(problems.empty() ? std::string("kafka.properties: rejected") : problems.front()),
      problems_(std::move(problems)) {}

rdk::ConfPtr BuildProducerConf(const KafkaConfig& config) {
  rdk::ConfPtr conf(rd_kafka_conf_new());
  std::vector<std::string> problems;
  // Defaults a user may override in [kafka.properties]. linger.ms 2: p99
  // commit-to-broker 6-7 ms at 5k events/s, against 11-13 ms with 5, and no
  // measurable loss in a 100k drain, where batches fill while requests are in
  // flight (docs/benchmarks.md).
  Set(conf.get(), "linger.ms", "2", problems);
  Set(conf.get(), "batch.num.messages", "10000", problems);
  Set(conf.get(), "queue.buffering.max.messages", "1000000", problems);
  // murmur2 hashing of the key, as the Java client: Java and C++ producers agree on partitions.
  Set(conf.get(), "partitioner", "murmur2_random", problems);
  Set(conf.get(), "socket.keepalive.enable", "true", problems);
  for (const auto& [key, value] : config.properties) Set(conf.get(), key, value, problems);
  // Owned by the relay: config validation already refuses user values for these.
  Set(conf.get(), "bootstrap.servers", config.brokers, problems);
  Set(conf.get(), "enable.idempotence", "true", problems);
  Set(conf.get(), "acks", "all", problems);
  if (config.exactly_once()) {
    // A rejected record makes the transaction abortable: nothing of it is
    // visible, and every record of it is published again in the next one.
    Set(conf.get(), "transactional.id", config.transactional_id, problems);
    // librdkafka requires message.timeout.ms <= transaction.timeout.ms; 0
    // (infinite) would be refused, so the default follows the transaction's.
    if (config.delivery_timeout.count() > 0) {
      Set(conf.get(), "message.timeout.ms", std::to_string(config.delivery_timeout.count()), problems);
    }
  } else {
    // A batch the broker rejects for good (too large, not allowed) makes the
    // producer fatal instead of renumbering and writing the batches behind it:
    // a later event of a key never overtakes a rejected one. The relay rebuilds
    // the producer and reads the outbox again.
    Set(conf.get(), "enable.gapless.guarantee", "true", problems);
    Set(conf.get(), "message.timeout.ms", std::to_string(config.delivery_timeout.count()), problems);
  }
  if (!problems.empty()) throw KafkaConfError(std::move(problems));
  return conf;
}

std::vector<std::string> ProducerConfProblems(const KafkaConfig& config) {
  rdk::ConfPtr conf;
  try {
    conf = BuildProducerConf(config);
  } catch (const KafkaConfError& e) {
    return e.problems();
  }
  // rd_kafka_new checks the configuration as a whole (and loads TLS files). Without
  // brokers it connects nowhere; its threads end with rd_kafka_destroy.
  std::vector<std::string> unused;
  Set(conf.get(), "bootstrap.servers", "", unused);
  LogCapture capture;
  rd_kafka_conf_set_log_cb(conf.get(), &CaptureLog);
  rd_kafka_conf_set_opaque(conf.get(), &capture);
  char err[512];
  rdk::KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err));
  if (rk) {
    conf.release();  // owned by rk now
    return {};
  }
  std::string message = OneLine(err);
  {
    std::lock_guard<std::mutex> lock(capture.mu);
    if (!capture.first_error.empty() && message.find(capture.first_error) == std::string::npos) {
      message += " (librdkafka: " + OneLine(capture.first_error) + ")";
    }
  }
  const std::string name = MentionedProperty(err, config.properties);
  return {"kafka.properties" + (name.empty() ? std::string() : "." + name) + ": " + message};
}

}  // namespace outbox::relay
