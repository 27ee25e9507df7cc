#include "pg/bytea.hpp"

#include <stdexcept>

namespace outbox::relay {
namespace {

// Hex digit values, -1 for anything else: one lookup per digit (payloads are
// decoded on the pipeline thread, byte by byte).
struct HexTable {
  signed char value[256];
  constexpr HexTable() : value() {
    for (int c = 0; c < 256; ++c) {
      value[c] = c >= '0' && c <= '9'   ? static_cast<signed char>(c - '0')
                 : c >= 'a' && c <= 'f' ? static_cast<signed char>(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? static_cast<signed char>(c - 'A' + 10)
                                        : static_cast<signed char>(-1);
    }
  }
};
constexpr HexTable kHex;

int HexValue(char c) { return kHex.value[static_cast<unsigned char>(c)]; }

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
