#include "postgres/pg_controller.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "platform/files.h"
#include "platform/log.h"
#include "platform/net.h"
#include "core/defaults.h"
#include "core/sync_standbys.h"
#include "postgres/data_dir.h"

namespace pgpilot {
namespace {

constexpr auto kStartWaitForAccepting = std::chrono::seconds(60);
constexpr auto kLongOperationTimeout = std::chrono::hours(24);
constexpr const char* kDuplicateObject = "42710";

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

bool IsPostgresProcess(int64_t pid) {
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.ok() && cmdline->find("postgres") != std::string::npos;
}

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

PgController::PgController(PgControllerConfig config, ProcessRunner& runner, const Clock& clock)
    : config_(std::move(config)), runner_(runner), clock_(clock) {
  passfile_ = JoinPath(config_.state_dir, "pgpass");
  instance_.member_name = config_.member_name;
  instance_.listen_addresses = config_.listen_addresses;
  instance_.port = config_.port;
  instance_.socket_dir = config_.socket_dir;
  instance_.replication_user = config_.replication_user;
  instance_.superuser = config_.superuser;
  instance_.passfile = passfile_;
  instance_.parameters = config_.parameters;
  instance_.tls = config_.tls;
}

std::string PgController::Bin(const char* name) const { return JoinPath(config_.bin_dir, name); }
std::string PgController::DataPath(const char* name) const { return JoinPath(config_.data_dir, name); }

Status PgController::Prepare() {
  for (const char* tool : {"postgres", "initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "pg_controldata"}) {
    if (access(Bin(tool).c_str(), X_OK) != 0) {
      return NotFound("PostgreSQL program " + Bin(tool) + " not found",
                      "install postgresql-15 (apt-get install postgresql-15) or set "
                      "postgresql.bin_dir to the directory holding it (pg_config --bindir)");
    }
  }
  auto superuser = ReadSecretFile(config_.superuser_password_file, "superuser password");
  if (!superuser.ok()) return superuser.error();
  auto replication = ReadSecretFile(config_.replication_password_file, "replication password");
  if (!replication.ok()) return replication.error();
  replication_password_ = *replication;
  if (Status s = CheckTlsFiles(config_.tls, geteuid()); !s.ok()) return s;
  if (config_.tls.enabled()) {
    LogInfo(std::string("TLS between members: ") + PgTlsModeName(config_.tls.mode) + " (certificate " +
            config_.tls.cert_file + (config_.tls.ca_file.empty() ? "" : ", CA " + config_.tls.ca_file) +
            "); pg_hba requires TLS from the allowed networks");
  }
  if (Status s = EnsureDirectory(config_.state_dir, 0700); !s.ok()) return s;
  if (!config_.socket_dir.empty()) {
    if (Status s = EnsureDirectory(config_.socket_dir, 0700); !s.ok()) return s;
  }
  std::string pgpass = PgpassLine(config_.superuser, *superuser) +
                       PgpassLine(config_.replication_user, *replication);
  return WriteFileAtomic(passfile_, pgpass, 0600);
}

std::string PgController::LocalConninfo(const std::string& application_name) const {
  return Conninfo({{"host", config_.local_host},
                   {"port", std::to_string(config_.port)},
                   {"user", config_.superuser},
                   {"dbname", "postgres"},
                   {"passfile", passfile_},
                   {"connect_timeout", "2"},
                   {"application_name", application_name}});
}

std::string PgController::CommitFenceConninfo() const {
  // The Unix socket where there is one: every commit waits for a round trip over this connection,
  // and a local socket's is shorter than loopback TCP's.
  return Conninfo({{"host", config_.socket_dir.empty() ? config_.local_host : config_.socket_dir},
                   {"port", std::to_string(config_.port)},
                   {"user", config_.replication_user},
                   {"passfile", passfile_}});
}

std::string PgController::SourceConninfo(const MemberEndpoint& source) const {
  Parameters params = {{"host", source.host},
                       {"port", std::to_string(source.port)},
                       {"user", config_.superuser},
                       {"dbname", "postgres"},
                       {"passfile", passfile_},
                       {"connect_timeout", "5"},
                       {"application_name", "pgpilot-" + config_.member_name}};
  for (auto& p : MemberSslParams(config_.tls)) params.push_back(std::move(p));
  return Conninfo(params);
}

int64_t PgController::RunningPostmasterPid() const {
  auto content = ReadFile(DataPath("postmaster.pid"));
  if (!content.ok()) return 0;
  int64_t pid = std::strtoll(FirstLine(*content).c_str(), nullptr, 10);
  if (pid <= 0 || !ProcessAlive(static_cast<pid_t>(pid))) return 0;
  if (runner_.TryWait(static_cast<pid_t>(pid))) return 0;  // our child, just exited
  if (!IsPostgresProcess(pid)) return 0;                    // a stale file, pid reused
  return pid;
}

std::string PgController::ManagedConf() const {
  auto conf = ReadFile(DataPath(kManagedConfFile));
  return conf.ok() ? *conf : std::string();
}

void PgController::Reload() const {
  int64_t pid = RunningPostmasterPid();
  if (pid > 0) SignalProcess(static_cast<pid_t>(pid), SIGHUP);
}

namespace {

// The reason written into the history file of a timeline number a promotion skipped.
constexpr const char* kSkippedMark = "pgpilot: timeline number skipped, taken elsewhere in the cluster";

std::string HistoryFileName(Timeline timeline) {
  char name[32];
  std::snprintf(name, sizeof name, "pg_wal/%08X.history", timeline);
  return name;
}

}  // namespace

void PgController::ReserveSkippedTimelines(Timeline current, Timeline target, Lsn at) const {
  std::string lineage;
  if (current > 1) {
    auto parent = ReadFile(DataPath(HistoryFileName(current).c_str()));
    if (parent.ok()) lineage = *parent;
  }
  if (!lineage.empty() && lineage.back() != '\n') lineage += '\n';
  lineage += std::to_string(current) + "\t" + at.ToString() + "\t" + kSkippedMark + "\n";
  for (Timeline t = current + 1; t < target; ++t) {
    // Created only where no file exists (O_EXCL): a real history file is never touched.
    std::string path = DataPath(HistoryFileName(t).c_str());
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) continue;
    bool ok = write(fd, lineage.data(), lineage.size()) == static_cast<ssize_t>(lineage.size());
    ok = fsync(fd) == 0 && ok;
    close(fd);
    if (!ok) unlink(path.c_str());
  }
}

void PgController::RemoveAbortedReservations(Timeline current) const {
  auto names = ListDirectory(DataPath("pg_wal"));
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    if (name.size() != 16 || name.compare(8, 8, ".history") != 0) continue;
    Timeline t = static_cast<Timeline>(std::strtoul(name.substr(0, 8).c_str(), nullptr, 16));
    if (t <= current) continue;  // skipped numbers below ours are the cluster's record: kept
    std::string path = JoinPath(DataPath("pg_wal"), name);
    auto content = ReadFile(path);
    if (!content.ok()) continue;
    std::string text = *content;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    std::string last = text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
    if (last.size() >= std::strlen(kSkippedMark) &&
        last.compare(last.size() - std::strlen(kSkippedMark), std::string::npos, kSkippedMark) == 0) {
      unlink(path.c_str());
    }
  }
}

Timeline PgController::NewestSegmentTimeline() const {
  auto names = ListDirectory(DataPath("pg_wal"));
  if (!names.ok()) return 0;
  Timeline newest = 0;
  for (const std::string& name : *names) {
    if (name.size() != 24 || name.find_first_not_of("0123456789ABCDEF") != std::string::npos) continue;
    newest = std::max(newest, static_cast<Timeline>(std::strtoul(name.substr(0, 8).c_str(), nullptr, 16)));
  }
  return newest;
}

Lsn PgController::TimelineSwitchLsn(Timeline timeline) const {
  auto content = ReadFile(DataPath(HistoryFileName(timeline).c_str()));
  if (!content.ok()) return Lsn{};
  Lsn last;
  std::istringstream in(*content);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string tli, lsn;
    fields >> tli >> lsn;
    if (auto parsed = Lsn::Parse(lsn)) last = *parsed;
  }
  return last;
}

