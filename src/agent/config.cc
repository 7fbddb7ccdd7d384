#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

#include "core/defaults.h"
#include "core/parameter_name.h"
#include "platform/files.h"
#include "postgres/settings.h"

namespace pgpilot {
namespace {

// "${NAME}" -> the environment variable NAME (letters, digits, '_'), so one config file serves
// every pod of a StatefulSet (name: ${POD_NAME}). Anything else is kept as written.
Result<std::string> ExpandEnvironment(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("${", i);
    if (open == std::string::npos) break;
    size_t close = text.find('}', open + 2);
    if (close == std::string::npos) break;
    std::string name = text.substr(open + 2, close - open - 2);
    bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    });
    out += text.substr(i, open - i);
    if (!valid) {
      out += text.substr(open, close + 1 - open);
    } else {
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) {
        return InvalidArgument("refers to ${" + name + "}, which is not set in the environment");
      }
      out += value;
    }
    i = close + 1;
  }
  return out + text.substr(i);
}

// Reads one mapping of the YAML document, remembering which keys were used so unknown ones
// (usually typos) are reported instead of silently ignored.
class Section {
 public:
  Section(const YAML::Node& node, std::string path, std::string file)
      : node_(node), path_(std::move(path)), file_(std::move(file)) {}

  bool Has(const std::string& key) {
    used_.insert(key);
    return node_[key] && !node_[key].IsNull();
  }
  YAML::Node Get(const std::string& key) {
    used_.insert(key);
    return node_[key];
  }
  std::string Name(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  Error Bad(const std::string& key, const std::string& expected) const {
    return InvalidArgument(file_ + ": key '" + Name(key) + "' " + expected,
                           "fix the value in " + file_ + " (see docs/configuration.md)");
  }

  Status String(const std::string& key, std::string* out, bool required = false) {
    if (!Has(key)) {
      if (required) return Bad(key, "is required");
      return Status::Ok();
    }
    YAML::Node v = Get(key);
    if (!v.IsScalar()) return Bad(key, "must be a string");
    auto expanded = ExpandEnvironment(v.Scalar());
    if (!expanded.ok()) return Bad(key, expanded.error().message);
    *out = *expanded;
    if (required && out->empty()) return Bad(key, "must not be empty");
    return Status::Ok();
  }
  Status Int(const std::string& key, int64_t lo, int64_t hi, int64_t* out) {
    if (!Has(key)) return Status::Ok();
    YAML::Node v = Get(key);
    std::string text = v.IsScalar() ? v.Scalar() : "";
    char* end = nullptr;
    long long parsed = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || parsed < lo || parsed > hi) {
      return Bad(key, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                          (text.empty() ? "" : ", not '" + text + "'"));
    }
    *out = parsed;
    return Status::Ok();
  }
  Status Seconds(const std::string& key, Duration lo, Duration* out) {
    if (!Has(key)) return Status::Ok();
    YAML::Node v = Get(key);
    std::string text = v.IsScalar() ? v.Scalar() : "";
    char* end = nullptr;
    double seconds = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(seconds) || seconds * 1000 < lo.count() ||
        seconds > 86400) {
      return Bad(key, "must be a number of seconds, at least " + FormatSeconds(lo) +
                          (text.empty() ? "" : ", not '" + text + "'"));
    }
    *out = Duration(static_cast<int64_t>(std::llround(seconds * 1000)));
    return Status::Ok();
  }
  Status Bool(const std::string& key, bool* out) {
    if (!Has(key)) return Status::Ok();
    YAML::Node v = Get(key);
    std::string text = v.IsScalar() ? v.Scalar() : "";
    if (text == "true" || text == "on" || text == "yes") *out = true;
    else if (text == "false" || text == "off" || text == "no") *out = false;
    else return Bad(key, "must be true or false, not '" + text + "'");
    return Status::Ok();
  }
  Status StringList(const std::string& key, std::vector<std::string>* out) {
    if (!Has(key)) return Status::Ok();
    YAML::Node v = Get(key);
    if (!v.IsSequence()) return Bad(key, "must be a list of strings");
    for (const auto& item : v) {
      if (!item.IsScalar()) return Bad(key, "must be a list of strings");
      auto expanded = ExpandEnvironment(item.Scalar());
      if (!expanded.ok()) return Bad(key, expanded.error().message);
      out->push_back(*expanded);
    }
    return Status::Ok();
  }
  Result<Section> Child(const std::string& key) {
    YAML::Node v = Get(key);
    if (v && !v.IsNull() && !v.IsMap()) return Bad(key, "must be a mapping");
    return Section(v && v.IsMap() ? v : YAML::Node(YAML::NodeType::Map), Name(key), file_);
  }
  // Fails on the first key nobody asked for.
  Status NoUnknownKeys() const {
    if (!node_.IsMap()) return Status::Ok();
    for (const auto& kv : node_) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (!used_.count(key)) {
        std::string known;
        for (const auto& k : used_) known += (known.empty() ? "" : ", ") + k;
        return InvalidArgument(file_ + ": unknown key '" + Name(key) + "'",
                               "the keys allowed here are: " + known);
      }
    }
    return Status::Ok();
  }
  const YAML::Node& node() const { return node_; }

 private:
  YAML::Node node_;
  std::string path_;
  std::string file_;
  std::set<std::string> used_;
};

