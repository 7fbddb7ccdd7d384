// The real PostgreSQL instance: initdb, pg_basebackup, pg_rewind and postgres run as child
// processes (never with a secret on their command line), queries through libpq.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "platform/clock.h"
#include "platform/process.h"
#include "postgres/pg_connection.h"
#include "postgres/postgres_controller.h"
#include "postgres/settings.h"

namespace pgpilot {

struct PgControllerConfig {
  std::string member_name;
  std::string data_dir;
  std::string bin_dir;           // initdb, postgres, pg_basebackup, pg_rewind, pg_controldata
  std::string state_dir;         // the member's own directory: pgpass, logs of clone and rewind
  std::string log_file;          // PostgreSQL's server log
  std::string listen_addresses = "127.0.0.1";
  std::string local_host = "127.0.0.1";  // how the agent reaches its own instance
  int port = 5432;
  std::string socket_dir;
  std::string superuser = "postgres";
  std::string superuser_password_file;
  std::string replication_user = "replicator";
  std::string replication_password_file;
  std::vector<std::string> allowed_networks;
  std::vector<std::pair<std::string, std::string>> parameters;
  PgTls tls;                     // TLS between members (postgresql.tls)
};

class PgController final : public PostgresController {
 public:
  PgController(PgControllerConfig config, ProcessRunner& runner, const Clock& clock);

  // Checks the binaries, the password files and the TLS files (as the user PostgreSQL runs as),
  // and writes the member's pgpass file (0600).
  Status Prepare();

  LocalState Observe() override;
  Status Bootstrap() override;
  Status Clone(const MemberEndpoint& source, bool from_leader) override;
  Status Rewind(const MemberEndpoint& source) override;
  Status Start(StartRole role, const std::optional<MemberEndpoint>& upstream) override;
  Status Stop(StopMode mode) override;
  Status Promote(Timeline current, Timeline timeline) override;
  Status Follow(const std::optional<MemberEndpoint>& upstream) override;
  Status EnsureSlots(const std::vector<std::string>& members) override;
  Status SetSyncStandbys(const std::vector<std::string>& names, bool commit_fence) override;
  std::string CommitFenceConninfo() const override;
  Status Checkpoint(Duration timeout) override;
  Status SetParameters(const Parameters& parameters) override;
  Result<std::string> KeepDataDirAside() override;

  const std::string& passfile() const { return passfile_; }
  // The connection string to this member's own instance as superuser.
  std::string LocalConninfo(const std::string& application_name) const;

 private:
  std::string Bin(const char* name) const;
  std::string DataPath(const char* name) const;
  // History files for the numbers between `current` and `target` (each: our lineage, then a
  // switch at `at`), so PostgreSQL's promotion takes `target`, the number the cluster's history
  // reserved; never overwrites a file.
  void ReserveSkippedTimelines(Timeline current, Timeline target, Lsn at) const;
  // Removes reserved-number files above `current` (a promotion that never happened).
  void RemoveAbortedReservations(Timeline current) const;
  int64_t RunningPostmasterPid() const;
  // Writes pgpilot.conf, pg_hba.conf and standby.signal for `role`; synchronous_standby_names
  // as given, or as the managed file already had it.
  Status WriteConfiguration(StartRole role, const std::optional<MemberEndpoint>& upstream,
                            const std::optional<std::string>& synchronous_standby_names = std::nullopt);
  Status SpawnAndWait(bool need_accepting);
  Status EnsureReplicationUser(PgConnection& conn);
  Status EnsureSlot(PgConnection& conn, const std::string& slot);
  // The connection to another member as superuser (clone, rewind), with the TLS mode's sslmode.
  std::string SourceConninfo(const MemberEndpoint& source) const;
  void QueryRunningState(LocalState* s);
  // Primary: synchronous_standby_names in effect and pg_stat_replication (mu_ held).
  void QueryStandbys(LocalState* s);
  void ReadControlData(LocalState* s);
  // The managed configuration file as written ("" when missing or unreadable).
  std::string ManagedConf() const;
  // SIGHUP to the running postmaster, if any: PostgreSQL rereads its configuration.
  void Reload() const;
  Lsn TimelineSwitchLsn(Timeline timeline) const;
  // The highest timeline of the WAL segment files in pg_wal (0 if none).
  Timeline NewestSegmentTimeline() const;
  // The last lines of a log file, for error messages.
  std::string LogTail(const std::string& path, size_t lines) const;

  PgControllerConfig config_;
  ProcessRunner& runner_;
  const Clock& clock_;
  InstanceSettings instance_;
  std::string passfile_;
  std::string replication_password_;

  std::mutex mu_;                        // guards the observation connection
  std::optional<PgConnection> conn_;     // used from the loop thread
};

}  // namespace pgpilot
