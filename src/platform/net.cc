#include "platform/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace pgpilot {

Status CheckPortFree(const std::string& host, int port, const std::string& what,
                     const std::string& hint) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string literal = host == "*" || host == "0.0.0.0" ? "0.0.0.0" : host;
  if (inet_pton(AF_INET, literal.c_str(), &addr.sin_addr) != 1) return Status::Ok();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Ok();
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  close(fd);
  if (rc != 0 && err == EADDRINUSE) {
    return FailedPrecondition(what + " " + host + ":" + std::to_string(port) +
                                  " is already in use by another process",
                              hint);
  }
  return Status::Ok();
}

}  // namespace pgpilot
