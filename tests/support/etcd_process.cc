#include "support/etcd_process.h"

#include "platform/net.h"
#include "platform/process.h"
#include "store/base64.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "platform/http_lib.h"
#include <nlohmann/json.hpp>

namespace pgpilot::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Waits up to `timeout` for our child `pid` to exit; true once it has (or is not ours any more).
bool WaitForExit(pid_t pid, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno == ECHILD) return true;  // reaped elsewhere: gone either way
    if (r < 0 && errno != EINTR) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string Url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

std::string ShortError(const std::string& body) {
  try {
    auto j = nlohmann::json::parse(body);
    if (j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  } catch (const std::exception&) {
  }
  return body.substr(0, 300);
}

}  // namespace


Result<std::string> EtcdPost(const std::string& endpoint, const std::string& path,
                             const std::string& body, const std::string& token, Duration timeout) {
  httplib::Client client(endpoint);
  auto secs = timeout.count() / 1000;
  auto usecs = (timeout.count() % 1000) * 1000;
  client.set_connection_timeout(secs, usecs);
  client.set_read_timeout(secs, usecs);
  client.set_write_timeout(secs, usecs);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", token);
  auto res = client.Post(path.c_str(), headers, body, "application/json");
  if (!res) {
    return Unavailable("POST " + endpoint + path + " failed: " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return Unavailable("POST " + endpoint + path + " answered HTTP " + std::to_string(res->status) +
                       ": " + ShortError(res->body));
  }
  return res->body;
}

Result<std::unique_ptr<EtcdProcess>> EtcdProcess::Start(const Options& options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return NotFound(options.binary + " is not executable: " + std::strerror(errno),
                    "install Debian's etcd-server package");
  }
  std::unique_ptr<EtcdProcess> etcd(new EtcdProcess());
  etcd->options_ = options;
  char tmpl[] = "/tmp/pgpilot-etcd-test.XXXXXX";
  const char* made = mkdtemp(tmpl);
  if (made == nullptr) return Internal(std::string("mkdtemp failed: ") + std::strerror(errno));
  etcd->dir_ = made;

  Error last = Internal("etcd was not started");
  for (int attempt = 0; attempt < 3; ++attempt) {
    etcd->client_port_ = FreeLoopbackPort(0);
    etcd->peer_port_ = FreeLoopbackPort(etcd->client_port_);
    if (etcd->client_port_ == 0 || etcd->peer_port_ == 0) {
      return Unavailable("no free port on 127.0.0.1 for etcd");
    }
    etcd->endpoint_ = Url(etcd->client_port_);
    etcd->health_url_ = etcd->endpoint_;
    if (!options.tls_cert_file.empty()) {
      etcd->endpoint_ = "https://127.0.0.1:" + std::to_string(etcd->client_port_);
      int metrics_port = FreeLoopbackPort(etcd->client_port_);
      if (metrics_port == 0 || metrics_port == etcd->peer_port_) continue;
      etcd->health_url_ = Url(metrics_port);
    }
    // A failed attempt may have left a half-made data directory.
    std::error_code ec;
    std::filesystem::remove_all(etcd->dir_ + "/data", ec);
    Status launched = etcd->Launch();
    if (!launched.ok()) return launched.error();
    Status healthy = etcd->WaitUntilHealthy(options.start_timeout);
    if (healthy.ok()) return etcd;
    last = healthy.error();
    (void)etcd->Stop(Duration(2000));
  }
  return last;
}

