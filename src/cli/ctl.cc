#include "cli/ctl.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <functional>
#include <map>
#include <iostream>
#include <thread>

#include "agent/config.h"
#include "cli/cluster_table.h"
#include "cli/config_edit.h"
#include "cli/local_cluster.h"
#include "core/defaults.h"
#include "core/member_requests.h"
#include "core/switchover.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "store/open_store.h"

namespace pgpilot {
namespace {

struct Resolved {
  StoreConfig store;
  std::string cluster;
  std::vector<AgentConfig> configured;
};

Result<Resolved> Resolve(const CtlTarget& t) {
  int given = !t.dir.empty() + !t.config.empty() + !t.store.empty();
  if (given != 1) {
    return InvalidArgument("name exactly one cluster: --dir DIR, --config FILE or --store URL",
                           "e.g. pgpilot ctl --dir /tmp/pgpilot-demo list");
  }
  Resolved r;
  if (!t.dir.empty()) {
    auto local = LoadLocalCluster(AbsolutePath(t.dir));
    if (!local.ok()) return local.error();
    r.configured = local->members;
  } else if (!t.config.empty()) {
    auto config = LoadAgentConfig(t.config);
    if (!config.ok()) return config.error();
    r.configured.push_back(*config);
  } else {
    auto store = ParseStoreUrl(t.store);
    if (!store.ok()) return store.error();
    if (t.cluster.empty()) return InvalidArgument("--store needs --cluster NAME");
    r.store = *store;
    r.cluster = t.cluster;
    return r;
  }
  r.store = r.configured.front().store;
  r.cluster = r.configured.front().cluster;
  if (!t.config.empty()) r.configured.clear();  // one member's config says nothing of the others
  return r;
}

std::vector<std::string> Names(const std::vector<AgentConfig>& configs) {
  std::vector<std::string> names;
  for (const auto& c : configs) names.push_back(c.name);
  return names;
}

Result<std::unique_ptr<Store>> OpenCtlStore(const Resolved& r, const Clock& clock) {
  if (Status s = BecomeStoreOwner(r.store); !s.ok()) return s.error();
  return OpenStore(r.store, r.cluster, clock);
}

// The cluster named on the command line, its store open, and what the store holds now.
struct Session {
  Resolved resolved;
  std::unique_ptr<Store> store;
  ClusterView view;
};

Result<Session> OpenSession(const CtlTarget& target, const Clock& clock) {
  auto r = Resolve(target);
  if (!r.ok()) return r.error();
  auto store = OpenCtlStore(*r, clock);
  if (!store.ok()) return store.error();
  auto view = (*store)->Load();
  if (!view.ok()) return view.error();
  return Session{std::move(*r), std::move(*store), std::move(*view)};
}

Result<ClusterView> LoadView(const Resolved& r) {
  RealClock clock;
  auto store = OpenCtlStore(r, clock);
  if (!store.ok()) return store.error();
  return (*store)->Load();
}

int Report(const Error& e) {
  std::cerr << "pgpilot ctl: " << e.ToString() << "\n";
  return e.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

int Report(const std::string& problem, const std::string& hint = "") {
  return Report(FailedPrecondition(problem, hint));
}

// Polls the store until `to` is the primary holding the lease (0), or the request disappeared
// without that (1, with what the old leader or the target says), or `wait` passed (1).
int AwaitNewPrimary(Store& store, const Clock& clock, const std::string& to, const std::string& from,
                    Duration wait) {
  MonoTime start = clock.Now();
  while (clock.Now() - start < wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = store.Load();
    if (!now.ok()) continue;
    const MemberStatus* target_member = now->FindMember(to);
    if (now->leader && now->leader->holder == to && !now->leader->released && target_member &&
        target_member->role == "primary") {
      std::cout << to << " is the primary (term " << now->leader->term << "), "
                << FormatSeconds(clock.Now() - start) << " after the request\n";
      return 0;
    }
    if (!now->switchover && !(now->leader && now->leader->holder == to)) {
      const std::string& who = from.empty() ? to : from;
      const MemberStatus* member = now->FindMember(who);
      return Report("it did not happen: " + (member ? who + " says: " + member->reason : who + " is gone"));
    }
  }
  return Report("no new primary " + to + " within " + FormatSeconds(wait),
                "see `pgpilot ctl list`; the request stays until it is carried out or dropped");
}

}  // namespace

int CtlList(const CtlTarget& target, bool json) {
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  auto view = LoadView(*r);
  if (!view.ok()) return Report(view.error());
  if (json) std::cout << RenderClusterJson(r->cluster, *view, Names(r->configured)) << "\n";
  else std::cout << RenderClusterTable(r->cluster, *view, Names(r->configured));
  return 0;
}

int CtlDsn(const CtlTarget& target, bool replicas) {
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  std::vector<std::pair<std::string, int>> hosts;
  std::string user = "postgres";
  for (const auto& c : r->configured) {
    hosts.emplace_back(c.pg_connect_host, c.pg_port);
    user = c.superuser;
  }
  if (hosts.empty()) {
    auto view = LoadView(*r);
    if (!view.ok()) return Report(view.error());
    for (const auto& m : view->members) hosts.emplace_back(m.host, m.port);
  }
  if (hosts.empty()) return Report(NotFound("the store lists no members", "start the agents first"));
  std::cout << ClusterDsn(hosts, user, replicas) << "\n";
  return 0;
}

int CtlSwitchover(const CtlTarget& target, const SwitchoverOptions& options) {
  if (options.cancel) {
    RealClock clock;
    auto session = OpenSession(target, clock);
    if (!session.ok()) return Report(session.error());
    if (!session->view.switchover) {
      std::cout << "no switchover or failover request is pending\n";
      return 0;
    }
    if (Status s = session->store->ClearSwitchover(); !s.ok()) return Report(s.error());
    std::cout << "dropped the request for " << session->view.switchover->to << "\n";
    return 0;
  }
  std::optional<WallTime> not_before;
  if (!options.at.empty()) {
    not_before = ParseWallTime(options.at);
    if (!not_before) {
      return Report(InvalidArgument("--at '" + options.at + "' is not a UTC time",
                                    "write it as 2026-12-02T10:00:00Z"));
    }
  }
  RealClock clock;
  auto session = OpenSession(target, clock);
  if (!session.ok()) return Report(session.error());
  const std::vector<AgentConfig>& configured = session->resolved.configured;
  uint64_t max_lag = configured.empty() ? kDefaultMaximumLagOnFailover
                                        : configured.front().maximum_lag_on_failover;
  auto to = ChooseSwitchoverTarget(session->view, options.to, max_lag, options.force);
  if (!to.ok()) return Report(to.error());
  const std::string from = session->view.leader->holder;
  SwitchoverRecord request{from, *to, not_before.value_or(WallTime{}), clock.WallNow()};
  auto written = session->store->RequestSwitchover(request);
  if (!written.ok()) return Report(written.error());
  if (!*written) return Report("another switchover request was written meanwhile", "see `pgpilot ctl list`");
  if (not_before && *not_before > clock.WallNow()) {
    std::cout << "switchover from " << from << " to " << *to << " scheduled for "
              << FormatWallTime(*not_before) << "\n";
    return 0;
  }
  std::cout << "switchover from " << from << " to " << *to << " requested\n";
  return AwaitNewPrimary(*session->store, clock, *to, from, options.wait);
}

int CtlFailover(const CtlTarget& target, const FailoverOptions& options) {
  if (options.to.empty()) return Report(InvalidArgument("ctl failover needs --to NAME", "see `pgpilot ctl list`"));
  RealClock clock;
  auto session = OpenSession(target, clock);
  if (!session.ok()) return Report(session.error());
  if (Status s = CheckFailoverTarget(session->view, options.to, options.force); !s.ok()) {
    return Report(s.error());
  }
  if (!options.yes) {
    std::cout << "Promote " << options.to << (options.force ? " (forced: it may lack acknowledged commits)" : "")
              << "? Type yes to go on: " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "yes") return Report("not confirmed: nothing was changed");
  }
  SwitchoverRecord request{"", options.to, WallTime{}, clock.WallNow(), options.force};
  auto written = session->store->RequestSwitchover(request);
  if (!written.ok()) return Report(written.error());
  if (!*written) return Report("another request was written meanwhile", "see `pgpilot ctl list`");
  std::cout << "failover to " << options.to << " requested\n";
  return AwaitNewPrimary(*session->store, clock, options.to, "", options.wait);
}

namespace {

// Reads the config, lets `change` edit it, and writes it back with a compare-and-swap.
int UpdateConfig(const CtlTarget& target, const std::function<Status(DynamicConfig*)>& change) {
  RealClock clock;
  auto session = OpenSession(target, clock);
  if (!session.ok()) return Report(session.error());
  const std::optional<DynamicConfig>& current = session->view.config;
  DynamicConfig config = current.value_or(DynamicConfig{});
  if (Status s = change(&config); !s.ok()) return Report(s.error());
  if (Status s = CheckDynamicConfig(config); !s.ok()) return Report(s.error());
  auto written = session->store->WriteConfig(
      config, current ? std::optional<uint64_t>(current->revision) : std::nullopt);
  if (!written.ok()) return Report(written.error());
  if (!*written) {
    return Report("the cluster-wide settings changed while you edited them", "run the command again");
  }
  std::cout << RenderDynamicConfig(config);
  return 0;
}

}  // namespace

namespace {

// Adds `added` to the `requests` key (replacing an older request of the same member) with a
// compare-and-swap, read again and retried a few times when an agent wrote meanwhile.
Status AddRequests(Store& store, const std::vector<MemberRequest>& added) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto view = store.Load();
    if (!view.ok()) return view.error();
    RequestsRecord record = view->requests.value_or(RequestsRecord{});
    for (const MemberRequest& request : added) record.Put(request);
    auto written = store.WriteRequests(
        record, view->requests ? std::optional<uint64_t>(view->requests->revision) : std::nullopt);
    if (!written.ok()) return written.error();
    if (*written) return Status::Ok();
  }
  return FailedPrecondition("the store's requests kept changing while we wrote ours", "run the command again");
}