void PgController::ReadControlData(LocalState* s) {
  auto out = runner_.Run({{Bin("pg_controldata"), "-D", config_.data_dir}, {{"LC_ALL", "C"}}},
                         std::chrono::seconds(30));
  if (!out.ok() || !out->status.ok()) return;
  auto control = ParseControlData(out->output);
  if (!control.ok()) return;
  s->system_id = control->system_id;
  // A fresh base backup or a rewound directory carries backup_label: it was not a primary.
  s->was_primary = control->was_primary && !PathExists(DataPath("backup_label"));
  s->clean_shutdown = s->was_primary && control->cluster_state == "shut down";
  if (s->timeline == 0) s->timeline = control->timeline;
  // Not running: the best position we know is the last checkpoint (after a clean stop, the
  // shutdown checkpoint, i.e. the end of our WAL).
  if (s->wal_position.value == 0) s->wal_position = control->checkpoint_lsn;
}

void PgController::QueryRunningState(LocalState* s) {
  std::lock_guard<std::mutex> lock(mu_);
  static const char* kQuery =
      "SELECT pg_is_in_recovery(),"
      " (SELECT system_identifier FROM pg_control_system())::text,"
      " CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,"
      " CASE WHEN pg_is_in_recovery() THEN NULL ELSE"
      "   ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,"
      " pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
      " (SELECT status FROM pg_stat_wal_receiver LIMIT 1),"
      " (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1),"
      " (SELECT timeline_id FROM pg_control_checkpoint()),"
      " (SELECT count(*) > 0 FROM pg_settings WHERE pending_restart),"
      // Roles and databases whose commits wait for no standby (and no commit fence).
      " (SELECT string_agg(coalesce(r.rolname, 'every role') || ' in ' ||"
      "                    coalesce(d.datname, 'every database') || ': ' || s, '; ')"
      "    FROM pg_db_role_setting x LEFT JOIN pg_roles r ON r.oid = x.setrole"
      "    LEFT JOIN pg_database d ON d.oid = x.setdatabase, unnest(x.setconfig) s"
      "   WHERE lower(replace(s, ' ', '')) IN ('synchronous_commit=off', 'synchronous_commit=local'))";
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn_ || !conn_->healthy()) {
      conn_.reset();
      auto c = PgConnection::Connect(LocalConninfo("pgpilot-agent"));
      if (!c.ok()) {
        s->connect_error = c.error().message;
        return;
      }
      conn_.emplace(std::move(c.value()));
    }
    auto rows = conn_->Query(kQuery);
    if (!rows.ok()) {
      s->connect_error = rows.error().message;
      conn_.reset();
      continue;
    }
    if (rows->size() != 1) return;
    const PgRow& r = rows->front();
    auto lsn = [](const std::optional<std::string>& v) {
      return v ? Lsn::Parse(*v).value_or(Lsn{}) : Lsn{};
    };
    auto num = [](const std::optional<std::string>& v) {
      return v ? static_cast<Timeline>(std::strtoul(v->c_str(), nullptr, 10)) : Timeline{0};
    };
    s->accepting = true;
    s->connect_error.clear();
    s->in_recovery = r[0] && *r[0] == "t";
    s->system_id = r[1].value_or("");
    s->pending_restart = r[9] && *r[9] == "t";
    s->commit_overrides = r[10].value_or("");
    if (!s->in_recovery) {
      s->wal_position = lsn(r[2]);
      s->replayed = s->wal_position;
      s->timeline = num(r[3]);
      QueryStandbys(s);
    } else {
      Lsn received = lsn(r[4]);
      s->replayed = lsn(r[5]);
      s->wal_position = std::max(received, s->replayed);
      s->streaming = r[6] && *r[6] == "streaming";
      s->timeline = std::max(num(r[7]), num(r[8]));
      // Without a WAL receiver (its upstream just stopped) the checkpoint's timeline lags a
      // switch; the WAL it received is in segments named by their timeline.
      s->timeline = std::max(s->timeline, NewestSegmentTimeline());
    }
    return;
  }
}

