// IdempotentConsumer: construction, Run(), purge, stats, waiting and
// shutdown. Collecting a batch is in poll.cpp, applying it in batch_path.cpp,
// parked records in drain.cpp, offsets and rebalances in offsets.cpp.
#include <thread>

#include <pqxx/except>
#include <pqxx/nontransaction>

#include "consumer_impl.hpp"
#include "outbox/inbox.hpp"
#include "outbox/migrations.hpp"

namespace outbox::sdk {
namespace {

ConsumerOptions Validated(ConsumerOptions options) {
  ValidateOptions(options);
  return options;
}

}  // namespace

IdempotentConsumer::Impl::Impl(ConsumerOptions options, Handler handler, BatchHandler batch_handler,
                               ConsumerHooks hooks)
    : options_(Validated(std::move(options))),
      handler_(std::move(handler)),
      batch_handler_(std::move(batch_handler)),
      hooks_(std::move(hooks)),
      parked_(options_.schema, options_.consumer_name),
      stored_offsets_(options_.schema, options_.group_id) {
  if (!handler_ && !batch_handler_) {
    throw ConsumerConfigError("consumer handler: is empty; Hint: pass the function that applies events");
  }
  {
    pqxx::nontransaction tx(Connection());
    const std::string q = QuoteIdentifier(options_.schema, "consumer.schema");
    for (const char* table : {"inbox", "consumer_parked", "consumer_offsets"}) {
      if (!tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", q + "." + table)[0].as<bool>()) {
        throw ConsumerError("consumer.schema: table " + q + "." + table +
                            " does not exist; Hint: run outbox::sdk::Migrate(conn, schema) before consuming");
      }
    }
  }
  dead_letters_ = std::make_unique<detail::DeadLetterProducer>(options_);
  consumer_ = NewConsumer();
  consumer_queue_.reset(rd_kafka_queue_get_consumer(consumer_.get()));
  Subscribe();
  next_purge_ = next_drain_ = Clock::now();
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
    if (!purging_ && options_.purge_interval.count() > 0 && Clock::now() >= next_purge_) purging_ = true;
    // While a purge is under way, poll without waiting: one batch of inbox
    // rows goes between two batches of records, or back to back when idle.
    PollBatch(purging_ ? std::chrono::milliseconds(0) : options_.poll_timeout);
    if (purging_ && !Stopping()) PurgeStep();
  }
  run_stop_ = nullptr;
}

void IdempotentConsumer::Impl::PurgeStep() {
  const auto retention = std::chrono::duration_cast<std::chrono::milliseconds>(options_.inbox_retention);
  try {
    const size_t rows =
        PurgeInboxBatch(Connection(), options_.schema, options_.consumer_name, retention, options_.purge_batch_size);
    UpdateStats([&](Stats& s) {
      s.inbox_purged += rows;
      ++s.purge_batches;
    });
    if (rows < static_cast<size_t>(options_.purge_batch_size)) {
      purging_ = false;
      next_purge_ = Clock::now() + options_.purge_interval;
    }
  } catch (const pqxx::failure& e) {
    // Retention is housekeeping: it waits for the next interval.
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) ResetConnection();
    if (hooks_.on_infra_error) hooks_.on_infra_error(std::string("inbox purge: ") + e.what());
    purging_ = false;
    next_purge_ = Clock::now() + options_.purge_interval;
  }
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
  CommitPending(nullptr, true);
  // Serves the final revoke (OnRebalance commits, then unassigns) and leaves the group.
  rd_kafka_consumer_close(consumer_.get());
  consumer_queue_.reset();
}

Stats IdempotentConsumer::Impl::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  Stats copy = stats_;
  copy.records_per_second = rate_.PerSecond();
  return copy;
}

void IdempotentConsumer::Impl::Observe(const Record& record, std::chrono::nanoseconds elapsed, bool end_to_end) {
  const double e2e_ms = end_to_end && record.timestamp_ms > 0
                            ? static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      std::chrono::system_clock::now().time_since_epoch())
                                                      .count() -
                                                  record.timestamp_ms)
                            : -1;
  UpdateStats([&](Stats& s) {
    s.processing_time_sum += elapsed;
    s.processing_time_max = std::max(s.processing_time_max, elapsed);
    ++s.processing_count;
    s.processing_time.Observe(std::chrono::duration<double, std::milli>(elapsed).count());
    if (e2e_ms >= 0) s.end_to_end_latency.Observe(e2e_ms);
    rate_.Add(1);
  });
  if (end_to_end && hooks_.on_processed) hooks_.on_processed(record, elapsed);
}

bool IdempotentConsumer::Impl::InfraBackoff(const std::string& error, int* failures) {
  ++*failures;
  UpdateStats([](Stats& s) { ++s.infra_retries; });
  if (hooks_.on_infra_error) hooks_.on_infra_error(error);
  return SleepUnlessStopped(RetryDelay(options_, *failures));
}

bool IdempotentConsumer::Impl::SleepUnlessStopped(std::chrono::milliseconds delay) {
  const auto deadline = Clock::now() + delay;
  while (!Stopping()) {
    const auto now = Clock::now();
    if (now >= deadline) return true;
    const Clock::duration slice = std::chrono::milliseconds(20);
    std::this_thread::sleep_for(std::min(deadline - now, slice));
  }
  return false;
}

pqxx::connection& IdempotentConsumer::Impl::Connection() {
  if (!conn_ || !conn_->is_open()) {
    ResetConnection();
    conn_ = detail::OpenConnection(options_.pg_dsn);
    join_filter_ = std::make_unique<detail::JoinWarningFilter>(*conn_);
    if (hooks_.on_connect) hooks_.on_connect(*conn_);
  }
  return *conn_;
}

void IdempotentConsumer::Impl::ResetConnection() noexcept {
  join_filter_.reset();
  conn_.reset();
}

IdempotentConsumer::IdempotentConsumer(ConsumerOptions options, Handler handler, ConsumerHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), BatchHandler(), std::move(hooks))) {}
IdempotentConsumer::IdempotentConsumer(ConsumerOptions options, BatchHandler handler, ConsumerHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(options), Handler(), std::move(handler), std::move(hooks))) {}
IdempotentConsumer::~IdempotentConsumer() = default;
size_t IdempotentConsumer::PollBatch(std::chrono::milliseconds timeout) { return impl_->PollBatch(timeout); }
bool IdempotentConsumer::PollOnce(std::chrono::milliseconds timeout) { return impl_->PollBatch(timeout) > 0; }
void IdempotentConsumer::Run(const std::atomic<bool>* stop) { impl_->Run(stop); }
void IdempotentConsumer::Stop() noexcept { impl_->Stop(); }
size_t IdempotentConsumer::PurgeInbox() { return impl_->PurgeInbox(); }
void IdempotentConsumer::Close() { impl_->Close(); }
Stats IdempotentConsumer::stats() const { return impl_->stats(); }
const ConsumerOptions& IdempotentConsumer::options() const { return impl_->options(); }

}  // namespace outbox::sdk
