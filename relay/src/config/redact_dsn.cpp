#include <algorithm>
#include <cctype>
#include <string>

#include "config/config.hpp"

namespace outbox::relay {
namespace {

constexpr const char* kMask = "***";

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// postgresql://user:secret@host:5432/db?sslmode=require&password=secret
std::string RedactUri(std::string dsn) {
  const size_t authority = dsn.find("://") + 3;
  // Parameters first, so an '@' inside a password parameter cannot pose as the user info's end.
  for (size_t p = dsn.find("password=", authority); p != std::string::npos; p = dsn.find("password=", p + 1)) {
    if (dsn[p - 1] != '?' && dsn[p - 1] != '&') continue;
    size_t value = p + 9, amp = dsn.find('&', value);
    dsn.replace(value, (amp == std::string::npos ? dsn.size() : amp) - value, kMask);
  }
  // libpq ends the user info at the first '@' before the path. Taking the last '@' instead also
  // hides a password that (wrongly, unescaped) contains '@', '/' or '?'; the price is
  // over-redaction when the path or a parameter contains '@', never a leak.
  size_t at = dsn.rfind('@');
  if (at == std::string::npos || at < authority) return dsn;
  size_t colon = dsn.find(':', authority);
  if (colon == std::string::npos || colon > at) return dsn;
  return dsn.replace(colon + 1, at - colon - 1, kMask);
}

// host=db user=u password='a secret' sslmode=require (libpq's keyword/value syntax)
std::string RedactKeyValue(const std::string& dsn) {
  std::string out;
  size_t i = 0;
  const size_t n = dsn.size();
  while (i < n) {
    size_t token_start = i;
    while (i < n && IsSpace(dsn[i])) ++i;
    size_t key_start = i;
    while (i < n && dsn[i] != '=' && !IsSpace(dsn[i])) ++i;
    std::string key = dsn.substr(key_start, i - key_start);
    while (i < n && IsSpace(dsn[i])) ++i;
    if (key.empty() || i >= n || dsn[i] != '=') {
      // Not keyword=value syntax from here on: hide the rest if it could hold a password.
      std::string tail = dsn.substr(token_start);
      return out + (tail.find("password") == std::string::npos ? tail : std::string(" ") + kMask);
    }
    ++i;  // '='
    while (i < n && IsSpace(dsn[i])) ++i;
    size_t value_start = i;
    if (i < n && dsn[i] == '\'') {
      for (++i; i < n && dsn[i] != '\''; ++i) {
        if (dsn[i] == '\\') ++i;
      }
      if (i < n) ++i;  // closing quote
    } else {
      for (; i < n && !IsSpace(dsn[i]); ++i) {
        if (dsn[i] == '\\') ++i;
      }
    }
    i = std::min(i, n);
    out += dsn.substr(token_start, value_start - token_start);
    out += key == "password" ? std::string(kMask) : dsn.substr(value_start, i - value_start);
  }
  return out;
}

}  // namespace

std::string RedactDsn(const std::string& dsn) {
  if (dsn.compare(0, 13, "postgresql://") == 0 || dsn.compare(0, 11, "postgres://") == 0) return RedactUri(dsn);
  return RedactKeyValue(dsn);
}

}  // namespace outbox::relay
