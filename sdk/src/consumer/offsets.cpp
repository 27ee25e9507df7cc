// Offset commits and rebalances. Invariant: an offset is committed only for a
// record whose side effect is durable (database commit, or dead-letter ack),
// and only while this consumer owns its partition.
#include <cstring>

#include "consumer_impl.hpp"

namespace outbox::sdk {
namespace {

bool Contains(const rd_kafka_topic_partition_list_t* list, const std::string& topic, int32_t partition) {
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].partition == partition && topic == list->elems[i].topic) return true;
  }
  return false;
}

}  // namespace

void IdempotentConsumer::Impl::CommitOffset(const Record& record) {
  int64_t& next = pending_[{record.topic, record.partition}];
  next = std::max(next, record.offset + 1);  // Kafka's committed offset is the next record to read
  if (uncommitted_++ == 0) oldest_uncommitted_ = std::chrono::steady_clock::now();
  CommitIfDue();
}

void IdempotentConsumer::Impl::CommitIfDue() {
  if (pending_.empty()) return;
  if (uncommitted_ >= options_.commit_every ||
      std::chrono::steady_clock::now() - oldest_uncommitted_ >= options_.commit_interval) {
    CommitPending(nullptr);
  }
}

// Synchronously commits pending offsets (all, or those in `only`). A failed
// commit leaves the entry pending; the next commit or the revoke retries it,
// and if the partition moves first the new owner redelivers and deduplicates.
void IdempotentConsumer::Impl::CommitPending(const rd_kafka_topic_partition_list_t* only) {
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(pending_.size())));
  for (const auto& [tp, offset] : pending_) {
    if (only != nullptr && !Contains(only, tp.first, tp.second)) continue;
    rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = offset;
  }
  if (list->cnt == 0) return;
  uncommitted_ = 0;  // what fails stays pending and is retried at the next count or interval
  oldest_uncommitted_ = std::chrono::steady_clock::now();
  const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), list.get(), 0 /* sync */);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) UpdateStats([](Stats& s) { ++s.offset_commits; });
  std::string failure = err == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : rd_kafka_err2str(err);
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && p.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      auto it = pending_.find({p.topic, p.partition});
      if (it != pending_.end() && it->second <= p.offset) pending_.erase(it);
    } else if (failure.empty()) {
      failure = rd_kafka_err2str(p.err);
    }
  }
  if (!failure.empty()) {
    UpdateStats([](Stats& s) { ++s.offset_commit_failures; });
    if (hooks_.on_infra_error) hooks_.on_infra_error("offset commit: " + failure);
  }
}

// Seeks the record's partition back to it, so an abandoned record is consumed
// again instead of being skipped by the next record's commit.
void IdempotentConsumer::Impl::Rewind(const Record& record) {
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), record.topic.c_str(), record.partition)->offset = record.offset;
  detail::ErrorPtr error(rd_kafka_seek_partitions(consumer_.get(), list.get(), 10000));
  rd_kafka_resp_err_t err = error ? rd_kafka_error_code(error.get()) : list->elems[0].err;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    broken_ = true;  // continuing could commit past the record
    throw ConsumerError("consumer: cannot rewind " + record.topic + "[" + std::to_string(record.partition) +
                        "] to offset " + std::to_string(record.offset) + ": " + rd_kafka_err2str(err));
  }
}

void IdempotentConsumer::Impl::OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
  UpdateStats([](Stats& s) { ++s.rebalances; });
  rd_kafka_t* rk = consumer_.get();
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  std::string failure;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    // Start positions come from the committed offsets: nothing to override.
    if (cooperative) {
      detail::ErrorPtr e(rd_kafka_incremental_assign(rk, partitions));
      if (e) failure = rd_kafka_error_string(e.get());
    } else if (rd_kafka_resp_err_t r = rd_kafka_assign(rk, partitions); r != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_err2str(r);
    }
  } else {
    // Revoke (or an error): records are handled to the end inside PollOnce, so
    // nothing is in flight here; commit what is done before giving it away.
    // A lost assignment cannot commit (another member owns it already).
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk)) CommitPending(partitions);
    for (int i = 0; i < partitions->cnt; ++i) {
      pending_.erase({partitions->elems[i].topic, partitions->elems[i].partition});
    }
    if (cooperative) {
      detail::ErrorPtr e(rd_kafka_incremental_unassign(rk, partitions));
      if (e) failure = rd_kafka_error_string(e.get());
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) failure = rd_kafka_err2str(err);
  }
  if (!failure.empty() && hooks_.on_infra_error) hooks_.on_infra_error("rebalance: " + failure);
}

void IdempotentConsumer::Impl::RebalanceTrampoline(rd_kafka_t*, rd_kafka_resp_err_t err,
                                                   rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  try {
    static_cast<Impl*>(opaque)->OnRebalance(err, partitions);
  } catch (...) {
    // Never unwind through librdkafka; a commit that did not happen is redelivered.
  }
}

void IdempotentConsumer::Impl::LogTrampoline(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* self = static_cast<Impl*>(rd_kafka_opaque(rk));
  try {
    if (self != nullptr && self->hooks_.on_kafka_log) self->hooks_.on_kafka_log(level, fac, buf);
  } catch (...) {
    // Logging must not fail the client.
  }
}

}  // namespace outbox::sdk