#define PGPILOT_TRY(expr)                  \
  do {                                     \
    Status _st = (expr);                   \
    if (!_st.ok()) return _st.error();     \
  } while (0)

Status ParseHostPort(Section& s, const std::string& key, HostPort* out) {
  std::string text;
  PGPILOT_TRY(s.String(key, &text));
  if (text.empty()) return Status::Ok();
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return s.Bad(key, "must look like HOST:PORT, not '" + text + "'");
  char* end = nullptr;
  long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) return s.Bad(key, "has an invalid port in '" + text + "'");
  out->host = text.substr(0, colon);
  out->port = static_cast<int>(port);
  return Status::Ok();
}

Status ParseCredentials(Section& parent, const std::string& key, std::string* user, std::string* file) {
  auto section = parent.Child(key);
  if (!section.ok()) return section.error();
  PGPILOT_TRY(section->String("username", user));
  PGPILOT_TRY(section->String("password_file", file, /*required=*/true));
  return section->NoUnknownKeys();
}

// api.tls and api.auth: HTTPS and the credentials of the changing calls (docs/security.md).
Status ParseApiSecurity(Section& api, AgentConfig* c) {
  auto tls = api.Child("tls");
  if (!tls.ok()) return tls.error();
  ApiTlsSettings& t = c->api_tls;
  PGPILOT_TRY(tls->String("cert_file", &t.cert_file));
  PGPILOT_TRY(tls->String("key_file", &t.key_file));
  PGPILOT_TRY(tls->String("client_ca_file", &t.client_ca_file));
  PGPILOT_TRY(tls->String("ca_file", &t.ca_file));
  PGPILOT_TRY(tls->NoUnknownKeys());
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"cert_file", t.cert_file},
                                   {"key_file", t.key_file},
                                   {"client_ca_file", t.client_ca_file},
                                   {"ca_file", t.ca_file}}) {
    if (!value.empty() && value.front() != '/') {
      return tls->Bad(key, "must be an absolute path (the agent and ctl run in other directories), not '" +
                               value + "'");
    }
  }
  if (t.cert_file.empty() != t.key_file.empty()) {
    return tls->Bad(t.cert_file.empty() ? "cert_file" : "key_file",
                    "is required with api.tls." + std::string(t.cert_file.empty() ? "key_file" : "cert_file") +
                        ": the API serves HTTPS with both, plain HTTP with neither");
  }
  if (!t.client_ca_file.empty() && t.cert_file.empty()) {
    return tls->Bad("client_ca_file", "needs api.tls.cert_file and key_file: client certificates are "
                                      "checked only over HTTPS");
  }
  auto auth = api.Child("auth");
  if (!auth.ok()) return auth.error();
  ApiAuthSettings& a = c->api_auth;
  PGPILOT_TRY(auth->String("token_file", &a.token_file));
  PGPILOT_TRY(auth->String("username", &a.username));
  PGPILOT_TRY(auth->String("password_file", &a.password_file));
  PGPILOT_TRY(auth->NoUnknownKeys());
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"token_file", a.token_file},
                                   {"password_file", a.password_file}}) {
    if (!value.empty() && value.front() != '/') {
      return auth->Bad(key, "must be an absolute path (the agent and ctl run in other directories), not '" +
                                value + "'");
    }
  }
  if (!a.password_file.empty() && a.username.empty()) {
    return auth->Bad("username", "is required with api.auth.password_file (basic authentication)");
  }
  return Status::Ok();
}

