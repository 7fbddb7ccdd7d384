#include "cli/ctl.h"

#include <iostream>

#include "agent/config.h"
#include "cli/cluster_table.h"
#include "cli/local_cluster.h"
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

Result<ClusterView> LoadView(const Resolved& r) {
  if (Status s = BecomeStoreOwner(r.store); !s.ok()) return s.error();
  RealClock clock;
  auto store = OpenStore(r.store, r.cluster, clock);
  if (!store.ok()) return store.error();
  return (*store)->Load();
}

int Report(const Error& e) {
  std::cerr << "pgpilot ctl: " << e.ToString() << "\n";
  return e.code == ErrorCode::kInvalidArgument ? 2 : 1;
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

}  // namespace pgpilot
