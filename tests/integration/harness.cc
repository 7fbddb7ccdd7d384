#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "platform/net.h"
#include "platform/process.h"
#include "postgres/pg_connection.h"

namespace pgpilot::testing {

namespace {

bool PortFree(int port) {
  return CheckPortFree("127.0.0.1", port, "port", "").ok();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

ProcessRunner& Runner() {
  static ProcessRunner runner;
  return runner;
}

int PickBasePort(int nodes) {
  std::random_device seed;
  std::mt19937 rng(seed());
  std::uniform_int_distribution<int> pick(20000, 32000);  // below the ephemeral ports (32768+)
  for (int attempt = 0; attempt < 200; ++attempt) {
    int base = pick(rng);
    bool free = true;
    for (int i = 0; i < nodes && free; ++i) {
      free = PortFree(base + i) && PortFree(base + 100 + i);
    }
    if (free) return base;
  }
  return 0;
}

CommandResult RunPgpilot(const std::vector<std::string>& args, int timeout_seconds) {
  ProcessSpec spec;
  spec.argv.push_back(PGPILOT_BINARY);
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  auto run = Runner().Run(spec, Duration(int64_t{timeout_seconds} * 1000));
  if (!run.ok()) return {-1, run.error().ToString()};
  return {run->status.code, run->output};
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return condition();
}

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) != nullptr) {
    path_ = buf.data();
    chmod(path_.c_str(), 0755);
  }
}

