// The Kafka broker started by the test fixture is real: topics are created
// through the Admin API, an idempotent acks=all producer writes, and a
// read_committed consumer reads the same records back.
#include <librdkafka/rdkafka.h>

#include <set>

#include <gtest/gtest.h>

#include "test_env.hpp"

namespace outbox::test {
namespace {

void DeliveryCounter(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* counts = static_cast<std::pair<int, int>*>(opaque);
  (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? counts->first : counts->second)++;
}

}  // namespace

TEST(KafkaServer, IdempotentProducerRecordsAreConsumedBack) {
  const std::string topic = UniqueName("srv");
  CreateTopic(topic, 3);

  std::pair<int, int> counts{0, 0};
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", KafkaBrokers().c_str(), err, sizeof err), RD_KAFKA_CONF_OK);
  ASSERT_EQ(rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err), RD_KAFKA_CONF_OK);
  ASSERT_EQ(rd_kafka_conf_set(conf, "acks", "all", err, sizeof err), RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_dr_msg_cb(conf, DeliveryCounter);
  rd_kafka_conf_set_opaque(conf, &counts);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;

  constexpr int kRecords = 500;
  for (int i = 0; i < kRecords; ++i) {
    std::string key = "k" + std::to_string(i % 7), value = "v" + std::to_string(i);
    ASSERT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                                RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_HEADER("event_id", value.data(), value.size()), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_poll(rk, 0);
  }
  EXPECT_EQ(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
  EXPECT_EQ(counts.first, kRecords);
  EXPECT_EQ(counts.second, 0);

  auto records = ConsumeAll({topic}, kRecords);
  ASSERT_EQ(records.size(), static_cast<size_t>(kRecords));
  std::set<std::string> values;
  std::set<int> partitions;
  for (const auto& r : records) {
    values.insert(r.value);
    partitions.insert(r.partition);
    EXPECT_EQ(r.Header("event_id"), r.value);
  }
  EXPECT_EQ(values.size(), static_cast<size_t>(kRecords));
  EXPECT_GT(partitions.size(), 1u);
}

}  // namespace outbox::test