Status ParseLogging(Section& root, AgentConfig* c) {
  auto log = root.Child("log");
  if (!log.ok()) return log.error();
  std::string format = "text", level = "info";
  PGPILOT_TRY(log->String("format", &format));
  PGPILOT_TRY(log->String("level", &level));
  if (format == "text") c->log_format = LogFormat::kText;
  else if (format == "json") c->log_format = LogFormat::kJson;
  else return log->Bad("format", "must be text or json");
  if (level == "debug") c->log_level = LogLevel::kDebug;
  else if (level == "info") c->log_level = LogLevel::kInfo;
  else if (level == "warn") c->log_level = LogLevel::kWarn;
  else if (level == "error") c->log_level = LogLevel::kError;
  else return log->Bad("level", "must be debug, info, warn or error");
  return log->NoUnknownKeys();
}

// postgresql.tls (docs/configuration.md, "TLS between members"). The files are checked when the
// agent starts, as the user PostgreSQL runs as (CheckTlsFiles); here only what the text says.
Status ParsePgTls(Section& pg, PgTls* tls) {
  auto section = pg.Child("tls");
  if (!section.ok()) return section.error();
  std::string mode;
  PGPILOT_TRY(section->String("mode", &mode));
  PGPILOT_TRY(section->String("cert_file", &tls->cert_file));
  PGPILOT_TRY(section->String("key_file", &tls->key_file));
  PGPILOT_TRY(section->String("ca_file", &tls->ca_file));
  PGPILOT_TRY(section->NoUnknownKeys());
  if (mode.empty()) {
    if (tls->cert_file.empty() && tls->key_file.empty() && tls->ca_file.empty()) return Status::Ok();
    return section->Bad("mode", "is required with certificate files: on, verify-ca or verify-full "
                                "(or off, to keep TLS off)");
  }
  // YAML's bare on/off may arrive as a boolean.
  auto parsed = ParsePgTlsMode(mode == "true" ? "on" : mode == "false" ? "off" : mode);
  if (!parsed) return section->Bad("mode", "must be off, on, verify-ca or verify-full, not '" + mode + "'");
  tls->mode = *parsed;
  if (!tls->enabled()) return Status::Ok();
  const bool verifies = tls->mode != PgTlsMode::kOn;
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"cert_file", tls->cert_file},
                                   {"key_file", tls->key_file},
                                   {"ca_file", tls->ca_file}}) {
    if (value.empty()) {
      if (std::string(key) != "ca_file" || verifies) {
        return section->Bad(key, std::string("is required with mode ") + PgTlsModeName(tls->mode) +
                                     (std::string(key) == "ca_file"
                                          ? " (the CA the members' certificates are verified with)"
                                          : ""));
      }
      continue;
    }
    if (value.front() != '/') {
      return section->Bad(key, "must be an absolute path (PostgreSQL reads a relative one from the "
                               "data directory), not '" + value + "'");
    }
  }
  return Status::Ok();
}

