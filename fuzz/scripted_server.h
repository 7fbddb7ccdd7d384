// A loopback HTTP/1.1 server that answers from a script, for the store response fuzz target: the
// requests of one store call get the script's answers in order, and etcd's watch stream (its own
// connection, on its own thread) always gets the script's watch answer, so what a store call
// sees does not depend on thread timing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace pgpilot::fuzz {

struct ScriptedAnswer {
  int status = 200;
  std::string body;
};

struct Script {
  ScriptedAnswer watch;                 // POST /v3/watch
  std::vector<ScriptedAnswer> answers;  // every other request, in order; then 503
};

class ScriptedServer {
 public:
  // Listens on a free loopback port and serves from a thread of its own until the process ends.
  static ScriptedServer& Start();
  int port() const { return port_; }

  // Replaces the script and forgets what was served.
  void Load(Script script);
  // Waits until the watch answer was written and the client closed that connection (the watch
  // stream has ended on the client's side, every line handled); false after `timeout_ms`.
  bool AwaitWatchFinished(int timeout_ms);
  // Requests answered from `answers` (or with 503 past its end) since the last Load.
  int Served();
  // Waits until no connection is being served (every serving thread has finished with what it
  // allocated, so a leak check after the input sees none of it); false after `timeout_ms`.
  bool AwaitIdle(int timeout_ms);

 private:
  ScriptedServer() = default;
  void AcceptLoop();
  void Serve(int fd);
  ScriptedAnswer Next(const std::string& path, bool* is_watch, uint64_t* generation);

  int listen_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  Script script_;           // guarded by mu_
  size_t next_ = 0;         // guarded by mu_
  uint64_t generation_ = 0; // guarded by mu_; bumped by Load
  bool watch_finished_ = false;  // guarded by mu_
  int serving_ = 0;              // guarded by mu_; connections accepted and not yet closed
};

}  // namespace pgpilot::fuzz