Result<std::vector<std::unique_ptr<EtcdProcess>>> EtcdProcess::StartCluster(int members,
                                                                             const Options& options) {
  std::vector<std::unique_ptr<EtcdProcess>> out;
  std::string initial_cluster;
  std::vector<int> taken;
  auto free_port = [&taken] {
    for (int attempt = 0; attempt < 50; ++attempt) {
      int port = FreeLoopbackPort(taken.empty() ? 0 : taken.back());
      bool reused = false;
      for (int t : taken) reused = reused || t == port;
      if (port != 0 && !reused) {
        taken.push_back(port);
        return port;
      }
    }
    return 0;
  };
  for (int i = 0; i < members; ++i) {
    std::unique_ptr<EtcdProcess> etcd(new EtcdProcess());
    etcd->options_ = options;
    char tmpl[] = "/tmp/pgpilot-etcd-test.XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (made == nullptr) return Internal(std::string("mkdtemp failed: ") + std::strerror(errno));
    etcd->dir_ = made;
    etcd->name_ = "e" + std::to_string(i);
    etcd->client_port_ = free_port();
    etcd->peer_port_ = free_port();
    if (etcd->client_port_ == 0 || etcd->peer_port_ == 0) return Unavailable("no free port for etcd");
    etcd->endpoint_ = Url(etcd->client_port_);
    etcd->health_url_ = etcd->endpoint_;
    initial_cluster += (i ? "," : "") + etcd->name_ + "=" + Url(etcd->peer_port_);
    out.push_back(std::move(etcd));
  }
  for (auto& etcd : out) {
    etcd->initial_cluster_ = initial_cluster;
    if (Status s = etcd->Launch(); !s.ok()) return s.error();
  }
  for (auto& etcd : out) {
    if (Status s = etcd->WaitUntilHealthy(options.start_timeout); !s.ok()) return s.error();
  }
  return out;
}

EtcdProcess::~EtcdProcess() {
  (void)Stop(Duration(3000));
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Status EtcdProcess::Launch() {
  const std::string peer = Url(peer_port_);
  std::vector<std::string> args = {
      options_.binary,
      "--name=" + name_,
      "--data-dir=" + dir_ + "/data",
      "--listen-client-urls=" + endpoint_,
      "--advertise-client-urls=" + endpoint_,
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=" + (initial_cluster_.empty() ? name_ + "=" + peer : initial_cluster_),
      "--initial-cluster-state=new",
      "--initial-cluster-token=pgpilot-test",
      // A single member elects itself at once; short timers make a restart quick.
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
  };
  if (!options_.tls_cert_file.empty()) {
    args.push_back("--cert-file=" + options_.tls_cert_file);
    args.push_back("--key-file=" + options_.tls_key_file);
    args.push_back("--listen-metrics-urls=" + health_url_);
    if (!options_.tls_client_ca_file.empty()) {
      args.push_back("--trusted-ca-file=" + options_.tls_client_ca_file);
      args.push_back("--client-cert-auth");
    }
  }
  const std::string log = dir_ + "/etcd.log";
  // Everything the child needs is prepared before fork(): it only makes async-signal-safe calls.
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    // The environment must not reconfigure the test's etcd.
    if (entry.rfind("ETCD_", 0) == 0 || entry.rfind("ETCDCTL_", 0) == 0) continue;
    env_storage.push_back(entry);
  }
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) return Internal(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the test died before we armed the signal
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  pid_ = pid;
  paused_ = false;
  return Status::Ok();
}