Status ParsePostgresql(Section& root, AgentConfig* c) {
  auto pg = root.Child("postgresql");
  if (!pg.ok()) return pg.error();
  int64_t port = c->pg_port;
  PGPILOT_TRY(pg->String("bin_dir", &c->bin_dir));
  PGPILOT_TRY(pg->String("listen", &c->pg_listen));
  PGPILOT_TRY(pg->Int("port", 1, 65535, &port));
  c->pg_port = static_cast<int>(port);
  PGPILOT_TRY(pg->String("connect_address", &c->pg_connect_host));
  PGPILOT_TRY(pg->String("socket_dir", &c->socket_dir));
  PGPILOT_TRY(pg->String("log_file", &c->pg_log_file));
  PGPILOT_TRY(pg->StringList("allowed_networks", &c->allowed_networks));
  PGPILOT_TRY(ParseCredentials(*pg, "superuser", &c->superuser, &c->superuser_password_file));
  PGPILOT_TRY(ParseCredentials(*pg, "replication", &c->replication_user, &c->replication_password_file));
  PGPILOT_TRY(ParsePgTls(*pg, &c->pg_tls));
  auto params = pg->Child("parameters");
  if (!params.ok()) return params.error();
  for (const auto& kv : params->node()) {
    std::string name = kv.first.Scalar();
    params->Get(name);
    if (!kv.second.IsScalar()) return params->Bad(name, "must be a single value");
    if (!IsParameterName(name)) {
      return params->Bad(name, "is not a PostgreSQL parameter name (letters, digits and '_', "
                               "or two such names joined by '.')");
    }
    if (IsManagedParameter(name)) {
      return params->Bad(name, name.rfind("ssl", 0) == 0
                                   ? "is managed by pgpilot and may not be set here (use postgresql.tls)"
                                   : "is managed by pgpilot and may not be set here (use the matching "
                                     "postgresql.* key of the agent config, e.g. postgresql.port)");
    }
    c->parameters.emplace_back(name, kv.second.Scalar());
  }
  if (c->pg_connect_host.empty()) {
    if (c->pg_listen.find(',') != std::string::npos || c->pg_listen == "*" || c->pg_listen == "0.0.0.0") {
      return pg->Bad("connect_address", "is required when postgresql.listen is not one address");
    }
    c->pg_connect_host = c->pg_listen;
  }
  if (c->superuser.empty() || c->replication_user.empty() || c->superuser == c->replication_user) {
    return pg->Bad("replication.username", "must be set and differ from the superuser's name");
  }
  return pg->NoUnknownKeys();
}

}  // namespace

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  if (name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
  });
}