void PgController::QueryStandbys(LocalState* s) {
  auto rows = conn_->Query(
      "SELECT current_setting('synchronous_standby_names'), application_name, state, "
      "flush_lsn::text FROM (SELECT 1) one LEFT JOIN pg_stat_replication ON true");
  if (!rows.ok()) return;
  for (const PgRow& r : *rows) {
    s->synchronous_standby_names = r[0].value_or("");
    if (!r[1]) continue;  // no standby connected
    s->standbys.push_back(StandbyProgress{*r[1], r[2] && *r[2] == "streaming",
                                          r[3] ? Lsn::Parse(*r[3]).value_or(Lsn{}) : Lsn{}});
  }
}

LocalState PgController::Observe() {
  LocalState s;
  DataDirInspection inspection = InspectDataDir(config_.data_dir, geteuid());
  s.data_dir = inspection.kind;
  s.data_dir_detail = inspection.detail;
  if (s.data_dir != DataDirKind::kValid) return s;
  s.standby_signal = PathExists(DataPath("standby.signal"));
  const std::string managed = ManagedConf();
  s.cluster_parameters = RenderedClusterParameters(managed);
  s.upstream = ConninfoHostPort(RenderedSetting(managed, "primary_conninfo").value_or(""));
  s.postgres_pid = RunningPostmasterPid();
  s.running = s.postgres_pid > 0;
  if (s.running) QueryRunningState(&s);
  if (!s.accepting) ReadControlData(&s);
  if (s.accepting && !s.in_recovery && s.timeline > 1) s.timeline_switch_lsn = TimelineSwitchLsn(s.timeline);
  return s;
}

