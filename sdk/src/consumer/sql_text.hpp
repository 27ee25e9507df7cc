#pragma once
// Text helpers for the consumer's SQL: array literals for unnest(), hex for
// bytea, and the checks that keep hostile header or error text from failing
// a whole batch's statements.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace outbox::sdk::detail {

/// A PostgreSQL array literal of text elements, e.g. {"a","b\"c"}.
std::string TextArray(const std::vector<std::string>& items);
/// A PostgreSQL array literal of integers, e.g. {1,2}.
std::string IntArray(const std::vector<int64_t>& items);

std::string ToHex(const std::string& bytes);
/// Inverse of ToHex; "" for malformed input.
std::string FromHex(const std::string& hex);

/// True for text PostgreSQL stores as is: valid UTF-8 without NUL bytes.
bool IsStorableText(const std::string& s);
/// `s` made storable (invalid bytes become '?') and cut to `max_bytes`.
std::string StorableText(const std::string& s, size_t max_bytes = 4096);

/// Longest event_id the inbox accepts (its primary key index has a row size limit).
constexpr size_t kMaxEventIdBytes = 1024;
/// "" when `event_id` can be a dedup key, else why not.
std::string EventIdProblem(const std::string& event_id, bool present);

/// Headers as one bytea value: per header a 4-byte name length, the name, a
/// 4-byte value length and the value (big-endian lengths).
std::string EncodeHeaders(const std::vector<std::pair<std::string, std::string>>& headers);
std::vector<std::pair<std::string, std::string>> DecodeHeaders(const std::string& bytes);

}  // namespace outbox::sdk::detail
