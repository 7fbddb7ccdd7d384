// Test support: a private network of Linux network namespaces standing in for separate machines.
// A hub namespace holds a bridge; each "host" namespace has one veth link to it and one address
// on a 10.x.y.0/24 subnet that exists only inside these namespaces. Nothing is configured in the
// caller's own namespace, so no packet for these addresses ever leaves the machine: everything
// that talks to a host runs inside a namespace (`ip netns exec`).
//
// Needs root and iproute2; Create() says which is missing so tests can skip with that message.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/types.h"
#include "platform/process.h"

namespace pgpilot::testing {

class NetnsLab {
 public:
  // Creates the hub and one namespace per name in `hosts` (letters, digits, '-'), linked up.
  static Result<std::unique_ptr<NetnsLab>> Create(const std::vector<std::string>& hosts);
  // Why this machine cannot run the lab (not root, no `ip`, namespaces refused), or "" if it can.
  static std::string Unavailable();
  ~NetnsLab();  // deletes every namespace it created
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // The address of a host ("10.A.B.N"), and the subnet ("10.A.B.0/24").
  std::string Address(const std::string& host) const;
  std::string Subnet() const;
  std::string Namespace(const std::string& host) const;

  // `argv` prefixed so that it runs inside the host's namespace.
  std::vector<std::string> InHost(const std::string& host, std::vector<std::string> argv) const;
  // Runs `argv` inside the host's namespace to completion.
  Result<RunOutput> Run(const std::string& host, const std::vector<std::string>& argv,
                        Duration timeout = Duration(30000),
                        std::vector<std::pair<std::string, std::string>> env = {});
  // Starts `argv` inside the host's namespace (its own process group); output appended to `log`.
  Result<pid_t> Spawn(const std::string& host, const std::vector<std::string>& argv,
                      const std::string& log);

  // Cuts the host off the network (its link to the hub goes down: packets vanish, nothing is
  // refused), or connects it again.
  Status Cut(const std::string& host);
  Status Heal(const std::string& host);

  ProcessRunner& runner();  // the test process's one runner (harness.h)

 private:
  NetnsLab() = default;
  Status Ip(const std::vector<std::string>& args);
  int IndexOf(const std::string& host) const;  // -1 if unknown

  std::string prefix_;                 // namespace names start with it
  std::string subnet_prefix_;          // "10.A.B."
  std::vector<std::string> hosts_;
  std::vector<std::string> created_;   // namespaces to delete
};

}  // namespace pgpilot::testing
