#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace outbox::relay {

/// An LSN as the replication protocol carries it (64-bit WAL byte position).
using Lsn = uint64_t;

/// "16/B374D848" for logs.
std::string FormatLsn(Lsn lsn);

/// One decoded pgoutput (protocol version 1) message; only the kinds the tail
/// source uses carry data, everything else is kOther.
struct PgOutputMessage {
  enum class Kind { kBegin, kCommit, kRelation, kInsert, kMessage, kOther };
  Kind kind = Kind::kOther;
  Lsn lsn = 0;         ///< Begin: final (commit) LSN; Commit: end LSN; Message: its LSN
  uint32_t relid = 0;  ///< Relation, Insert
  uint32_t xid = 0;    ///< Begin: the transaction's id
  /// Insert: column values in the relation's order, text format; nullopt = NULL.
  /// ('u', unchanged TOAST, cannot occur in an insert and reads as NULL.)
  std::vector<std::optional<std::string>> values;
  bool transactional = false;  ///< Message
  std::string prefix;          ///< Message
  std::string content;         ///< Message
};

/// A relation as announced by a 'R' message, before the first change to it in a session.
struct PgRelation {
  std::string schema;
  std::string name;
  std::vector<std::string> columns;
  std::vector<uint32_t> type_oids;
};

/// Decodes pgoutput v1 messages (the payload of an XLogData frame). Keeps the
/// relation cache the protocol requires. Throws std::runtime_error on a
/// truncated or malformed message.
class PgOutputDecoder {
 public:
  PgOutputMessage Decode(const char* data, size_t size);
  const PgRelation* Relation(uint32_t relid) const;

 private:
  std::unordered_map<uint32_t, PgRelation> relations_;
};

/// Big-endian reader over one protocol frame.
class WireReader {
 public:
  WireReader(const char* data, size_t size) : p_(data), n_(size) {}
  uint8_t Byte();
  int16_t Int16();
  int32_t Int32();
  int64_t Int64();
  std::string CString();
  std::string Bytes(size_t count);
  size_t left() const { return n_ - pos_; }

 private:
  void Need(size_t count) const;
  const char* p_;
  size_t n_;
  size_t pos_ = 0;
};

/// Big-endian writer for standby status updates.
void PutInt64(std::string& out, int64_t v);

}  // namespace outbox::relay
