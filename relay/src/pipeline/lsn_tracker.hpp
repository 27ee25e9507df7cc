#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace outbox::relay {

/// A WAL position as the replication protocol carries it.
using Lsn = uint64_t;

/// Tail mode's progress rule: the flush LSN reported to the server (the
/// slot's restart point after a crash) only reaches the end of a transaction
/// whose events have all been released (delivered and recorded, or left in
/// the table), and of every transaction before it.
///
/// Events are counted as they arrive, before their transaction's commit
/// message: pgoutput sends a transaction only once it committed, so its
/// events can be published while the rest of it is still being received.
/// With nothing outstanding, a keepalive's WAL end is confirmable: every
/// transaction that committed before it was sent already.
/// Pure: no I/O; the pipeline thread owns it.
class LsnTracker {
 public:
  /// Starts over from the slot's confirmed position (the stream (re)starts).
  void Reset(Lsn confirmed);

  /// A transaction begins (BEGIN message); returns its index for Add()/Done().
  uint64_t Begin();
  /// One more event of the transaction that began last.
  void Add(uint64_t txn);
  /// The transaction that began last ends at `end_lsn` (COMMIT message).
  void Commit(Lsn end_lsn);
  /// One event of transaction `txn` left the pipeline. Unknown indexes (from
  /// before a Reset) are ignored.
  void Done(uint64_t txn);
  /// A keepalive reported the server's WAL end.
  void Keepalive(Lsn wal_end);

  Lsn confirmed() const { return confirmed_; }
  /// Transactions begun and not yet confirmable.
  size_t open_transactions() const { return txns_.size(); }

 private:
  struct Txn {
    Lsn end_lsn = 0;
    uint64_t remaining = 0;  // events added and not done
    bool committed = false;
  };
  void Advance();

  std::deque<Txn> txns_;  // index first_ + i, begin order
  uint64_t first_ = 1;    // 0 is never an index: polled rows carry txn 0
  Lsn confirmed_ = 0;
};

}  // namespace outbox::relay