Status EtcdProcess::WaitUntilHealthy(Duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (Healthy(Duration(500))) {
      // /health can answer before the v3 gateway does: ask it too (over plain HTTP only; with
      // TLS the test's own client is the first to ask).
      if (!options_.tls_cert_file.empty()) return Status::Ok();
      auto r = EtcdPost(endpoint_, "/v3/kv/range", R"({"key":"AA=="})", "", Duration(1000));
      if (r.ok()) return Status::Ok();
    }
    int status = 0;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Unavailable("etcd exited while starting on " + endpoint_ + "; log:\n" + LogTail());
    }
    if (Clock::now() >= deadline) {
      return Unavailable("etcd on " + endpoint_ + " did not become healthy within " +
                         FormatSeconds(timeout) + "; log:\n" + LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool EtcdProcess::Healthy(Duration timeout) const {
  if (pid_ <= 0 || paused_) return false;
  httplib::Client client(health_url_);
  auto secs = timeout.count() / 1000;
  auto usecs = (timeout.count() % 1000) * 1000;
  client.set_connection_timeout(secs, usecs);
  client.set_read_timeout(secs, usecs);
  auto res = client.Get("/health");
  if (!res || res->status != 200) return false;
  try {
    auto j = nlohmann::json::parse(res->body);
    return j.value("health", "") == "true";
  } catch (const std::exception&) {
    return false;
  }
}

Status EtcdProcess::Stop(Duration grace) {
  if (pid_ <= 0) return Status::Ok();
  kill(pid_, SIGTERM);
  if (paused_) kill(pid_, SIGCONT);  // a stopped process cannot act on SIGTERM
  paused_ = false;
  bool exited = WaitForExit(pid_, grace);
  if (!exited) {
    kill(pid_, SIGKILL);
    exited = WaitForExit(pid_, Duration(5000));
  }
  pid_t pid = pid_;
  pid_ = -1;
  if (!exited) return Internal("etcd (pid " + std::to_string(pid) + ") did not exit after SIGKILL");
  return Status::Ok();
}

Status EtcdProcess::Pause() {
  if (pid_ <= 0) return FailedPrecondition("etcd is not running");
  if (kill(pid_, SIGSTOP) != 0) return Internal(std::string("SIGSTOP: ") + std::strerror(errno));
  paused_ = true;
  // kill() returns before every thread has stopped; a request sent meanwhile may still be served.
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (!ProcessStopped(pid_)) {
    if (Clock::now() > deadline) return Internal("etcd did not stop within 2 s of SIGSTOP");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::Ok();
}

Status EtcdProcess::Resume() {
  if (pid_ <= 0) return FailedPrecondition("etcd is not running");
  if (kill(pid_, SIGCONT) != 0) return Internal(std::string("SIGCONT: ") + std::strerror(errno));
  paused_ = false;
  return Status::Ok();
}

Status EtcdProcess::Restart() {
  Status stopped = Stop();
  if (!stopped.ok()) return stopped;
  Status launched = Launch();
  if (!launched.ok()) return launched;
  return WaitUntilHealthy(options_.start_timeout);
}

std::string EtcdProcess::LogTail(size_t max_bytes) const {
  std::ifstream in(dir_ + "/etcd.log", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

Status EtcdProcess::EnableAuth(const std::string& root_password, const std::string& user,
                               const std::string& user_password, const std::string& prefix) {
  // The end of the range of keys starting with `prefix`: the prefix with its last byte plus one.
  std::string range_end = prefix;
  while (!range_end.empty() && static_cast<uint8_t>(range_end.back()) == 0xff) range_end.pop_back();
  if (range_end.empty()) return InvalidArgument("cannot grant a prefix of 0xff bytes");
  range_end.back() = static_cast<char>(static_cast<uint8_t>(range_end.back()) + 1);
  const std::string role = user + "-rw";

  using nlohmann::json;
  const std::vector<std::pair<std::string, json>> steps = {
      {"/v3/auth/role/add", {{"name", "root"}}},
      {"/v3/auth/user/add", {{"name", "root"}, {"password", root_password}}},
      {"/v3/auth/user/grant", {{"user", "root"}, {"role", "root"}}},
      {"/v3/auth/role/add", {{"name", role}}},
      {"/v3/auth/role/grant",
       {{"name", role},
        {"perm",
         {{"permType", "READWRITE"},
          {"key", Base64Encode(prefix)},
          {"range_end", Base64Encode(range_end)}}}}},
      {"/v3/auth/user/add", {{"name", user}, {"password", user_password}}},
      {"/v3/auth/user/grant", {{"user", user}, {"role", role}}},
      {"/v3/auth/enable", json::object()},
  };
  for (const auto& [path, body] : steps) {
    auto r = EtcdPost(endpoint_, path, body.dump());
    if (!r.ok()) return r.error();
  }
  return Status::Ok();
}

Status EtcdProcess::DisableAuth(const std::string& root_password) {
  nlohmann::json login = {{"name", "root"}, {"password", root_password}};
  auto r = EtcdPost(endpoint_, "/v3/auth/authenticate", login.dump());
  if (!r.ok()) return r.error();
  std::string token;
  try {
    token = nlohmann::json::parse(*r).value("token", "");
  } catch (const std::exception& e) {
    return Internal(std::string("etcd's authenticate answer does not parse: ") + e.what());
  }
  if (token.empty()) return Internal("etcd's authenticate answer has no token");
  auto off = EtcdPost(endpoint_, "/v3/auth/disable", "{}", token);
  return off.ok() ? Status::Ok() : Status(off.error());
}

}  // namespace pgpilot::testing