Status PgController::WriteConfiguration(StartRole role, const std::optional<MemberEndpoint>& upstream,
                                        const std::optional<std::string>& synchronous_standby_names) {
  auto conf = ReadFile(DataPath("postgresql.conf"));
  if (!conf.ok()) return conf.error();
  if (conf->find(kIncludeLine) == std::string::npos) {
    std::string updated = *conf;
    if (!updated.empty() && updated.back() != '\n') updated += '\n';
    updated += std::string(kIncludeLine) + "\n";
    if (Status s = WriteFileAtomic(DataPath("postgresql.conf"), updated, 0600); !s.ok()) return s;
  }
  std::optional<MemberEndpoint> follow = role == StartRole::kReplica ? upstream : std::nullopt;
  // The synchronous standbys survive every rewrite: a restart must not stop waiting for them.
  // So do the cluster-wide parameters.
  const std::string managed = ManagedConf();
  std::string sync_names = synchronous_standby_names.value_or(
      RenderedSetting(managed, "synchronous_standby_names").value_or(""));
  Parameters cluster_parameters = RenderedClusterParameters(managed);
  if (Status s = WriteFileAtomic(DataPath(kManagedConfFile),
                                 RenderManagedConf(instance_, follow, sync_names, cluster_parameters), 0600);
      !s.ok()) {
    return s;
  }
  HbaSettings hba{config_.superuser, config_.replication_user, config_.allowed_networks,
                  config_.tls.enabled()};
  if (Status s = WriteFileAtomic(DataPath("pg_hba.conf"), RenderHba(hba), 0600); !s.ok()) return s;
  if (role == StartRole::kReplica) {
    if (!PathExists(DataPath("standby.signal"))) {
      if (Status s = WriteFileAtomic(DataPath("standby.signal"), "", 0600); !s.ok()) return s;
    }
  } else if (PathExists(DataPath("standby.signal"))) {
    if (unlink(DataPath("standby.signal").c_str()) != 0) {
      return Internal("cannot remove standby.signal: " + std::string(std::strerror(errno)));
    }
  }
  return Status::Ok();
}

