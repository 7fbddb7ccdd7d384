// Three local agents in Kubernetes mode against the API server test double (tests/support/
// k8s_api_double.h): the leader lease is a Lease, members live in a ConfigMap, and each agent
// keeps its pod's role label true. After kill -9 of the primary, a replica takes over and a
// label-selector list for role=primary returns exactly the new primary.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>

#include "cli/k8s_render.h"
#include "harness.h"
#include "platform/users.h"
#include "store/k8s_names.h"
#include "support/k8s_api_double.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;
constexpr const char* kNamespace = "pgpilot-it";
constexpr const char* kToken = "test-token-for-the-double";

// Points KUBECONFIG at the double for this process and the agents `up` starts.
class KubeconfigForDouble {
 public:
  KubeconfigForDouble(const std::string& dir, const std::string& server) : path_(dir + "/kubeconfig") {
    std::ofstream(path_) << "apiVersion: v1\nkind: Config\n"
                         << "clusters:\n- name: double\n  cluster:\n    server: " << server << "\n"
                         << "users:\n- name: agent\n  user:\n    token: " << kToken << "\n"
                         << "contexts:\n- name: test\n  context:\n    cluster: double\n    user: agent\n"
                         << "    namespace: " << kNamespace << "\n"
                         << "current-context: test\n";
    chmod(path_.c_str(), 0600);
    if (auto user = LookupUser("postgres"); user.ok() && RunningAsRoot()) (void)ChownTo(path_, *user);
    const char* old = getenv("KUBECONFIG");
    if (old != nullptr) previous_ = old;
    setenv("KUBECONFIG", path_.c_str(), 1);
  }
  ~KubeconfigForDouble() {
    if (previous_) setenv("KUBECONFIG", previous_->c_str(), 1);
    else unsetenv("KUBECONFIG");
  }

 private:
  std::string path_;
  std::optional<std::string> previous_;
};

std::vector<std::string> PodsLabelled(KubernetesApiDouble& api, const std::string& cluster,
                                      std::string_view role) {
  auto names = api.List("pods", kNamespace,
                        std::string(k8s::kClusterLabel) + "=" + cluster + "," +
                            std::string(k8s::kRoleLabel) + "=" + std::string(role));
  return names.ok() ? *names : std::vector<std::string>{"<list failed: " + names.error().ToString() + ">"};
}

// What the Role `k8s render` prints grants: (resource, verb) -> object names ("" = any).
std::map<std::pair<std::string, std::string>, std::set<std::string>> RenderedGrants(const std::string& cluster) {
  K8sRenderOptions options;
  options.name = cluster;
  options.namespace_name = kNamespace;
  auto yaml = RenderKubernetesManifests(options);
  EXPECT_TRUE(yaml.ok()) << yaml.error().ToString();
  std::map<std::pair<std::string, std::string>, std::set<std::string>> grants;
  if (!yaml.ok()) return grants;
  for (const YAML::Node& doc : YAML::LoadAll(*yaml)) {
    if (!doc.IsMap() || doc["kind"].as<std::string>("") != "Role") continue;
    for (const auto& rule : doc["rules"]) {
      for (const auto& resource : rule["resources"]) {
        for (const auto& verb : rule["verbs"]) {
          auto& names = grants[{resource.as<std::string>(), verb.as<std::string>()}];
          if (!rule["resourceNames"] || rule["resourceNames"].size() == 0) names.insert("");
          else for (const auto& n : rule["resourceNames"]) names.insert(n.as<std::string>());
        }
      }
    }
  }
  return grants;
}

