// postgres.dsn: what libpq would refuse, found without connecting. PQconninfoParse
// rejects syntax errors and unknown options; the values libpq checks only when it
// connects (enumerations, integers, ports, host lists) are checked here the way
// libpq 15's connectOptions2() and PQconnectPoll() check them.
#include <arpa/inet.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/config_checks.hpp"

namespace outbox::relay::config_internal {
namespace {

struct EnumOption {
  const char* name;
  std::vector<std::string> values;
  bool ignore_case;
};

const std::vector<EnumOption>& EnumOptions() {
  static const std::vector<EnumOption> kOptions = {
      {"sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}, false},
      {"gssencmode", {"disable", "prefer", "require"}, false},
      {"channel_binding", {"disable", "prefer", "require"}, false},
      {"target_session_attrs", {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}, false},
      {"ssl_min_protocol_version", {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}, true},
      {"ssl_max_protocol_version", {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}, true},
  };
  return kOptions;
}

const char* const kIntegerOptions[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                                       "keepalives_interval", "keepalives_count", "tcp_user_timeout"};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

/// libpq's parse_int_param: an int, blanks around it allowed.
bool IsInt(const std::string& value) {
  const char* start = value.c_str();
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(start, &end, 10);
  if (end == start || errno == ERANGE || n < INT_MIN || n > INT_MAX) return false;
  while (*end != '\0' && std::isspace(static_cast<unsigned char>(*end))) ++end;
  return *end == '\0';
}

std::vector<std::string> SplitCommas(const std::string& value) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = value.find(',', start)) != std::string::npos; start = comma + 1)
    out.push_back(value.substr(start, comma - start));
  out.push_back(value.substr(start));
  return out;
}

bool IsNumericAddress(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

/// Index of a TLS version in libpq's order, or -1 for "" (no bound).
int TlsRank(const std::string& v) {
  const std::vector<std::string>& all = EnumOptions()[4].values;
  for (size_t i = 0; i < all.size(); ++i) {
    if (Lower(all[i]) == Lower(v)) return static_cast<int>(i);
  }
  return -1;
}

/// libpq's parse errors quote the offending part, which may be (part of) a
/// password: a quoted fragment is shown only if the redacted DSN shows it too.
std::string HideSecrets(const std::string& message, const std::string& dsn) {
  const std::string redacted = RedactDsn(dsn);
  std::string out;
  size_t i = 0;
  while (i < message.size()) {
    const size_t open = message.find('"', i);
    const size_t close = open == std::string::npos ? std::string::npos : message.find('"', open + 1);
    if (close == std::string::npos) {
      out += message.substr(i);
      break;
    }
    const std::string fragment = message.substr(open + 1, close - open - 1);
    out += message.substr(i, open + 1 - i);
    out += redacted.find(fragment) != std::string::npos ? fragment : "***";
    out += '"';
    i = close + 1;
  }
  return out;
}

std::string TrimLine(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return s;
}

}  // namespace

std::string DsnDatabase(const std::string& dsn) {
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> parsed(PQconninfoParse(dsn.c_str(), nullptr),
                                                                        PQconninfoFree);
  std::string dbname, user;
  for (const PQconninfoOption* o = parsed.get(); o != nullptr && o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    if (std::string(o->keyword) == "dbname") dbname = o->val;
    if (std::string(o->keyword) == "user") user = o->val;
  }
  if (!dbname.empty()) return dbname;
  if (const char* env = std::getenv("PGDATABASE"); env != nullptr && *env != '\0') return env;
  if (!user.empty()) return user;
  if (const char* env = std::getenv("PGUSER"); env != nullptr && *env != '\0') return env;
  if (const char* env = std::getenv("USER"); env != nullptr && *env != '\0') return env;
  return "postgres";
}

std::string DsnProblem(const std::string& dsn) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> parsed(PQconninfoParse(dsn.c_str(), &error),
                                                                        PQconninfoFree);
  if (!parsed) {
    const std::string why = error != nullptr ? TrimLine(error) : "out of memory";
    if (error != nullptr) PQfreemem(error);
    return "not a valid connection string: " + HideSecrets(why, dsn) +
           "; Hint: use key=value pairs (host=db dbname=app) or a URI (postgresql://user@db/app?sslmode=verify-full)";
  }
  std::map<std::string, std::string> set;  // options the DSN sets
  for (const PQconninfoOption* o = parsed.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr) set[o->keyword] = o->val;
  }
  auto get = [&](const char* name) -> const std::string* {
    auto it = set.find(name);
    return it == set.end() ? nullptr : &it->second;
  };

  if (get("replication") != nullptr) {
    return "replication: must not be set; the relay opens its replication connection itself (source.mode = \"tail\")";
  }
  for (const auto& option : EnumOptions()) {
    const std::string* v = get(option.name);
    if (v == nullptr || (v->empty() && option.ignore_case)) continue;  // "" = no TLS bound
    const bool known = std::any_of(option.values.begin(), option.values.end(), [&](const std::string& allowed) {
      return option.ignore_case ? Lower(allowed) == Lower(*v) : allowed == *v;
    });
    if (!known) {
      return std::string(option.name) + ": invalid value " + Quote(*v) + "; expected one of " + Join(option.values);
    }
  }
  const std::string* tls_min = get("ssl_min_protocol_version");
  const std::string* tls_max = get("ssl_max_protocol_version");
  if (tls_min != nullptr && tls_max != nullptr && TlsRank(*tls_min) >= 0 && TlsRank(*tls_max) >= 0 &&
      TlsRank(*tls_min) > TlsRank(*tls_max)) {
    return "ssl_min_protocol_version " + Quote(*tls_min) + " is above ssl_max_protocol_version " + Quote(*tls_max);
  }
  for (const char* name : kIntegerOptions) {
    const std::string* v = get(name);
    if (v != nullptr && !v->empty() && !IsInt(*v)) return std::string(name) + ": invalid integer value " + Quote(*v);
  }

  // Host lists: libpq pairs host, hostaddr and port entries by position.
  const std::string* host = get("host");
  const std::string* hostaddr = get("hostaddr");
  const std::string* port = get("port");
  const size_t hosts = host != nullptr && !host->empty() ? SplitCommas(*host).size() : 0;
  size_t addresses = 0;
  if (hostaddr != nullptr && !hostaddr->empty()) {
    const auto entries = SplitCommas(*hostaddr);
    for (const auto& a : entries) {
      if (!a.empty() && !IsNumericAddress(a)) return "hostaddr: " + Quote(a) + " is not a numeric IP address";
    }
    addresses = entries.size();
    if (hosts > 0 && addresses != hosts) {
      return std::to_string(addresses) + " hostaddr values for " + std::to_string(hosts) + " hosts; give one per host";
    }
  }
  if (port != nullptr && !port->empty()) {
    const auto entries = SplitCommas(*port);
    for (const auto& p : entries) {
      if (p.empty()) continue;  // the default port
      if (!IsInt(p) || std::atoi(p.c_str()) < 1 || std::atoi(p.c_str()) > 65535)
        return "port: invalid value " + Quote(p) + "; expected a port number between 1 and 65535";
    }
    const size_t targets = std::max<size_t>({hosts, addresses, 1});
    if (entries.size() > 1 && entries.size() != targets) {
      return std::to_string(entries.size()) + " ports for " + std::to_string(targets) +
             " hosts; give one port for all hosts, or one per host";
    }
  }
  return "";
}

}  // namespace outbox::relay::config_internal
