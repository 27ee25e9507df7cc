#include "sql_encoding.hpp"

namespace outbox::sdk::detail {
namespace {

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

void AppendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0x0f];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

std::string HeadersJson(const std::map<std::string, std::string>& headers) {
  std::string out = "{";
  for (const auto& [name, value] : headers) {
    if (out.size() > 1) out += ',';
    AppendJsonString(out, name);
    out += ':';
    AppendJsonString(out, value);
  }
  out += '}';
  return out;
}

ArrayLiteral::ArrayLiteral(size_t reserve_bytes) {
  text_.reserve(reserve_bytes + 2);
  text_ += '{';
}

void ArrayLiteral::Separator() {
  if (!empty_) text_ += ',';
  empty_ = false;
}

void ArrayLiteral::Add(const std::string& text) {
  Separator();
  text_ += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') text_ += '\\';
    text_ += c;
  }
  text_ += '"';
}

void ArrayLiteral::AddBytea(const std::string& bytes) {
  Separator();
  text_ += "\"\\\\x";  // "\\x: the array quoting turns \\ into the \ of bytea's hex format
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    text_ += kHex[c >> 4];
    text_ += kHex[c & 0x0f];
  }
  text_ += '"';
}

void ArrayLiteral::AddNull() {
  Separator();
  text_ += "NULL";
}

std::string ArrayLiteral::Finish() {
  text_ += '}';
  std::string out = std::move(text_);
  text_ = "{";
  empty_ = true;
  return out;
}

}  // namespace outbox::sdk::detail
