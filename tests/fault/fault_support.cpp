#include "fault_support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <pqxx/pqxx>

#include "outbox/migrations.hpp"

namespace outbox::test::fault {
namespace {

/// For a failure message: where the first lost events should have been, i.e.
/// where the records of the same key just before and after them are.
std::string DescribeLost(const std::vector<WrittenEvent>& ledger, const std::vector<ConsumedRecord>& records) {
  std::unordered_map<std::string, const ConsumedRecord*> by_id;
  for (const auto& r : records) by_id.emplace(r.Header("event_id"), &r);
  auto where = [](const ConsumedRecord* r) {
    return r == nullptr ? std::string("-")
                        : r->topic + "/" + std::to_string(r->partition) + "@" + std::to_string(r->offset);
  };
  std::string out;
  int shown = 0;
  for (size_t i = 0; i < ledger.size() && shown < 5; ++i) {
    if (by_id.count(ledger[i].id)) continue;
    const ConsumedRecord* before = nullptr;
    const ConsumedRecord* after = nullptr;
    for (size_t j = i; j-- > 0 && ledger[j].aggregate_id == ledger[i].aggregate_id && !before;) {
      if (auto it = by_id.find(ledger[j].id); it != by_id.end()) before = it->second;
    }
    for (size_t j = i + 1; j < ledger.size() && ledger[j].aggregate_id == ledger[i].aggregate_id && !after; ++j) {
      if (auto it = by_id.find(ledger[j].id); it != by_id.end()) after = it->second;
    }
    out += "\n  lost " + ledger[i].id + " (key " + ledger[i].aggregate_id + "): previous of its key at " +
           where(before) + ", next at " + where(after);
    if (before != nullptr && after != nullptr && before->topic == after->topic &&
        before->partition == after->partition) {
      // Every offset in between read back means the event was never appended,
      // rather than appended and missed by the reader.
      std::set<long long> offsets;
      for (const auto& r : records) {
        if (r.topic == before->topic && r.partition == before->partition && r.offset >= before->offset &&
            r.offset <= after->offset) {
          offsets.insert(r.offset);
        }
      }
      out += "; " + std::to_string(offsets.size()) + " of the " + std::to_string(after->offset - before->offset + 1) +
             " offsets in between were read";
    }
    ++shown;
  }
  return out;
}

/// For a failure message: the first inversions, with where both records are.
std::string DescribeInversions(const std::vector<WrittenEvent>& ledger, const std::vector<ConsumedRecord>& records) {
  std::unordered_map<std::string, size_t> rank;
  std::unordered_map<std::string, size_t> per_key;
  for (const auto& e : ledger) rank[e.id] = per_key[e.aggregate_id]++;
  std::vector<const ConsumedRecord*> sorted;
  for (const auto& r : records) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) {
    return std::tie(x->topic, x->partition, x->offset) < std::tie(y->topic, y->partition, y->offset);
  });
  std::unordered_set<std::string> seen;
  std::unordered_map<std::string, const ConsumedRecord*> highest;  // key -> first delivery of its highest index
  std::string out;
  int shown = 0;
  for (const auto* r : sorted) {
    const std::string id = r->Header("event_id");
    auto it = rank.find(id);
    if (it == rank.end() || !seen.insert(id).second) continue;
    const ConsumedRecord*& top = highest[r->key];
    if (top != nullptr && rank[top->Header("event_id")] > it->second) {
      if (shown++ < 5) {
        out += "\n  inversion: key " + r->key + " event #" + std::to_string(it->second) + " (" + id + ") at " +
               std::to_string(r->partition) + "@" + std::to_string(r->offset) + " after #" +
               std::to_string(rank[top->Header("event_id")]) + " at " + std::to_string(top->partition) + "@" +
               std::to_string(top->offset);
      }
      continue;
    }
    top = r;
  }
  return out;
}

}  // namespace

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || n < 0) {
    ADD_FAILURE() << name << ": expected a non-negative integer, got \"" << v << "\"";
    return fallback;
  }
  return n;
}

