#include "pg/replication_stream.hpp"

#include <algorithm>
#include <cstdio>

#include <spdlog/spdlog.h>
#include <pqxx/except>

#include "config/config.hpp"
#include "outbox/identifier.hpp"
#include "outbox/outbox.hpp"
#include "pg/pg_connect.hpp"
#include "pg/wal_message.hpp"
#include "util/text.hpp"

namespace outbox::relay {
namespace {

// Microseconds since 2000-01-01 UTC, the replication protocol's clock.
int64_t PgEpochMicros() {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return us - int64_t{946684800} * 1000000;
}

std::string Trim(const char* s) { return OneLine(s ? s : ""); }

Lsn ParseLsn(const char* text) {
  unsigned hi = 0, lo = 0;
  return std::sscanf(text, "%X/%X", &hi, &lo) == 2 ? (Lsn{hi} << 32) | lo : 0;
}

}  // namespace

ReplicationStream::ReplicationStream(const Config& config)
    : config_(config), mapper_(config.outbox), message_prefix_(sdk::WalMessagePrefix(config.outbox.schema)) {}

ReplicationStream::Position ReplicationStream::Start() {
  conn_.reset();
  received_ = 0;
  reply_requested_ = false;
  decoder_ = PgOutputDecoder();
  const std::string timeout = std::to_string(std::max<long>(1, config_.postgres.connect_timeout.count() / 1000));
  const char* keys[] = {"dbname", "replication", "options", "application_name", "connect_timeout", nullptr};
  const std::string conninfo = SessionConninfo(config_.postgres, "stream");
  const char* values[] = {conninfo.c_str(),    "database",      "-c TimeZone=UTC -c DateStyle=ISO",
                          "outbox-relay/tail", timeout.c_str(), nullptr};
  conn_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    const std::string why = conn_ ? Trim(PQerrorMessage(conn_.get())) : "out of memory";
    conn_.reset();
    throw pqxx::broken_connection("replication connection failed: " + why);
  }
  const std::string& slot = config_.source.slot_name;
  Position pos;
  {
    const std::string q =
        "SELECT confirmed_flush_lsn::text, pg_current_wal_lsn()::text FROM pg_replication_slots "
        "WHERE slot_name = '" +
        slot + "'";  // a validated identifier (config)
    PgResultPtr res(PQexec(conn_.get(), q.c_str()));
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK)
      Fail("cannot read the slot: " + Trim(PQerrorMessage(conn_.get())));
    if (PQntuples(res.get()) == 0) {
      conn_.reset();
      throw SlotMissingError("replication slot " + slot + " does not exist");
    }
    pos.confirmed = ParseLsn(PQgetvalue(res.get(), 0, 0));
    pos.wal_end = ParseLsn(PQgetvalue(res.get(), 0, 1));
  }
  const std::string q = "START_REPLICATION SLOT " + sdk::QuoteIdentifier(slot, "source.slot_name") +
                        " LOGICAL 0/0 (proto_version '1', publication_names '" +
                        sdk::QuoteIdentifier(config_.source.publication_name, "source.publication_name") +
                        "', messages 'true')";
  PgResultPtr res(PQexec(conn_.get(), q.c_str()));
  if (PQresultStatus(res.get()) != PGRES_COPY_BOTH) {
    const std::string why = Trim(PQerrorMessage(conn_.get()));
    conn_.reset();
    if (why.find("does not exist") != std::string::npos) throw SlotMissingError("cannot start streaming: " + why);
    throw pqxx::broken_connection("cannot start streaming from slot " + slot + ": " + why);
  }
  spdlog::info("tail: streaming from slot {} at {}", slot, FormatLsn(pos.confirmed));
  return pos;
}

void ReplicationStream::Close(Lsn flushed) noexcept {
  if (!conn_) return;
  try {
    SendStatus(flushed);
  } catch (const std::exception&) {
  }
  conn_.reset();
}

void ReplicationStream::Fail(const std::string& what) {
  conn_.reset();
  throw pqxx::broken_connection(what);
}

int ReplicationStream::Socket() const { return conn_ ? PQsocket(conn_.get()) : -1; }

