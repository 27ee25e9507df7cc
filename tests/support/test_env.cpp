#include "test_env.hpp"

#include <librdkafka/rdkafka.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>
#include <pqxx/nontransaction>

namespace outbox::test {
namespace {

std::string RequireEnv(const char* name, const char* what) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    // A missing server is a failure, never a skip.
    throw std::runtime_error(std::string(name) + " is not set: this test needs " + what +
                             "; run it through ctest (fixtures start the servers) or scripts/test.sh");
  }
  return v;
}

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

void Set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error(std::string("librdkafka config ") + key + ": " + err);
  }
}

KafkaPtr NewClient(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  return KafkaPtr(rk);
}

}  // namespace

std::string PgDsn() { return RequireEnv("OUTBOX_TEST_PG_DSN", "a PostgreSQL server"); }

std::string KafkaBrokers() { return RequireEnv("OUTBOX_TEST_KAFKA_BROKERS", "a Kafka broker"); }

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}() % 100000;
  return prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(salt);
}

ScopedSchema::ScopedSchema(const std::string& prefix) : name_(UniqueName(prefix)) {}

ScopedSchema::~ScopedSchema() {
  try {
    pqxx::connection c(PgDsn());
    pqxx::nontransaction tx(c);
    tx.exec("DROP SCHEMA IF EXISTS \"" + name_ + "\" CASCADE");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "dropping schema " << name_ << ": " << e.what();
  }
}

void CreateTopic(const std::string& topic, int partitions, const std::map<std::string, std::string>& configs) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", KafkaBrokers());
  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, conf);

  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, nullptr, 0);
  for (const auto& [name, value] : configs) rd_kafka_NewTopic_set_config(nt, name.c_str(), value.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_CreateTopics(rk.get(), &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  std::string error;
  if (ev == nullptr) {
    error = "CreateTopics timed out";
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error = rd_kafka_event_error_string(ev);
    } else if (n == 1 && rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
               rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      error = rd_kafka_topic_result_error_string(res[0]);
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  if (!error.empty()) throw std::runtime_error("creating topic " + topic + ": " + error);

  // Wait until the metadata shows every partition with a leader.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
    bool ready = false;
    if (rd_kafka_metadata(rk.get(), 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ready = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
              md->topics[0].partition_cnt == partitions;
      for (int i = 0; ready && i < md->topics[0].partition_cnt; ++i) ready = md->topics[0].partitions[i].leader >= 0;
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    if (ready) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("topic " + topic + " has no leaders after 30 s");
}

ConsumedRecord ToConsumedRecord(const rd_kafka_message_t* m) {
  ConsumedRecord r;
  r.topic = rd_kafka_topic_name(m->rkt);
  r.partition = m->partition;
  r.offset = m->offset;
  if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
  r.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
  // rd_kafka_message_headers() wants a non-const message but does not change it.
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(const_cast<rd_kafka_message_t*>(m), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      r.headers.emplace_back(name, val ? std::string(static_cast<const char*>(val), size) : std::string());
    }
  }
  return r;
}

std::string ConsumedRecord::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

std::vector<ConsumedRecord> ConsumeAll(const std::vector<std::string>& topics, size_t expected, int timeout_ms,
                                       const std::string& brokers) {
  return ConsumeUntil(
      topics, [expected](const std::vector<ConsumedRecord>& got) { return got.size() >= expected; }, timeout_ms,
      brokers);
}

std::vector<ConsumedRecord> ConsumeUntil(const std::vector<std::string>& topics,
                                         const std::function<bool(const std::vector<ConsumedRecord>&)>& done,
                                         int timeout_ms, const std::string& brokers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", brokers.empty() ? KafkaBrokers() : brokers);
  Set(conf, "group.id", UniqueName("test_reader"));
  Set(conf, "auto.offset.reset", "earliest");
  Set(conf, "enable.auto.commit", "false");
  Set(conf, "isolation.level", "read_committed");
  Set(conf, "topic.metadata.refresh.interval.ms", "1000");
  KafkaPtr rk = NewClient(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk.get());

  rd_kafka_topic_partition_list_t* subs = rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const auto& t : topics) rd_kafka_topic_partition_list_add(subs, t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk.get(), subs);
  rd_kafka_topic_partition_list_destroy(subs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(std::string("subscribe: ") + rd_kafka_err2str(err));

  std::vector<ConsumedRecord> out;
  // A topic that appears after the subscription (the relay creates them)
  // rebalances the group, and with no committed offsets the partitions read
  // before start over from the earliest offset: a record read twice that way
  // is one record, not a duplicate delivery.
  std::set<std::tuple<std::string, int, long long>> seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done(out) && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ConsumedRecord r = ToConsumedRecord(m);
      if (seen.emplace(r.topic, r.partition, r.offset).second) out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

std::string RelayBinary() {
  const char* bin_dir = std::getenv("OUTBOX_BIN_DIR");
  if (bin_dir == nullptr) throw std::runtime_error("OUTBOX_BIN_DIR is not set; run through ctest");
  return std::string(bin_dir) + "/relay/outbox-relay";
}

namespace {
std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

CommandResult RunRelayCommand(const std::vector<std::string>& args, int timeout_s) {
  const std::string out_path = WriteTempFile("relay_out", ""), err_path = WriteTempFile("relay_err", "");
  const std::string binary = RelayBinary();
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(out_path.c_str(), "w", stdout) || !freopen(err_path.c_str(), "w", stderr)) _exit(126);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  if (pid < 0) throw std::runtime_error("fork failed");
  int status = 0;
  // Bounded: a command that hangs is killed after timeout_s (and reported as 128+9).
  pid_t done = 0;
  for (int i = 0; i < timeout_s * 100 && (done = waitpid(pid, &status, WNOHANG)) == 0; ++i) usleep(10000);
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return r;
}

std::string WriteTempFile(const std::string& prefix, const std::string& text) {
  const std::string path = "/tmp/" + UniqueName(prefix);
  std::ofstream(path) << text;
  return path;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace outbox::test
