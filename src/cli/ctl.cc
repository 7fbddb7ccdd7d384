#include "cli/ctl.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "agent/config.h"
#include "cli/cluster_table.h"
#include "cli/local_cluster.h"
#include "core/defaults.h"
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
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  std::optional<WallTime> not_before;
  if (!options.at.empty()) {
    not_before = ParseWallTime(options.at);
    if (!not_before) {
      return Report(InvalidArgument("--at '" + options.at + "' is not a UTC time",
                                    "write it as 2026-12-02T10:00:00Z"));
    }
  }
  RealClock clock;
  auto store = OpenCtlStore(*r, clock);
  if (!store.ok()) return Report(store.error());
  auto view = (*store)->Load();
  if (!view.ok()) return Report(view.error());
  uint64_t max_lag = r->configured.empty() ? kDefaultMaximumLagOnFailover
                                           : r->configured.front().maximum_lag_on_failover;
  auto to = ChooseSwitchoverTarget(*view, options.to, max_lag, options.force);
  if (!to.ok()) return Report(to.error());
  const std::string from = view->leader->holder;
  SwitchoverRecord request{from, *to, not_before.value_or(WallTime{}), clock.WallNow()};
  auto written = (*store)->RequestSwitchover(request);
  if (!written.ok()) return Report(written.error());
  if (!*written) return Report("another switchover request was written meanwhile", "see `pgpilot ctl list`");
  if (not_before && *not_before > clock.WallNow()) {
    std::cout << "switchover from " << from << " to " << *to << " scheduled for "
              << FormatWallTime(*not_before) << "\n";
    return 0;
  }
  std::cout << "switchover from " << from << " to " << *to << " requested\n";
  MonoTime start = clock.Now();
  while (clock.Now() - start < options.wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = (*store)->Load();
    if (!now.ok()) continue;
    const MemberStatus* target_member = now->FindMember(*to);
    if (now->leader && now->leader->holder == *to && !now->leader->released && target_member &&
        target_member->role == "primary") {
      std::cout << *to << " is the primary (term " << now->leader->term << "), "
                << FormatSeconds(clock.Now() - start) << " after the request\n";
      return 0;
    }
    if (!now->switchover && !(now->leader && now->leader->holder == *to)) {
      const MemberStatus* leader = now->FindMember(from);
      return Report("the switchover did not happen: " +
                    (leader ? from + " says: " + leader->reason : from + " is gone"));
    }
  }
  return Report("the switchover to " + *to + " did not finish within " + FormatSeconds(options.wait),
                "see `pgpilot ctl list`; the request stays until the leader carries it out or drops it");
}

}  // namespace pgpilot