Result<AgentConfig> ParseAgentConfig(const std::string& text, const std::string& source) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ": not valid YAML: " + e.what(), "fix the syntax at the line shown");
  }
  if (!doc.IsMap()) {
    return InvalidArgument(source + ": expected a mapping of keys at the top level",
                           "write one 'key: value' per line, starting with 'cluster:' and 'name:' "
                           "(see docs/configuration.md)");
  }

  try {
    AgentConfig c;
    c.source_file = source;
    Section root(doc, "", source);
    PGPILOT_TRY(root.String("cluster", &c.cluster, true));
    PGPILOT_TRY(root.String("name", &c.name, true));
    for (const auto* key : {"cluster", "name"}) {
      const std::string& value = std::string(key) == "cluster" ? c.cluster : c.name;
      if (!IsValidName(value)) {
        return root.Bad(key, "must be 1-63 characters of a-z, 0-9 and '-', not '" + value + "'");
      }
    }
    PGPILOT_TRY(root.String("data_dir", &c.data_dir, true));
    if (c.data_dir.front() != '/') return root.Bad("data_dir", "must be an absolute path");
    // "/x/data/" is "/x/data": the state directory defaults to the parent, never to itself.
    while (c.data_dir.size() > 1 && c.data_dir.back() == '/') c.data_dir.pop_back();
    PGPILOT_TRY(root.String("state_dir", &c.state_dir));
    if (c.state_dir.empty()) c.state_dir = DirName(c.data_dir);
    PGPILOT_TRY(root.String("run_as", &c.run_as));
    PGPILOT_TRY(root.Seconds("ttl", kMinimumTtl, &c.ttl));
    PGPILOT_TRY(root.Seconds("loop_wait", kMinimumLoopWait, &c.loop_wait));
    if (c.loop_wait * 2 > c.ttl) {
      return root.Bad("loop_wait", "must be at most half of ttl (" + FormatSeconds(c.ttl) + ")");
    }
    int64_t lag = static_cast<int64_t>(c.maximum_lag_on_failover);
    PGPILOT_TRY(root.Int("maximum_lag_on_failover", 0, INT64_MAX, &lag));
    c.maximum_lag_on_failover = static_cast<uint64_t>(lag);
    if (root.Has("synchronous_mode")) {
      // YAML reads a bare on/off as a boolean: accept both spellings.
      const YAML::Node& mode = root.Get("synchronous_mode");
      std::string text = mode.IsScalar() ? mode.Scalar() : "";
      if (text == "true") text = "on";
      if (text == "false") text = "off";
      auto parsed = ParseSyncMode(text);
      if (!parsed) return root.Bad("synchronous_mode", "must be off, on or strict, not '" + text + "'");
      c.synchronous_mode = *parsed;
    }
    int64_t sync_count = c.synchronous_node_count;
    PGPILOT_TRY(root.Int("synchronous_node_count", 1, 16, &sync_count));
    c.synchronous_node_count = static_cast<int>(sync_count);
    PGPILOT_TRY(root.Bool("commit_fence", &c.commit_fence));

    auto tags = root.Child("tags");
    if (!tags.ok()) return tags.error();
    PGPILOT_TRY(tags->Bool("nofailover", &c.tags.nofailover));
    PGPILOT_TRY(tags->Bool("nosync", &c.tags.nosync));
    PGPILOT_TRY(tags->Bool("noloadbalance", &c.tags.noloadbalance));
    PGPILOT_TRY(tags->Bool("clonefrom", &c.tags.clonefrom));
    PGPILOT_TRY(tags->NoUnknownKeys());

    auto store = root.Child("store");
    if (!store.ok()) return store.error();
    PGPILOT_TRY(store->String("sqlite", &c.store.sqlite_path));
    auto etcd = store->Child("etcd");
    if (!etcd.ok()) return etcd.error();
    if (etcd->Has("endpoints") && etcd->Get("endpoints").IsScalar()) {
      // "h1:2379,h2:2379" as well as a list; ${NAME} expanded in both.
      std::string endpoints;
      PGPILOT_TRY(etcd->String("endpoints", &endpoints));
      auto parsed = ParseStoreUrl("etcd://" + endpoints);
      if (!parsed.ok()) return etcd->Bad("endpoints", "must list HOST:PORT of etcd's clients");
      c.store.etcd.endpoints = parsed->etcd.endpoints;
    } else {
      PGPILOT_TRY(etcd->StringList("endpoints", &c.store.etcd.endpoints));
    }
    PGPILOT_TRY(etcd->String("username", &c.store.etcd.username));
    PGPILOT_TRY(etcd->String("password_file", &c.store.etcd.password_file));
    PGPILOT_TRY(etcd->String("ca_file", &c.store.etcd.ca_file));
    PGPILOT_TRY(etcd->String("cert_file", &c.store.etcd.cert_file));
    PGPILOT_TRY(etcd->String("key_file", &c.store.etcd.key_file));
    PGPILOT_TRY(etcd->NoUnknownKeys());
    if (store->Get("kubernetes")) {  // present, even empty: "kubernetes: {}" means in-cluster
      auto k8s = store->Child("kubernetes");
      if (!k8s.ok()) return k8s.error();
      KubernetesConfig& k = c.store.kubernetes;
      k.enabled = true;
      PGPILOT_TRY(k8s->String("api_server", &k.api_server));
      PGPILOT_TRY(k8s->String("namespace", &k.namespace_name));
      PGPILOT_TRY(k8s->String("token_file", &k.token_file));
      PGPILOT_TRY(k8s->String("ca_file", &k.ca_file));
      PGPILOT_TRY(k8s->String("kubeconfig", &k.kubeconfig));
      PGPILOT_TRY(k8s->Bool("label_pod", &k.label_pod));
      PGPILOT_TRY(k8s->NoUnknownKeys());
      if (!k.api_server.empty() && k.api_server.rfind("https://", 0) != 0 &&
          k.api_server.rfind("http://", 0) != 0) {
        return k8s->Bad("api_server", "must be a URL: https://HOST:PORT");
      }
    }
    PGPILOT_TRY(store->NoUnknownKeys());
    bool has_sqlite = !c.store.sqlite_path.empty();
    bool has_etcd = !c.store.etcd.endpoints.empty();
    int stores = int(has_sqlite) + int(has_etcd) + int(c.store.kubernetes.enabled);
    if (stores != 1) {
      return root.Bad("store", stores > 1 ? "must name one store, not several of sqlite, etcd and kubernetes"
                                          : "must name a store, e.g. 'store: {sqlite: /path/to/store.db}', "
                                            "'store: {etcd: {endpoints: [10.0.0.5:2379]}}' or "
                                            "'store: {kubernetes: {}}'");
    }
    if (!c.store.etcd.username.empty() && c.store.etcd.password_file.empty()) {
      return etcd->Bad("password_file", "is required with store.etcd.username");
    }
    if (has_sqlite && c.store.sqlite_path.front() != '/') {
      // A relative path depends on each process's working directory: agents (and ctl) started
      // from different directories would each get a store of their own.
      return store->Bad("sqlite", "must be an absolute path, so every agent opens the same file");
    }

    auto api = root.Child("api");
    if (!api.ok()) return api.error();
    PGPILOT_TRY(ParseHostPort(*api, "listen", &c.api_listen));
    PGPILOT_TRY(ParseHostPort(*api, "connect_address", &c.api_connect));
    PGPILOT_TRY(ParseApiSecurity(*api, &c));
    PGPILOT_TRY(api->NoUnknownKeys());
    if (c.api_connect.port == 0) c.api_connect = c.api_listen;

    PGPILOT_TRY(ParsePostgresql(root, &c));
    if (c.pg_log_file.empty()) c.pg_log_file = JoinPath(c.state_dir, "postgres.log");
    PGPILOT_TRY(ParseLogging(root, &c));
    PGPILOT_TRY(root.NoUnknownKeys());
    return c;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ": " + e.what(), "check the types of the values");
  }
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return Error{text.error().code, "cannot read agent config: " + text.error().message,
                 "pass the path of a YAML file with --config"};
  }
  return ParseAgentConfig(*text, path);
}

