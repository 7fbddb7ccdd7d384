#include "cli/local_commands.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "cli/cluster_table.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/net.h"
#include "platform/process.h"
#include "platform/users.h"
#include "store/open_store.h"

namespace pgpilot {
namespace {

int Report(const Error& e) {
  std::cerr << "pgpilot: " << e.ToString() << "\n";
  return e.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

// The pid of a running agent for this member, or 0.
pid_t RunningAgent(const LocalCluster& cluster, const std::string& name) {
  auto content = ReadFile(cluster.AgentPidFile(name));
  if (!content.ok()) return 0;
  pid_t pid = static_cast<pid_t>(std::strtol(content->c_str(), nullptr, 10));
  if (pid <= 0 || !ProcessAlive(pid)) return 0;
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok() || cmdline->find("agent") == std::string::npos) return 0;
  return pid;
}

pid_t RunningPostgres(const AgentConfig& member) {
  auto content = ReadFile(JoinPath(member.data_dir, "postmaster.pid"));
  if (!content.ok()) return 0;
  pid_t pid = static_cast<pid_t>(std::strtol(content->c_str(), nullptr, 10));
  if (pid <= 0 || !ProcessAlive(pid)) return 0;
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok() || cmdline->find("postgres") == std::string::npos) return 0;
  return pid;
}

std::string Tail(const std::string& path, size_t lines) {
  auto content = ReadFile(path);
  if (!content.ok()) return "";
  std::string text = *content;
  size_t pos = text.size();
  for (size_t n = 0; n <= lines && pos != std::string::npos && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

// As root, prepare the directory for the unprivileged user and become it; afterwards everything
// (agents, PostgreSQL, files) belongs to that user.
Status BecomeClusterUser(const std::string& dir, const std::string& run_as) {
  if (!RunningAsRoot()) return EnsureDirectory(dir, 0700);
  auto user = LookupUser(run_as);
  if (!user.ok()) return user.error();
  bool existed = IsDirectory(dir);
  if (Status s = EnsureDirectory(dir, 0700); !s.ok()) return s;
  auto owner = OwnerOf(dir);
  if (!existed || (owner.ok() && *owner == 0)) {
    if (Status s = ChownTo(dir, *user); !s.ok()) return s;
  } else if (owner.ok() && *owner != user->uid) {
    return PermissionDenied(dir + " belongs to uid " + std::to_string(*owner) + ", not to " + run_as,
                            "use a directory owned by " + run_as + " or a new one");
  }
  if (Status s = BecomeUser(*user); !s.ok()) return s;
  if (access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    return PermissionDenied("user " + run_as + " cannot use " + dir +
                                " (a parent directory is not searchable by it)",
                            "choose a directory under /tmp or /var/lib, or chmod o+x its parents");
  }
  return Status::Ok();
}

void PrintNextSteps(const LocalCluster& cluster, const ClusterView& view) {
  std::string self = SelfExecutable();
  std::vector<std::pair<std::string, int>> hosts;
  for (const auto& m : cluster.members) hosts.emplace_back(m.pg_connect_host, m.pg_port);
  std::string dsn = ClusterDsn(hosts, cluster.members.front().superuser, false);
  std::cout << "\nConnect (the connection string lists every member and always reaches the primary):\n"
            << "  PGPASSFILE=" << cluster.UserPassfile() << " psql '" << dsn << "'\n";
  const MemberStatus* primary = view.leader ? view.FindMember(view.leader->holder) : nullptr;
  std::cout << "\nTry next:\n"
            << "  " << self << " ctl --dir " << cluster.dir << " list      # the cluster table\n";
  if (primary != nullptr) {
    std::cout << "  kill -9 " << primary->agent_pid << " " << primary->postgres_pid
              << "      # kill the primary's agent and PostgreSQL (" << primary->name << ")\n"
              << "  watch -n1 " << self << " ctl --dir " << cluster.dir
              << " list      # a replica takes over within ttl + a few seconds\n"
              << "  " << self << " up --dir " << cluster.dir
              << "      # restart " << primary->name << ": it rejoins as a replica (pg_rewind)\n";
  }
  std::cout << "  " << self << " down --dir " << cluster.dir << "      # stop everything\n";
}

constexpr const char* kPortHint =
    "stop the process using it, or `pgpilot down` the cluster that uses it, or choose another "
    "--base-port";

Status CheckPort(const std::string& host, int port, const std::string& what) {
  return CheckPortFree(host, port, what, kPortHint);
}

Result<LocalCluster> CreateOrLoad(const UpOptions& options) {
  if (IsLocalCluster(options.spec.dir)) return LoadLocalCluster(options.spec.dir);
  // A new cluster: refuse taken ports before writing anything.
  const LocalClusterSpec& spec = options.spec;
  for (int i = 0; i < spec.nodes; ++i) {
    std::string member = LocalMemberName(i);
    if (Status s = CheckPort("127.0.0.1", spec.base_port + i, "PostgreSQL port of " + member); !s.ok()) {
      return s.error();
    }
    if (Status s = CheckPort("127.0.0.1", spec.base_port + 100 + i, "API port of " + member); !s.ok()) {
      return s.error();
    }
  }
  return CreateLocalCluster(spec);
}

// Every port a member about to be started needs is free (checked for all before starting any).
Status CheckPortsOfStoppedMembers(const LocalCluster& cluster) {
  for (const auto& m : cluster.members) {
    if (RunningAgent(cluster, m.name) != 0) continue;
    if (Status s = CheckPort(m.api_listen.host, m.api_listen.port, "API port of " + m.name); !s.ok()) {
      return s;
    }
    if (RunningPostgres(m) != 0) continue;  // its own PostgreSQL, left running: the agent adopts it
    if (Status s = CheckPort(m.pg_connect_host, m.pg_port, "PostgreSQL port of " + m.name); !s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

}  // namespace

int RunUp(const UpOptions& options) {
  UpOptions opts = options;
  opts.spec.dir = AbsolutePath(opts.spec.dir);
  if (!opts.pg_tls_dir.empty() && !IsLocalCluster(opts.spec.dir)) {
    // Read while still root: the key may be readable by root only.
    auto files = ReadLocalTlsFiles(opts.pg_tls_dir);
    if (!files.ok()) return Report(files.error());
    opts.spec.pg_tls = *files;
  }
  if (Status s = BecomeClusterUser(opts.spec.dir, opts.spec.run_as); !s.ok()) return Report(s.error());
  auto cluster = CreateOrLoad(opts);
  if (!cluster.ok()) return Report(cluster.error());

  if (Status s = CheckPortsOfStoppedMembers(*cluster); !s.ok()) return Report(s.error());

  RealClock clock;
  auto store = OpenStore(cluster->members.front().store, cluster->members.front().cluster, clock);
  if (!store.ok()) return Report(store.error());

  // On a restart, the member that released the lease at shutdown starts first and takes it back
  // (same timeline, no promotion); the others start once it leads, or after one ttl.
  std::string former_leader;
  if (auto view = (*store)->Load(); view.ok() && view->leader && view->leader->released) {
    former_leader = view->leader->holder;
  }
  std::vector<const AgentConfig*> order;
  for (const auto& m : cluster->members) {
    if (m.name == former_leader) order.insert(order.begin(), &m);
    else order.push_back(&m);
  }

  ProcessRunner runner;
  std::vector<std::string> names;
  for (const auto& m : cluster->members) names.push_back(m.name);
  std::vector<std::pair<std::string, pid_t>> spawned;
  for (const AgentConfig* m : order) {
    if (RunningAgent(*cluster, m->name) != 0) continue;
    std::string config_file = JoinPath(cluster->MemberDir(m->name), "agent.yaml");
    auto pid = runner.Spawn({{SelfExecutable(), "agent", "--config", config_file}, {},
                             cluster->AgentLog(m->name), cluster->MemberDir(m->name), -1});
    if (!pid.ok()) return Report(pid.error());
    (void)WriteFileAtomic(cluster->AgentPidFile(m->name), std::to_string(*pid) + "\n", 0600);
    spawned.emplace_back(m->name, *pid);
    if (m->name == former_leader) {
      MonoTime until = clock.Now() + m->ttl;
      while (clock.Now() < until && !runner.TryWait(*pid)) {
        auto view = (*store)->Load();
        if (view.ok() && view->leader && view->leader->holder == former_leader &&
            !view->leader->released) {
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  std::cout << "pgpilot: " << (spawned.empty() ? std::string("all agents already running")
                                          : "started " + std::to_string(spawned.size()) + " agent(s)")
            << " for cluster " << cluster->members.front().cluster << " in " << cluster->dir
            << "; waiting for one primary and " << cluster->members.size() - 1 << " streaming replicas\n";

  MonoTime deadline = clock.Now() + opts.wait;
  std::string problem = "no answer from the store yet";
  ClusterView view;
  while (clock.Now() < deadline) {
    for (const auto& [name, pid] : spawned) {
      if (auto exit = runner.TryWait(pid)) {
        std::string log = cluster->AgentLog(name);
        std::cerr << "pgpilot: the agent of " << name << " exited (" << exit->ToString()
                  << "). The end of " << log << ":\n" << Tail(log, 8);
        return 1;
      }
    }
    auto loaded = (*store)->Load();
    if (loaded.ok()) {
      view = *loaded;
      auto not_healthy = ClusterNotHealthy(view, names);
      if (!not_healthy) {
        std::cout << "\n" << RenderClusterTable(cluster->members.front().cluster, view, names);
        PrintNextSteps(*cluster, view);
        return 0;
      }
      problem = *not_healthy;
    } else {
      problem = loaded.error().ToString();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::cerr << "pgpilot: the cluster did not become healthy within " << FormatSeconds(opts.wait)
            << ": " << problem << "\n\n"
            << RenderClusterTable(cluster->members.front().cluster, view, names)
            << "\nThe agents keep trying in the background; their logs are "
            << cluster->dir << "/*/agent.log and PostgreSQL's " << cluster->dir << "/*/postgres.log\n";
  return 1;
}

int RunDown(const std::string& dir_arg, Duration wait) {
  std::string dir = AbsolutePath(dir_arg);
  auto cluster = LoadLocalCluster(dir);
  if (!cluster.ok()) return Report(cluster.error());
  if (RunningAsRoot()) {
    auto owner = OwnerOf(dir);
    if (owner.ok() && *owner != 0) {
      auto user = LookupUserById(*owner);
      if (user.ok()) (void)BecomeUser(*user);
    }
  }
  // Replicas first, the leader last: a replica stopping cannot trigger an election, and the
  // leader, stopping last, releases its lease with the final WAL position.
  std::string leader;
  RealClock clock;
  if (auto store = OpenStore(cluster->members.front().store, cluster->members.front().cluster, clock);
      store.ok()) {
    auto view = (*store)->Load();
    if (view.ok() && view->leader && !view->leader->released) leader = view->leader->holder;
  }
  std::vector<const AgentConfig*> order;
  for (const auto& m : cluster->members) {
    if (m.name != leader) order.push_back(&m);
  }
  for (const auto& m : cluster->members) {
    if (m.name == leader) order.push_back(&m);
  }
  int stopped = 0;
  for (const AgentConfig* m : order) {
    pid_t pid = RunningAgent(*cluster, m->name);
    if (pid == 0) continue;
    SignalProcess(pid, SIGTERM);
    MonoTime deadline = clock.Now() + wait;
    while (ProcessAlive(pid) && clock.Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (ProcessAlive(pid)) {
      std::cerr << "pgpilot: the agent of " << m->name << " (pid " << pid << ") did not stop within "
                << FormatSeconds(wait) << "; killing it\n";
      SignalProcess(pid, SIGKILL);
    }
    ++stopped;
    std::cout << "stopped " << m->name << "\n";
  }
  // PostgreSQL left behind by an agent that was killed: stop it too (fast shutdown).
  for (const auto& m : cluster->members) {
    pid_t pg = RunningPostgres(m);
    if (pg == 0) continue;
    SignalProcess(pg, SIGINT);
    MonoTime deadline = clock.Now() + wait;
    while (ProcessAlive(pg) && clock.Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::cout << "stopped the PostgreSQL of " << m.name << " left without an agent\n";
  }
  std::cout << "pgpilot: cluster in " << dir << " is down (" << stopped << " agent(s) stopped); "
            << "`pgpilot up --dir " << dir << "` starts it again with its data\n";
  return 0;
}

}  // namespace pgpilot