uint64_t Seed(const std::string& scenario) {
  const char* v = std::getenv("OUTBOX_FAULT_SEED");
  const uint64_t seed = v != nullptr && *v != '\0'
                            ? std::strtoull(v, nullptr, 10)
                            : (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  std::printf("fault %s: seed=%llu (OUTBOX_FAULT_SEED=%llu replays this schedule)\n", scenario.c_str(),
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

FaultSchema::FaultSchema(const std::string& dsn, const std::string& prefix, int aggregates)
    : dsn_(dsn), name_(UniqueName(prefix)) {
  pqxx::connection c(dsn_);
  sdk::Migrate(c, name_);
  pqxx::work tx(c);
  const std::string q = "\"" + name_ + "\"";
  tx.exec("CREATE TABLE " + q + ".accounts (id text PRIMARY KEY, version int NOT NULL DEFAULT 0)");
  tx.exec_params("INSERT INTO " + q + ".accounts SELECT 'acct-' || g FROM generate_series(1, $1) g", aggregates);
  tx.exec("CREATE TABLE " + q +
          ".ledger (event_id uuid PRIMARY KEY, aggregate text NOT NULL, version int NOT NULL, idx int NOT NULL)");
  tx.commit();
}

FaultSchema::~FaultSchema() {
  try {
    pqxx::connection c(dsn_);
    pqxx::nontransaction tx(c);
    tx.exec("DROP SCHEMA IF EXISTS \"" + name_ + "\" CASCADE");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "dropping schema " << name_ << ": " << e.what();
  }
}

int64_t FaultSchema::OutboxRows() const {
  pqxx::connection c(dsn_);
  pqxx::nontransaction tx(c);
  return tx.exec1("SELECT count(*) FROM \"" + name_ + "\".outbox")[0].as<int64_t>();
}

std::vector<WrittenEvent> FaultSchema::Ledger() const {
  pqxx::connection c(dsn_);
  pqxx::nontransaction tx(c);
  std::vector<WrittenEvent> out;
  for (const auto& row :
       tx.exec("SELECT event_id::text, aggregate FROM \"" + name_ + "\".ledger ORDER BY aggregate, version, idx")) {
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
  }
  return out;
}

relay::Config ExactlyOnce(relay::Config c, const std::string& prefix) {
  c.kafka.delivery = relay::Delivery::kExactlyOnce;
  c.kafka.transactional_id = "outbox-relay.fault." + prefix;
  c.kafka.checkpoint_topic = prefix + ".checkpoints";
  c.postgres.lock_lease = std::chrono::milliseconds(2500);  // the exactly-once default
  return c;
}

std::string ErrorsByReason(const relay::RelayStats& stats) {
  std::string out;
  for (const auto& [reason, n] : stats.errors_by_reason.Snapshot()) {
    out += (out.empty() ? "" : ",") + reason + ":" + std::to_string(n);
  }
  return out.empty() ? "none" : out;
}

int64_t RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

void Report(const std::string& scenario, const std::string& counters, const Audit& a, const std::string& extra) {
  char line[1024];
  std::snprintf(line, sizeof line,
                "fault %s: %s events=%zu delivered=%zu lost=%zu phantom=%zu duplicates=%zu "
                "inversions=%zu%s",
                scenario.c_str(), counters.c_str(), a.committed, a.delivered, a.lost, a.phantom, a.duplicates,
                a.inversions, extra.c_str());
  std::printf("%s\n", line);
  std::fflush(stdout);
  if (const char* path = std::getenv("OUTBOX_FAULT_REPORT"); path != nullptr && *path != '\0') {
    std::ofstream(path, std::ios::app) << line << "\n";
  }
  ::testing::Test::RecordProperty("events", static_cast<int>(a.committed));
  ::testing::Test::RecordProperty("duplicates", static_cast<int>(a.duplicates));
}

Audit CheckDelivery(const std::vector<WrittenEvent>& ledger, const std::vector<WrittenEvent>& writers_view,
                    const std::vector<ConsumedRecord>& records, const std::unordered_set<std::string>& skipped) {
  // The writers resolved every commit of unknown outcome; their account must be exact.
  std::unordered_set<std::string> in_ledger;
  for (const auto& e : ledger) in_ledger.insert(e.id);
  size_t not_in_ledger = 0;
  for (const auto& e : writers_view) not_in_ledger += in_ledger.count(e.id) == 0;
  EXPECT_EQ(writers_view.size(), ledger.size()) << "the writers' committed set differs from the ledger";
  EXPECT_EQ(not_in_ledger, 0u) << "writers believe these committed, the ledger does not";

  std::vector<WrittenEvent> expected;
  for (const auto& e : ledger) {
    if (skipped.count(e.id) == 0) expected.push_back(e);
  }
  std::set<std::string> topics;
  for (const auto& r : records) topics.insert(r.topic);
  const std::vector<ConsumedRecord> merged = topics.size() > 1 ? InOneOrder(expected, records) : records;
  Audit a = AuditDelivery(expected, merged);
  EXPECT_EQ(a.lost, 0u) << a.first_problem << DescribeLost(expected, records);
  EXPECT_EQ(a.phantom, 0u) << a.first_problem;
  EXPECT_EQ(a.inversions, 0u) << a.first_problem << DescribeInversions(expected, merged);
  EXPECT_GT(a.committed, 0u) << "no events were written: the scenario tested nothing";
  return a;
}

std::vector<ConsumedRecord> InOneOrder(const std::vector<WrittenEvent>& committed,
                                       const std::vector<ConsumedRecord>& records) {
  std::unordered_map<std::string, size_t> rank;  // event id -> index within its aggregate
  std::unordered_map<std::string, size_t> per_key;
  for (const auto& e : committed) rank[e.id] = per_key[e.aggregate_id]++;
  std::map<std::pair<std::string, int>, std::vector<const ConsumedRecord*>> logs;
  for (const auto& r : records) logs[{r.topic, r.partition}].push_back(&r);
  std::vector<std::pair<std::vector<const ConsumedRecord*>*, size_t>> heads;  // log, next index
  for (auto& [where, log] : logs) {
    std::sort(log.begin(), log.end(), [](auto* x, auto* y) { return x->offset < y->offset; });
    heads.push_back({&log, 0});
  }
  auto order = [&](const ConsumedRecord* r) {
    const auto it = rank.find(r->Header("event_id"));
    return std::make_pair(r->timestamp_ms, it == rank.end() ? SIZE_MAX : it->second);
  };
  std::vector<ConsumedRecord> out;
  out.reserve(records.size());
  while (out.size() < records.size()) {
    size_t best = heads.size();
    for (size_t h = 0; h < heads.size(); ++h) {
      const auto& [log, next] = heads[h];
      if (next == log->size()) continue;
      if (best == heads.size() || order((*log)[next]) < order((*heads[best].first)[heads[best].second])) best = h;
    }
    ConsumedRecord r = *(*heads[best].first)[heads[best].second++];
    r.topic = "(merged)";
    r.partition = 0;
    r.offset = static_cast<long long>(out.size());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace outbox::test::fault

namespace outbox::test::fault {

std::vector<ConsumedRecord> ReadPartitions(const std::string& brokers, const std::string& topic, int partitions,
                                           const std::vector<WrittenEvent>& committed, int timeout_ms) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : std::vector<std::pair<const char*, std::string>>{{"bootstrap.servers", brokers},
                                                                             {"group.id", UniqueName("fault_reader")},
                                                                             {"enable.auto.commit", "false"},
                                                                             {"isolation.level", "read_committed"},
                                                                             {"log_level", "3"}}) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("librdkafka config ") + k + ": " + err);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);

  std::unordered_set<std::string> missing;
  for (const auto& e : committed) missing.insert(e.id);
  std::vector<ConsumedRecord> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto quiet_since = std::chrono::steady_clock::now();
  // Once all are in, keep reading until the partitions stay quiet, so late duplicates count too.
  while (std::chrono::steady_clock::now() < deadline &&
         !(missing.empty() && std::chrono::steady_clock::now() - quiet_since > std::chrono::milliseconds(1500))) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ConsumedRecord r = ToConsumedRecord(m);
      missing.erase(r.Header("event_id"));
      out.push_back(std::move(r));
      quiet_since = std::chrono::steady_clock::now();
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace outbox::test::fault
