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

}  // namespace outbox::test
