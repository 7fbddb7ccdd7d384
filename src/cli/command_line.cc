#include "cli/command_line.h"

#include <CLI/CLI.hpp>

#include <cmath>
#include <iostream>

#include "agent/agent_main.h"
#include "agent/fence_watchdog.h"
#include "cli/ctl.h"
#include "cli/k8s_render.h"
#include "cli/local_commands.h"
#include "core/defaults.h"
#include "platform/log.h"

namespace pgpilot {
namespace {

Duration Seconds(double s) { return Duration(static_cast<int64_t>(std::llround(s * 1000))); }

}  // namespace

int RunCommandLine(int argc, char** argv) {
  CLI::App app{
      "pgpilot: high availability for PostgreSQL. An agent beside every PostgreSQL instance\n"
      "bootstraps the cluster, elects the primary through a store, fails over by itself, and\n"
      "serves health endpoints. `pgpilot up` runs a whole cluster on this machine."};
  app.require_subcommand(1);
  app.set_version_flag("--version", PGPILOT_VERSION);

  // agent
  std::string agent_config;
  auto* agent = app.add_subcommand(
      "agent", "Run one agent beside one PostgreSQL instance (the container entrypoint).");
  agent->add_option("--config", agent_config, "The agent's YAML config (see docs/configuration.md)")
      ->required();
  std::string agent_log_format;
  agent->add_option("--log-format", agent_log_format,
                    "json or text: the log's format, over the config file's log.format")
      ->check(CLI::IsMember({"json", "text"}));

  // up
  UpOptions up_options;
  double up_ttl = 10, up_loop = 1, up_wait = 120;
  std::string up_sync_mode = "off";
  auto* up = app.add_subcommand(
      "up", "Start a local cluster: N agents in the background, one PostgreSQL each, data and logs\n"
            "under DIR/NAME/. Waits for one primary and N-1 streaming replicas, prints the table.\n"
            "Run it again on the same DIR to restart the cluster (or its stopped members) with\n"
            "their data.");
  up->add_option("--dir", up_options.spec.dir, "Directory of the cluster (created if missing)")->required();
  up->add_option("--nodes", up_options.spec.nodes, "Number of members (new clusters only)")
      ->default_val(3)->check(CLI::Range(1, 9));
  up->add_option("--base-port", up_options.spec.base_port,
                 "PostgreSQL of member i listens on P+i, its API on P+100+i (new clusters only)")
      ->default_val(15432);
  up->add_option("--ttl", up_ttl, "Leader lease time to live, seconds (new clusters only)")
      ->default_val(10)->check(CLI::Range(2.0, 3600.0));
  up->add_option("--loop-wait", up_loop, "Seconds between HA loops (new clusters only)")
      ->default_val(1)->check(CLI::Range(0.1, 60.0));
  up->add_option("--synchronous-mode", up_sync_mode,
                 "off, on (commits wait for synchronous standbys while there are any) or strict "
                 "(commits wait even when there is none) (new clusters only)")
      ->default_val("off")->check(CLI::IsMember({"off", "on", "strict"}));
  up->add_option("--synchronous-node-count", up_options.spec.synchronous_node_count,
                 "Standbys every commit waits for in synchronous mode (new clusters only)")
      ->default_val(1)->check(CLI::Range(1, 8));
  up->add_option("--commit-fence", up_options.spec.commit_fence,
                 "true: commits on the primary also wait for its agent's confirmation, given only "
                 "under its lease (docs/commit-fence.md) (new clusters only)")
      ->default_val(false);
  up->add_option("--wait", up_wait, "Seconds to wait for a healthy cluster")->default_val(120);
  up->add_option("--run-as", up_options.spec.run_as,
                 "Unprivileged user for PostgreSQL when started as root")
      ->default_val("postgres");
  up->add_option("--cluster", up_options.spec.cluster,
                 "Cluster name (new clusters only; must be unique in a shared store)")
      ->default_val("local");
  up->add_option("--pg-tls", up_options.pg_tls_dir,
                 "Directory holding cert.pem, key.pem and ca.pem: PostgreSQL between the members\n"
                 "uses TLS (verify-ca), and pg_hba requires it from the network (new clusters only)");
  up->add_option("--api-cert-file", up_options.spec.api_tls.cert_file,
                 "The agents' API serves HTTPS with this certificate (with --api-key-file; new clusters\n"
                 "only; the files must be readable by --run-as)");
  up->add_option("--api-key-file", up_options.spec.api_tls.key_file, "The API certificate's key (mode 0600)");
  up->add_option("--api-ca-file", up_options.spec.api_tls.ca_file,
                 "The CA the agents (and `ctl --dir`) verify the API certificates with");
  up->add_option("--api-client-ca-file", up_options.spec.api_tls.client_ca_file,
                 "Require a client certificate signed by this CA on every API connection (the agents\n"
                 "present their own API certificate, which then needs the clientAuth usage)");
  up->add_option("--dcs", up_options.spec.store_url,
                 "Store of a new cluster: etcd://HOST:PORT[,HOST:PORT...] (default: an embedded "
                 "SQLite store in DIR)");

  // down
  std::string down_dir;
  double down_wait = 90;
  auto* down = app.add_subcommand(
      "down", "Stop a local cluster cleanly: replicas first, then the primary, which releases\n"
              "its lease with its final WAL position.");
  down->add_option("--dir", down_dir, "Directory given to `pgpilot up`")->required();
  down->add_option("--wait", down_wait, "Seconds to wait for each agent before killing it")->default_val(90);

  // ctl
  CtlTarget target;
  auto* ctl = app.add_subcommand("ctl", "Operate a cluster: list members, print connection strings.");
  ctl->require_subcommand(1);
  ctl->add_option("--dir", target.dir, "A cluster directory made by `pgpilot up`");
  ctl->add_option("--config", target.config, "An agent config of the cluster");
  ctl->add_option("--store", target.store, "The store's address (sqlite:/path/store.db)");
  ctl->add_option("--cluster", target.cluster, "The cluster name (with --store)");
  ctl->add_option("--api", target.api,
                  "An agent's API, http(s)://HOST:PORT: read the cluster from it and make changes through\n"
                  "its authenticated calls (with --dir or --config: their api.auth and api.tls are used)");
  ctl->add_option("--api-token-file", target.api_token_file,
                  "A private file holding the API token (default: the agent config's api.auth.token_file,\n"
                  "else $PGPILOT_API_TOKEN)");
  ctl->add_option("--api-user", target.api_user, "API user for basic authentication, with --api-password-file");
  ctl->add_option("--api-password-file", target.api_password_file,
                  "A private file holding the API user's password (default: $PGPILOT_API_PASSWORD)");
  ctl->add_option("--api-ca-file", target.api_ca_file,
                  "The CA that signed the agents' API certificates (https; default: api.tls.ca_file of the\n"
                  "agent config, else the system's CAs)");
  ctl->add_option("--api-cert-file", target.api_cert_file,
                  "A client certificate, for agents with api.tls.client_ca_file (with --api-key-file)");
  ctl->add_option("--api-key-file", target.api_key_file, "The client certificate's private key (mode 0600)");
  bool list_json = false;
  auto* list = ctl->add_subcommand(
      "list", "The cluster table: member, role, state, timeline, WAL position, lag, API address.");
  list->add_flag("--json", list_json, "Print JSON, with each member's agent and postgres pids");
  bool dsn_replicas = false;
  auto* dsn = ctl->add_subcommand(
      "dsn", "A connection string listing every member with target_session_attrs=read-write,\n"
             "so it always reaches the primary.");
  dsn->add_flag("--replicas", dsn_replicas, "Prefer replicas (target_session_attrs=prefer-standby)");
  SwitchoverOptions switchover_options;
  double switchover_wait = 60;
  auto* switchover = ctl->add_subcommand(
      "switchover", "Hand the primary role to another member: the leader checkpoints, stops cleanly\n"
                    "(its replicas receive every byte), releases the lease, and the target promotes at\n"
                    "once; the old primary follows it without pg_rewind.");
  switchover->add_option("--to", switchover_options.to,
                         "The member to take over (default: the most advanced eligible replica)");
  switchover->add_option("--at", switchover_options.at, "Not before this UTC time (2026-12-02T10:00:00Z)");
  switchover->add_flag("--force", switchover_options.force, "Hand over even to a lagging replica");
  switchover->add_flag("--cancel", switchover_options.cancel,
                       "Drop the pending switchover (or failover) request instead");
  switchover->add_option("--wait", switchover_wait, "Seconds to wait for the new primary")->default_val(60);

  FailoverOptions failover_options;
  double failover_wait = 60;
  auto* failover = ctl->add_subcommand(
      "failover", "Promote a chosen replica of a cluster that has no healthy primary (asks to confirm).\n"
                  "Refuses a member outside the synchronous set unless --force.");
  failover->add_option("--to", failover_options.to, "The member to promote")->required();
  failover->add_flag("--force", failover_options.force,
                     "Promote it even outside the synchronous set or lagging (may lose acknowledged commits)");
  failover->add_flag("--yes", failover_options.yes, "Do not ask for confirmation");
  failover->add_option("--wait", failover_wait, "Seconds to wait for the new primary")->default_val(60);
  RestartOptions restart_options;
  double restart_wait = 120;
  auto* restart = ctl->add_subcommand(
      "restart", "Restart PostgreSQL on one member (or every member): a clean stop and a start in\n"
                 "the same role; a primary keeps its lease, so nothing fails over.");
  restart->add_option("member", restart_options.member, "The member (default: every member)");
  restart->add_flag("--pending", restart_options.pending,
                    "Only members where a changed parameter waits for a restart");
  restart->add_option("--wait", restart_wait, "Seconds to wait for PostgreSQL to be back")->default_val(120);
  ReinitOptions reinit_options;
  double reinit_wait = 600;
  auto* reinit = ctl->add_subcommand(
      "reinit", "Re-initialize a replica: its data directory is moved aside (kept, never deleted)\n"
                "and cloned afresh from the leader (asks to confirm).");
  reinit->add_option("member", reinit_options.member, "The replica to re-initialize")->required();
  reinit->add_flag("--yes", reinit_options.yes, "Do not ask for confirmation");
  reinit->add_option("--wait", reinit_wait, "Seconds to wait for it to run as a replica again")->default_val(600);
  auto* show_config = ctl->add_subcommand(
      "show-config", "The cluster-wide settings in the store (they override the agents' config files).");
  std::vector<std::string> config_sets;
  auto* edit_config = ctl->add_subcommand(
      "edit-config", "Change the cluster-wide settings: in $EDITOR, or with --set KEY=VALUE (repeated).\n"
                     "Settings: pause, ttl, loop_wait (seconds), maximum_lag_on_failover, synchronous_mode,\n"
                     "synchronous_node_count,\n"
                     "postgresql.parameters.NAME; an empty VALUE unsets one.");
  edit_config->add_option("--set", config_sets, "KEY=VALUE, repeated");
  auto* pause = ctl->add_subcommand(
      "pause", "Maintenance mode: agents keep reporting and the leader keeps its lease, but nothing\n"
               "fails over, starts, stops, rewinds or clones until `ctl resume`.");
  auto* resume = ctl->add_subcommand("resume", "End maintenance mode.");
  auto* history = ctl->add_subcommand("history", "The timeline switches of the cluster and why they happened.");

  // k8s render
  K8sRenderOptions k8s_options;
  auto* k8s = app.add_subcommand("k8s", "Run pgpilot on Kubernetes (see docs/kubernetes.md).");
  k8s->require_subcommand(1);
  auto* k8s_render = k8s->add_subcommand(
      "render", "Print every Kubernetes object of a pgpilot cluster run as a StatefulSet: Secrets,\n"
                "the agent's ConfigMap, ServiceAccount, Role and RoleBinding, a headless Service,\n"
                "NAME-primary and NAME-replicas Services, the StatefulSet and a PodDisruptionBudget.\n"
                "Apply with: pgpilot k8s render --name NAME > NAME.yaml && kubectl apply -f NAME.yaml");
  k8s_render->add_option("--name", k8s_options.name,
                         "Cluster name: a DNS label of at most 40 characters (pods NAME-0, NAME-1, ...)")
      ->required();
  k8s_render->add_option("--namespace", k8s_options.namespace_name, "Namespace of every object")
      ->capture_default_str();
  k8s_render->add_option("--replicas", k8s_options.replicas, "Number of members (pods)")
      ->capture_default_str();
  k8s_render->add_option("--storage", k8s_options.storage, "Volume size of each member")
      ->capture_default_str();
  k8s_render->add_option("--storage-class", k8s_options.storage_class,
                         "StorageClass of the volumes (default: the cluster's default class)");
  k8s_render->add_option("--image", k8s_options.image, "Container image (built from the Dockerfile)")
      ->capture_default_str();
  k8s_render->add_option("--postgres-version", k8s_options.postgres_version,
                         "PostgreSQL major version (only 15 for now)")
      ->capture_default_str();
  k8s_render->add_option("--superuser-secret", k8s_options.superuser_secret,
                         "Use this existing Secret (key 'password') for the superuser instead of\n"
                         "rendering NAME-superuser with a new random password");
  k8s_render->add_option("--replication-secret", k8s_options.replication_secret,
                         "Use this existing Secret (key 'password') for the replication user instead\n"
                         "of rendering NAME-replication with a new random password");
  k8s_render->add_option("--pg-tls-secret", k8s_options.pg_tls_secret,
                         "An existing kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt): PostgreSQL\n"
                         "between the members uses TLS (verify-ca) and pg_hba requires it from the network");
  k8s_render->add_option("--allowed-networks", k8s_options.allowed_networks,
                         "Networks (CIDR, comma-separated) allowed to connect to PostgreSQL: the pod network")
      ->delimiter(',')
      ->capture_default_str();
  k8s_render->add_option("--ttl", k8s_options.ttl_seconds,
                         "Leader lease time to live, seconds: failover starts this long after a crash")
      ->capture_default_str();

  // fence-watchdog (internal)
  std::string fence_data_dir;
  auto* fence = app.add_subcommand("fence-watchdog", "");  // empty description: hidden
  fence->group("");
  fence->add_option("--data-dir", fence_data_dir)->required();
  std::string fence_log_format = "text", fence_member, fence_cluster;
  fence->add_option("--log-format", fence_log_format)->check(CLI::IsMember({"json", "text"}));
  fence->add_option("--member", fence_member);
  fence->add_option("--cluster", fence_cluster);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    if (code != 0 && k8s->parsed()) return 2;  // bad input to `k8s render`: exit code 2
    return code;
  }

