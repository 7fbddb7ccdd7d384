// Test support: a single-member etcd (Debian's /usr/bin/etcd) on loopback, in a fresh directory
// under /tmp, for tests of the etcd store. Started on random free ports; stopped and removed when
// the object goes away.
//
// The process is forked from the calling thread and asked to die with it (PR_SET_PDEATHSIG), so a
// crashed test leaves no etcd behind: start, stop and restart it from the test's main thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/types.h"

namespace pgpilot::testing {

class EtcdProcess {
 public:
  struct Options {
    std::string binary = "/usr/bin/etcd";
    Duration start_timeout{20000};  // until /health answers
    // TLS for clients: with a certificate and key, clients must speak https; with a client CA
    // too, they must also present a certificate signed by it. /health is then served on a
    // separate plain-HTTP metrics port, so the harness needs no TLS of its own.
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_client_ca_file;
  };

  // Starts etcd and waits until it answers; retries with other ports if they were taken.
  static Result<std::unique_ptr<EtcdProcess>> Start(const Options& options);
  static Result<std::unique_ptr<EtcdProcess>> Start() { return Start(Options{}); }
  // Starts an etcd cluster of `members` members on loopback and waits until each answers.
  static Result<std::vector<std::unique_ptr<EtcdProcess>>> StartCluster(int members,
                                                                        const Options& options);
  static Result<std::vector<std::unique_ptr<EtcdProcess>>> StartCluster(int members) {
    return StartCluster(members, Options{});
  }
  ~EtcdProcess();  // stops etcd (even a paused one) and removes the directory
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // "http://127.0.0.1:PORT" ("https://..." with TLS).
  const std::string& endpoint() const { return endpoint_; }
  int client_port() const { return client_port_; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  bool paused() const { return paused_; }

  // SIGTERM, then SIGKILL after `grace`; waits for the exit. Idempotent.
  Status Stop(Duration grace = Duration(5000));
  // SIGSTOP / SIGCONT: a paused etcd accepts TCP connections but never answers.
  Status Pause();
  Status Resume();
  // Stops and starts again on the same ports and data directory; waits until it answers.
  Status Restart();

  // One GET /health with a short timeout: true when etcd says {"health":"true"}.
  bool Healthy(Duration timeout = Duration(1000)) const;
  // The last lines of etcd's log, for failure messages.
  std::string LogTail(size_t max_bytes = 4000) const;

  // Turns on authentication: a root user (role root) with `root_password`, a user `user` with
  // `user_password` whose role grants read and write on keys starting with `prefix`, then
  // `auth enable`. Uses the JSON gateway; no secret ever appears on a command line.
  Status EnableAuth(const std::string& root_password, const std::string& user,
                    const std::string& user_password, const std::string& prefix = "/pgpilot/");
  // Turns authentication off again (authenticating as root).
  Status DisableAuth(const std::string& root_password);

 private:
  EtcdProcess() = default;
  Status Launch();                             // fork/exec with the current ports and directory
  Status WaitUntilHealthy(Duration timeout);   // fails early if the process exits

  Options options_;
  std::string dir_;
  std::string endpoint_;
  int client_port_ = 0;
  int peer_port_ = 0;
  std::string health_url_;  // where /health answers: the client URL, or the metrics URL with TLS
  pid_t pid_ = -1;
  bool paused_ = false;
  std::string name_ = "default";
  std::string initial_cluster_;  // empty: this member alone
};

// POSTs `body` (JSON) to etcd's gateway at `endpoint` + `path` ("/v3/kv/range"); returns the
// response body on HTTP 200, else an error with the status and body. `token`: the Authorization
// header, when authentication is on.
Result<std::string> EtcdPost(const std::string& endpoint, const std::string& path,
                             const std::string& body, const std::string& token = "",
                             Duration timeout = Duration(3000));



}  // namespace pgpilot::testing
