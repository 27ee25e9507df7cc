#include "bench_env.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace outbox::bench {

Flags::Flags(const char* program, std::map<std::string, std::string> defaults)
    : program_(program), values_(std::move(defaults)) {}

void Flags::Parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i];
    if (name == "-h" || name == "--help") {
      std::printf("usage: %s", program_.c_str());
      for (const auto& [k, v] : values_) std::printf(" [--%s %s]", k.c_str(), v.empty() ? "..." : v.c_str());
      std::printf("\n");
      std::exit(0);
    }
    if (name.rfind("--", 0) != 0 || !values_.count(name.substr(2))) {
      throw std::invalid_argument("unknown argument '" + name + "'; see --help");
    }
    if (i + 1 >= argc) throw std::invalid_argument(name + ": missing value");
    values_[name.substr(2)] = argv[++i];
  }
}

const std::string& Flags::Str(const std::string& name) const {
  const auto& v = values_.at(name);
  if (v.empty()) throw std::invalid_argument("--" + name + ": required");
  return v;
}

long Flags::Int(const std::string& name) const {
  const std::string& v = Str(name);
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || n < 0)
    throw std::invalid_argument("--" + name + ": expected a non-negative integer, got '" + v + "'");
  return n;
}

double Flags::Num(const std::string& name) const {
  const std::string& v = Str(name);
  char* end = nullptr;
  const double n = std::strtod(v.c_str(), &end);
  if (*end != '\0' || n < 0)
    throw std::invalid_argument("--" + name + ": expected a non-negative number, got '" + v + "'");
  return n;
}

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double LoadAverage1() {
  std::ifstream f("/proc/loadavg");
  double v = -1;
  f >> v;
  return v;
}

namespace {

struct StatFields {
  pid_t ppid = 0;
  double self = 0;      // utime + stime
  double children = 0;  // cutime + cstime
};

bool ReadStat(pid_t pid, StatFields& out) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  // The command name may contain spaces: fields start after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(line.substr(close + 2));
  std::string field[20];
  for (auto& s : field) in >> s;
  // field[0] is state (stat field 3): utime is field 14, so index 11.
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  out.ppid = static_cast<pid_t>(std::atol(field[1].c_str()));
  out.self = (std::atof(field[11].c_str()) + std::atof(field[12].c_str())) / tick;
  out.children = (std::atof(field[13].c_str()) + std::atof(field[14].c_str())) / tick;
  return true;
}

}  // namespace

double ProcessCpuSeconds(pid_t pid, bool children) {
  StatFields root;
  if (!ReadStat(pid, root)) return -1;
  if (!children) return root.self;
  double total = root.self + root.children;
  // Live descendants (Postgres backends are the postmaster's children).
  std::map<pid_t, StatFields> all;
  if (DIR* d = opendir("/proc")) {
    for (int guard = 0; guard < 1000000; ++guard) {
      dirent* e = readdir(d);
      if (e == nullptr) break;
      const pid_t p = static_cast<pid_t>(std::atol(e->d_name));
      StatFields s;
      if (p > 0 && p != pid && ReadStat(p, s)) all[p] = s;
    }
    closedir(d);
  }
  for (const auto& [p, s] : all) {
    pid_t up = s.ppid;
    for (int depth = 0; depth < 8 && up > 1 && up != pid; ++depth) {
      auto it = all.find(up);
      up = it == all.end() ? 0 : it->second.ppid;
    }
    if (up == pid) total += s.self;
  }
  return total;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long ProcStatusKb(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = std::string(field) + ":";
  std::string line;
  for (int guard = 0; guard < 200 && std::getline(f, line); ++guard) {
    if (line.rfind(prefix, 0) == 0) return std::atol(line.c_str() + prefix.size());
  }
  return -1;
}

void AppendJsonLine(const std::string& path, const nlohmann::json& j) {
  std::ofstream f(path, std::ios::app);
  f << j.dump() << '\n';
  if (!f) throw std::runtime_error("cannot write " + path);
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) throw std::runtime_error("cannot find a free loopback port");
  return ntohs(addr.sin_port);
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr = Loopback(port);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") > response.find("\r\n") ||
      body == std::string::npos) {
    throw std::runtime_error("GET 127.0.0.1:" + std::to_string(port) + path + " failed");
  }
  return response.substr(body + 4);
}

double ScrapedHistogram::Quantile(double q) const {
  if (buckets.empty() || count <= 0) return 0;
  const double rank = q * count;
  double lower = 0, below = 0;
  for (const auto& [le, cumulative] : buckets) {
    if (cumulative >= rank) {
      if (std::isinf(le)) return lower;  // in the overflow bucket: the highest finite bound, as Prometheus does
      const double in_bucket = cumulative - below;
      return in_bucket <= 0 ? le : lower + (le - lower) * (rank - below) / in_bucket;
    }
    lower = le;
    below = cumulative;
  }
  return lower;
}

ScrapedHistogram ParseHistogram(const std::string& exposition, const std::string& name) {
  ScrapedHistogram h;
  std::istringstream in(exposition);
  std::string line;
  const std::string bucket = name + "_bucket{", count = name + "_count";
  while (std::getline(in, line)) {
    if (line.rfind(bucket, 0) == 0) {
      const size_t le = line.find("le=\"");
      const size_t close = line.find("\"}", le);
      if (le == std::string::npos || close == std::string::npos) continue;
      const std::string bound = line.substr(le + 4, close - le - 4);
      const double upper = bound == "+Inf" ? INFINITY : std::strtod(bound.c_str(), nullptr);
      h.buckets.emplace_back(upper, std::strtod(line.c_str() + close + 2, nullptr));
    } else if (line.rfind(count + " ", 0) == 0) {
      h.count = std::strtod(line.c_str() + count.size() + 1, nullptr);
    }
  }
  std::sort(h.buckets.begin(), h.buckets.end());
  return h;
}

}  // namespace outbox::bench