std::string PgController::LogTail(const std::string& path, size_t lines) const {
  auto content = ReadFile(path);
  if (!content.ok()) return "";
  std::vector<std::string> all;
  std::istringstream in(*content);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) all.push_back(line);
  }
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += (out.empty() ? "" : " | ") + all[i];
  }
  return out;
}

Status PgController::SpawnAndWait(bool need_accepting) {
  if (Status s = CheckPortFree(config_.local_host, config_.port, "PostgreSQL port",
                               "stop the process using it or set postgresql.port to a free port");
      !s.ok()) {
    return s;
  }
  ProcessSpec spec{{Bin("postgres"), "-D", config_.data_dir}, {}, config_.log_file, "", -1};
  auto pid = runner_.Spawn(spec);
  if (!pid.ok()) return pid.error();
  LogInfo("started postgres (pid " + std::to_string(*pid) + "), log " + config_.log_file);
  std::string conninfo = LocalConninfo("pgpilot-agent");
  auto deadline = std::chrono::steady_clock::now() + kStartWaitForAccepting;
  while (true) {
    if (auto exit = runner_.TryWait(*pid)) {
      return FailedPrecondition("postgres exited during start (" + exit->ToString() + "): " +
                                    LogTail(config_.log_file, 3),
                                "see " + config_.log_file);
    }
    if (PQping(conninfo.c_str()) == PQPING_OK) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      if (!need_accepting) return Status::Ok();  // alive, still recovering; the loop watches it
      return Unavailable("postgres did not accept connections within " +
                             std::to_string(kStartWaitForAccepting.count()) + "s: " +
                             LogTail(config_.log_file, 3),
                         "see " + config_.log_file);
    }
    SleepMs(50);
  }
}

Status PgController::Start(StartRole role, const std::optional<MemberEndpoint>& upstream) {
  if (RunningPostmasterPid() > 0) return FailedPrecondition("PostgreSQL is already running");
  {
    // Numbers reserved above our own timeline by a promotion that never happened (a crash in
    // between) would make recovery aim at a timeline that does not exist.
    LocalState control;
    ReadControlData(&control);
    if (control.timeline > 0) RemoveAbortedReservations(control.timeline);
  }
  if (Status s = WriteConfiguration(role, upstream); !s.ok()) return s;
  return SpawnAndWait(/*need_accepting=*/role == StartRole::kPrimary);
}

Status PgController::Stop(StopMode mode) {
  int64_t pid = RunningPostmasterPid();
  if (pid == 0) return Status::Ok();
  int sig = mode == StopMode::kFast ? SIGINT : SIGQUIT;
  auto patience = mode == StopMode::kFast ? std::chrono::seconds(60) : std::chrono::seconds(10);
  SignalProcess(static_cast<pid_t>(pid), sig);
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (ProcessAlive(static_cast<pid_t>(pid)) && !runner_.TryWait(static_cast<pid_t>(pid))) {
    if (std::chrono::steady_clock::now() >= deadline) {
      LogWarn("postgres (pid " + std::to_string(pid) + ") did not stop in time: killing it and its backends");
      KillProcessTree(static_cast<pid_t>(pid));
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      patience = std::chrono::seconds(0);
    }
    SleepMs(10);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn_.reset();
  }
  return Status::Ok();
}