std::string RenderAgentConfig(const AgentConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << c.cluster;
  out << YAML::Key << "name" << YAML::Value << c.name;
  out << YAML::Key << "data_dir" << YAML::Value << c.data_dir;
  out << YAML::Key << "state_dir" << YAML::Value << c.state_dir;
  out << YAML::Key << "run_as" << YAML::Value << c.run_as;
  out << YAML::Key << "ttl" << YAML::Value << static_cast<double>(c.ttl.count()) / 1000.0;
  out << YAML::Key << "loop_wait" << YAML::Value << static_cast<double>(c.loop_wait.count()) / 1000.0;
  out << YAML::Key << "maximum_lag_on_failover" << YAML::Value << c.maximum_lag_on_failover;
  out << YAML::Key << "synchronous_mode" << YAML::Value << SyncModeName(c.synchronous_mode);
  out << YAML::Key << "synchronous_node_count" << YAML::Value << c.synchronous_node_count;
  out << YAML::Key << "commit_fence" << YAML::Value << c.commit_fence;
  out << YAML::Key << "tags" << YAML::Value << YAML::BeginMap << YAML::Key << "nofailover"
      << YAML::Value << c.tags.nofailover << YAML::Key << "nosync" << YAML::Value
      << c.tags.nosync << YAML::Key << "noloadbalance" << YAML::Value << c.tags.noloadbalance
      << YAML::Key << "clonefrom" << YAML::Value << c.tags.clonefrom << YAML::EndMap;
  out << YAML::Key << "store" << YAML::Value << YAML::BeginMap;
  if (c.store.is_kubernetes()) {
    const KubernetesConfig& k = c.store.kubernetes;
    out << YAML::Key << "kubernetes" << YAML::Value << YAML::BeginMap;
    for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"api_server", k.api_server},
                                     {"namespace", k.namespace_name},
                                     {"token_file", k.token_file},
                                     {"ca_file", k.ca_file},
                                     {"kubeconfig", k.kubeconfig}}) {
      if (!value.empty()) out << YAML::Key << key << YAML::Value << value;
    }
    if (!k.label_pod) out << YAML::Key << "label_pod" << YAML::Value << false;
    out << YAML::EndMap;
  } else if (c.store.is_etcd()) {
    const EtcdConfig& e = c.store.etcd;
    out << YAML::Key << "etcd" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "endpoints" << YAML::Value << YAML::Flow << e.endpoints;
    for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"username", e.username},
                                     {"password_file", e.password_file},
                                     {"ca_file", e.ca_file},
                                     {"cert_file", e.cert_file},
                                     {"key_file", e.key_file}}) {
      if (!value.empty()) out << YAML::Key << key << YAML::Value << value;
    }
    out << YAML::EndMap;
  } else {
    out << YAML::Key << "sqlite" << YAML::Value << c.store.sqlite_path;
  }
  out << YAML::EndMap;
  out << YAML::Key << "api" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << c.api_listen.ToString();
  out << YAML::Key << "connect_address" << YAML::Value << c.api_connect.ToString();
  for (const auto& [section, entries] :
       {std::pair<const char*, std::vector<std::pair<const char*, std::string>>>{
            "tls",
            {{"cert_file", c.api_tls.cert_file},
             {"key_file", c.api_tls.key_file},
             {"client_ca_file", c.api_tls.client_ca_file},
             {"ca_file", c.api_tls.ca_file}}},
        {"auth",
         {{"token_file", c.api_auth.token_file},
          {"username", c.api_auth.username},
          {"password_file", c.api_auth.password_file}}}}) {
    if (std::all_of(entries.begin(), entries.end(), [](const auto& e) { return e.second.empty(); })) continue;
    out << YAML::Key << section << YAML::Value << YAML::BeginMap;
    for (const auto& [key, value] : entries) {
      if (!value.empty()) out << YAML::Key << key << YAML::Value << value;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "postgresql" << YAML::Value << YAML::BeginMap;
  if (!c.bin_dir.empty()) out << YAML::Key << "bin_dir" << YAML::Value << c.bin_dir;
  out << YAML::Key << "listen" << YAML::Value << c.pg_listen;
  out << YAML::Key << "port" << YAML::Value << c.pg_port;
  out << YAML::Key << "connect_address" << YAML::Value << c.pg_connect_host;
  if (!c.socket_dir.empty()) out << YAML::Key << "socket_dir" << YAML::Value << c.socket_dir;
  if (!c.pg_log_file.empty()) out << YAML::Key << "log_file" << YAML::Value << c.pg_log_file;
  if (!c.allowed_networks.empty()) {
    out << YAML::Key << "allowed_networks" << YAML::Value << YAML::Flow << c.allowed_networks;
  }
  out << YAML::Key << "superuser" << YAML::Value << YAML::BeginMap << YAML::Key << "username"
      << YAML::Value << c.superuser << YAML::Key << "password_file" << YAML::Value
      << c.superuser_password_file << YAML::EndMap;
  out << YAML::Key << "replication" << YAML::Value << YAML::BeginMap << YAML::Key << "username"
      << YAML::Value << c.replication_user << YAML::Key << "password_file" << YAML::Value
      << c.replication_password_file << YAML::EndMap;
  if (c.pg_tls.enabled()) {
    out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "mode" << YAML::Value << PgTlsModeName(c.pg_tls.mode);
    for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"cert_file", c.pg_tls.cert_file},
                                     {"key_file", c.pg_tls.key_file},
                                     {"ca_file", c.pg_tls.ca_file}}) {
      if (!value.empty()) out << YAML::Key << key << YAML::Value << value;
    }
    out << YAML::EndMap;
  }
  if (!c.parameters.empty()) {
    out << YAML::Key << "parameters" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : c.parameters) out << YAML::Key << k << YAML::Value << v;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  const char* level = c.log_level == LogLevel::kDebug  ? "debug"
                      : c.log_level == LogLevel::kWarn ? "warn"
                      : c.log_level == LogLevel::kError ? "error"
                                                        : "info";
  out << YAML::Key << "log" << YAML::Value << YAML::BeginMap << YAML::Key << "format" << YAML::Value
      << (c.log_format == LogFormat::kJson ? "json" : "text") << YAML::Key << "level" << YAML::Value
      << level << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

Result<std::string> DetectPostgresBinDir(const std::string& configured) {
  if (!configured.empty()) {
    if (!PathExists(JoinPath(configured, "postgres"))) {
      return NotFound("postgresql.bin_dir " + configured + " holds no postgres program",
                      "set it to the output of `pg_config --bindir` for PostgreSQL 15");
    }
    return configured;
  }
  for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                          "/usr/lib/postgresql/17/bin", "/usr/local/pgsql/bin"}) {
    if (PathExists(JoinPath(dir, "postgres"))) return std::string(dir);
  }
  return NotFound("PostgreSQL server programs not found (looked in /usr/lib/postgresql/15/bin)",
                  "install them (apt-get install postgresql-15) or set postgresql.bin_dir");
}

}  // namespace pgpilot
