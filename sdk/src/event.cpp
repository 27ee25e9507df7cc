#include "outbox/event.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <random>

namespace outbox::sdk {
namespace {

// The Kafka headers the relay writes from the row's own columns.
constexpr std::array<const char*, 5> kReservedHeaders = {"event_id", "event_type", "aggregate_type", "aggregate_id",
                                                         "created_at"};
constexpr size_t kMaxTopicLength = 249;  // Kafka's limit
// The outbox table's outbox_key_size constraint (migrations/0004): the type
// ends up in topic names, the id is the Kafka key and is indexed (hashed) in
// the dead-letter table.
constexpr size_t kMaxAggregateTypeBytes = 200;
constexpr size_t kMaxAggregateIdBytes = 4096;

[[noreturn]] void Fail(const std::string& where, const std::string& field, const std::string& what) {
  throw ValidationError(where + "." + field + ": " + what);
}

// Postgres text cannot hold NUL (libpq would silently cut the value there) and
// rejects invalid UTF-8; both are caught here with a message naming the field.
const char* TextProblem(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return "must not contain a NUL byte";
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return "must be valid UTF-8";
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return "must be valid UTF-8";
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "must be valid UTF-8";
    i += len;
  }
  return nullptr;
}

void CheckText(const std::string& where, const std::string& field, const std::string& value, bool required) {
  if (required && value.empty()) Fail(where, field, "must not be empty");
  if (const char* problem = TextProblem(value)) Fail(where, field, problem);
}

bool IsTopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::mt19937_64 SeededGenerator() {
  std::random_device rd;
  std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
  return std::mt19937_64(seq);
}

}  // namespace

bool IsReservedHeader(const std::string& name) {
  for (const char* reserved : kReservedHeaders) {
    if (name == reserved) return true;
  }
  return false;
}

void ValidateEvent(const Event& e, size_t max_payload_bytes, const std::string& where) {
  CheckText(where, "aggregate_type", e.aggregate_type, true);
  CheckText(where, "aggregate_id", e.aggregate_id, true);
  if (e.aggregate_type.size() > kMaxAggregateTypeBytes) {
    Fail(where, "aggregate_type", "longer than " + std::to_string(kMaxAggregateTypeBytes) + " bytes");
  }
  if (e.aggregate_id.size() > kMaxAggregateIdBytes) {
    Fail(where, "aggregate_id",
         std::to_string(e.aggregate_id.size()) + " bytes is longer than the " + std::to_string(kMaxAggregateIdBytes) +
             " a key may have");
  }
  CheckText(where, "event_type", e.event_type, true);
  if (e.payload.size() > max_payload_bytes) {
    Fail(where, "payload",
         std::to_string(e.payload.size()) + " bytes exceeds max_payload_bytes (" + std::to_string(max_payload_bytes) +
             ")");
  }
  if (e.tombstone && !e.payload.empty()) Fail(where, "payload", "must be empty when tombstone is set");
  for (const auto& [name, value] : e.headers) {
    if (name.empty()) Fail(where, "headers", "header names must not be empty");
    if (IsReservedHeader(name)) {
      Fail(where, "headers", "'" + name + "' is reserved: the relay sets it from the row itself");
    }
    if (const char* problem = TextProblem(name)) Fail(where, "headers", std::string("header names ") + problem);
    CheckText(where, "headers[" + name + "]", value, false);
  }
  if (e.topic) {
    const std::string& t = *e.topic;
    if (t.empty()) Fail(where, "topic", "must not be empty when set (leave it unset to use the relay's template)");
    if (t.size() > kMaxTopicLength) Fail(where, "topic", "longer than Kafka's 249 characters");
    if (t == "." || t == "..") Fail(where, "topic", "'" + t + "' is not a legal Kafka topic name");
    for (char c : t) {
      if (!IsTopicChar(c)) {
        Fail(where, "topic", "'" + t + "' has a character Kafka does not allow; use only [a-zA-Z0-9._-]");
      }
    }
  }
  if (e.id && !IsCanonicalUuid(*e.id)) {
    Fail(where, "id", "'" + *e.id + "' is not a UUID; expected 8-4-4-4-12 hexadecimal digits");
  }
}

bool IsCanonicalUuid(const std::string& text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !IsHex(text[i])) return false;
  }
  return true;
}

std::string NewEventId() {
  // Layout (RFC 9562, UUIDv7 with method 3): 48-bit Unix milliseconds, version
  // 7, 12 bits of sub-millisecond fraction, variant 10, 62 random bits. The
  // 60-bit time field is bumped when the clock did not advance, so one
  // thread's ids strictly increase. State is per thread: no locks, and it is
  // reseeded after fork() so parent and child never share a random stream.
  thread_local std::mt19937_64 rng = SeededGenerator();
  thread_local pid_t owner = getpid();
  thread_local uint64_t last_time = 0;
  if (getpid() != owner) {
    rng = SeededGenerator();
    owner = getpid();
  }
  const auto ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  uint64_t time = ((ns / 1000000) << 12) | ((ns % 1000000) * 4096 / 1000000);
  if (time <= last_time) time = last_time + 1;
  last_time = time;
  const uint64_t random = rng();

  std::array<unsigned char, 16> b{};
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(time >> (12 + 8 * (5 - i)));
  b[6] = static_cast<unsigned char>(0x70 | ((time >> 8) & 0x0f));
  b[7] = static_cast<unsigned char>(time);
  b[8] = static_cast<unsigned char>(0x80 | ((random >> 56) & 0x3f));
  for (int i = 9; i < 16; ++i) b[i] = static_cast<unsigned char>(random >> (8 * (15 - i)));

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
  return out;
}

}  // namespace outbox::sdk