// Removes the refused request of `member` (best effort: another request may have replaced it).
void DropRefused(Store& store, const std::string& member) {
  auto view = store.Load();
  if (!view.ok() || !view->requests) return;
  RequestsRecord record = *view->requests;
  std::erase_if(record.requests, [&](const MemberRequest& r) { return r.member == member && !r.refused.empty(); });
  (void)store.WriteRequests(record, view->requests->revision);
}

// Whether `member` carried out its request: the request is gone and PostgreSQL runs again, in a
// new process, as a primary or a replica (`replica_only`: as a replica).
bool RequestDone(const ClusterView& view, const std::string& member, int64_t old_pid, bool replica_only) {
  if (view.requests && view.requests->For(member) != nullptr) return false;
  const MemberStatus* m = view.FindMember(member);
  if (m == nullptr || m->postgres_pid == 0 || m->postgres_pid == old_pid) return false;
  if (replica_only) return m->role == "replica" && m->state == "replica";
  return (m->role == "primary" && m->state == "primary") || (m->role == "replica" && m->state == "replica");
}

// Writes one request per member, then polls until each is done or refused, or `wait` passed.
int SendRequestsAndWait(Session& session, const Clock& clock, const std::vector<MemberRequest>& requests,
                        Duration wait) {
  std::map<std::string, int64_t> old_pids;
  for (const MemberRequest& r : requests) {
    const MemberStatus* m = session.view.FindMember(r.member);
    old_pids[r.member] = m != nullptr ? m->postgres_pid : 0;
  }
  if (Status s = AddRequests(*session.store, requests); !s.ok()) return Report(s.error());
  std::map<std::string, bool> pending;
  for (const MemberRequest& r : requests) {
    pending[r.member] = true;
    std::cout << DescribeRequest(r) << " of " << r.member << " requested\n";
  }
  MonoTime start = clock.Now();
  int failures = 0;
  while (!pending.empty() && clock.Now() - start < wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto view = session.store->Load();
    if (!view.ok()) continue;
    for (auto it = pending.begin(); it != pending.end();) {
      const std::string& name = it->first;
      const MemberRequest* request = view->requests ? view->requests->For(name) : nullptr;
      bool reinit = std::any_of(requests.begin(), requests.end(), [&](const MemberRequest& r) {
        return r.member == name && r.kind == RequestKind::kReinit;
      });
      if (request != nullptr && !request->refused.empty()) {
        std::cerr << "pgpilot ctl: " << name << " refused: " << request->refused << "\n";
        DropRefused(*session.store, name);
        ++failures;
        it = pending.erase(it);
      } else if (RequestDone(*view, name, old_pids[name], reinit)) {
        const MemberStatus* m = view->FindMember(name);
        std::cout << name << (reinit ? " re-initialized" : " restarted") << ": runs as " << m->role
                  << " (PostgreSQL pid " << m->postgres_pid << "), " << FormatSeconds(clock.Now() - start)
                  << " after the request\n";
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& [name, unused] : pending) {
    (void)unused;
    ++failures;
    std::cerr << "pgpilot ctl: " << name << " is not back within " << FormatSeconds(wait)
              << "; see `pgpilot ctl list` (a request not yet taken stays in the store)\n";
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int CtlRestart(const CtlTarget& target, const RestartOptions& options) {
  RealClock clock;
  auto session = OpenSession(target, clock);
  if (!session.ok()) return Report(session.error());
  std::vector<MemberRequest> requests;
  for (const MemberStatus& m : session->view.members) {
    if (!options.member.empty() && m.name != options.member) continue;
    if (options.pending && !m.pending_restart) continue;
    requests.push_back(MemberRequest{m.name, RequestKind::kRestart, options.pending, clock.WallNow(), ""});
  }
  if (!options.member.empty() && session->view.FindMember(options.member) == nullptr) {
    return Report(NotFound("no member " + options.member + " in the store", "see `pgpilot ctl list`"));
  }
  if (requests.empty()) {
    std::cout << (options.pending ? "no member has a restart pending\n" : "the store lists no members\n");
    return 0;
  }
  return SendRequestsAndWait(*session, clock, requests, options.wait);
}

int CtlReinit(const CtlTarget& target, const ReinitOptions& options) {
  if (options.member.empty()) return Report(InvalidArgument("ctl reinit needs a member name", "see `pgpilot ctl list`"));
  RealClock clock;
  auto session = OpenSession(target, clock);
  if (!session.ok()) return Report(session.error());
  const ClusterView& view = session->view;
  if (view.FindMember(options.member) == nullptr) {
    return Report(NotFound("no member " + options.member + " in the store", "see `pgpilot ctl list`"));
  }
  if (!view.leader || view.leader->released) {
    return Report("the cluster has no leader to clone from", "wait for a primary, see `pgpilot ctl list`");
  }
  const MemberStatus* leader = view.FindMember(view.leader->holder);
  if (leader == nullptr || leader->role != "primary") {
    return Report("leader " + view.leader->holder + " does not run as the primary: there is nothing safe "
                  "to clone from, and " + options.member + "'s copy may be the one the cluster needs",
                  "see `pgpilot ctl list`");
  }
  if (view.leader->holder == options.member) {
    return Report(options.member + " is the leader: its data is the cluster's",
                  "switch over first (`pgpilot ctl switchover`), then re-initialize it");
  }
  if (!options.yes) {
    std::cout << "Re-initialize " << options.member << "? Its data directory is moved aside (kept, not "
              << "deleted) and cloned afresh from " << view.leader->holder << ". Type yes to go on: " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "yes") return Report("not confirmed: nothing was changed");
  }
  MemberRequest request{options.member, RequestKind::kReinit, false, clock.WallNow(), ""};
  return SendRequestsAndWait(*session, clock, {request}, options.wait);
}

int CtlShowConfig(const CtlTarget& target) {
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  auto view = LoadView(*r);
  if (!view.ok()) return Report(view.error());
  std::cout << RenderDynamicConfig(view->config.value_or(DynamicConfig{}));
  return 0;
}

int CtlEditConfig(const CtlTarget& target, const std::vector<std::string>& sets) {
  return UpdateConfig(target, [&](DynamicConfig* config) -> Status {
    if (!sets.empty()) {
      for (const std::string& set : sets) {
        size_t eq = set.find('=');
        if (eq == std::string::npos) {
          return InvalidArgument("--set '" + set + "' is not KEY=VALUE",
                                 "e.g. --set synchronous_mode=on or --set postgresql.parameters.work_mem=64MB");
        }
        if (Status s = SetDynamicSetting(config, set.substr(0, eq), set.substr(eq + 1)); !s.ok()) return s;
      }
      return Status::Ok();
    }
    // In the operator's editor; the file is private to us.
    std::string dir = "/tmp/pgpilot-edit-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) return Internal("cannot create a temporary directory");
    std::string file = dir + "/config.yaml";
    Status written = WriteFileAtomic(file, RenderDynamicConfig(*config), 0600);
    if (!written.ok()) return written;
    const char* editor = std::getenv("VISUAL") ? std::getenv("VISUAL") : std::getenv("EDITOR");
    std::string command = std::string(editor && *editor ? editor : "vi") + " '" + file + "'";
    int rc = std::system(command.c_str());
    auto text = ReadFile(file);
    std::remove(file.c_str());
    rmdir(dir.c_str());
    if (rc != 0) return FailedPrecondition("the editor exited with status " + std::to_string(rc) + ": nothing changed");
    if (!text.ok()) return text.error();
    auto edited = ParseDynamicConfig(*text);
    if (!edited.ok()) return edited.error();
    *config = *edited;
    return Status::Ok();
  });
}

int CtlPause(const CtlTarget& target, bool pause) {
  return UpdateConfig(target, [&](DynamicConfig* config) -> Status {
    config->pause = pause;
    return Status::Ok();
  });
}

int CtlHistory(const CtlTarget& target) {
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  auto view = LoadView(*r);
  if (!view.ok()) return Report(view.error());
  std::cout << RenderHistoryTable(view->history);
  return 0;
}

}  // namespace pgpilot
