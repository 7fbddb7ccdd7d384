#include "agent/agent_main.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "agent/config.h"
#include "agent/fence_watchdog.h"
#include "agent/ha_loop.h"
#include "agent/task_runner.h"
#include "api/http_server.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/log.h"
#include "platform/process.h"
#include "platform/users.h"
#include "postgres/pg_controller.h"
#include "store/open_store.h"

namespace pgpilot {
namespace {

std::atomic<bool> g_stop{false};

void OnTerminate(int) { g_stop.store(true); }

int Fail(const Error& e, int code) {
  LogError(e.ToString());
  return code;
}

// As root: create the member's directory for the run_as user, then become that user. Otherwise
// create it as ourselves (a fresh volume in a pod that runs as the postgres user).
Status SetUpIdentity(const AgentConfig& config) {
  if (!RunningAsRoot()) return EnsureDirectory(config.state_dir, 0700);
  auto user = LookupUser(config.run_as);
  if (!user.ok()) return user.error();
  bool existed = IsDirectory(config.state_dir);
  if (Status s = EnsureDirectory(config.state_dir, 0700); !s.ok()) return s;
  auto owner = OwnerOf(config.state_dir);
  if (!existed || (owner.ok() && *owner == 0)) {
    if (Status s = ChownTo(config.state_dir, *user); !s.ok()) return s;
  }
  return DropRootPrivileges(config.run_as);
}

}  // namespace

int RunAgent(const std::string& config_path, std::optional<LogFormat> log_format) {
  auto loaded = LoadAgentConfig(config_path);
  if (!loaded.ok()) {
    std::cerr << "pgpilot agent: " << loaded.error().ToString() << "\n";
    return 2;
  }
  AgentConfig config = *loaded;
  if (log_format) config.log_format = *log_format;
  InitLog(config.log_format, config.log_level, config.name, config.cluster);

  if (Status s = SetUpIdentity(config); !s.ok()) return Fail(s.error(), 2);
  if (access(config.state_dir.c_str(), W_OK | X_OK) != 0) {
    return Fail(PermissionDenied("the agent's user cannot write " + config.state_dir,
                                 "make it writable by that user (and every parent directory "
                                 "searchable), or choose another state_dir"),
                2);
  }
  auto bin_dir = DetectPostgresBinDir(config.bin_dir);
  if (!bin_dir.ok()) return Fail(bin_dir.error(), 2);
  auto api_credentials = LoadApiCredentials(config.api_auth);
  if (!api_credentials.ok()) return Fail(api_credentials.error(), 2);
  // The API's secrets, read, never reach the processes the agent starts (before any thread runs).
  unsetenv(kApiTokenEnv);
  unsetenv(kApiPasswordEnv);
  if (!api_credentials->configured()) {
    LogWarn("api.auth is not configured: the API refuses every changing call (see docs/security.md)");
  }

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnTerminate;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  RealClock clock;
  auto store = OpenStore(config.store, config.cluster, clock);
  if (!store.ok()) return Fail(store.error(), 1);

  ProcessRunner runner;
  PgControllerConfig pg_config;
  pg_config.member_name = config.name;
  pg_config.data_dir = config.data_dir;
  pg_config.bin_dir = *bin_dir;
  pg_config.state_dir = config.state_dir;
  pg_config.log_file = config.pg_log_file;
  pg_config.listen_addresses = config.pg_listen;
  pg_config.local_host = config.pg_connect_host;
  pg_config.port = config.pg_port;
  pg_config.socket_dir = config.socket_dir;
  pg_config.superuser = config.superuser;
  pg_config.superuser_password_file = config.superuser_password_file;
  pg_config.replication_user = config.replication_user;
  pg_config.replication_password_file = config.replication_password_file;
  pg_config.allowed_networks = config.allowed_networks;
  pg_config.parameters = config.parameters;
  pg_config.tls = config.pg_tls;
  PgController postgres(pg_config, runner, clock);
  if (Status s = postgres.Prepare(); !s.ok()) return Fail(s.error(), 2);

  SnapshotBoard board;
  // The API's changing calls use a store connection of their own: a store object serves one thread
  // at a time, and the HA loop's must never wait for an operator's call.
  ChangingCallHandler changing([&config, &clock] { return OpenStore(config.store, config.cluster, clock); },
                               clock, config.maximum_lag_on_failover);
  HttpServer api(board, clock, HttpServerOptions{config.api_tls, *api_credentials, &changing});
  if (Status s = api.Start(config.api_listen.host, config.api_listen.port); !s.ok()) {
    return Fail(s.error(), 1);
  }
  auto watchdog =
      FenceWatchdog::Start(runner, config.data_dir, config.log_format, config.name, config.cluster);
  if (!watchdog.ok()) return Fail(watchdog.error(), 1);

  std::string pid_file = JoinPath(config.state_dir, "agent.pid");
  (void)WriteFileAtomic(pid_file, std::to_string(getpid()) + "\n", 0600);
  LogInfo("agent " PGPILOT_VERSION " started: cluster " + config.cluster + ", store " +
          (*store)->Describe() + ", API " + config.ApiUrl() + ", data " + config.data_dir +
          ", ttl " + FormatSeconds(config.ttl) + ", loop " + FormatSeconds(config.loop_wait));

  TaskRunner tasks;
  HaLoop loop(config, **store, postgres, tasks, watchdog->get(), clock, board);
  loop.Run(g_stop);
  loop.Shutdown();
  api.Stop();
  unlink(pid_file.c_str());
  LogInfo("agent stopped");
  return 0;
}

}  // namespace pgpilot
