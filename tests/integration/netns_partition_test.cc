// Three agents on three "machines" (network namespaces) with etcd on a fourth: the primary's
// machine is cut off the network. The isolated primary must stop accepting writes on its own,
// another member must be promoted, and once the network heals the old primary must rejoin as a
// replica of the new one, without a human.
//
// Needs root (network namespaces); skipped with the reason otherwise. Every address used exists
// only inside the namespaces the test creates, and everything that talks to them runs inside one.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "agent/config.h"
#include "harness.h"
#include "netns_lab.h"
#include "platform/files.h"
#include "platform/process.h"
#include "platform/users.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;
constexpr const char* kEtcdHost = "etcd";
const std::vector<std::string> kMembers = {"pg-0", "pg-1", "pg-2"};

std::string RandomPassword() {
  std::random_device seed;
  std::mt19937_64 rng(seed());
  std::ostringstream out;
  out << std::hex << rng() << rng();
  return out.str();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The cluster under test: etcd and three agents, each in its own namespace of `lab`.
class PartitionedCluster {
 public:
  PartitionedCluster(NetnsLab& lab, const std::string& dir) : lab_(lab), dir_(dir) {}

  ~PartitionedCluster() {
    for (const auto& name : kMembers) (void)lab_.Heal(name);
    // Clean shutdown first (each agent stops its PostgreSQL), then kill whatever survives.
    for (auto& [name, pid] : agents_) SignalProcess(pid, SIGTERM);
    for (auto& [name, pid] : agents_) {
      if (!lab_.runner().Wait(pid, Duration(30000))) {
        SignalProcess(pid, SIGKILL);
        lab_.runner().Wait(pid, Duration(5000));
      }
      std::string postmaster = ReadAll(dir_ + "/" + name + "/data/postmaster.pid");
      pid_t pg = postmaster.empty() ? 0 : static_cast<pid_t>(std::atol(postmaster.c_str()));
      if (pg > 0 && ProcessAlive(pg)) kill(pg, SIGKILL);
    }
    if (etcd_pid_ > 0) {
      SignalProcess(etcd_pid_, SIGKILL);
      lab_.runner().Wait(etcd_pid_, Duration(5000));
    }
  }

  Status Prepare() {
    auto user = LookupUser("postgres");
    if (!user.ok()) return user.error();
    std::string secrets = dir_ + "/secrets";
    if (Status s = EnsureDirectory(secrets, 0700); !s.ok()) return s;
    if (Status s = ChownTo(secrets, *user); !s.ok()) return s;
    std::string superuser_password = RandomPassword();
    for (const auto& [file, secret] : {std::pair{secrets + "/superuser", superuser_password},
                                       std::pair{secrets + "/replication", RandomPassword()}}) {
      if (Status s = WriteFileAtomic(file, secret + "\n", 0600); !s.ok()) return s;
      if (Status s = ChownTo(file, *user); !s.ok()) return s;
    }
    pgpass_ = dir_ + "/pgpass";
    if (Status s = WriteFileAtomic(pgpass_, "*:*:*:postgres:" + superuser_password + "\n", 0600);
        !s.ok()) {
      return s;
    }
    if (Status s = EnsureDirectory(dir_ + "/logs", 0700); !s.ok()) return s;
    for (const auto& name : kMembers) {
      std::string member_dir = dir_ + "/" + name;
      std::ostringstream yaml;
      yaml << "cluster: netns\n"
           << "name: " << name << "\n"
           << "data_dir: " << member_dir << "/data\n"
           << "state_dir: " << member_dir << "\n"
           << "run_as: postgres\n"
           << "ttl: " << kTtl << "\nloop_wait: 1\n"
           << "store:\n  etcd:\n    endpoints: [" << lab_.Address(kEtcdHost) << ":2379]\n"
           << "api:\n  listen: " << lab_.Address(name) << ":8008\n"
           << "postgresql:\n"
           << "  listen: " << lab_.Address(name) << "\n  port: 5432\n"
           << "  connect_address: " << lab_.Address(name) << "\n"
           << "  allowed_networks: [" << lab_.Subnet() << "]\n"
           << "  superuser: {username: postgres, password_file: " << secrets << "/superuser}\n"
           << "  replication: {username: replicator, password_file: " << secrets
           << "/replication}\n";
      if (Status s = WriteFileAtomic(Config(name), yaml.str(), 0600); !s.ok()) return s;
    }
    auto bin_dir = DetectPostgresBinDir("");
    if (!bin_dir.ok()) return bin_dir.error();
    psql_ = *bin_dir + "/psql";
    return Status::Ok();
  }

  Status StartEtcd() {
    std::string url = "http://" + lab_.Address(kEtcdHost);
    auto pid = lab_.Spawn(kEtcdHost,
                          {"/usr/bin/etcd", "--name", "e0", "--data-dir", dir_ + "/etcd",
                           "--listen-client-urls", url + ":2379", "--advertise-client-urls",
                           url + ":2379", "--listen-peer-urls", url + ":2380",
                           "--initial-advertise-peer-urls", url + ":2380", "--initial-cluster",
                           "e0=" + url + ":2380"},
                          dir_ + "/logs/etcd.log");
    if (!pid.ok()) return pid.error();
    etcd_pid_ = *pid;
    bool healthy = WaitUntil(
        [&] {
          auto r = lab_.Run(kEtcdHost, {"curl", "-s", "--max-time", "1", url + ":2379/health"});
          return r.ok() && r->output.find("true") != std::string::npos;
        },
        seconds(30));
    if (!healthy) return Unavailable("etcd did not answer: " + ReadAll(dir_ + "/logs/etcd.log"));
    return Status::Ok();
  }

  Status StartAgents() {
    for (const auto& name : kMembers) {
      auto pid = lab_.Spawn(name, {PGPILOT_BINARY, "agent", "--config", Config(name)}, Log(name));
      if (!pid.ok()) return pid.error();
      agents_.emplace_back(name, *pid);
    }
    return Status::Ok();
  }

  // `ctl list --json`, run from the etcd machine (it reaches every member that is connected).
  nlohmann::json ListJson() {
    auto r = lab_.Run(kEtcdHost, {PGPILOT_BINARY, "ctl", "--config", Config(kMembers[0]), "list",
                                  "--json"});
    if (!r.ok() || !r->status.ok()) return nlohmann::json::object();
    auto parsed = nlohmann::json::parse(r->output, nullptr, false);
    return parsed.is_discarded() ? nlohmann::json::object() : parsed;
  }
  std::vector<MemberView> Members() { return ParseMembers(ListJson()); }

  // Runs SQL on `member` from inside its own machine; the first column of each row, or nullopt.
  std::optional<std::vector<std::string>> Sql(const std::string& member, const std::string& sql,
                                              std::string* error = nullptr) {
    auto r = lab_.Run(member,
                      {psql_, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                       lab_.Address(member), "-p", "5432", "-U", "postgres", "-d", "postgres",
                       "-c", sql},
                      Duration(15000), {{"PGPASSFILE", pgpass_}, {"PGCONNECT_TIMEOUT", "3"}});
    if (!r.ok() || !r->status.ok()) {
      if (error) *error = r.ok() ? r->output : r.error().ToString();
      return std::nullopt;
    }
    std::vector<std::string> rows;
    std::istringstream lines(r->output);
    for (std::string line; std::getline(lines, line);) rows.push_back(line);
    return rows;
  }

  // True while `member` runs as a primary that accepts writes.
  bool Writable(const std::string& member) {
    auto rows = Sql(member, "SELECT pg_is_in_recovery()");
    return rows && !rows->empty() && (*rows)[0] == "f";
  }

  long CountRows(const std::string& member) {
    auto rows = Sql(member, "SELECT count(*) FROM items");
    return rows && !rows->empty() ? std::stol((*rows)[0]) : -1;
  }

  std::string Diagnostics() {
    std::string out = "ctl list: " + ListJson().dump(2) + "\n";
    for (const auto& name : kMembers) {
      std::string log = ReadAll(Log(name));
      if (log.size() > 3000) log = log.substr(log.size() - 3000);
      out += "--- " + name + " agent log (tail)\n" + log;
    }
    return out;
  }

 private:
  std::string Config(const std::string& name) const { return dir_ + "/" + name + ".yaml"; }
  std::string Log(const std::string& name) const { return dir_ + "/logs/" + name + ".log"; }

  NetnsLab& lab_;
  std::string dir_;
  std::string pgpass_;
  std::string psql_;
  pid_t etcd_pid_ = -1;
  std::vector<std::pair<std::string, pid_t>> agents_;
};

TEST(NetworkPartition, IsolatedPrimaryStopsWritesAnotherIsPromotedAndTheOldOneRejoins) {
  if (std::string why = NetnsLab::Unavailable(); !why.empty()) {
    GTEST_SKIP() << "skipped: " << why;
  }
  std::vector<std::string> hosts = kMembers;
  hosts.push_back(kEtcdHost);
  auto lab = NetnsLab::Create(hosts);
  ASSERT_TRUE(lab.ok()) << lab.error().ToString();
  TempDir dir("pgpilot-netns");
  PartitionedCluster cluster(**lab, dir.path());
  Status prepared = cluster.Prepare();
  ASSERT_TRUE(prepared.ok()) << prepared.error().ToString();
  Status etcd = cluster.StartEtcd();
  ASSERT_TRUE(etcd.ok()) << etcd.error().ToString();
  Status agents = cluster.StartAgents();
  ASSERT_TRUE(agents.ok()) << agents.error().ToString();
  ASSERT_TRUE(WaitUntil([&] { return IsConverged(cluster.Members(), 3); }, seconds(120)))
      << cluster.Diagnostics();

  auto old_primary = FindPrimary(cluster.Members());
  ASSERT_TRUE(old_primary.has_value());
  std::string error;
  ASSERT_TRUE(cluster.Sql(old_primary->name,
                          "CREATE TABLE items AS SELECT generate_series(1, 10) AS id", &error))
      << error;

  // Cut the primary's machine off. Its agent can no longer renew the lease in etcd, so it must
  // stop accepting writes by itself; the others see the lease expire and elect a new primary.
  auto cut_at = std::chrono::steady_clock::now();
  ASSERT_TRUE((*lab)->Cut(old_primary->name).ok());
  bool fenced = WaitUntil([&] { return !cluster.Writable(old_primary->name); }, seconds(kTtl + 10));
  auto fenced_after = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - cut_at);
  ASSERT_TRUE(fenced) << "the isolated primary still accepts writes\n" << cluster.Diagnostics();

  std::optional<MemberView> new_primary;
  ASSERT_TRUE(WaitUntil(
      [&] {
        new_primary = FindPrimary(cluster.Members());
        return new_primary && new_primary->name != old_primary->name && new_primary->holds_lease &&
               cluster.Sql(new_primary->name, "INSERT INTO items VALUES (11)").has_value();
      },
      seconds(60)))
      << cluster.Diagnostics();
  auto promoted_after = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - cut_at);
  std::cout << "[ measured ] partition (ttl " << kTtl << " s): old primary refused writes after "
            << fenced_after.count() << " ms, new primary " << new_primary->name
            << " accepted writes after " << promoted_after.count() << " ms\n";
  // Cut off, the old primary still refuses writes (it never got its lease back).
  EXPECT_FALSE(cluster.Sql(old_primary->name, "INSERT INTO items VALUES (0)").has_value());

  // Heal: the old primary must come back as a streaming replica of the new one, with its data.
  ASSERT_TRUE((*lab)->Heal(old_primary->name).ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto members = cluster.Members();
        auto primary = FindPrimary(members);
        return IsConverged(members, 3) && primary && primary->name == new_primary->name;
      },
      seconds(90)))
      << cluster.Diagnostics();
  EXPECT_TRUE(WaitUntil([&] { return cluster.CountRows(old_primary->name) == 11; }, seconds(30)))
      << "rows on the rejoined member: " << cluster.CountRows(old_primary->name);
  EXPECT_FALSE(cluster.Writable(old_primary->name));
}

}  // namespace
}  // namespace pgpilot::testing