Status PgController::Promote(Timeline current, Timeline timeline) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!conn_ || !conn_->healthy()) {
    auto c = PgConnection::Connect(LocalConninfo("pgpilot-agent"));
    if (!c.ok()) return c.error();
    conn_.emplace(std::move(c.value()));
  }
  if (timeline > current + 1) {
    // PostgreSQL takes the first number after the newest history file it finds without a gap:
    // a valid history file for every number in between makes it take `timeline`. They stay:
    // replicas that follow us fetch the history file of every number on the way. Each says our
    // timeline ended at 0/0, before anyone's replay position: a startup process that rescans
    // for the latest timeline meanwhile (ours, while the files are being written, or a
    // follower's) refuses to adopt a skipped number as its recovery target, which would make
    // it the parent of the timeline we promote onto.
    ReserveSkippedTimelines(current, timeline, Lsn{});
  }
  // Asks for the promotion without waiting, then looks every kPromotePoll whether recovery has
  // ended, for at most kPromoteWait: the lease is not renewed during this action.
  auto rows = conn_->Query("SELECT pg_promote(false)");
  if (!rows.ok()) return rows.error();
  auto give_up = std::chrono::steady_clock::now() + kPromoteWait;
  for (;;) {
    auto recovering = conn_->Query("SELECT pg_is_in_recovery()");
    if (!recovering.ok()) return recovering.error();
    if (!recovering->empty() && recovering->front()[0] && *recovering->front()[0] == "f") break;
    if (std::chrono::steady_clock::now() >= give_up) {
      return Unavailable("promotion did not finish within " + FormatSeconds(kPromoteWait) +
                         "; the next loop renews the lease and checks again");
    }
    std::this_thread::sleep_for(kPromotePoll);
  }
  auto now = conn_->Query("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int");
  if (timeline != 0 && now.ok() && !now->empty() && now->front()[0] &&
      std::strtoul(now->front()[0]->c_str(), nullptr, 10) != timeline) {
    LogError("PostgreSQL promoted onto timeline " + *now->front()[0] + ", not the timeline " +
             std::to_string(timeline) + " the cluster history reserved; the next loop records it");
  }
  return Status::Ok();
}

Status PgController::Follow(const std::optional<MemberEndpoint>& upstream) {
  if (Status s = WriteConfiguration(StartRole::kReplica, upstream); !s.ok()) return s;
  Reload();  // primary_conninfo is reloadable since PostgreSQL 13
  return Status::Ok();
}

Status PgController::SetSyncStandbys(const std::vector<std::string>& names, bool commit_fence) {
  std::string value = SynchronousStandbyNames(names, commit_fence);
  // Only that line changes: a replica about to promote (the fence set before it accepts writes)
  // keeps its primary_conninfo and its standby.signal.
  auto conf = ReadFile(DataPath(kManagedConfFile));
  if (!conf.ok()) return conf.error();
  std::string updated = WithRenderedSetting(*conf, "synchronous_standby_names", value);
  if (Status s = WriteFileAtomic(DataPath(kManagedConfFile), updated, 0600); !s.ok()) return s;
  Reload();
  LogInfo("synchronous_standby_names = '" + value + "'");
  return Status::Ok();
}

Status PgController::SetParameters(const Parameters& parameters) {
  auto conf = ReadFile(DataPath(kManagedConfFile));
  if (!conf.ok()) return conf.error();
  if (Status s = WriteFileAtomic(DataPath(kManagedConfFile), WithClusterParameters(*conf, parameters), 0600);
      !s.ok()) {
    return s;
  }
  Reload();
  LogInfo("cluster-wide PostgreSQL parameters written (" + std::to_string(parameters.size()) +
          "); PostgreSQL reloads them");
  return Status::Ok();
}

Status PgController::Checkpoint(Duration timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!conn_ || !conn_->healthy()) return Unavailable("no connection to the local PostgreSQL");
  auto limit = conn_->Query("SELECT set_config('statement_timeout', $1, false)",
                            {std::to_string(timeout.count())});
  if (!limit.ok()) return limit.error();
  auto done = conn_->Query("CHECKPOINT");
  (void)conn_->Query("SELECT set_config('statement_timeout', '0', false)");
  if (!done.ok()) return done.error();
  return Status::Ok();
}

Status PgController::EnsureSlot(PgConnection& conn, const std::string& slot) {
  auto rows = conn.Query(
      "SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS "
      "(SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
      {slot});
  if (!rows.ok() && conn.last_sqlstate() != kDuplicateObject) return rows.error();
  if (rows.ok() && !rows->empty()) LogInfo("created replication slot " + slot);
  return Status::Ok();
}