// Every request the agents made is one the rendered Role allows: the API double does not enforce
// RBAC, so this is where a verb the store needs but the Role lacks shows up.
void ExpectRequestsAllowedByTheRenderedRole(KubernetesApiDouble& api, const std::string& cluster) {
  auto grants = RenderedGrants(cluster);
  ASSERT_FALSE(grants.empty());
  struct Resource {
    std::string name, collection;
    std::vector<std::string> objects;  // the names the store uses
  };
  std::vector<Resource> resources = {
      {"leases", k8s::LeasesPath(kNamespace), {k8s::LeaseName(cluster)}},
      {"configmaps", k8s::ConfigMapsPath(kNamespace),
       {k8s::ClusterConfigMapName(cluster), k8s::MembersConfigMapName(cluster)}},
      {"pods", k8s::PodsPath(kNamespace), {"pg-0", "pg-1", "pg-2"}},
  };
  auto allowed = [&](const std::string& resource, const std::string& verb, const std::string& object) {
    auto it = grants.find({resource, verb});
    return it != grants.end() && (it->second.count("") > 0 || it->second.count(object) > 0);
  };
  for (const auto& r : resources) {
    int list = api.RequestCount("GET", r.collection) - api.RequestCount("GET", r.collection + "/");
    int create = api.RequestCount("POST", r.collection);
    EXPECT_TRUE(list == 0 || allowed(r.name, "list", "")) << r.name << ": " << list << " list calls";
    EXPECT_TRUE(create == 0 || allowed(r.name, "create", "")) << r.name << ": " << create << " creates";
    int on_known_objects = 0;
    for (const auto& object : r.objects) {
      for (const auto& [method, verb] : std::vector<std::pair<std::string, std::string>>{
               {"GET", "get"}, {"PUT", "update"}, {"PATCH", "patch"}, {"DELETE", "delete"}}) {
        int calls = api.RequestCount(method, r.collection + "/" + object);
        on_known_objects += calls;
        EXPECT_TRUE(calls == 0 || allowed(r.name, verb, object))
            << calls << " " << method << " of " << r.name << "/" << object << " not allowed by the Role";
      }
    }
    EXPECT_EQ(on_known_objects, api.RequestCount("", r.collection + "/"))
        << "requests on " << r.name << " objects the Role does not name";
  }
}

TEST(KubernetesMode, FailsOverOnKillAndThePodLabelsFollow) {
  KubernetesApiDouble::Options options;
  options.bearer_token = kToken;
  auto api = KubernetesApiDouble::Start(options);
  ASSERT_TRUE(api.ok()) << api.error().ToString();
  TempDir config_dir("pgpilot-k8s-it");
  KubeconfigForDouble kubeconfig(config_dir.path(), (*api)->url());
  LocalClusterUnderTest cluster(3, kTtl, std::string("kubernetes://") + kNamespace);

  // The pods exist before their agents, as in a StatefulSet; their names are the member names.
  for (int i = 0; i < 3; ++i) {
    std::string pod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"pg-)" + std::to_string(i) +
                      R"(","labels":{")" + std::string(k8s::kClusterLabel) + R"(":")" +
                      cluster.cluster_name() + R"("}},"spec":{"containers":[{"name":"pgpilot","image":"pgpilot"}]}})";
    auto created = (*api)->Create("pods", kNamespace, pod);
    ASSERT_TRUE(created.ok()) << created.error().ToString();
  }
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(cluster.Converged(3)) << cluster.ListJson().dump(2);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return PodsLabelled(**api, cluster.cluster_name(), k8s::kRolePrimary) ==
                   std::vector<std::string>{primary->name} &&
               PodsLabelled(**api, cluster.cluster_name(), k8s::kRoleReplica).size() == 2;
      },
      seconds(10)))
      << "primary pods: " << PodsLabelled(**api, cluster.cluster_name(), k8s::kRolePrimary).size();
  auto lease = (*api)->Get("leases", kNamespace, k8s::LeaseName(cluster.cluster_name()));
  ASSERT_TRUE(lease.ok()) << lease.error().ToString();
  EXPECT_NE(lease->find("\"holderIdentity\":\"" + primary->name + "\""), std::string::npos) << *lease;

  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items AS SELECT generate_series(1, 5) AS id", &error))
      << error;

  // kill -9: the dead primary cannot take its own label off; the new leader does.
  auto takeover = cluster.KillAndAwaitTakeover(*primary, "INSERT INTO items VALUES (6)");
  ASSERT_TRUE(takeover.new_primary) << takeover.failure << "\n" << cluster.ListJson().dump(2);
  const MemberView& next = *takeover.new_primary;
  std::cout << "[ measured ] Kubernetes store (API double): writable again " << takeover.took.count()
            << " ms after kill -9 (ttl " << kTtl << " s)\n";
  EXPECT_TRUE(WaitUntil(
      [&] {
        return PodsLabelled(**api, cluster.cluster_name(), k8s::kRolePrimary) ==
               std::vector<std::string>{next.name};
      },
      seconds(10)))
      << "pods labelled primary: " << PodsLabelled(**api, cluster.cluster_name(), k8s::kRolePrimary).size();
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(2, primary->name); }, seconds(60)))
      << cluster.ListJson().dump(2);

  // The killed member comes back as a replica, and its label says so.
  up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);
  EXPECT_TRUE(WaitUntil(
      [&] { return PodsLabelled(**api, cluster.cluster_name(), k8s::kRoleReplica).size() == 2; },
      seconds(10)));
  ExpectRequestsAllowedByTheRenderedRole(**api, cluster.cluster_name());
}

}  // namespace
}  // namespace pgpilot::testing
