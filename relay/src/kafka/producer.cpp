#include "kafka/producer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "kafka/kafka_conf.hpp"
#include "kafka/rdkafka_handles.hpp"

namespace outbox::relay {

const char* ToString(DeliveryStatus status) {
  switch (status) {
    case DeliveryStatus::kOk:
      return "ok";
    case DeliveryStatus::kRetriable:
      return "retriable";
    case DeliveryStatus::kPermanent:
      return "permanent";
    case DeliveryStatus::kFatal:
      return "fatal";
  }
  return "unknown";
}

namespace {

// A delivery report's error. Permanent: the same record can never succeed as
// is (too large, no such topic, not allowed). Everything else (timeouts,
// transport errors, NOT_ENOUGH_REPLICAS, leader changes, purges after a fatal
// error, ...) is retriable: the row stays and is published again.
DeliveryStatus Classify(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return DeliveryStatus::kOk;
    case RD_KAFKA_RESP_ERR__FATAL:
      return DeliveryStatus::kFatal;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
      return DeliveryStatus::kPermanent;
    default:
      return DeliveryStatus::kRetriable;
  }
}

// A synchronous produce error: only a full local queue is back-pressure (try
// again after delivery reports); a fatal error rebuilds the producer; anything
// else refuses this record now (no such topic, an invalid name, too large).
DeliveryStatus ClassifySync(rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return DeliveryStatus::kRetriable;
  if (err == RD_KAFKA_RESP_ERR__FATAL) return DeliveryStatus::kFatal;
  return DeliveryStatus::kPermanent;
}

std::string ErrorText(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
}

}  // namespace

struct Producer::Impl {
  rdk::KafkaPtr rk;
  int event_pipe[2] = {-1, -1};
  std::vector<DeliveryReport>* sink = nullptr;  // set only during Poll/Flush
  std::vector<DeliveryReport> early;            // reports served outside Poll (librdkafka internals)
  std::atomic<bool> fatal{false};
  std::atomic<bool> brokers_down{false};
  std::unordered_map<std::string, rdk::TopicPtr> topics;  // handles of the topics produced to
  std::unordered_set<std::string> known_topics;           // topics whose metadata was requested
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> rechecked;  // missing topics asked again

  // A handle per topic, kept: producing by name makes librdkafka create and
  // look up (under its handle's write lock) a topic object for every record.
  // nullptr for a name librdkafka refuses: producing by name reports why.
  rd_kafka_topic_t* Topic(const std::string& topic) {
    auto it = topics.find(topic);
    if (it != topics.end()) return it->second.get();
    // Bounded, in case rows name endless topics; a dropped handle is only a lookup.
    if (topics.size() >= kMaxTopicHandles) topics.clear();
    rdk::TopicPtr rkt(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
    if (rkt == nullptr) return nullptr;
    return topics.emplace(topic, std::move(rkt)).first->second.get();
  }
  static constexpr size_t kMaxTopicHandles = 4096;

  // librdkafka learns the partitions of a topic first used after its initial
  // metadata request only on its next 1-second scan for unknown topics, and
  // holds the topic's records until then. Asking for the topic's metadata at
  // once (librdkafka's documented workaround) saves that second at start-up
  // and for every new topic. Skipped while the brokers are down: the next
  // record of the topic tries again.
  void LearnTopic(const std::string& topic, rd_kafka_topic_t* rkt) {
    if (rkt == nullptr || brokers_down || known_topics.count(topic) != 0) return;
    if (known_topics.size() >= kMaxTopicHandles) known_topics.clear();
    known_topics.insert(topic);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk.get(), 0, rkt, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(md);
  }

  // librdkafka keeps a topic it found missing as missing until a later
  // metadata refresh, and refuses its records at once. A topic created since
  // (the operator's fix before `dlq requeue`) would have its event refused
  // again and its attempts used up before librdkafka looks. So before a
  // refusal the broker is asked again, at most once a second per topic.
  // Returns true when the topic exists now.
  bool RecheckMissing(const std::string& topic) {
    const auto now = std::chrono::steady_clock::now();
    auto [it, first] = rechecked.try_emplace(topic, now);
    if (!first && now - it->second < std::chrono::seconds(1)) return false;
    it->second = now;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
    if (rkt == nullptr) return false;
    const rd_kafka_metadata_t* md = nullptr;
    bool exists = false;
    if (rd_kafka_metadata(rk.get(), 0, rkt, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      exists = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return exists;
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    DeliveryReport r;
    r.token = DeliveryToken{static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->_private))};
    r.status = Classify(m->err);
    r.topic = rd_kafka_topic_name(m->rkt);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      r.error = ErrorText(m->err);
      r.error_name = rd_kafka_err2name(m->err);
      if (r.status == DeliveryStatus::kRetriable && rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED) {
        r.error += " (status: persisted)";
      }
    }
    r.partition = m->partition;
    r.offset = m->offset;
    r.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) self->brokers_down = false;
    (self->sink ? *self->sink : self->early).push_back(std::move(r));
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_fatal_error(rk, buf, sizeof buf);
      self->fatal = true;
      spdlog::error("kafka: fatal producer error: {}", buf);
    } else {
      // Transient (broker down, all brokers down, ...): librdkafka retries by itself.
      if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->brokers_down = true;
      spdlog::warn("kafka: {}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
    }
  }

  static void OnLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
    auto lvl = level <= 3   ? spdlog::level::err
               : level == 4 ? spdlog::level::warn
               : level <= 6 ? spdlog::level::info
                            : spdlog::level::debug;
    spdlog::log(lvl, "librdkafka {}: {}", fac, buf);
  }
};

