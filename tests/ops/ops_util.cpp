#include "ops_util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <httplib.h>

#include "test_env.hpp"

namespace outbox::test {

HttpAnswer HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  HttpAnswer a;
  if (auto res = client.Get(path.c_str())) {
    a.status = res->status;
    a.body = res->body;
    a.content_type = res->get_header_value("Content-Type");
  }
  return a;
}

std::optional<double> SampleValue(const std::string& metrics, const std::string& series) {
  const std::string needle = series + " ";
  for (size_t at = metrics.find(needle); at != std::string::npos; at = metrics.find(needle, at + 1)) {
    if (at != 0 && metrics[at - 1] != '\n') continue;  // a longer name that ends with `series`
    const size_t value = at + needle.size();
    return std::strtod(metrics.substr(value, metrics.find('\n', value) - value).c_str(), nullptr);
  }
  return std::nullopt;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string RelayBinary() {
  const char* bin_dir = std::getenv("OUTBOX_BIN_DIR");
  if (bin_dir == nullptr) throw std::runtime_error("OUTBOX_BIN_DIR is not set; run through ctest");
  return std::string(bin_dir) + "/relay/outbox-relay";
}

namespace {
std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

CommandResult RunRelayCommand(const std::vector<std::string>& args) {
  const std::string out_path = WriteTempFile("relay_out", ""), err_path = WriteTempFile("relay_err", "");
  const std::string binary = RelayBinary();
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(out_path.c_str(), "w", stdout) || !freopen(err_path.c_str(), "w", stderr)) _exit(126);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  if (pid < 0) throw std::runtime_error("fork failed");
  int status = 0;
  // Bounded: a command that hangs is killed after 60 s (and reported as 128+9).
  pid_t done = 0;
  for (int i = 0; i < 6000 && (done = waitpid(pid, &status, WNOHANG)) == 0; ++i) usleep(10000);
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return r;
}

RelayExecutable::RelayExecutable(const std::string& config_text)
    : config_path_(WriteTempFile("relay_exe", config_text)), log_path_(config_path_ + ".log") {
  const std::string binary = RelayBinary();
  const std::string log = log_path_, config = config_path_;
  pid_ = fork();
  if (pid_ == 0) {
    if (!freopen(log.c_str(), "w", stderr)) _exit(126);
    execl(binary.c_str(), binary.c_str(), "-c", config.c_str(), "run", static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

RelayExecutable::~RelayExecutable() {
  if (pid_ > 0 && status_ < 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::remove(config_path_.c_str());
  std::remove(log_path_.c_str());
}

int RelayExecutable::Stop() {
  if (status_ >= 0 || pid_ <= 0) return status_;
  kill(pid_, SIGTERM);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 3000 && (done = waitpid(pid_, &status, WNOHANG)) == 0; ++i) usleep(10000);
  if (done == 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    status_ = 0;
    return -1;
  }
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return status_;
}

std::string RelayExecutable::Log() const { return ReadFile(log_path_); }

std::string WriteTempFile(const std::string& prefix, const std::string& text) {
  const std::string path = "/tmp/" + UniqueName(prefix);
  std::ofstream(path) << text;
  return path;
}

}  // namespace outbox::test