Status PgController::EnsureSlots(const std::vector<std::string>& members) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!conn_ || !conn_->healthy()) return Unavailable("no connection to the local PostgreSQL");
  for (const auto& m : members) {
    if (Status s = EnsureSlot(*conn_, SlotName(m)); !s.ok()) return s;
  }
  return Status::Ok();
}

Status PgController::EnsureReplicationUser(PgConnection& conn) {
  auto verifier = conn.EncryptPassword(replication_password_, config_.replication_user);
  if (!verifier.ok()) return verifier.error();
  auto exists = conn.Query("SELECT 1 FROM pg_roles WHERE rolname = $1", {config_.replication_user});
  if (!exists.ok()) return exists.error();
  std::string verb = exists->empty() ? "CREATE ROLE " : "ALTER ROLE ";
  auto done = conn.Query(verb + conn.QuoteIdentifier(config_.replication_user) +
                         " WITH REPLICATION LOGIN PASSWORD " + conn.QuoteLiteral(*verifier));
  if (!done.ok()) return done.error();
  return Status::Ok();
}

Status PgController::Bootstrap() {
  DataDirInspection inspection = InspectDataDir(config_.data_dir, geteuid());
  if (inspection.kind == DataDirKind::kMissing || inspection.kind == DataDirKind::kEmpty) {
    if (Status s = EnsureDirectory(config_.data_dir, 0700); !s.ok()) return s;
    LogInfo("running initdb in " + config_.data_dir);
    auto out = runner_.Run({{Bin("initdb"), "-D", config_.data_dir, "--data-checksums",
                             "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                             "--username=" + config_.superuser,
                             "--pwfile=" + config_.superuser_password_file, "--encoding=UTF8",
                             "--locale=C.UTF-8"},
                            {{"LC_ALL", "C"}}},
                           std::chrono::minutes(10));
    if (!out.ok()) return out.error();
    if (!out->status.ok()) {
      return FailedPrecondition("initdb failed (" + out->status.ToString() + "): " + out->output);
    }
  } else if (inspection.kind != DataDirKind::kValid) {
    return FailedPrecondition("cannot bootstrap into " + config_.data_dir + ": " + inspection.detail);
  }
  if (RunningPostmasterPid() == 0) {
    if (Status s = WriteConfiguration(StartRole::kPrimary, std::nullopt); !s.ok()) return s;
    if (Status s = SpawnAndWait(/*need_accepting=*/true); !s.ok()) return s;
  }
  auto conn = PgConnection::Connect(LocalConninfo("pgpilot-bootstrap"));
  if (!conn.ok()) {
    return Error{conn.error().code, "cannot connect to the new cluster: " + conn.error().message,
                 "check superuser.password_file"};
  }
  return EnsureReplicationUser(*conn);
}

