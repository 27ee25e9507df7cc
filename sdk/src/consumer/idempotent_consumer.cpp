// IdempotentConsumer: construction, Run(), purge, stats and shutdown. The
// per-record path is in record_path.cpp, offsets and rebalances in offsets.cpp.
#include <thread>

#include <pqxx/nontransaction>

#include "consumer_impl.hpp"
#include "outbox/inbox.hpp"
#include "outbox/migrations.hpp"

namespace outbox::sdk {

IdempotentConsumer::Impl::Impl(ConsumerOptions options, Handler handler, ConsumerHooks hooks)
    : options_(std::move(options)), handler_(std::move(handler)), hooks_(std::move(hooks)) {
  ValidateOptions(options_);
  if (!handler_) throw ConsumerConfigError("consumer handler: is empty; Hint: pass the function that applies events");
  {
    pqxx::nontransaction tx(Connection());
    const std::string table = QuoteIdentifier(options_.schema, "consumer.schema") + ".inbox";
    if (!tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", table)[0].as<bool>()) {
      throw ConsumerError("consumer.schema: table " + table +
                          " does not exist; Hint: run outbox::sdk::Migrate(conn, schema) before consuming");
    }
  }
  dead_letters_ = std::make_unique<detail::DeadLetterProducer>(options_);
  consumer_ = NewConsumer();
  Subscribe();
  next_purge_ = std::chrono::steady_clock::now();
}

IdempotentConsumer::Impl::~Impl() {
  try {
    Close();
  } catch (...) {
    // Destructors never throw; anything not committed is redelivered and deduplicated.
  }
}

detail::KafkaPtr IdempotentConsumer::Impl::NewConsumer() {
  static const char* const kOwned[] = {"bootstrap.servers",        "group.id",        "enable.auto.commit",
                                       "enable.auto.offset.store", "isolation.level", nullptr};
  detail::ConfPtr conf(rd_kafka_conf_new());
  detail::SetConf(conf.get(), "auto.offset.reset", "earliest", "consumer.kafka_properties");
  detail::ApplyProperties(conf.get(), options_.kafka_properties, kOwned, "consumer.kafka_properties");
  detail::SetConf(conf.get(), "bootstrap.servers", options_.brokers, "consumer.brokers");
  detail::SetConf(conf.get(), "group.id", options_.group_id, "consumer.group_id");
  // Offsets are committed by hand, only after the side effect is durable.
  detail::SetConf(conf.get(), "enable.auto.commit", "false", "consumer.kafka_properties");
  detail::SetConf(conf.get(), "enable.auto.offset.store", "false", "consumer.kafka_properties");
  detail::SetConf(conf.get(), "isolation.level", "read_committed", "consumer.kafka_properties");
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::RebalanceTrampoline);
  if (hooks_.on_kafka_log) rd_kafka_conf_set_log_cb(conf.get(), &Impl::LogTrampoline);
  rd_kafka_conf_set_opaque(conf.get(), this);
  detail::KafkaPtr rk = detail::NewClient(RD_KAFKA_CONSUMER, std::move(conf), "consumer");
  rd_kafka_poll_set_consumer(rk.get());
  return rk;
}

void IdempotentConsumer::Impl::Subscribe() {
  detail::PartitionListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size())));
  for (const auto& t : options_.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw ConsumerError(std::string("consumer.topics: subscribe failed: ") + rd_kafka_err2str(err));
  }
}

void IdempotentConsumer::Impl::Run(const std::atomic<bool>* stop) {
  run_stop_ = stop;
  while (!Stopping()) {
    PollOnce(options_.poll_timeout);
    const auto now = std::chrono::steady_clock::now();
    if (options_.purge_interval.count() > 0 && now >= next_purge_ && !Stopping()) {
      next_purge_ = now + options_.purge_interval;
      try {
        PurgeInbox();
      } catch (const pqxx::failure& e) {
        // Retention is housekeeping: it waits for the next interval.
        if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) conn_.reset();
        if (hooks_.on_infra_error) hooks_.on_infra_error(std::string("inbox purge: ") + e.what());
      }
    }
  }
  run_stop_ = nullptr;
}

size_t IdempotentConsumer::Impl::PurgeInbox() {
  const auto retention = std::chrono::duration_cast<std::chrono::milliseconds>(options_.inbox_retention);
  PurgeResult r =
      sdk::PurgeInbox(Connection(), options_.schema, options_.consumer_name, retention, options_.purge_batch_size);
  UpdateStats([&](Stats& s) {
    s.inbox_purged += r.rows;
    s.purge_batches += r.batches;
  });
  return r.rows;
}

void IdempotentConsumer::Impl::Close() {
  if (closed_) return;
  closed_ = true;
  // After an escaped exception (a simulated crash) behave like a dead process:
  // commit nothing more; those records are redelivered and deduplicated.
  if (broken_) pending_.clear();
  CommitPending(nullptr);
  // Serves the final revoke (OnRebalance commits, then unassigns) and leaves the group.
  rd_kafka_consumer_close(consumer_.get());
}

Stats IdempotentConsumer::Impl::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

pqxx::connection& IdempotentConsumer::Impl::Connection() {
  if (!conn_ || !conn_->is_open()) conn_ = std::make_unique<pqxx::connection>(options_.pg_dsn);
  return *conn_;
}

IdempotentConsumer::IdempotentConsumer(ConsumerOptions options, Handler handler, ConsumerHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(hooks))) {}
IdempotentConsumer::~IdempotentConsumer() = default;
bool IdempotentConsumer::PollOnce(std::chrono::milliseconds timeout) { return impl_->PollOnce(timeout); }
void IdempotentConsumer::Run(const std::atomic<bool>* stop) { impl_->Run(stop); }
void IdempotentConsumer::Stop() noexcept { impl_->Stop(); }
size_t IdempotentConsumer::PurgeInbox() { return impl_->PurgeInbox(); }
void IdempotentConsumer::Close() { impl_->Close(); }
Stats IdempotentConsumer::stats() const { return impl_->stats(); }
const ConsumerOptions& IdempotentConsumer::options() const { return impl_->options(); }

}  // namespace outbox::sdk
