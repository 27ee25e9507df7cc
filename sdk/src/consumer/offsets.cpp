// Offset commits and rebalances. Invariant: an offset is committed only for a
// record whose side effect is durable (database commit, or parked in
// Postgres), and only while this consumer owns its partition.
#include <cstring>

#include <pqxx/except>
#include <pqxx/transaction>

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

void IdempotentConsumer::Impl::MarkDone(const Record& record) {
  const Partition tp{record.topic, record.partition};
  int64_t& next = pending_[tp];
  next = std::max(next, record.offset + 1);  // Kafka's committed offset is the next record to read
  int64_t& position = position_[tp];
  position = std::max(position, record.offset + 1);
  if (uncommitted_++ == 0) oldest_uncommitted_ = Clock::now();
}

void IdempotentConsumer::Impl::CommitIfDue() {
  if (pending_.empty() || uncommitted_ == 0) return;
  if (uncommitted_ >= options_.commit_every || Clock::now() - oldest_uncommitted_ >= options_.commit_interval) {
    CommitPending(nullptr, !options_.async_commit);
  }
}

// Commits pending offsets (all, or those in `only`). A failed commit leaves
// the entry pending; the next commit or the revoke retries it, and if the
// partition moves first the new owner redelivers and deduplicates. An async
// commit's outcome arrives in OnCommitted, served by a later consumer poll.
void IdempotentConsumer::Impl::CommitPending(const rd_kafka_topic_partition_list_t* only, bool sync) {
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(pending_.size())));
  for (const auto& [tp, offset] : pending_) {
    if (only != nullptr && !Contains(only, tp.first, tp.second)) continue;
    rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = offset;
  }
  if (list->cnt == 0) return;
  uncommitted_ = 0;  // what fails stays pending and is retried at the next count or interval
  oldest_uncommitted_ = Clock::now();
  if (!sync) {
    rd_kafka_resp_err_t err =
        rd_kafka_commit_queue(consumer_.get(), list.get(), consumer_queue_.get(), &Impl::CommitTrampoline, this);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) OnCommitted(err, list.get());
    return;
  }
  const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), list.get(), 0 /* sync */);
  OnCommitted(err, list.get());
}

void IdempotentConsumer::Impl::OnCommitted(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t* offsets) {
  std::string failure = err == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : rd_kafka_err2str(err);
  for (int i = 0; offsets != nullptr && i < offsets->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = offsets->elems[i];
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && p.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      auto it = pending_.find({p.topic, p.partition});
      if (it != pending_.end() && it->second <= p.offset) pending_.erase(it);
    } else if (failure.empty()) {
      failure = rd_kafka_err2str(p.err);
    }
  }
  if (failure.empty()) {
    UpdateStats([](Stats& s) { ++s.offset_commits; });
    return;
  }
  UpdateStats([](Stats& s) { ++s.offset_commit_failures; });
  if (hooks_.on_infra_error) hooks_.on_infra_error("offset commit: " + failure);
}

void IdempotentConsumer::Impl::CommitTrampoline(rd_kafka_t*, rd_kafka_resp_err_t err,
                                                rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  try {
    static_cast<Impl*>(opaque)->OnCommitted(err, offsets);
  } catch (...) {
    // Never unwind through librdkafka.
  }
}

// Seeks partitions back (to records of an abandoned batch), so they are
// consumed again instead of being skipped by a later commit.
void IdempotentConsumer::Impl::Rewind(const std::map<Partition, int64_t>& to) {
  if (to.empty()) return;
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(to.size())));
  for (const auto& [tp, offset] : to) {
    rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = offset;
  }
  detail::ErrorPtr error(rd_kafka_seek_partitions(consumer_.get(), list.get(), 10000));
  std::string failure = error ? rd_kafka_error_string(error.get()) : "";
  for (int i = 0; failure.empty() && i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) failure = rd_kafka_err2str(list->elems[i].err);
  }
  if (!failure.empty()) {
    broken_ = true;  // continuing could commit past the records
    throw ConsumerError("consumer: cannot rewind an abandoned batch: " + failure);
  }
}

void IdempotentConsumer::Impl::UpdateLag() {
  std::vector<PartitionLag> lag;
  for (const auto& tp : assigned_) {
    PartitionLag l;
    l.topic = tp.first;
    l.partition = tp.second;
    if (auto it = position_.find(tp); it != position_.end()) l.next_offset = it->second;
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(consumer_.get(), tp.first.c_str(), tp.second, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0) {
      l.high_watermark = high;
      if (l.next_offset >= 0) l.lag = std::max<int64_t>(0, high - l.next_offset);
    }
    lag.push_back(std::move(l));
  }
  UpdateStats([&](Stats& s) { s.lag = std::move(lag); });
}

void IdempotentConsumer::Impl::SeekToStoredOffsets(rd_kafka_topic_partition_list_t* partitions) {
  try {
    std::map<Partition, int64_t> stored;
    {
      pqxx::work tx(Connection());
      stored = stored_offsets_.Load(tx);
      tx.commit();
    }
    for (int i = 0; i < partitions->cnt; ++i) {
      auto it = stored.find({partitions->elems[i].topic, partitions->elems[i].partition});
      if (it != stored.end()) partitions->elems[i].offset = it->second;
    }
  } catch (const std::exception& e) {
    // Kafka's committed offsets are never ahead of the stored ones (they are
    // committed after the database commit), so starting there only redelivers.
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) ResetConnection();
    if (hooks_.on_infra_error) {
      hooks_.on_infra_error(std::string("stored offsets unreadable, starting from Kafka's: ") + e.what());
    }
  }
}

void IdempotentConsumer::Impl::OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
  UpdateStats([](Stats& s) { ++s.rebalances; });
  rd_kafka_t* rk = consumer_.get();
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  std::string failure;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (options_.store_offsets_in_postgres) SeekToStoredOffsets(partitions);
    for (int i = 0; i < partitions->cnt; ++i)
      assigned_.insert({partitions->elems[i].topic, partitions->elems[i].partition});
    DrainAgainWithin(std::chrono::milliseconds(0));  // parked records of these partitions may be due
    holds_possible_ = true;                          // ... and their keys held
    if (cooperative) {
      detail::ErrorPtr e(rd_kafka_incremental_assign(rk, partitions));
      if (e) failure = rd_kafka_error_string(e.get());
    } else if (rd_kafka_resp_err_t r = rd_kafka_assign(rk, partitions); r != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_err2str(r);
    }
  } else {
    // Revoke (or an error) arrives only inside a consumer poll, between two
    // batches: nothing is being applied. Records collected for the next batch
    // are dropped (the next owner reads them); what is done is committed
    // before the partitions go. A lost assignment cannot commit.
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk)) CommitPending(partitions, true);
    for (int i = 0; i < partitions->cnt; ++i) {
      const Partition tp{partitions->elems[i].topic, partitions->elems[i].partition};
      pending_.erase(tp);
      position_.erase(tp);
      assigned_.erase(tp);
    }
    batch_.erase(std::remove_if(
                     batch_.begin(), batch_.end(),
                     [&](const Item& item) { return Contains(partitions, item.record.topic, item.record.partition); }),
                 batch_.end());
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
