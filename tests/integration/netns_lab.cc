#include "netns_lab.h"

#include <unistd.h>

#include <random>

#include "harness.h"

namespace pgpilot::testing {

namespace {

constexpr const char* kHub = "hub";
constexpr const char* kBridge = "br0";

std::string FindIp() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

std::string HubPort(int index) { return "port" + std::to_string(index); }

}  // namespace

std::string NetnsLab::Unavailable() {
  if (geteuid() != 0) return "network namespaces need root (this test runs as uid " +
                             std::to_string(geteuid()) + ")";
  if (FindIp().empty()) return "iproute2's `ip` is not installed (apt-get install iproute2)";
  return "";
}

Result<std::unique_ptr<NetnsLab>> NetnsLab::Create(const std::vector<std::string>& hosts) {
  if (std::string why = Unavailable(); !why.empty()) return FailedPrecondition(why);
  std::unique_ptr<NetnsLab> lab(new NetnsLab());
  std::random_device seed;
  std::mt19937 rng(seed());
  lab->prefix_ = "pgpilot-" + std::to_string(getpid()) + "-" + std::to_string(rng() % 10000) + "-";
  lab->subnet_prefix_ = "10." + std::to_string(200 + rng() % 50) + "." +
                        std::to_string(rng() % 250) + ".";
  lab->hosts_ = hosts;

  std::string hub = lab->prefix_ + kHub;
  if (Status s = lab->Ip({"netns", "add", hub}); !s.ok()) {
    return FailedPrecondition("cannot create a network namespace: " + s.error().ToString(),
                              "run as root on a kernel that allows network namespaces");
  }
  lab->created_.push_back(hub);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-n", hub, "link", "set", "lo", "up"},
           {"-n", hub, "link", "add", kBridge, "type", "bridge"},
           {"-n", hub, "link", "set", kBridge, "up"}}) {
    if (Status s = lab->Ip(args); !s.ok()) return s.error();
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    std::string ns = lab->Namespace(hosts[i]);
    if (Status s = lab->Ip({"netns", "add", ns}); !s.ok()) return s.error();
    lab->created_.push_back(ns);
    std::string port = HubPort(static_cast<int>(i));
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"-n", ns, "link", "set", "lo", "up"},
             {"-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
             {"-n", hub, "link", "set", port, "master", kBridge},
             {"-n", hub, "link", "set", port, "up"},
             {"-n", ns, "addr", "add", lab->Address(hosts[i]) + "/24", "dev", "eth0"},
             {"-n", ns, "link", "set", "eth0", "up"}}) {
      if (Status s = lab->Ip(args); !s.ok()) return s.error();
    }
  }
  return lab;
}

NetnsLab::~NetnsLab() {
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) (void)Ip({"netns", "delete", *it});
}

Status NetnsLab::Ip(const std::vector<std::string>& args) {
  ProcessSpec spec;
  spec.argv.push_back(FindIp());
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  auto run = Runner().Run(spec, Duration(10000));
  if (!run.ok()) return run.error();
  if (!run->status.ok()) {
    std::string command;
    for (const auto& a : spec.argv) command += (command.empty() ? "" : " ") + a;
    return Internal(command + " failed (" + run->status.ToString() + "): " + run->output);
  }
  return Status::Ok();
}

int NetnsLab::IndexOf(const std::string& host) const {
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (hosts_[i] == host) return static_cast<int>(i);
  }
  return -1;
}

std::string NetnsLab::Address(const std::string& host) const {
  return subnet_prefix_ + std::to_string(10 + IndexOf(host));
}

ProcessRunner& NetnsLab::runner() { return Runner(); }

std::string NetnsLab::Subnet() const { return subnet_prefix_ + "0/24"; }

std::string NetnsLab::Namespace(const std::string& host) const { return prefix_ + host; }

std::vector<std::string> NetnsLab::InHost(const std::string& host,
                                          std::vector<std::string> argv) const {
  argv.insert(argv.begin(), {FindIp(), "netns", "exec", Namespace(host)});
  return argv;
}

Result<RunOutput> NetnsLab::Run(const std::string& host, const std::vector<std::string>& argv,
                                Duration timeout,
                                std::vector<std::pair<std::string, std::string>> env) {
  ProcessSpec spec;
  spec.argv = InHost(host, argv);
  spec.env = std::move(env);
  return Runner().Run(spec, timeout);
}

Result<pid_t> NetnsLab::Spawn(const std::string& host, const std::vector<std::string>& argv,
                              const std::string& log) {
  ProcessSpec spec;
  spec.argv = InHost(host, argv);
  spec.output_file = log;
  return Runner().Spawn(spec);
}

Status NetnsLab::Cut(const std::string& host) {
  int i = IndexOf(host);
  if (i < 0) return NotFound("no host " + host + " in this lab");
  return Ip({"-n", prefix_ + kHub, "link", "set", HubPort(i), "down"});
}

Status NetnsLab::Heal(const std::string& host) {
  int i = IndexOf(host);
  if (i < 0) return NotFound("no host " + host + " in this lab");
  return Ip({"-n", prefix_ + kHub, "link", "set", HubPort(i), "up"});
}

}  // namespace pgpilot::testing
