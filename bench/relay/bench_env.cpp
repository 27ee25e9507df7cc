#include "bench_env.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
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

}  // namespace outbox::bench
