// PollBatch: parked records that are due, then one batch from Kafka.
#include "consumer_impl.hpp"

namespace outbox::sdk {

size_t IdempotentConsumer::Impl::PollBatch(std::chrono::milliseconds timeout) {
  if (broken_) {
    throw ConsumerError(
        "consumer: unusable after an exception escaped mid-batch; Hint: destroy it and build a new one");
  }
  if (closed_) throw ConsumerError("consumer: PollOnce after Close()");
  broken_ = true;  // stays set if an exception (a simulated crash) escapes before the end
  size_t finished = DrainIfDue();
  // Do not sleep in the poll past the next parked record's retry.
  const auto until_drain = std::chrono::duration_cast<std::chrono::milliseconds>(next_drain_ - Clock::now());
  auto wait = std::max(std::chrono::milliseconds(0), std::min(timeout, until_drain));
  if (finished > 0) wait = std::chrono::milliseconds(0);
  Collect(wait);
  CommitIfDue();  // a commit whose interval ran out while the stream was idle
  if (!batch_.empty()) finished += ApplyBatch();
  UpdateLag();
  broken_ = false;
  return finished;
}

// Up to max_batch_size records: waits up to `first_wait` for the first one,
// then up to max_batch_wait for more, and always takes what is fetched
// already. Rebalance callbacks run in here and drop revoked partitions' items.
void IdempotentConsumer::Impl::Collect(std::chrono::milliseconds first_wait) {
  batch_.clear();
  const auto first_deadline = Clock::now() + first_wait;
  Clock::time_point batch_deadline = first_deadline;
  while (batch_.size() < static_cast<size_t>(options_.max_batch_size)) {
    const auto deadline = batch_.empty() ? first_deadline : batch_deadline;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const int wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    detail::MessagePtr m(rd_kafka_consumer_poll(consumer_.get(), wait_ms));
    if (!m) {
      if (wait_ms == 0) break;
      continue;  // the deadline is checked again above
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      CheckFatal();
      if (hooks_.on_infra_error) hooks_.on_infra_error(std::string("kafka: ") + rd_kafka_message_errstr(m.get()));
      if (batch_.empty()) break;
      continue;
    }
    Item item;
    item.record = detail::ToRecord(m.get());
    item.received = Clock::now();
    batch_.push_back(std::move(item));
    if (batch_.size() == 1) batch_deadline = batch_.front().received + options_.max_batch_wait;
  }
}

void IdempotentConsumer::Impl::CheckFatal() {
  char reason[512];
  if (rd_kafka_fatal_error(consumer_.get(), reason, sizeof reason) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw ConsumerError(std::string("kafka consumer fatal error: ") + reason);
  }
}

}  // namespace outbox::sdk