TempDir::~TempDir() {
  if (!path_.empty() && std::getenv("PGPILOT_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
}

LocalClusterUnderTest::LocalClusterUnderTest(int nodes, int ttl_seconds, std::string store_url,
                                             std::vector<std::string> up_args)
    : dir_("pgpilot-it"),
      nodes_(nodes),
      ttl_(ttl_seconds),
      base_port_(PickBasePort(nodes)),
      store_url_(std::move(store_url)),
      up_args_(std::move(up_args)) {}

LocalClusterUnderTest::~LocalClusterUnderTest() {
  if (!started_) return;
  // Resume anything a test froze, then stop the cluster; kill by pid whatever survives.
  std::vector<MemberView> members = Members();
  for (const auto& m : members) {
    if (m.agent_pid > 0) kill(m.agent_pid, SIGCONT);
    if (m.postgres_pid > 0) kill(m.postgres_pid, SIGCONT);
  }
  Down();
  for (const auto& m : members) {
    if (m.agent_pid > 0 && ProcessAlive(m.agent_pid)) kill(m.agent_pid, SIGKILL);
    if (m.postgres_pid > 0 && ProcessAlive(m.postgres_pid)) kill(-m.postgres_pid, SIGKILL);
  }
}

CommandResult LocalClusterUnderTest::Up(int timeout_seconds) {
  started_ = true;
  std::vector<std::string> args = {"up", "--nodes", std::to_string(nodes_), "--dir", dir(),
                                   "--base-port", std::to_string(base_port_), "--ttl",
                                   std::to_string(ttl_), "--loop-wait", "1", "--wait",
                                   std::to_string(timeout_seconds - 10)};
  if (!store_url_.empty()) {
    args.insert(args.end(), {"--dcs", store_url_, "--cluster", cluster_name()});
  }
  args.insert(args.end(), up_args_.begin(), up_args_.end());
  return RunPgpilot(args, timeout_seconds);
}

CommandResult LocalClusterUnderTest::Ctl(std::vector<std::string> args, int timeout_seconds) {
  args.insert(args.begin(), {"ctl", "--dir", dir()});
  return RunPgpilot(args, timeout_seconds);
}

CommandResult LocalClusterUnderTest::Down() { return RunPgpilot({"down", "--dir", dir()}, 180); }

nlohmann::json LocalClusterUnderTest::ListJson() {
  CommandResult r = RunPgpilot({"ctl", "--dir", dir(), "list", "--json"}, 30);
  if (r.exit_code != 0) return nlohmann::json::object();
  auto parsed = nlohmann::json::parse(r.output, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json::object() : parsed;
}

std::vector<MemberView> ParseMembers(const nlohmann::json& j) {
  std::vector<MemberView> out;
  if (!j.contains("members") || !j["members"].is_array()) return out;
  for (const auto& m : j["members"]) {
    MemberView v;
    v.name = m.value("name", "");
    v.role = m.value("role", "");
    v.state = m.value("state", "");
    if (m.contains("timeline") && m["timeline"].is_number()) v.timeline = m["timeline"];
    if (m.contains("port") && m["port"].is_number()) v.port = m["port"];
    if (m.contains("agent_pid") && m["agent_pid"].is_number()) v.agent_pid = m["agent_pid"];
    if (m.contains("postgres_pid") && m["postgres_pid"].is_number()) v.postgres_pid = m["postgres_pid"];
    v.holds_lease = m.value("holds_lease", false);
    if (m.contains("streaming") && m["streaming"].is_boolean()) v.streaming = m["streaming"];
    out.push_back(v);
  }
  return out;
}

std::optional<MemberView> FindPrimary(const std::vector<MemberView>& members) {
  std::optional<MemberView> found;
  for (const auto& m : members) {
    if (m.role != "primary") continue;
    if (found) return std::nullopt;
    found = m;
  }
  return found;
}

bool IsConverged(const std::vector<MemberView>& members, int expected_members,
                 const std::string& except) {
  int primaries = 0;
  int timeline = -1;
  for (const auto& m : members) {
    if (m.role == "primary") {
      ++primaries;
      timeline = m.timeline;
    }
  }
  if (primaries != 1) return false;
  int healthy = 0;
  for (const auto& m : members) {
    if (m.name == except) continue;
    if (m.role == "primary") {
      if (!m.holds_lease) return false;
      ++healthy;
    } else if (m.role == "replica" && m.streaming && m.timeline == timeline) {
      ++healthy;
    } else {
      return false;
    }
  }
  return healthy == expected_members;
}

std::vector<MemberView> LocalClusterUnderTest::Members() { return ParseMembers(ListJson()); }

std::optional<MemberView> LocalClusterUnderTest::Primary() { return FindPrimary(Members()); }

std::optional<MemberView> LocalClusterUnderTest::Member(const std::string& name) {
  for (const auto& m : Members()) {
    if (m.name == name) return m;
  }
  return std::nullopt;
}

namespace {

std::optional<std::vector<std::string>> RunSql(const std::string& conninfo, const std::string& sql,
                                               std::string* error) {
  auto conn = PgConnection::Connect(conninfo);
  if (!conn.ok()) {
    if (error) *error = conn.error().ToString();
    return std::nullopt;
  }
  auto rows = conn->Query(sql);
  if (!rows.ok()) {
    if (error) *error = rows.error().ToString();
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& row : *rows) out.push_back(row.empty() || !row[0] ? "" : *row[0]);
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> LocalClusterUnderTest::Sql(int port, const std::string& sql,
                                                                   std::string* error) {
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) +
                         " user=postgres dbname=postgres connect_timeout=3 passfile=" + dir() +
                         "/pgpass";
  return RunSql(conninfo, sql, error);
}

std::string LocalClusterUnderTest::ReadWriteConninfo(std::string* error) {
  CommandResult dsn = RunPgpilot({"ctl", "--dir", dir(), "dsn"}, 30);
  if (dsn.exit_code != 0) {
    if (error) *error = dsn.output;
    return "";
  }
  std::string uri = Trim(dsn.output);
  uri += (uri.find('?') == std::string::npos ? "?" : "&");
  return uri + "passfile=" + dir() + "/pgpass";
}

std::optional<std::vector<std::string>> LocalClusterUnderTest::SqlOnPrimary(const std::string& sql,
                                                                            std::string* error) {
  std::string uri = ReadWriteConninfo(error);
  if (uri.empty()) return std::nullopt;
  return RunSql(uri, sql, error);
}

LocalClusterUnderTest::Takeover LocalClusterUnderTest::KillAndAwaitTakeover(const MemberView& primary,
                                                                          const std::string& write_sql) {
  Takeover result;
  if (primary.agent_pid <= 0 || primary.postgres_pid <= 0) {
    result.failure = "the primary's process ids are unknown";
    return result;
  }
  auto killed_at = std::chrono::steady_clock::now();
  if (kill(primary.agent_pid, SIGKILL) != 0 || kill(primary.postgres_pid, SIGKILL) != 0) {
    result.failure = "kill -9 of the primary's agent or PostgreSQL failed";
    return result;
  }
  std::optional<MemberView> next;
  bool took_over = WaitUntil(
      [&] {
        next = Primary();
        return next && next->name != primary.name && next->holds_lease &&
               SqlOnPrimary(write_sql).has_value();
      },
      std::chrono::seconds(60));
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                      killed_at);
  if (took_over) result.new_primary = next;
  else result.failure = "no other member became a writable primary within 60 s";
  return result;
}

bool LocalClusterUnderTest::Converged(int expected_members, const std::string& except) {
  return IsConverged(Members(), expected_members, except);
}

std::string LocalClusterUnderTest::ReadMemberFile(const std::string& member,
                                                  const std::string& file) const {
  std::ifstream in(dir() + "/" + member + "/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace pgpilot::testing
