#include "fake_stages.hpp"

#include <algorithm>

namespace outbox::relay::fake {

int64_t Table::Insert(const std::string& key, const std::string& value, const std::string& topic) {
  OutboxRow r;
  r.seq = next_seq++;
  r.id = "00000000-0000-0000-0000-" + std::to_string(100000000000 + r.seq);
  r.aggregate_type = "order";
  r.aggregate_id = key;
  r.event_type = "E";
  r.payload = value;
  if (!topic.empty()) r.topic = topic;
  rows[r.seq] = r;
  return r.seq;
}

std::vector<OutboxRow> Source::Read(size_t max, size_t outstanding) {
  ++reads;
  max_outstanding_seen = std::max(max_outstanding_seen, outstanding);
  std::vector<OutboxRow> out;
  for (auto it = table_.rows.upper_bound(cursor_); it != table_.rows.end() && out.size() < max; ++it) {
    out.push_back(it->second);
    cursor_ = it->first;
    if (stream) {
      OutboxRow& r = out.back();
      r.txn = lsn_.Begin();
      lsn_.Add(r.txn);
      lsn_.Commit(static_cast<Lsn>(r.seq));
    }
  }
  return out;
}

void Source::Released(const std::vector<uint64_t>& txns) {
  for (uint64_t t : txns) lsn_.Done(t);
}

void Source::Rewind() {
  cursor_ = 0;
  lsn_.Reset(lsn_.confirmed());
}

DeliveryReport Publisher::Produce(const KafkaRecord& record, DeliveryToken token) {
  DeliveryReport r;
  r.token = token;
  r.topic = record.topic;
  if (outstanding.size() >= queue_limit) {
    r.status = DeliveryStatus::kRetriable;
    return r;
  }
  const DeliveryStatus refused = refuse(record);
  if (refused != DeliveryStatus::kOk) {
    r.status = refused;
    r.error = "refused";
    r.error_name = "REFUSED";
    return r;
  }
  outstanding.push_back(Sent{token, record});
  return r;
}

void Publisher::Report(const Sent& s, DeliveryStatus status) {
  DeliveryReport r;
  r.token = s.token;
  r.topic = s.record.topic;
  r.status = status;
  if (status == DeliveryStatus::kOk) {
    written.push_back(s.record);
  } else {
    r.error = "failed";
    r.error_name = "FAILED";
  }
  ready.push_back(r);
}

void Publisher::Deliver(size_t n) {
  std::unordered_set<std::string> failed_keys;
  while (n-- > 0 && !outstanding.empty()) {
    Sent s = std::move(outstanding.front());
    outstanding.pop_front();
    if (gapless && failed_keys.count(s.record.key) != 0) {
      Report(s, DeliveryStatus::kRetriable);
      continue;
    }
    const DeliveryStatus status = decide(s.record);
    if (status != DeliveryStatus::kOk) failed_keys.insert(s.record.key);
    Report(s, status);
  }
}

void Publisher::Settle(const std::string& value, DeliveryStatus status) {
  for (auto it = outstanding.begin(); it != outstanding.end(); ++it) {
    if (it->record.value == value) {
      Sent s = std::move(*it);
      outstanding.erase(it);
      Report(s, status);
      return;
    }
  }
}

bool Publisher::Poll(int, std::vector<DeliveryReport>& out) {
  if (rebuild_next_poll) {
    rebuild_next_poll = false;
    outstanding.clear();  // lost with the old instance, unreported
    for (auto& r : ready) out.push_back(r);
    ready.clear();
    return true;
  }
  if (auto_deliver) Deliver();
  for (auto& r : ready) out.push_back(r);
  ready.clear();
  return false;
}

std::vector<RowRef> AckStore::Ack(const std::vector<RowRef>& rows) {
  if (fail_acks) throw std::runtime_error("ack failed");
  std::vector<RowRef> changed;
  for (const RowRef& r : rows) {
    if (invisible.count(r.seq) != 0 || table_.rows.erase(r.seq) == 0) continue;
    table_.acked.push_back(r.seq);
    changed.push_back(r);
  }
  return changed;
}

bool AckStore::MoveToDeadLetter(RowRef row, const std::string&, uint32_t) {
  const int64_t seq = row.seq;
  auto it = table_.rows.find(seq);
  if (it == table_.rows.end()) return false;
  table_.dead_letters[seq] = it->second;
  table_.rows.erase(it);
  return true;
}

std::unordered_set<std::string> AckStore::DeadLetteredKeys() {
  std::unordered_set<std::string> keys;
  for (const auto& [seq, r] : table_.dead_letters) keys.insert(KeyHolds::Key(r.aggregate_type, r.aggregate_id));
  return keys;
}

Config Harness::DefaultConfig() {
  Config c;
  c.kafka.brokers = "fake:9092";
  c.source.batch_size = 10;
  c.source.max_in_flight = 50;
  c.source.ack_batch_size = 5;
  c.log.progress_interval = std::chrono::seconds(0);
  c.dead_letter.max_attempts = 2;
  return c;
}

Harness::Harness(Config config) {
  relay = std::make_unique<Relay>(std::move(config), [this](const Config&) {
    Stages s;
    auto src = std::make_unique<Source>(table);
    auto pub = std::make_unique<Publisher>();
    auto ack = std::make_unique<AckStore>(table);
    source = src.get();
    publisher = pub.get();
    acks = ack.get();
    s.source = std::move(src);
    s.publisher = std::move(pub);
    s.ack_store = std::move(ack);
    return s;
  });
  relay->Start(now);
}

void Harness::Steps(int n) {
  for (int i = 0; i < n; ++i) {
    now += std::chrono::milliseconds(10);
    relay->Step(now);
  }
}

bool Harness::StepUntil(const std::function<bool()>& pred, int max_steps) {
  for (int i = 0; i < max_steps; ++i) {
    if (pred()) return true;
    Steps(1);
  }
  return pred();
}

std::vector<std::string> Harness::Written(const std::string& key) const {
  std::vector<std::string> out;
  for (const auto& r : publisher->written) {
    if (r.key == key) out.push_back(r.value.value_or(""));
  }
  return out;
}

}  // namespace outbox::relay::fake
