#include "cli/local_cluster.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "platform/files.h"
#include "postgres/settings.h"

namespace pgpilot {
namespace {

constexpr const char* kAgentConfigFile = "agent.yaml";
// sockaddr_un.sun_path holds 108 bytes with the terminating NUL; PostgreSQL refuses longer paths.
constexpr size_t kMaxUnixSocketPath = 107;


}  // namespace

std::string LocalCluster::StorePath() const { return JoinPath(dir, kStoreFile); }
std::string LocalCluster::UserPassfile() const { return JoinPath(dir, kUserPassfile); }
std::string LocalCluster::MemberDir(const std::string& name) const { return JoinPath(dir, name); }
std::string LocalCluster::AgentLog(const std::string& name) const {
  return JoinPath(MemberDir(name), "agent.log");
}
std::string LocalCluster::AgentPidFile(const std::string& name) const {
  return JoinPath(MemberDir(name), "agent.pid");
}

Result<std::string> RandomSecret() {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Internal("cannot open /dev/urandom");
  unsigned char raw[64];
  ssize_t n = read(fd, raw, sizeof raw);
  close(fd);
  if (n != static_cast<ssize_t>(sizeof raw)) return Internal("cannot read /dev/urandom");
  std::string out;
  for (unsigned char c : raw) {
    if (c >= 248) continue;  // 248 = 62 * 4: keep the distribution uniform
    out += kAlphabet[c % 62];
    if (out.size() == 32) break;
  }
  if (out.size() < 32) return RandomSecret();
  return out;
}

Result<LocalTlsFiles> ReadLocalTlsFiles(const std::string& dir) {
  LocalTlsFiles files;
  for (const auto& [name, text] : {std::pair<const char*, std::string*>{"cert.pem", &files.cert},
                                   {"key.pem", &files.key},
                                   {"ca.pem", &files.ca}}) {
    std::string path = JoinPath(dir, name);
    auto content = ReadFile(path);
    if (!content.ok()) {
      return Error{content.error().code, "--pg-tls: " + content.error().message,
                   "put cert.pem (the members' certificate), key.pem (its key) and ca.pem (the CA "
                   "that signed it), in PEM form, in " + dir};
    }
    *text = *content;
  }
  return files;
}

bool IsLocalCluster(const std::string& dir) {
  return PathExists(JoinPath(JoinPath(dir, LocalMemberName(0)), kAgentConfigFile));
}

Result<LocalCluster> LoadLocalCluster(const std::string& dir) {
  auto entries = ListDirectory(dir);
  if (!entries.ok()) {
    return Error{entries.error().code, "cannot read cluster directory: " + entries.error().message,
                 "pass the --dir given to `pgpilot up`"};
  }
  LocalCluster cluster{dir, {}};
  for (const auto& name : *entries) {
    std::string file = JoinPath(JoinPath(dir, name), kAgentConfigFile);
    if (!PathExists(file)) continue;
    auto config = LoadAgentConfig(file);
    if (!config.ok()) return config.error();
    cluster.members.push_back(*config);
  }
  if (cluster.members.empty()) {
    return NotFound(dir + " holds no cluster made by `pgpilot up` (no */agent.yaml)",
                    "run `pgpilot up --dir " + dir + "` first, or pass --config or --store");
  }
  std::sort(cluster.members.begin(), cluster.members.end(),
            [](const AgentConfig& a, const AgentConfig& b) { return a.name < b.name; });
  return cluster;
}

Result<LocalCluster> CreateLocalCluster(const LocalClusterSpec& spec) {
  if (spec.nodes < 1 || spec.nodes > 9) {
    return InvalidArgument("--nodes must be between 1 and 9, not " + std::to_string(spec.nodes));
  }
  if (spec.base_port < 1024 || spec.base_port + 100 + spec.nodes > 65535) {
    return InvalidArgument("--base-port must leave room for ports base..base+100+nodes within 1024-65535");
  }
  auto entries = ListDirectory(spec.dir);
  if (entries.ok() && !entries->empty()) {
    return FailedPrecondition(spec.dir + " is not empty and holds no pgpilot cluster",
                              "choose a new or empty directory for --dir");
  }
  std::string secrets = JoinPath(spec.dir, "secrets");
  if (Status s = EnsureDirectory(secrets, 0700); !s.ok()) return s.error();
  auto superuser_password = RandomSecret();
  auto replication_password = RandomSecret();
  if (!superuser_password.ok()) return superuser_password.error();
  if (!replication_password.ok()) return replication_password.error();
  std::string superuser_file = JoinPath(secrets, "superuser-password");
  std::string replication_file = JoinPath(secrets, "replication-password");
  if (Status s = WriteFileAtomic(superuser_file, *superuser_password + "\n", 0600); !s.ok()) return s.error();
  if (Status s = WriteFileAtomic(replication_file, *replication_password + "\n", 0600); !s.ok()) return s.error();
  // The demo cluster's changing API calls are protected from the start.
  auto api_token = RandomSecret();
  if (!api_token.ok()) return api_token.error();
  std::string api_token_file = JoinPath(spec.dir, kApiTokenFile);
  if (Status s = WriteFileAtomic(api_token_file, *api_token + "\n", 0600); !s.ok()) return s.error();

  PgTls tls;
  if (spec.pg_tls) {
    // Copies owned by the cluster's user (PostgreSQL refuses a key it does not own, or root's),
    // private like every file pgpilot writes.
    std::string dir = JoinPath(spec.dir, kLocalTlsDir);
    if (Status s = EnsureDirectory(dir, 0700); !s.ok()) return s.error();
    tls = PgTls{PgTlsMode::kVerifyCa, JoinPath(dir, "cert.pem"), JoinPath(dir, "key.pem"),
                JoinPath(dir, "ca.pem")};
    if (Status s = WriteFileAtomic(tls.cert_file, spec.pg_tls->cert, 0600); !s.ok()) return s.error();
    if (Status s = WriteFileAtomic(tls.key_file, spec.pg_tls->key, 0600); !s.ok()) return s.error();
    if (Status s = WriteFileAtomic(tls.ca_file, spec.pg_tls->ca, 0600); !s.ok()) return s.error();
  }

  StoreConfig store;
  if (!spec.store_url.empty()) {
    auto parsed = ParseStoreUrl(spec.store_url);
    if (!parsed.ok()) return parsed.error();
    store = *parsed;
  }
  LocalCluster cluster{spec.dir, {}};
  if (store.sqlite_path.empty() && !store.is_etcd() && !store.is_kubernetes()) {
    store.sqlite_path = cluster.StorePath();
  }
  for (int i = 0; i < spec.nodes; ++i) {
    AgentConfig c;
    c.cluster = spec.cluster;
    c.name = LocalMemberName(i);
    c.state_dir = cluster.MemberDir(c.name);
    c.data_dir = JoinPath(c.state_dir, "data");
    c.run_as = spec.run_as;
    c.ttl = spec.ttl;
    c.loop_wait = spec.loop_wait;
    c.synchronous_mode = spec.synchronous_mode;
    c.synchronous_node_count = spec.synchronous_node_count;
    c.commit_fence = spec.commit_fence;
    c.store = store;
    c.api_listen = {"127.0.0.1", spec.base_port + 100 + i};
    c.api_connect = c.api_listen;
    c.api_tls = spec.api_tls;
    for (std::string* file : {&c.api_tls.cert_file, &c.api_tls.key_file, &c.api_tls.client_ca_file,
                              &c.api_tls.ca_file}) {
      if (!file->empty()) *file = AbsolutePath(*file);  // the agents run in their own directories
    }
    c.api_auth.token_file = api_token_file;
    c.pg_listen = "127.0.0.1";
    c.pg_connect_host = "127.0.0.1";
    c.pg_port = spec.base_port + i;
    c.pg_log_file = JoinPath(c.state_dir, "postgres.log");
    // A Unix socket beside the data (the commit fence's round trip is shorter over it), unless
    // the directory's path is too long for a socket address; TCP is used then.
    std::string socket_dir = JoinPath(c.state_dir, "run");
    if (JoinPath(socket_dir, ".s.PGSQL." + std::to_string(c.pg_port)).size() < kMaxUnixSocketPath) {
      c.socket_dir = socket_dir;
    }
    c.superuser_password_file = superuser_file;
    c.replication_password_file = replication_file;
    c.pg_tls = tls;
    if (Status s = EnsureDirectory(c.state_dir, 0700); !s.ok()) return s.error();
    std::string file = JoinPath(c.state_dir, kAgentConfigFile);
    if (Status s = WriteFileAtomic(file, RenderAgentConfig(c), 0600); !s.ok()) return s.error();
    auto reloaded = LoadAgentConfig(file);  // what the agent will read, validated the same way
    if (!reloaded.ok()) return reloaded.error();
    cluster.members.push_back(*reloaded);
  }
  std::string passfile = PgpassLine(cluster.members.front().superuser, *superuser_password);
  if (Status s = WriteFileAtomic(cluster.UserPassfile(), passfile, 0600); !s.ok()) return s.error();
  return cluster;
}

std::string LocalMemberName(int i) { return "pg-" + std::to_string(i); }

}  // namespace pgpilot
