#include "postgres/settings.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace pgpilot {
namespace {

std::string QuoteConninfoValue(const std::string& v) {
  bool plain = !v.empty();
  for (char c : v) plain = plain && !std::isspace(static_cast<unsigned char>(c)) && c != '\'' && c != '\\';
  if (plain) return v;
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string EscapePgpass(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& ManagedParameterNames() {
  static const std::vector<std::string> names = {
      "listen_addresses", "port", "unix_socket_directories", "hba_file", "wal_level",
      "hot_standby", "primary_conninfo", "primary_slot_name", "recovery_target_timeline",
      "cluster_name", "data_directory", "config_file", "wal_log_hints", "password_encryption",
      "synchronous_standby_names", "synchronous_commit",
      // postgresql.tls: pg_hba's hostssl lines and the members' sslmode depend on them.
      "ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file"};
  return names;
}

bool IsManagedParameter(const std::string& name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto& managed = ManagedParameterNames();
  return std::find(managed.begin(), managed.end(), lower) != managed.end();
}

std::string QuoteConfValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += "''";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out + "'";
}

std::string Conninfo(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    if (!out.empty()) out += ' ';
    out += k + "=" + QuoteConninfoValue(v);
  }
  return out;
}

std::string ConninfoHostPort(const std::string& conninfo) {
  std::string host, port;
  size_t i = 0;
  while (i < conninfo.size()) {
    while (i < conninfo.size() && std::isspace(static_cast<unsigned char>(conninfo[i]))) ++i;
    size_t eq = conninfo.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = conninfo.substr(i, eq - i);
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
    i = eq + 1;
    while (i < conninfo.size() && std::isspace(static_cast<unsigned char>(conninfo[i]))) ++i;
    std::string value;
    if (i < conninfo.size() && conninfo[i] == '\'') {
      ++i;
      while (i < conninfo.size() && conninfo[i] != '\'') {
        if (conninfo[i] == '\\' && i + 1 < conninfo.size()) ++i;
        value += conninfo[i++];
      }
      ++i;
    } else {
      while (i < conninfo.size() && !std::isspace(static_cast<unsigned char>(conninfo[i]))) {
        value += conninfo[i++];
      }
    }
    if (key == "host" || key == "hostaddr") host = value;
    if (key == "port") port = value;
  }
  if (host.empty()) return "";
  return host + ":" + (port.empty() ? "5432" : port);
}

std::string SlotName(const std::string& member) {
  std::string out;
  for (char c : member) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) out += static_cast<char>(std::tolower(u));
    else out += '_';
  }
  return out;
}

std::string PrimaryConninfo(const MemberEndpoint& upstream, const InstanceSettings& s) {
  Parameters params = {{"host", upstream.host},
                       {"port", std::to_string(upstream.port)},
                       {"user", s.replication_user},
                       {"passfile", s.passfile},
                       {"application_name", s.member_name},
                       {"connect_timeout", "3"},
                       {"keepalives_idle", "5"},
                       {"keepalives_interval", "2"},
                       {"keepalives_count", "3"}};
  for (auto& p : MemberSslParams(s.tls)) params.push_back(std::move(p));
  return Conninfo(params);
}

namespace {

constexpr const char* kClusterParametersMark = "# cluster-wide parameters from the store (ctl edit-config)\n";

}  // namespace

std::string RenderManagedConf(const InstanceSettings& s, const std::optional<MemberEndpoint>& upstream,
                              const std::string& synchronous_standby_names,
                              const Parameters& cluster_parameters) {
  std::string out =
      "# Written by pgpilot for member " + s.member_name + "; rewritten on every start and\n"
      "# failover. Put your own parameters in the agent config (postgresql.parameters).\n";
  auto set = [&](const std::string& name, const std::string& value) {
    out += name + " = " + value + "\n";
  };
  set("listen_addresses", QuoteConfValue(s.listen_addresses));
  set("port", std::to_string(s.port));
  set("unix_socket_directories", QuoteConfValue(s.socket_dir));
  set("cluster_name", QuoteConfValue(s.member_name));
  set("wal_level", "replica");
  set("hot_standby", "on");
  set("wal_log_hints", "on");
  set("password_encryption", "'scram-sha-256'");
  if (s.tls.enabled()) {
    set("ssl", "on");
    set("ssl_cert_file", QuoteConfValue(s.tls.cert_file));
    set("ssl_key_file", QuoteConfValue(s.tls.key_file));
    if (!s.tls.ca_file.empty()) set("ssl_ca_file", QuoteConfValue(s.tls.ca_file));
  }
  set("max_wal_senders", "10");
  set("max_replication_slots", "10");
  set("wal_receiver_status_interval", "'1s'");
  set("wal_retrieve_retry_interval", "'1s'");
  set("recovery_target_timeline", "'latest'");
  if (upstream) {
    set("primary_conninfo", QuoteConfValue(PrimaryConninfo(*upstream, s)));
    set("primary_slot_name", QuoteConfValue(SlotName(s.member_name)));
  } else {
    set("primary_conninfo", "''");
    set("primary_slot_name", "''");
  }
  set("synchronous_standby_names", QuoteConfValue(synchronous_standby_names));
  if (!s.parameters.empty()) out += "# postgresql.parameters from the agent config\n";
  for (const auto& [name, value] : s.parameters) set(name, QuoteConfValue(value));
  return WithClusterParameters(out, cluster_parameters);
}

