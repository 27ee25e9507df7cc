#include "pg/wal_message.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "pg/tail_row.hpp"

namespace outbox::relay {
namespace {

std::string Base64Decode(const std::string& in) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;  // Postgres' encode() wraps lines
    const size_t v = kAlphabet.find(c);
    if (v == std::string::npos) throw std::runtime_error("payload_base64 is not base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string Text(const nlohmann::json& j, const char* key, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw std::runtime_error(std::string("outbox WAL message without \"") + key + "\"");
    return "";
  }
  if (!it->is_string()) throw std::runtime_error(std::string("outbox WAL message: \"") + key + "\" is not a string");
  return it->get<std::string>();
}

}  // namespace

OutboxRow DecodeWalMessage(const std::string& content) {
  const nlohmann::json j = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw std::runtime_error("outbox WAL message is not a JSON object");
  OutboxRow r;
  r.id = Text(j, "id", true);
  r.aggregate_type = Text(j, "aggregate_type", true);
  r.aggregate_id = Text(j, "aggregate_id", true);
  r.event_type = Text(j, "event_type", false);
  if (auto it = j.find("payload_base64"); it != j.end() && !it->is_null())
    r.payload = Base64Decode(Text(j, "payload_base64", true));
  if (auto it = j.find("headers"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw std::runtime_error("outbox WAL message: \"headers\" is not an object");
    r.headers_json = it->dump();
  }
  if (auto it = j.find("topic"); it != j.end() && !it->is_null()) r.topic = Text(j, "topic", true);
  const std::string created = Text(j, "created_at", false);
  if (!created.empty()) {
    // "YYYY-MM-DDTHH:MM:SS.ffffffZ": NormalizeTimestamp reads the same fields with a space.
    std::string spaced = created;
    if (spaced.size() > 10 && spaced[10] == 'T') spaced[10] = ' ';
    if (!spaced.empty() && spaced.back() == 'Z') spaced.back() = ' ', spaced.pop_back();
    if (!NormalizeTimestamp(spaced, &r.created_at, &r.created_epoch)) r.created_at = created;
  }
  return r;
}

}  // namespace outbox::relay
