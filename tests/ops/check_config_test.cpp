// `check-config` catches what `run` would reject, without connecting anywhere:
// librdkafka properties (built exactly as the producer builds them) and DSNs
// that libpq cannot use. Both subcommands answer such a file with exit 2 and
// one line per problem naming the key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "kafka/kafka_conf.hpp"
#include "ops_util.hpp"

namespace outbox::test {
namespace {

relay::KafkaConfig Kafka(std::map<std::string, std::string> properties) {
  relay::KafkaConfig k;
  k.brokers = "127.0.0.1:9";
  k.properties = std::move(properties);
  return k;
}

std::string Get(rd_kafka_conf_t* conf, const char* name) {
  char value[512];
  size_t size = sizeof value;
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return "<unknown>";
  return value;
}

TEST(KafkaConf, BuildsWhatTheProducerUses) {
  relay::KafkaConfig k = Kafka({{"linger.ms", "20"}, {"compression.type", "zstd"}});
  k.delivery_timeout = std::chrono::milliseconds(0);
  relay::rdk::ConfPtr conf = relay::BuildProducerConf(k);
  ASSERT_NE(conf, nullptr);
  EXPECT_EQ(Get(conf.get(), "bootstrap.servers"), "127.0.0.1:9");
  EXPECT_EQ(Get(conf.get(), "enable.idempotence"), "true");
  EXPECT_EQ(Get(conf.get(), "linger.ms"), "20") << "kafka.properties override the relay's defaults";
  EXPECT_EQ(Get(conf.get(), "batch.num.messages"), "10000") << "the relay's default";
  EXPECT_EQ(Get(conf.get(), "partitioner"), "murmur2_random");
  EXPECT_EQ(Get(conf.get(), "compression.codec"), "zstd");
  EXPECT_TRUE(relay::ProducerConfProblems(k).empty());
}

TEST(KafkaConf, LingersTwoMillisecondsUnlessTold) {
  relay::rdk::ConfPtr conf = relay::BuildProducerConf(Kafka({}));
  ASSERT_NE(conf, nullptr);
  EXPECT_EQ(Get(conf.get(), "linger.ms"), "2") << "the latency default of docs/configuration.md";
}

TEST(KafkaConf, EveryRejectedPropertyIsOneLineNamingIt) {
  const relay::KafkaConfig k =
      Kafka({{"no.such.property", "1"}, {"compression.type", "zzz"}, {"linger.ms", "soon"}, {"acks", "all"}});
  const std::vector<std::string> problems = relay::ProducerConfProblems(k);
  ASSERT_EQ(problems.size(), 3u) << ::testing::PrintToString(problems);
  EXPECT_EQ(problems[0],
            "kafka.properties.compression.type: Invalid value \"zzz\" for configuration property "
            "\"compression.codec\"");
  EXPECT_EQ(problems[1].rfind("kafka.properties.linger.ms: Invalid value", 0), 0u) << problems[1];
  EXPECT_EQ(problems[2], "kafka.properties.no.such.property: No such configuration property: \"no.such.property\"");
  try {
    relay::BuildProducerConf(k);
    ADD_FAILURE() << "BuildProducerConf accepted them";
  } catch (const relay::KafkaConfError& e) {
    EXPECT_EQ(e.problems(), problems);
    EXPECT_EQ(std::string(e.what()), problems[0]);
  }
}

// Properties each fine alone that librdkafka refuses together when creating the
// producer (rd_kafka_new), which check-config does without a broker.
TEST(KafkaConf, CombinationsThatCreatingTheProducerRejects) {
  auto problems = relay::ProducerConfProblems(Kafka({{"max.in.flight.requests.per.connection", "10"}}));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "kafka.properties: `max.in.flight` must be set <= 5 when `enable.idempotence` is true");

  problems = relay::ProducerConfProblems(Kafka({{"retries", "0"}}));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "kafka.properties.retries: `retries` must be set >= 1 when `enable.idempotence` is true");

  problems = relay::ProducerConfProblems(
      Kafka({{"security.protocol", "SASL_SSL"}, {"sasl.mechanisms", "SCRAM-SHA-512"}, {"sasl.username", "relay"}}));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("sasl.password must be set"), std::string::npos) << problems[0];

  problems = relay::ProducerConfProblems(
      Kafka({{"security.protocol", "SSL"}, {"ssl.ca.location", "/nonexistent/outbox-ca.pem"}}));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].rfind("kafka.properties.ssl.ca.location: ", 0), 0u) << problems[0];
  EXPECT_NE(problems[0].find("/nonexistent/outbox-ca.pem"), std::string::npos)
      << "librdkafka's detail: " << problems[0];
  EXPECT_EQ(problems[0].find('\n'), std::string::npos);
}

std::string ConfigFile(const std::string& body) {
  return WriteTempFile("check_config",
                       "[postgres]\ndsn = \"postgresql://relay@127.0.0.1:" + std::to_string(FreeLoopbackPort()) +
                           "/app\"\n[kafka]\nbrokers = \"127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "\"\n" +
                           body);
}

// The reproduction: these passed check-config (exit 0), then run exited 1.
TEST(CheckConfig, KafkaPropertiesRunWouldRejectExitTwo) {
  const std::string path =
      ConfigFile("[kafka.properties]\n\"no.such.property\" = \"1\"\n\"compression.type\" = \"zzz\"\n");
  for (const std::string command : {"check-config", "run"}) {
    const CommandResult r = RunRelayCommand({"-c", path, command}, 20);
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.err;
    const auto lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 2u) << command << ": " << r.err;
    const std::string prefix = "outbox-relay: " + command + ": " + path + ": kafka.properties.";
    EXPECT_EQ(lines[0], prefix +
                            "compression.type: Invalid value \"zzz\" for configuration property "
                            "\"compression.codec\"");
    EXPECT_EQ(lines[1], prefix + "no.such.property: No such configuration property: \"no.such.property\"");
    EXPECT_EQ(r.out, "") << command;
  }
}

// The reproduction: these passed check-config, and run retried them forever.
TEST(CheckConfig, DsnsLibpqCannotUseExitTwo) {
  for (const std::string dsn :
       {"postgresql://relay@127.0.0.1/app?sslmode=bogus", "postgresql://127.0.0.1/app?bogus=1", "not a dsn = = '"}) {
    const std::string path = WriteTempFile(
        "check_config", "[postgres]\ndsn = \"\"\"" + dsn + "\"\"\"\n[kafka]\nbrokers = \"127.0.0.1:9\"\n");
    for (const std::string command : {"check-config", "run"}) {
      const CommandResult r = RunRelayCommand({"-c", path, command}, 20);
      EXPECT_EQ(r.exit_code, 2) << command << " " << dsn << ": " << r.err;
      const auto lines = Lines(r.err);
      ASSERT_EQ(lines.size(), 1u) << command << " " << dsn << ": " << r.err;
      EXPECT_EQ(lines[0].rfind("outbox-relay: " + command + ": " + path + ": postgres.dsn: ", 0), 0u) << lines[0];
    }
  }
}

TEST(CheckConfig, AGoodFileIsOk) {
  const std::string path = ConfigFile("[kafka.properties]\n\"linger.ms\" = 20\n\"compression.type\" = \"lz4\"\n");
  const CommandResult r = RunRelayCommand({"-c", path, "check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, path + ": ok\n");
  EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace outbox::test