StreamMessage ReplicationStream::Next() {
  StreamMessage out;
  if (!conn_) return out;
  bool read_socket = false;
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn_.get(), &buf, 1);
    if (n == 0) {
      // The socket is read only when libpq holds no complete message: each
      // read left-justifies what libpq buffered (a copy of up to its whole
      // buffer), so reading it per message made a large transaction's
      // stream quadratic. What is not read stays in the socket (bounded memory).
      if (read_socket) return out;
      if (PQconsumeInput(conn_.get()) == 0) Fail("replication stream lost: " + Trim(PQerrorMessage(conn_.get())));
      read_socket = true;
      continue;
    }
    if (n < 0) {
      PgResultPtr res(PQgetResult(conn_.get()));
      Fail("replication stream ended: " + Trim(PQerrorMessage(conn_.get())));
    }
    std::unique_ptr<char, void (*)(void*)> guard(buf, PQfreemem);
    try {
      if (Decode(buf, static_cast<size_t>(n), out)) return out;
    } catch (const std::exception&) {
      // A message that cannot be decoded (a malformed WAL-message event, a
      // column mapping the table lacks) is never skipped: the stream closes,
      // and restarting it from the slot meets the same message again.
      conn_.reset();
      throw;
    }
  }
}

bool ReplicationStream::Decode(const char* data, size_t size, StreamMessage& out) {
  WireReader r(data, size);
  const uint8_t type = r.Byte();
  if (type == 'k') {  // primary keepalive: server WAL end, time, reply requested
    out.kind = StreamMessage::Kind::kKeepalive;
    out.lsn = static_cast<Lsn>(r.Int64());
    r.Int64();
    if (r.Byte() != 0) reply_requested_ = true;
    received_ = std::max(received_, out.lsn);
    return true;
  }
  if (type != 'w') return false;
  const Lsn start = static_cast<Lsn>(r.Int64());
  r.Int64();  // server WAL end
  r.Int64();  // send time
  received_ = std::max(received_, start);
  const size_t header = 1 + 8 * 3;
  PgOutputMessage m = decoder_.Decode(data + header, size - header);
  switch (m.kind) {
    case PgOutputMessage::Kind::kBegin:
      out.kind = StreamMessage::Kind::kBegin;
      out.lsn = m.lsn;
      out.xid = m.xid;
      return true;
    case PgOutputMessage::Kind::kCommit:
      out.kind = StreamMessage::Kind::kCommit;
      out.lsn = m.lsn;
      return true;
    case PgOutputMessage::Kind::kInsert: {
      const PgRelation* rel = decoder_.Relation(m.relid);
      if (rel == nullptr || !mapper_.IsOutbox(*rel)) return false;
      out.kind = StreamMessage::Kind::kEvent;
      out.event = mapper_.Map(*rel, m.values);
      out.event.table_oid = m.relid;  // pgoutput names relations by oid
      return true;
    }
    case PgOutputMessage::Kind::kMessage:
      if (m.prefix != message_prefix_) return false;
      // A non-transactional message is sent even when its transaction rolls
      // back: never an outbox event.
      if (!m.transactional) {
        spdlog::warn("tail: ignored a non-transactional {} message at {}", message_prefix_, FormatLsn(m.lsn));
        return false;
      }
      out.kind = StreamMessage::Kind::kEvent;
      out.event = DecodeWalMessage(m.content);
      out.event.in_table = false;
      out.event.seq = 0;
      return true;
    default:
      return false;
  }
}

void ReplicationStream::SendStatus(Lsn flushed) {
  if (!conn_) return;
  std::string msg = "r";
  PutInt64(msg, static_cast<int64_t>(std::max(received_, flushed)));  // written
  PutInt64(msg, static_cast<int64_t>(flushed));                       // flushed: the slot's confirmed position
  PutInt64(msg, static_cast<int64_t>(flushed));                       // applied
  PutInt64(msg, PgEpochMicros());
  msg.push_back(0);  // no reply wanted
  if (PQputCopyData(conn_.get(), msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(conn_.get()) != 0) {
    Fail("cannot send a standby status update: " + Trim(PQerrorMessage(conn_.get())));
  }
  reply_requested_ = false;
}

}  // namespace outbox::relay