std::string WithClusterParameters(const std::string& conf, const Parameters& parameters) {
  std::string out = conf.substr(0, conf.find(kClusterParametersMark));
  if (parameters.empty()) return out;
  out += kClusterParametersMark;
  for (const auto& [name, value] : parameters) {
    // Refused when written; skipped here too, so nothing in the store overrides what pgpilot sets.
    if (IsManagedParameter(name)) continue;
    out += name + " = " + QuoteConfValue(value) + "\n";
  }
  return out;
}

Parameters RenderedClusterParameters(const std::string& conf) {
  Parameters out;
  size_t mark = conf.find(kClusterParametersMark);
  if (mark == std::string::npos) return out;
  std::string block = conf.substr(mark + std::string(kClusterParametersMark).size());
  size_t start = 0;
  while (start < block.size()) {
    size_t end = block.find('\n', start);
    if (end == std::string::npos) end = block.size();
    std::string line = block.substr(start, end - start);
    start = end + 1;
    size_t eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    std::string name = line.substr(0, eq);
    if (auto value = RenderedSetting(line, name)) out.emplace_back(name, *value);
  }
  return out;
}

std::optional<std::string> RenderedSetting(const std::string& conf, const std::string& name) {
  const std::string prefix = name + " = '";
  size_t start = 0;
  while (start < conf.size()) {
    size_t end = conf.find('\n', start);
    if (end == std::string::npos) end = conf.size();
    std::string_view line(conf.data() + start, end - start);
    start = end + 1;
    if (line.substr(0, prefix.size()) != prefix) continue;
    // The inverse of QuoteConfValue.
    std::string value;
    for (size_t i = prefix.size(); i < line.size(); ++i) {
      if (line[i] == '\'' && i + 1 < line.size() && line[i + 1] == '\'') { value += '\''; ++i; continue; }
      if (line[i] == '\'') break;
      if (line[i] == '\\' && i + 1 < line.size()) { value += line[++i]; continue; }
      value += line[i];
    }
    return value;
  }
  return std::nullopt;
}

std::string WithRenderedSetting(const std::string& conf, const std::string& name, const std::string& value) {
  const std::string line = name + " = " + QuoteConfValue(value);
  const std::string prefix = name + " = ";
  size_t start = 0;
  while (start < conf.size()) {
    size_t end = conf.find('\n', start);
    if (end == std::string::npos) end = conf.size();
    if (conf.compare(start, prefix.size(), prefix) == 0) {
      return conf.substr(0, start) + line + conf.substr(end);
    }
    start = end + 1;
  }
  return conf + (conf.empty() || conf.back() == '\n' ? "" : "\n") + line + "\n";
}

std::string RenderHba(const HbaSettings& s) {
  std::string out =
      "# Written by pgpilot; rewritten on every start. Every line needs scram-sha-256.\n"
      "# TYPE  DATABASE     USER  ADDRESS  METHOD\n";
  auto line = [&](const std::string& type, const std::string& db, const std::string& user,
                  const std::string& addr) {
    out += type + "  " + db + "  " + user + (addr.empty() ? "" : "  " + addr) + "  scram-sha-256\n";
  };
  line("local", "all", "all", "");
  // The commit fence's replication connection to its own primary, over the Unix socket when
  // there is one ("all" does not match replication connections).
  line("local", "replication", "\"" + s.replication_user + "\"", "");
  std::vector<std::string> networks = {"127.0.0.1/32", "::1/128"};
  for (const auto& n : s.allowed_networks) {
    bool seen = false;
    for (const auto& have : networks) seen = seen || have == n;
    if (!seen) networks.push_back(n);
  }
  const size_t loopback = 2;  // the first entries of `networks`
  auto type = [&](size_t i) { return s.tls && i >= loopback ? "hostssl" : "host"; };
  for (size_t i = 0; i < networks.size(); ++i) line(type(i), "all", "all", networks[i]);
  for (size_t i = 0; i < networks.size(); ++i) {
    line(type(i), "replication", "\"" + s.replication_user + "\"", networks[i]);
  }
  return out;
}

std::string PgpassLine(const std::string& user, const std::string& password) {
  return "*:*:*:" + EscapePgpass(user) + ":" + EscapePgpass(password) + "\n";
}

}  // namespace pgpilot
