#include "kafka/publisher.hpp"

#include <spdlog/spdlog.h>

#include "config/config.hpp"

namespace outbox::relay {

KafkaPublisher::KafkaPublisher(const KafkaConfig& config)
    : config_(config), producer_(std::make_unique<Producer>(config)) {}

DeliveryReport KafkaPublisher::Produce(const KafkaRecord& record, DeliveryToken token) {
  return producer_->Produce(record, token);
}

bool KafkaPublisher::Poll(int timeout_ms, std::vector<DeliveryReport>& out) {
  producer_->Poll(timeout_ms, out);
  std::string reason;
  if (!producer_->IsFatal(&reason)) return false;
  spdlog::error("kafka: rebuilding the producer after a fatal error ({})", reason);
  producer_->PurgeAll(out);
  // The event fd changes with the instance; the relay polls EventFd() afresh each round.
  producer_ = std::make_unique<Producer>(config_);
  return true;
}

}  // namespace outbox::relay