Producer::Producer(const KafkaConfig& config) : impl_(std::make_unique<Impl>()) {
  // The throughput defaults, kafka.properties and the settings the relay owns (kafka_conf.cpp).
  rdk::ConfPtr conf = BuildProducerConf(config);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
  rd_kafka_conf_set_log_cb(conf.get(), &Impl::OnLog);
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());

  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (rk == nullptr) throw KafkaError(std::string("kafka: cannot create producer: ") + err);
  conf.release();  // owned by rk now
  impl_->rk.reset(rk);

  if (pipe2(impl_->event_pipe, O_NONBLOCK | O_CLOEXEC) != 0) throw KafkaError("kafka: pipe2 failed");
  rdk::QueuePtr main_queue(rd_kafka_queue_get_main(rk));
  rd_kafka_queue_io_event_enable(main_queue.get(), impl_->event_pipe[1], "1", 1);
}

Producer::~Producer() noexcept {
  if (impl_->rk) {
    rdk::QueuePtr main_queue(rd_kafka_queue_get_main(impl_->rk.get()));
    rd_kafka_queue_io_event_enable(main_queue.get(), -1, nullptr, 0);
    rd_kafka_purge(impl_->rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    impl_->topics.clear();  // topic handles go before their rd_kafka_t
    impl_->rk.reset();
  }
  for (int fd : impl_->event_pipe) {
    if (fd >= 0) close(fd);
  }
}

DeliveryReport Producer::Produce(const KafkaRecord& record, DeliveryToken token) {
  rd_kafka_topic_t* rkt = impl_->Topic(record.topic);
  impl_->LearnTopic(record.topic, rkt);
  DeliveryReport r;
  r.token = token;
  rdk::HeadersPtr headers(rd_kafka_headers_new(record.headers.size()));
  for (const auto& [name, value] : record.headers) {
    rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }
  const void* value = record.value ? record.value->data() : nullptr;
  const size_t value_len = record.value ? record.value->size() : 0;
  auto produce = [&] {
    void* opaque = reinterpret_cast<void*>(static_cast<uintptr_t>(token.value));
    if (rkt != nullptr) {
      return rd_kafka_producev(impl_->rk.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_KEY(record.key.data(), record.key.size()),
                               RD_KAFKA_V_VALUE(const_cast<void*>(value), value_len), RD_KAFKA_V_HEADERS(headers.get()),
                               RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(
        impl_->rk.get(), RD_KAFKA_V_TOPIC(record.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(record.key.data(), record.key.size()), RD_KAFKA_V_VALUE(const_cast<void*>(value), value_len),
        RD_KAFKA_V_HEADERS(headers.get()), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
  };
  rd_kafka_resp_err_t err = produce();
  if (err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC && impl_->RecheckMissing(record.topic)) err = produce();
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    headers.release();  // owned by the message now
    return r;
  }
  r.status = ClassifySync(err);
  r.error = ErrorText(err);
  r.error_name = rd_kafka_err2name(err);
  r.topic = record.topic;
  if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
    // librdkafka's own limit, not the broker's: say which one.
    r.error = "MSG_SIZE_TOO_LARGE: the record (" + std::to_string(record.key.size() + value_len) +
              " bytes of key and value, plus headers) exceeds the producer's message.max.bytes; set "
              "kafka.properties.\"message.max.bytes\" (and the topic's max.message.bytes) to allow it";
  }
  return r;
}

size_t Producer::Poll(int timeout_ms, std::vector<DeliveryReport>& out) {
  const size_t before = out.size();
  char drain[64];
  while (read(impl_->event_pipe[0], drain, sizeof drain) > 0) {
  }
  for (auto& r : impl_->early) out.push_back(std::move(r));
  impl_->early.clear();
  impl_->sink = &out;
  // The io-event fires only when the queue goes from empty to non-empty, so
  // serve until it is empty again.
  int served = rd_kafka_poll(impl_->rk.get(), timeout_ms);
  while (served > 0) served = rd_kafka_poll(impl_->rk.get(), 0);
  impl_->sink = nullptr;
  return out.size() - before;
}

bool Producer::BrokersDown() {
  if (!impl_->brokers_down) return false;
  // Confirm with a short metadata request: librdkafka reports brokers going
  // down, not coming back, and an idle relay has no deliveries to tell it.
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(impl_->rk.get(), 0, nullptr, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_metadata_destroy(md);
    impl_->brokers_down = false;
  }
  return impl_->brokers_down;
}

int Producer::EventFd() const { return impl_->event_pipe[0]; }

bool Producer::IsFatal(std::string* reason, bool* fenced) const {
  if (!impl_->fatal) return false;
  char buf[512];
  const rd_kafka_resp_err_t code = rd_kafka_fatal_error(impl_->rk.get(), buf, sizeof buf);
  if (reason != nullptr) *reason = buf;
  // librdkafka 2.0.2 reports PRODUCER_FENCED and INVALID_PRODUCER_EPOCH as _FENCED.
  if (fenced != nullptr) *fenced = code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
  return true;
}

size_t Producer::OutQueueLength() const { return static_cast<size_t>(rd_kafka_outq_len(impl_->rk.get())); }

void Producer::InjectFatalError(const std::string& reason) {
  rd_kafka_test_fatal_error(impl_->rk.get(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason.c_str());
}

namespace {

TxnResult ClassifyTxn(rd_kafka_error_t* error) {
  TxnResult r;
  if (error == nullptr) return r;
  r.ok = false;
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  r.error = std::string(rd_kafka_error_name(error)) + ": " + rd_kafka_error_string(error);
  r.retriable = rd_kafka_error_is_retriable(error) != 0;
  r.abortable = rd_kafka_error_txn_requires_abort(error) != 0;
  // An error with no flag is fatal (librdkafka's INTRODUCTION.md).
  r.fatal = rd_kafka_error_is_fatal(error) != 0 || (!r.retriable && !r.abortable);
  r.fenced = code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
             code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
  rd_kafka_error_destroy(error);
  return r;
}

}  // namespace

TxnResult Producer::InitTransactions(int timeout_ms) {
  return ClassifyTxn(rd_kafka_init_transactions(impl_->rk.get(), timeout_ms));
}

TxnResult Producer::BeginTransaction() { return ClassifyTxn(rd_kafka_begin_transaction(impl_->rk.get())); }

TxnResult Producer::CommitTransaction(int timeout_ms) {
  return ClassifyTxn(rd_kafka_commit_transaction(impl_->rk.get(), timeout_ms));
}

TxnResult Producer::AbortTransaction(int timeout_ms) {
  return ClassifyTxn(rd_kafka_abort_transaction(impl_->rk.get(), timeout_ms));
}

void Producer::PurgeAll(std::vector<DeliveryReport>& out) {
  rd_kafka_purge(impl_->rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  Poll(0, out);
}

}  // namespace outbox::relay
