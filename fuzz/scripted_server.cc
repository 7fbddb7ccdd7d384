// A loopback HTTP/1.1 server answering from a script (scripted_server.h).
#include "scripted_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <strings.h>
#include <thread>

#include "loopback.h"

namespace pgpilot::fuzz {
namespace {

constexpr auto kIoTimeout = std::chrono::milliseconds(5000);
constexpr size_t kMaxRequest = 8 << 20;

// Reads from `fd` until `buffer` holds at least `want` bytes; false on close, error or timeout.
bool ReadAtLeast(int fd, size_t want, std::string* buffer) {
  auto deadline = std::chrono::steady_clock::now() + kIoTimeout;
  char chunk[16384];
  while (buffer->size() < want) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
  }
  return true;
}

// The value of header `name` in the header block `head`, or "".
std::string Header(const std::string& head, const char* name) {
  size_t name_len = std::char_traits<char>::length(name);
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    if (end == std::string::npos) end = head.size();
    if (end - start > name_len && head[start + name_len] == ':' &&
        strncasecmp(head.c_str() + start, name, name_len) == 0) {
      size_t value = head.find_first_not_of(' ', start + name_len + 1);
      return value < end ? head.substr(value, end - value) : "";
    }
    pos = end;
  }
  return "";
}

}  // namespace

ScriptedServer& ScriptedServer::Start() {
  static ScriptedServer* server = [] {
    auto* s = new ScriptedServer;
    s->listen_fd_ = ListenLoopback(&s->port_);
    if (s->listen_fd_ < 0) {
      std::perror("scripted server: listen on loopback");
      std::abort();
    }
    std::thread([s] { s->AcceptLoop(); }).detach();
    return s;
  }();
  return *server;
}

void ScriptedServer::Load(Script script) {
  std::lock_guard<std::mutex> lock(mu_);
  script_ = std::move(script);
  next_ = 0;
  ++generation_;
  watch_finished_ = false;
}

bool ScriptedServer::AwaitWatchFinished(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return watch_finished_; });
}

bool ScriptedServer::AwaitIdle(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return serving_ == 0; });
}

int ScriptedServer::Served() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(next_);
}

ScriptedAnswer ScriptedServer::Next(const std::string& path, bool* is_watch, uint64_t* generation) {
  std::lock_guard<std::mutex> lock(mu_);
  *generation = generation_;
  *is_watch = path.rfind("/v3/watch", 0) == 0;
  if (*is_watch) return script_.watch;
  size_t index = next_++;
  return index < script_.answers.size() ? script_.answers[index] : ScriptedAnswer{503, ""};
}

void ScriptedServer::AcceptLoop() {
  while (true) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++serving_;
    }
    std::thread([this, fd] {
      Serve(fd);
      std::lock_guard<std::mutex> lock(mu_);
      --serving_;
      cv_.notify_all();
    }).detach();
  }
}

void ScriptedServer::Serve(int fd) {
  std::string request;
  size_t head_end = std::string::npos;
  while ((head_end = request.find("\r\n\r\n")) == std::string::npos) {
    if (request.size() > kMaxRequest || !ReadAtLeast(fd, request.size() + 1, &request)) {
      close(fd);
      return;
    }
  }
  std::string head = request.substr(0, head_end);
  size_t method_end = head.find(' ');
  size_t path_end = head.find(' ', method_end + 1);
  std::string path = method_end == std::string::npos ? "" : head.substr(method_end + 1, path_end - method_end - 1);
  if (strcasecmp(Header(head, "Expect").c_str(), "100-continue") == 0) {
    (void)WriteAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");
  }
  size_t body_length = std::strtoul(Header(head, "Content-Length").c_str(), nullptr, 10);
  if (body_length > kMaxRequest || !ReadAtLeast(fd, head_end + 4 + body_length, &request)) {
    close(fd);
    return;
  }
  bool is_watch = false;
  uint64_t generation = 0;
  ScriptedAnswer answer = Next(path, &is_watch, &generation);
  std::string response = "HTTP/1.1 " + std::to_string(answer.status) +
                         " Scripted\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(answer.body.size()) + "\r\nConnection: close\r\n\r\n" + answer.body;
  bool written = WriteAll(fd, response);
  if (is_watch) {
    shutdown(fd, SHUT_WR);
    std::string ignored;
    ReadEnd end = written ? ReadUntilClosed(fd, kIoTimeout, &ignored) : ReadEnd::kReset;
    std::lock_guard<std::mutex> lock(mu_);
    if (generation == generation_ && end != ReadEnd::kTimedOut) {
      watch_finished_ = true;
      cv_.notify_all();
    }
  }
  close(fd);
}

}  // namespace pgpilot::fuzz
