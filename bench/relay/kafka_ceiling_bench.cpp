// kafka-ceiling-bench: the Kafka ceiling. A plain librdkafka producer sends
// the records the relay would send for the drain backlog (same topic layout,
// key, value and header sizes) with the relay's producer settings
// (relay/src/kafka/producer.cpp), and waits for every delivery report.
//
//   kafka-ceiling-bench --brokers HOST:PORT --events N [--json FILE]
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "bench_env.hpp"
#include "fixtures.hpp"
#include "outbox/event.hpp"

namespace {

using namespace outbox::bench;

struct Counts {
  long ok = 0;
  long failed = 0;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* c = static_cast<Counts*>(opaque);
  (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? c->ok : c->failed)++;
}

void Set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error(std::string(key) + ": " + err);
  }
}

int Run(const Flags& flags) {
  const long events = flags.Int("events");
  const std::string brokers = flags.Str("brokers");
  const std::string topic = "bench.kafka." + std::to_string(events) + "_" + std::to_string(getpid());
  const double load = LoadAverage1();
  CreateTopic(brokers, topic);

  Counts counts;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The relay's settings, in its order (Producer::Producer).
  Set(conf, "linger.ms", "2");
  Set(conf, "batch.num.messages", "10000");
  Set(conf, "queue.buffering.max.messages", "1000000");
  Set(conf, "partitioner", "murmur2_random");
  Set(conf, "socket.keepalive.enable", "true");
  Set(conf, "bootstrap.servers", brokers);
  Set(conf, "enable.idempotence", "true");
  Set(conf, "acks", "all");
  Set(conf, "message.timeout.ms", "0");  // as the relay: never expire a record
  rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
  rd_kafka_conf_set_opaque(conf, &counts);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("producer: ") + err);
  }

  // The relay's record for a prefilled row: key, 256-byte value and headers
  // event_id, event_type, aggregate_type, aggregate_id, created_at, traceparent.
  const std::string created_at = "2026-11-23T10:15:23.123456Z";
  const double cpu0 = SelfCpuSeconds();
  const double start = Now();
  for (long n = 1; n <= events; ++n) {
    const std::string key = AggregateId(n), value = Payload(n), id = outbox::sdk::NewEventId();
    rd_kafka_headers_t* h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "event_id", -1, id.data(), static_cast<ssize_t>(id.size()));
    rd_kafka_header_add(h, "event_type", -1, "BenchEvent", -1);
    rd_kafka_header_add(h, "aggregate_type", -1, "bench", -1);
    rd_kafka_header_add(h, "aggregate_id", -1, key.data(), static_cast<ssize_t>(key.size()));
    rd_kafka_header_add(h, "created_at", -1, created_at.data(), static_cast<ssize_t>(created_at.size()));
    rd_kafka_header_add(h, "traceparent", -1, kTraceparent, -1);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    for (int attempt = 0; attempt < 100000 && e == RD_KAFKA_RESP_ERR__QUEUE_FULL; ++attempt) {
      e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_KEY(key.data(), key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_HEADERS(h),
                            RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(rk, 10);
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(h);
      rd_kafka_destroy(rk);
      throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(e));
    }
    if ((n & 1023) == 0) rd_kafka_poll(rk, 0);  // serve delivery reports as the relay does
  }
  rd_kafka_flush(rk, 120000);
  const double secs = Now() - start;
  const double cpu = SelfCpuSeconds() - cpu0;
  rd_kafka_destroy(rk);
  if (counts.ok != events) {
    throw std::runtime_error(std::to_string(counts.ok) + " of " + std::to_string(events) + " delivered, " +
                             std::to_string(counts.failed) + " failed");
  }
  std::printf("kafka ceiling %8ld events: %6.2f s  %9.0f events/s  producer cpu %.2f s  load %.2f\n", events, secs,
              events / secs, cpu, load);
  nlohmann::json j = {{"kind", "kafka_ceiling"},       {"events", events},
                      {"load_avg_1m_at_start", load},  {"seconds", secs},
                      {"events_per_s", events / secs}, {"producer_cpu_s", cpu}};
  if (flags.Str("json") != "-") AppendJsonLine(flags.Str("json"), j);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("kafka-ceiling-bench", {{"brokers", ""}, {"events", "100000"}, {"json", "-"}});
  try {
    flags.Parse(argc, argv);
    return Run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka-ceiling-bench: %s\n", e.what());
    return 1;
  }
}
