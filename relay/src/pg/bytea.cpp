#include "pg/bytea.hpp"

#include <stdexcept>

namespace outbox::relay {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

}  // namespace

std::string DecodeBytea(const char* text, size_t len) {
  std::string out;
  if (len >= 2 && text[0] == '\\' && text[1] == 'x') {
    if (len % 2 != 0) throw std::runtime_error("bytea: odd number of hex digits");
    out.resize((len - 2) / 2);
    for (size_t i = 2, o = 0; i < len; i += 2, ++o) {
      const int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
      if (hi < 0 || lo < 0) throw std::runtime_error("bytea: bad hex digit");
      out[o] = static_cast<char>((hi << 4) | lo);
    }
    return out;
  }
  out.reserve(len);
  for (size_t i = 0; i < len; ++i) {  // escape format: \\ and \ooo
    if (text[i] != '\\') {
      out.push_back(text[i]);
    } else if (i + 1 < len && text[i + 1] == '\\') {
      out.push_back('\\');
      ++i;
    } else if (i + 3 < len && IsOctal(text[i + 1]) && IsOctal(text[i + 2]) && IsOctal(text[i + 3])) {
      out.push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0')));
      i += 3;
    } else {
      throw std::runtime_error("bytea: bad escape sequence");
    }
  }
  return out;
}

}  // namespace outbox::relay
