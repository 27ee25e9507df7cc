#pragma once
// Helpers shared by the consumer suites: a plain idempotent producer (the
// relay is not needed), a side-effect table that exposes double application,
// and bounded polling.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "outbox/consumer.hpp"

namespace outbox::test {

struct OutRecord {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A record shaped like the relay's: event_id, event_type, aggregate headers.
OutRecord EventRecord(const std::string& event_id, const std::string& key, const std::string& event_type = "Test",
                      const std::string& payload = "{}");

/// n events "<prefix>0".."<prefix>n-1" over 7 keys.
std::vector<OutRecord> Events(const std::string& prefix, int n);

/// Expects exactly `n` effects, each applied once.
void ExpectEachAppliedOnce(const std::string& schema, size_t n);

/// Produces `records` in order with an idempotent acks=all producer; fails the
/// test unless every delivery report succeeded. partition -1 = by key.
void Produce(const std::string& topic, const std::vector<OutRecord>& records, int partition = -1);

/// Options for a test consumer: brokers from the fixture, a fresh group id,
/// short backoff and heartbeat so tests stay fast.
sdk::ConsumerOptions TestOptions(const std::string& topic, const std::string& schema, const std::string& consumer);

/// Creates <schema>.effects(event_id PK, applied int): the handler below adds 1
/// per application, so anything other than 1 is a lost or doubled effect.
void CreateEffectsTable(const std::string& schema);

/// A handler that applies the effect of `record` and counts its calls.
sdk::Handler EffectHandler(const std::string& schema, std::atomic<int>* calls);

/// event_id -> applied, read from <schema>.effects.
std::map<std::string, int> Effects(const std::string& schema);

/// Rows of <schema>.inbox for `consumer`.
int InboxRows(const std::string& schema, const std::string& consumer);

/// Options for batches: max_batch_size, async offset commits, short batch wait.
sdk::ConsumerOptions BatchOptions(const std::string& topic, const std::string& schema, const std::string& consumer,
                                  int batch = 500);

/// Creates <schema>.applied_log(seq bigserial, key, event_id): the order in
/// which side effects were applied.
void CreateOrderLog(const std::string& schema);
/// A handler appending (key, event_id) to <schema>.applied_log.
sdk::Handler OrderLogHandler(const std::string& schema);
/// event ids of `key` in the order they were applied.
std::vector<std::string> AppliedOrder(const std::string& schema, const std::string& key);

/// Rows of <schema>.consumer_parked for `consumer`.
int ParkedRows(const std::string& schema, const std::string& consumer);

/// Calls PollOnce until `done()` or `timeout`; returns done().
bool PollUntil(sdk::IdempotentConsumer& consumer, const std::function<bool()>& done,
               std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// Polls for `duration` and returns how many records were handled.
int PollFor(sdk::IdempotentConsumer& consumer, std::chrono::milliseconds duration);

}  // namespace outbox::test
