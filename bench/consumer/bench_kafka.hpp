#pragma once
// Kafka helpers of consumer-bench: topics, a rate-limited producer.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <string>

namespace outbox::bench {

/// Creates `topic` (LogAppendTime timestamps, so a record's timestamp is its
/// log append time) and waits until every partition has a leader.
void CreateTopic(const std::string& brokers, const std::string& topic, int partitions);

/// Produces `count` outbox-shaped records (event_id "<prefix><i>", 1000 keys)
/// at `rate` records/s (0 = as fast as possible); throws unless all were acknowledged.
void Produce(const std::string& brokers, const std::string& topic, const std::string& prefix, long count, long rate,
             const std::atomic<bool>* stop = nullptr);

/// A consumer of `group` with the SDK's own settings (read_committed, manual commits).
rd_kafka_t* NewConsumer(const std::string& brokers, const std::string& group, const std::string& topic);

}  // namespace outbox::bench
