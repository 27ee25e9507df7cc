#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kafka/record.hpp"

namespace outbox::relay {

struct KafkaConfig;

/// Start-up failure of the Kafka producer (bad property, unusable settings).
class KafkaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The outcome of a transactional call (librdkafka's rd_kafka_error_t, classified).
struct TxnResult {
  bool ok = true;
  bool retriable = false;  ///< call it again
  bool abortable = false;  ///< abort the transaction, then publish its records again
  bool fatal = false;      ///< the producer is unusable (fenced, or a fatal error)
  bool fenced = false;     ///< another producer with the same transactional.id started
  std::string error;       ///< "NAME: text"
};

/// An idempotent (enable.idempotence=true, acks=all) librdkafka producer.
/// Not thread-safe: one owner thread calls every method. Delivery reports are
/// collected by Poll(); EventFd() becomes readable when some are waiting.
class Producer {
 public:
  explicit Producer(const KafkaConfig& config);
  ~Producer() noexcept;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  /// Hands `record` to librdkafka. On success returns a kOk report (the real
  /// outcome arrives later from Poll()); otherwise the synchronous failure.
  DeliveryReport Produce(const KafkaRecord& record, DeliveryToken token);

  /// Serves librdkafka callbacks for up to `timeout_ms` and appends the
  /// delivery reports that arrived to `out`. Returns how many were appended.
  size_t Poll(int timeout_ms, std::vector<DeliveryReport>& out);

  /// A non-blocking fd that becomes readable when callbacks are waiting; call
  /// Poll(0, ...) after it fires (Poll drains it).
  int EventFd() const;

  /// True once librdkafka raised a fatal error; `reason` gets its text,
  /// `fenced` whether another producer with the transactional.id fenced it.
  bool IsFatal(std::string* reason = nullptr, bool* fenced = nullptr) const;

  /// True while librdkafka reports every broker down (checked with a 500 ms
  /// metadata request when it last said so; cheap otherwise).
  bool BrokersDown();

  /// Records queued or in flight inside librdkafka.
  size_t OutQueueLength() const;

  /// Raises a fabricated librdkafka fatal error (as the idempotence-desync bug
  /// of librdkafka 2.0.x would), for fault tests.
  void InjectFatalError(const std::string& reason);

  /// Fails every queued and in-flight record now (their reports go to `out`).
  void PurgeAll(std::vector<DeliveryReport>& out);

  // Transactions (kafka.delivery = "exactly_once"; the producer was built with
  // a transactional.id). Delivery reports served while these block (commit
  // flushes) are kept for the next Poll().
  TxnResult InitTransactions(int timeout_ms);
  TxnResult BeginTransaction();
  TxnResult CommitTransaction(int timeout_ms);
  TxnResult AbortTransaction(int timeout_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace outbox::relay
