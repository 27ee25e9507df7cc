#include "pg/pgoutput.hpp"

#include <cstdio>
#include <stdexcept>

namespace outbox::relay {

std::string FormatLsn(Lsn lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn));
  return buf;
}

void WireReader::Need(size_t count) const {
  if (n_ - pos_ < count) throw std::runtime_error("pgoutput: truncated replication message");
}

uint8_t WireReader::Byte() {
  Need(1);
  return static_cast<uint8_t>(p_[pos_++]);
}

int16_t WireReader::Int16() {
  Need(2);
  const auto* u = reinterpret_cast<const unsigned char*>(p_ + pos_);
  pos_ += 2;
  return static_cast<int16_t>((u[0] << 8) | u[1]);
}

int32_t WireReader::Int32() {
  Need(4);
  const auto* u = reinterpret_cast<const unsigned char*>(p_ + pos_);
  pos_ += 4;
  return static_cast<int32_t>((uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3]);
}

int64_t WireReader::Int64() {
  const uint64_t hi = static_cast<uint32_t>(Int32());
  const uint64_t lo = static_cast<uint32_t>(Int32());
  return static_cast<int64_t>((hi << 32) | lo);
}

std::string WireReader::CString() {
  size_t end = pos_;
  while (end < n_ && p_[end] != '\0') ++end;
  if (end == n_) throw std::runtime_error("pgoutput: unterminated string");
  std::string s(p_ + pos_, end - pos_);
  pos_ = end + 1;
  return s;
}

std::string WireReader::Bytes(size_t count) {
  Need(count);
  std::string s(p_ + pos_, count);
  pos_ += count;
  return s;
}

void PutInt64(std::string& out, int64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> shift) & 0xff));
}

PgOutputMessage PgOutputDecoder::Decode(const char* data, size_t size) {
  WireReader r(data, size);
  PgOutputMessage m;
  switch (r.Byte()) {
    case 'B':
      m.kind = PgOutputMessage::Kind::kBegin;
      m.lsn = static_cast<Lsn>(r.Int64());  // final LSN
      r.Int64();                            // commit time
      m.xid = static_cast<uint32_t>(r.Int32());
      break;
    case 'C':
      m.kind = PgOutputMessage::Kind::kCommit;
      r.Byte();                             // flags
      r.Int64();                            // commit LSN
      m.lsn = static_cast<Lsn>(r.Int64());  // end LSN: where a restart resumes after this transaction
      break;
    case 'R': {
      m.kind = PgOutputMessage::Kind::kRelation;
      m.relid = static_cast<uint32_t>(r.Int32());
      PgRelation rel;
      rel.schema = r.CString();
      rel.name = r.CString();
      r.Byte();  // replica identity
      const int16_t n = r.Int16();
      for (int i = 0; i < n; ++i) {
        r.Byte();  // flags
        rel.columns.push_back(r.CString());
        rel.type_oids.push_back(static_cast<uint32_t>(r.Int32()));
        r.Int32();  // type modifier
      }
      relations_[m.relid] = std::move(rel);
      break;
    }
    case 'I': {
      m.kind = PgOutputMessage::Kind::kInsert;
      m.relid = static_cast<uint32_t>(r.Int32());
      if (r.Byte() != 'N') throw std::runtime_error("pgoutput: insert without a new tuple");
      const int16_t n = r.Int16();
      m.values.reserve(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        const uint8_t kind = r.Byte();
        if (kind == 't' || kind == 'b') {
          const int32_t len = r.Int32();
          if (len < 0) throw std::runtime_error("pgoutput: negative column length");
          m.values.emplace_back(r.Bytes(static_cast<size_t>(len)));
        } else {
          m.values.emplace_back(std::nullopt);  // 'n' NULL, 'u' unchanged TOAST
        }
      }
      break;
    }
    case 'M': {
      m.kind = PgOutputMessage::Kind::kMessage;
      m.transactional = (r.Byte() & 1) != 0;
      m.lsn = static_cast<Lsn>(r.Int64());
      m.prefix = r.CString();
      const int32_t len = r.Int32();
      if (len < 0) throw std::runtime_error("pgoutput: negative message length");
      m.content = r.Bytes(static_cast<size_t>(len));
      break;
    }
    default:
      break;  // O, Y, T, U, D: nothing the outbox needs
  }
  return m;
}

const PgRelation* PgOutputDecoder::Relation(uint32_t relid) const {
  auto it = relations_.find(relid);
  return it == relations_.end() ? nullptr : &it->second;
}

}  // namespace outbox::relay
