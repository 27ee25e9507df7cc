#include "pipeline/ack_worker.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

#include <pqxx/except>

#include "pg/pg_failure.hpp"
#include "util/text.hpp"

namespace outbox::relay {

AckWorker::AckWorker(std::unique_ptr<AckStore> store) : store_(std::move(store)) {
  if (pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  thread_ = std::thread([this] { Loop(); });
}

AckWorker::~AckWorker() noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();  // a batch under way finishes first (bounded by the statement timeout)
  store_->Disconnect();
  for (int fd : pipe_) close(fd);
}

void AckWorker::Submit(std::vector<RowRef> rows) {
  if (busy_) throw std::logic_error("AckWorker::Submit: a batch is under way");
  busy_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = std::move(rows);
  }
  cv_.notify_all();
}

std::optional<AckWorker::Outcome> AckWorker::TryTake() {
  if (!busy_) return std::nullopt;
  std::optional<Outcome> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!outcome_) return std::nullopt;
    out = std::move(outcome_);
    outcome_.reset();
  }
  char buf[16];
  while (read(pipe_[0], buf, sizeof buf) > 0) {
  }
  busy_ = false;
  return out;
}

AckWorker::Outcome AckWorker::Take() {
  if (!busy_) throw std::logic_error("AckWorker::Take: no batch under way");
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return outcome_.has_value(); });
  }
  return *TryTake();
}

void AckWorker::Loop() {
  // The session is opened now, beside the pipeline's own, rather than with
  // the first batch: the first acknowledgement does not wait for a connect.
  // A failure here is left to the first batch, which reports it.
  try {
    if (!store_->connected()) store_->Connect();
  } catch (const std::exception&) {
  }
  for (;;) {
    std::vector<RowRef> rows;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || job_.has_value(); });
      if (stop_) return;
      rows = std::move(*job_);
      job_.reset();
    }
    Outcome out = Run(rows);
    {
      std::lock_guard<std::mutex> lock(mu_);
      outcome_ = std::move(out);
    }
    cv_.notify_all();
    const char c = 'a';
    [[maybe_unused]] ssize_t n = write(pipe_[1], &c, 1);
  }
}

AckWorker::Outcome AckWorker::Run(const std::vector<RowRef>& rows) {
  Outcome out;
  try {
    if (!store_->connected()) store_->Connect();
    out.changed = store_->Ack(rows);
  } catch (const std::exception& e) {
    // A broken session is dropped by the store and connects again with the next batch.
    const bool broken = dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr || !store_->connected();
    out.status = broken ? Outcome::Status::kBroken : Outcome::Status::kFailed;
    out.error = OneLine(e.what());
    out.reason = PgFailureReason(e);
  }
  return out;
}

}  // namespace outbox::relay