  if (agent->parsed()) {
    std::optional<LogFormat> log_format;
    if (agent_log_format == "json") log_format = LogFormat::kJson;
    if (agent_log_format == "text") log_format = LogFormat::kText;
    return RunAgent(agent_config, log_format);
  }
  if (up->parsed()) {
    up_options.spec.ttl = Seconds(up_ttl);
    up_options.spec.loop_wait = Seconds(up_loop);
    up_options.wait = Seconds(up_wait);
    up_options.spec.synchronous_mode = ParseSyncMode(up_sync_mode).value_or(SyncMode::kOff);
    if (up_options.spec.loop_wait * 2 > up_options.spec.ttl) {
      std::cerr << "pgpilot up: --loop-wait must be at most half of --ttl\n";
      return 2;
    }
    return RunUp(up_options);
  }
  if (down->parsed()) return RunDown(down_dir, Seconds(down_wait));
  if (list->parsed()) return CtlList(target, list_json);
  if (dsn->parsed()) return CtlDsn(target, dsn_replicas);
  if (failover->parsed()) {
    failover_options.wait = Seconds(failover_wait);
    return CtlFailover(target, failover_options);
  }
  if (restart->parsed()) {
    restart_options.wait = Seconds(restart_wait);
    return CtlRestart(target, restart_options);
  }
  if (reinit->parsed()) {
    reinit_options.wait = Seconds(reinit_wait);
    return CtlReinit(target, reinit_options);
  }
  if (show_config->parsed()) return CtlShowConfig(target);
  if (edit_config->parsed()) return CtlEditConfig(target, config_sets);
  if (pause->parsed()) return CtlPause(target, true);
  if (resume->parsed()) return CtlPause(target, false);
  if (history->parsed()) return CtlHistory(target);
  if (switchover->parsed()) {
    switchover_options.wait = Seconds(switchover_wait);
    return CtlSwitchover(target, switchover_options);
  }
  if (k8s_render->parsed()) {
    auto manifests = RenderKubernetesManifests(k8s_options);
    if (!manifests.ok()) {
      std::cerr << "pgpilot k8s render: " << manifests.error().ToString() << "\n";
      return 2;
    }
    std::cout << *manifests << std::flush;
    return 0;
  }
  if (fence->parsed()) {
    InitLog(fence_log_format == "json" ? LogFormat::kJson : LogFormat::kText, LogLevel::kInfo,
            fence_member, fence_cluster);
    return RunFenceWatchdog(3, fence_data_dir);
  }
  std::cerr << app.help();
  return 2;
}

}  // namespace pgpilot