Status PgController::Clone(const MemberEndpoint& source, bool from_leader) {
  DataDirInspection inspection = InspectDataDir(config_.data_dir, geteuid());
  if (inspection.kind != DataDirKind::kMissing && inspection.kind != DataDirKind::kEmpty) {
    return FailedPrecondition("cannot clone into " + config_.data_dir + ": it is not empty");
  }
  if (Status s = EnsureDirectory(config_.data_dir, 0700); !s.ok()) return s;
  {
    auto conn = PgConnection::Connect(SourceConninfo(source));
    if (!conn.ok()) return Unavailable("cannot reach " + source.name + " to clone: " + conn.error().message);
    if (from_leader) {
      if (Status s = EnsureSlot(*conn, SlotName(config_.member_name)); !s.ok()) return s;
    }
  }
  std::string log = JoinPath(config_.state_dir, "clone.log");
  LogInfo("cloning from " + source.name + " with pg_basebackup (progress in " + log + ")");
  std::vector<std::string> command = {Bin("pg_basebackup"), "-D", config_.data_dir, "-h", source.host,
                                      "-p", std::to_string(source.port), "-U", config_.replication_user,
                                      "-w", "-X", "stream", "-c", "fast", "--progress", "--verbose"};
  if (from_leader) command.insert(command.end(), {"-S", SlotName(config_.member_name)});
  // Not the member's name: pg_stat_replication must not take the base backup for a streaming
  // standby (synchronous mode).
  Parameters env = {{"PGPASSFILE", passfile_},
                    {"PGAPPNAME", "pgpilot-clone-" + config_.member_name},
                    {"PGCONNECT_TIMEOUT", "5"},
                    {"LC_ALL", "C"}};
  for (auto& e : MemberSslEnvironment(config_.tls)) env.push_back(std::move(e));
  auto out = runner_.Run({command, env, log, "", -1}, kLongOperationTimeout);
  if (!out.ok()) return out.error();
  if (!out->status.ok()) {
    return Unavailable("pg_basebackup from " + source.name + " failed (" + out->status.ToString() +
                           "): " + LogTail(log, 2),
                       "see " + log);
  }
  return WriteConfiguration(StartRole::kReplica, source);
}

Status PgController::Rewind(const MemberEndpoint& source) {
  if (RunningPostmasterPid() > 0) return FailedPrecondition("PostgreSQL must be stopped before pg_rewind");
  {
    // pg_rewind learns the source's timeline from its control file, which a just-promoted
    // primary updates only at its next checkpoint; before that pg_rewind sees one timeline and
    // answers "no rewind required". An immediate checkpoint on the source makes the answer true.
    // It is also the reachability check: failing here changed nothing, so it is retryable.
    auto conn = PgConnection::Connect(SourceConninfo(source));
    if (!conn.ok()) {
      return Unavailable("cannot reach " + source.name + " for pg_rewind: " + conn.error().message,
                         "retried on the next loop; nothing in the data directory was changed");
    }
    // A source still in recovery (promoting) is on our old timeline: pg_rewind would find nothing
    // to undo, and the promotion would fork the timeline behind our WAL afterwards.
    auto recovery = conn->Query("SELECT pg_is_in_recovery()");
    if (!recovery.ok()) {
      return Unavailable("cannot ask " + source.name + " whether it is a primary: " + recovery.error().message,
                         "retried on the next loop; nothing in the data directory was changed");
    }
    if (!recovery->empty() && (*recovery)[0][0].value_or("") == "t") {
      return Unavailable(source.name + " is not a primary yet (still in recovery, promoting)",
                         "retried on the next loop; nothing in the data directory was changed");
    }
    auto checkpoint = conn->Query("CHECKPOINT");
    if (!checkpoint.ok()) {
      return Unavailable("CHECKPOINT on " + source.name + " before pg_rewind failed: " +
                             checkpoint.error().message,
                         "retried on the next loop; nothing in the data directory was changed");
    }
  }
  std::string log = JoinPath(config_.state_dir, "rewind.log");
  LogInfo("running pg_rewind from " + source.name + " (output in " + log + ")");
  auto out = runner_.Run({{Bin("pg_rewind"), "-D", config_.data_dir,
                           "--source-server=" + SourceConninfo(source), "--progress"},
                          {{"LC_ALL", "C"}},
                          log, "", -1},
                         kLongOperationTimeout);
  if (!out.ok()) return out.error();
  if (!out->status.ok()) {
    return FailedPrecondition("pg_rewind from " + source.name + " failed (" + out->status.ToString() +
                              "): " + LogTail(log, 2));
  }
  return WriteConfiguration(StartRole::kReplica, source);
}

Result<std::string> PgController::KeepDataDirAside() {
  if (RunningPostmasterPid() > 0) return FailedPrecondition("PostgreSQL is running on the data directory");
  auto moved = MoveAside(config_.data_dir, clock_.WallNow());
  if (moved.ok()) LogWarn("kept the data directory aside as " + *moved + " (nothing deleted)");
  return moved;
}

}  // namespace pgpilot
