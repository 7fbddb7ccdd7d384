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
#include "api/api_auth.h"
#include "cli/cluster_access.h"
#include "cli/cluster_table.h"
#include "cli/config_edit.h"
#include "cli/local_cluster.h"
#include "core/defaults.h"
#include "core/member_requests.h"
#include "core/switchover.h"
#include "platform/clock.h"
#include "platform/files.h"

namespace pgpilot {
namespace {

// The cluster named on the command line, and how to reach it.
struct Resolved {
  std::unique_ptr<ClusterAccess> access;
  std::vector<AgentConfig> configured;  // every member's config (from --dir); empty otherwise
  uint64_t maximum_lag = kDefaultMaximumLagOnFailover;
};

bool HasApiFlags(const CtlTarget& t) {
  return !t.api_token_file.empty() || !t.api_user.empty() || !t.api_password_file.empty() ||
         !t.api_ca_file.empty() || !t.api_cert_file.empty() || !t.api_key_file.empty();
}

// The options of an API client: the api_* flags first, then the agent config's api.auth and
// api.tls (when --dir or --config named one), then the environment for the secrets.
Result<ApiClientOptions> ApiOptions(const CtlTarget& t, const AgentConfig* config) {
  bool flag_credentials = !t.api_token_file.empty() || !t.api_user.empty() || !t.api_password_file.empty();
  ApiAuthSettings auth;
  std::string token_what = "--api-token-file", password_what = "--api-password-file";
  if (flag_credentials || config == nullptr) {
    auth = ApiAuthSettings{t.api_token_file, t.api_user, t.api_password_file};
  } else {
    auth = config->api_auth;
    token_what = "api.auth.token_file of " + config->source_file;
    password_what = "api.auth.password_file of " + config->source_file;
  }
  auto credentials = LoadApiCredentials(auth, token_what, password_what);
  if (!credentials.ok()) return credentials.error();
  ApiClientOptions options;
  options.authorization = AuthorizationHeader(*credentials);
  options.tls.ca_file = !t.api_ca_file.empty() ? t.api_ca_file : config ? config->api_tls.ca_file : "";
  if (!t.api_cert_file.empty() || !t.api_key_file.empty()) {
    if (t.api_cert_file.empty() || t.api_key_file.empty()) {
      return InvalidArgument("--api-cert-file and --api-key-file go together",
                             "pass the client certificate and its key");
    }
    if (auto key = ReadSecretFile(t.api_key_file, "--api-key-file"); !key.ok()) return key.error();
    options.tls.cert_file = t.api_cert_file;
    options.tls.key_file = t.api_key_file;
  } else if (config != nullptr && !config->api_tls.client_ca_file.empty()) {
    // The agents require client certificates: present the agent's own, as they do to each other.
    options.tls.cert_file = config->api_tls.cert_file;
    options.tls.key_file = config->api_tls.key_file;
  }
  options.timeout = Duration(10000);
  return options;
}

// `open`: also open the way to the cluster (the store, or the API client); `dsn` needs it only
// when no config names the members.
Result<Resolved> Resolve(const CtlTarget& t, bool open = true) {
  bool api = !t.api.empty();
  int given = !t.dir.empty() + !t.config.empty() + !t.store.empty();
  if (api && (!t.store.empty() || given > 1)) {
    return InvalidArgument("--api names the cluster by one of its agents; it takes --dir or --config (for the "
                           "API's credentials and CA) but not --store, and not both",
                           "e.g. pgpilot ctl --api https://10.0.0.5:8008 --api-token-file FILE list");
  }
  if (!api && given != 1) {
    return InvalidArgument("name exactly one cluster: --dir DIR, --config FILE, --store URL or --api URL",
                           "e.g. pgpilot ctl --dir /tmp/pgpilot-demo list");
  }
  if (!api && HasApiFlags(t)) {
    return InvalidArgument("the --api-* options go with --api URL", "add --api http(s)://HOST:PORT of an agent");
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
  } else if (!api) {
    auto store = ParseStoreUrl(t.store);
    if (!store.ok()) return store.error();
    if (t.cluster.empty()) return InvalidArgument("--store needs --cluster NAME");
    if (!open) return r;
    auto access = OpenStoreAccess(*store, t.cluster);
    if (!access.ok()) return access.error();
    r.access = std::move(*access);
    return r;
  }
  if (!r.configured.empty()) r.maximum_lag = r.configured.front().maximum_lag_on_failover;
  if (open && api) {
    auto options = ApiOptions(t, r.configured.empty() ? nullptr : &r.configured.front());
    if (!options.ok()) return options.error();
    r.access = OpenApiAccess(t.api, *options);
  } else if (open) {
    auto access = OpenStoreAccess(r.configured.front().store, r.configured.front().cluster);
    if (!access.ok()) return access.error();
    r.access = std::move(*access);
  }
  if (!t.config.empty()) r.configured.clear();  // one member's config says nothing of the others
  return r;
}

std::vector<std::string> Names(const std::vector<AgentConfig>& configs) {
  std::vector<std::string> names;
  for (const auto& c : configs) names.push_back(c.name);
  return names;
}

int Report(const Error& e) {
  std::cerr << "pgpilot ctl: " << e.ToString() << "\n";
  return e.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

int Report(const std::string& problem, const std::string& hint = "") {
  return Report(FailedPrecondition(problem, hint));
}

// The cluster named on the command line and what it holds now.
struct Session {
  Resolved resolved;
  ClusterView view;
  ClusterAccess& access() { return *resolved.access; }
};

Result<Session> OpenSession(const CtlTarget& target) {
  auto r = Resolve(target);
  if (!r.ok()) return r.error();
  auto view = r->access->Load();
  if (!view.ok()) return view.error();
  return Session{std::move(*r), std::move(*view)};
}

// Polls the cluster until `to` is the primary holding the lease (0), or the request disappeared
// without that (1, with what the old leader or the target says), or `wait` passed (1). Over the
// API a view may predate the request: its absence counts only once a view has shown it.
int AwaitNewPrimary(ClusterAccess& access, const Clock& clock, const std::string& to, const std::string& from,
                    Duration wait) {
  MonoTime start = clock.Now();
  bool seen_request = access.ReadsOwnWrites();
  while (clock.Now() - start < wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = access.Load();
    if (!now.ok()) continue;
    if (now->switchover && now->switchover->to == to) seen_request = true;
    const MemberStatus* target_member = now->FindMember(to);
    if (now->leader && now->leader->holder == to && !now->leader->released && target_member &&
        target_member->role == "primary") {
      std::cout << to << " is the primary (term " << now->leader->term << "), "
                << FormatSeconds(clock.Now() - start) << " after the request\n";
      return 0;
    }
    if (seen_request && !now->switchover && !(now->leader && now->leader->holder == to)) {
      const std::string& who = from.empty() ? to : from;
      const MemberStatus* member = now->FindMember(who);
      return Report("it did not happen: " + (member ? who + " says: " + member->reason : who + " is gone"));
    }
  }
  return Report("no new primary " + to + " within " + FormatSeconds(wait),
                "see `pgpilot ctl list`; the request stays until it is carried out or dropped");
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

// Reports the requests written, then polls until each is done or refused, or `wait` passed.
int AwaitRequests(ClusterAccess& access, const Clock& clock, const std::vector<SentRequest>& sent, Duration wait) {
  std::map<std::string, const SentRequest*> pending;
  for (const SentRequest& s : sent) {
    pending[s.request.member] = &s;
    std::cout << DescribeRequest(s.request) << " of " << s.request.member << " requested\n";
  }
  MonoTime start = clock.Now();
  int failures = 0;
  while (!pending.empty() && clock.Now() - start < wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto view = access.Load();
    if (!view.ok()) continue;
    for (auto it = pending.begin(); it != pending.end();) {
      const std::string& name = it->first;
      const SentRequest& s = *it->second;
      const MemberRequest* request = view->requests ? view->requests->For(name) : nullptr;
      bool reinit = s.request.kind == RequestKind::kReinit;
      // Ours, refused (over the API a view may still show an older request, refused before).
      if (request != nullptr && !request->refused.empty() && request->requested == s.request.requested) {
        std::cerr << "pgpilot ctl: " << name << " refused: " << request->refused << "\n";
        access.DropRefused(name);
        ++failures;
        it = pending.erase(it);
      } else if (RequestDone(*view, name, s.postgres_pid_before, reinit)) {
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

bool Confirmed(const std::string& question) {
  std::cout << question << " Type yes to go on: " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "yes";
}

int PrintConfig(const Result<DynamicConfig>& config) {
  if (!config.ok()) return Report(config.error());
  std::cout << RenderDynamicConfig(*config);
  return 0;
}

}  // namespace

int CtlList(const CtlTarget& target, bool json) {
  auto session = OpenSession(target);
  if (!session.ok()) return Report(session.error());
  const std::string cluster = session->access().ClusterName();
  const auto names = Names(session->resolved.configured);
  if (json) std::cout << RenderClusterJson(cluster, session->view, names) << "\n";
  else std::cout << RenderClusterTable(cluster, session->view, names);
  return 0;
}

int CtlDsn(const CtlTarget& target, bool replicas) {
  auto r = Resolve(target, /*open=*/false);
  if (!r.ok()) return Report(r.error());
  std::vector<std::pair<std::string, int>> hosts;
  std::string user = "postgres";
  for (const auto& c : r->configured) {
    hosts.emplace_back(c.pg_connect_host, c.pg_port);
    user = c.superuser;
  }
  if (hosts.empty()) {
    r = Resolve(target);
    if (!r.ok()) return Report(r.error());
    auto view = r->access->Load();
    if (!view.ok()) return Report(view.error());
    for (const auto& m : view->members) hosts.emplace_back(m.host, m.port);
  }
  if (hosts.empty()) return Report(NotFound("the store lists no members", "start the agents first"));
  std::cout << ClusterDsn(hosts, user, replicas) << "\n";
  return 0;
}

int CtlSwitchover(const CtlTarget& target, const SwitchoverOptions& options) {
  if (options.cancel) {
    auto r = Resolve(target);
    if (!r.ok()) return Report(r.error());
    auto dropped = r->access->CancelSwitchover();
    if (!dropped.ok()) return Report(dropped.error());
    if (!*dropped) {
      std::cout << "no switchover or failover request is pending\n";
      return 0;
    }
    std::cout << "dropped the request for " << (*dropped)->to << "\n";
    return 0;
  }
  SwitchoverParams params{options.to, std::nullopt, options.force, kDefaultMaximumLagOnFailover};
  if (!options.at.empty()) {
    params.not_before = ParseWallTime(options.at);
    if (!params.not_before) {
      return Report(InvalidArgument("--at '" + options.at + "' is not a UTC time",
                                    "write it as 2026-12-02T10:00:00Z"));
    }
  }
  RealClock clock;
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  params.maximum_lag = r->maximum_lag;
  auto written = r->access->Switchover(params);
  if (!written.ok()) return Report(written.error());
  if (params.not_before && *params.not_before > clock.WallNow()) {
    std::cout << "switchover from " << written->from << " to " << written->to << " scheduled for "
              << FormatWallTime(*params.not_before) << "\n";
    return 0;
  }
  std::cout << "switchover from " << written->from << " to " << written->to << " requested\n";
  return AwaitNewPrimary(*r->access, clock, written->to, written->from, options.wait);
}

int CtlFailover(const CtlTarget& target, const FailoverOptions& options) {
  if (options.to.empty()) return Report(InvalidArgument("ctl failover needs --to NAME", "see `pgpilot ctl list`"));
  RealClock clock;
  auto session = OpenSession(target);
  if (!session.ok()) return Report(session.error());
  // Checked before asking (the write checks again, on what the store holds then).
  if (Status s = CheckFailoverTarget(session->view, options.to, options.force); !s.ok()) {
    return Report(s.error());
  }
  if (!options.yes &&
      !Confirmed("Promote " + options.to +
                 (options.force ? " (forced: it may lack acknowledged commits)" : "") + "?")) {
    return Report("not confirmed: nothing was changed");
  }
  auto written = session->access().Failover(options.to, options.force);
  if (!written.ok()) return Report(written.error());
  std::cout << "failover to " << options.to << " requested\n";
  return AwaitNewPrimary(session->access(), clock, options.to, "", options.wait);
}

int CtlRestart(const CtlTarget& target, const RestartOptions& options) {
  RealClock clock;
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  auto sent = r->access->Restart(options.member, options.pending);
  if (!sent.ok()) return Report(sent.error());
  if (sent->empty()) {
    std::cout << (options.pending ? "no member has a restart pending\n" : "the store lists no members\n");
    return 0;
  }
  return AwaitRequests(*r->access, clock, *sent, options.wait);
}

int CtlReinit(const CtlTarget& target, const ReinitOptions& options) {
  if (options.member.empty()) return Report(InvalidArgument("ctl reinit needs a member name", "see `pgpilot ctl list`"));
  RealClock clock;
  auto session = OpenSession(target);
  if (!session.ok()) return Report(session.error());
  const ClusterView& view = session->view;
  // Checked before asking (the write checks again, on what the store holds then).
  if (Status s = CheckReinit(view, options.member); !s.ok()) return Report(s.error());
  if (!options.yes && !Confirmed("Re-initialize " + options.member + "? Its data directory is moved aside "
                                 "(kept, not deleted) and cloned afresh from " + view.leader->holder + ".")) {
    return Report("not confirmed: nothing was changed");
  }
  auto sent = session->access().Reinit(options.member);
  if (!sent.ok()) return Report(sent.error());
  return AwaitRequests(session->access(), clock, {*sent}, options.wait);
}

int CtlShowConfig(const CtlTarget& target) {
  auto session = OpenSession(target);
  if (!session.ok()) return Report(session.error());
  std::cout << RenderDynamicConfig(session->view.config.value_or(DynamicConfig{}));
  return 0;
}

int CtlEditConfig(const CtlTarget& target, const std::vector<std::string>& sets) {
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  if (!sets.empty()) {
    std::vector<std::pair<std::string, std::string>> settings;
    for (const std::string& set : sets) {
      size_t eq = set.find('=');
      if (eq == std::string::npos) {
        return Report(InvalidArgument("--set '" + set + "' is not KEY=VALUE",
                                      "e.g. --set synchronous_mode=on or --set postgresql.parameters.work_mem=64MB"));
      }
      settings.emplace_back(set.substr(0, eq), set.substr(eq + 1));
    }
    return PrintConfig(r->access->ChangeSettings(settings));
  }
  return PrintConfig(r->access->EditConfig([](DynamicConfig* config) -> Status {
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
  }));
}

int CtlPause(const CtlTarget& target, bool pause) {
  auto r = Resolve(target);
  if (!r.ok()) return Report(r.error());
  return PrintConfig(r->access->SetPause(pause));
}

int CtlHistory(const CtlTarget& target) {
  auto session = OpenSession(target);
  if (!session.ok()) return Report(session.error());
  std::cout << RenderHistoryTable(session->view.history);
  return 0;
}

}  // namespace pgpilot
