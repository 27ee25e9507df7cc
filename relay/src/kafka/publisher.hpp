#pragma once

#include <memory>

#include "kafka/producer.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

struct KafkaConfig;

/// The Publisher on librdkafka: an idempotent Producer that rebuilds itself
/// after a fatal error (the idempotence desync of librdkafka 2.0.x), the way
/// modern-cpp-kafka's KafkaRecoverableProducer does. The rebuild purges the
/// old instance; its outstanding records are reported failed (or lost with
/// it), so the relay reads them again.
class KafkaPublisher : public Publisher {
 public:
  explicit KafkaPublisher(const KafkaConfig& config);

  DeliveryReport Produce(const KafkaRecord& record, DeliveryToken token) override;
  bool Poll(int timeout_ms, std::vector<DeliveryReport>& out) override;
  int EventFd() const override { return producer_->EventFd(); }
  size_t OutQueueLength() const override { return producer_->OutQueueLength(); }
  bool BrokersDown() override { return producer_->BrokersDown(); }
  void InjectFatalError(const std::string& reason) override { producer_->InjectFatalError(reason); }

 private:
  const KafkaConfig& config_;
  std::unique_ptr<Producer> producer_;
};

}  // namespace outbox::relay
