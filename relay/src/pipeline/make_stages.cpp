// The real stages behind the relay's interfaces (tests build fakes instead).
#include <algorithm>

#include "config/config.hpp"
#include "kafka/publisher.hpp"
#include "kafka/transactional_publisher.hpp"
#include "pg/ack_store.hpp"
#include "pg/poll_source.hpp"
#include "pg/tail_source.hpp"
#include "pipeline/relay.hpp"

namespace outbox::relay {

Stages MakeStages(const Config& config) {
  Stages s;
  if (config.source.mode == SourceMode::kTail) {
    s.source = std::make_unique<TailSource>(config);
  } else {
    s.source = std::make_unique<PollSource>(config, /*read_ahead=*/true);
  }
  if (config.kafka.exactly_once()) {
    s.publisher = std::make_unique<TransactionalPublisher>(
        config.kafka, std::min(config.kafka.transaction_max_events, config.source.max_in_flight));
  } else {
    s.publisher = std::make_unique<KafkaPublisher>(config.kafka);
  }
  s.ack_store = std::make_unique<PgAckStore>(config);
  s.ack_session = std::make_unique<PgAckStore>(config, "acks");
  return s;
}

}  // namespace outbox::relay
