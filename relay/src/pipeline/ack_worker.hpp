#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pg/outbox_row.hpp"
#include "pipeline/stages.hpp"

namespace outbox::relay {

/// Runs AckStore::Ack on its own session and thread, one batch at a time, so
/// the pipeline thread reads and produces the next batch while Postgres
/// deletes (or marks) the last one. The session connects on the first batch
/// and again after it broke. The pipeline thread owns everything else: it
/// submits a batch, and takes its outcome once EventFd() is readable.
class AckWorker {
 public:
  /// `store`: a store of its own (a separate session), not connected yet.
  explicit AckWorker(std::unique_ptr<AckStore> store);
  ~AckWorker() noexcept;
  AckWorker(const AckWorker&) = delete;
  AckWorker& operator=(const AckWorker&) = delete;

  struct Outcome {
    enum class Status { kOk, kBroken, kFailed };
    Status status = Status::kOk;
    std::vector<RowRef> changed;  ///< kOk: the rows the store changed
    std::string error;            ///< otherwise: one line
    std::string reason;           ///< PgFailureReason
  };

  bool busy() const { return busy_; }
  /// Precondition: !busy().
  void Submit(std::vector<RowRef> rows);
  /// The outcome of the submitted batch when it is ready (non-blocking).
  std::optional<Outcome> TryTake();
  /// Waits for the submitted batch's outcome. Precondition: busy().
  Outcome Take();
  /// Readable while an outcome is ready to be taken.
  int EventFd() const { return pipe_[0]; }

 private:
  void Loop();
  Outcome Run(const std::vector<RowRef>& rows);

  std::unique_ptr<AckStore> store_;  // the worker thread's alone
  int pipe_[2] = {-1, -1};
  bool busy_ = false;  // pipeline thread: a batch was submitted and not taken
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::vector<RowRef>> job_;
  std::optional<Outcome> outcome_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace outbox::relay
