// What the agent observed about its own PostgreSQL instance and data directory in one tick.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/types.h"

namespace pgpilot {

enum class DataDirKind {
  kMissing,     // the directory does not exist
  kEmpty,       // exists and holds nothing
  kValid,       // a PostgreSQL data directory with a control file
  kIncomplete,  // PG_VERSION but no control file: an interrupted initdb or clone
  kForeign,     // holds files that are not a PostgreSQL data directory
};
const char* DataDirKindName(DataDirKind kind);

// Long actions run in the background while the loop keeps renewing the lease.
enum class TaskKind { kNone, kBootstrap, kClone, kRewind, kStart };
const char* TaskKindName(TaskKind kind);

struct TaskState {
  TaskKind kind = TaskKind::kNone;  // the running task, or the last one that finished
  bool running = false;
  uint64_t sequence = 0;            // increments per task started; results are read once
  bool succeeded = false;           // valid when !running and sequence > 0
  std::string error;                // the failure, when !succeeded
  bool retryable = false;           // failed before changing anything (e.g. the source was
                                    // unreachable): try again later, nothing to repair
};

// A standby connected to this primary (pg_stat_replication).
struct StandbyProgress {
  std::string name;        // application_name: the member's name
  bool streaming = false;  // state "streaming"
  Lsn flushed;             // flush_lsn: WAL it has made durable
  friend bool operator==(const StandbyProgress&, const StandbyProgress&) = default;
};

struct LocalState {
  DataDirKind data_dir = DataDirKind::kMissing;
  std::string data_dir_detail;  // e.g. the unexpected files found
  std::string system_id;        // from pg_control, when kValid
  bool was_primary = false;     // pg_control: last ran as a primary (in production / shut down)
  bool clean_shutdown = false;  // pg_control: "shut down" (a primary's clean stop; its WAL ends
                                // with the shutdown checkpoint at wal_position)
  bool standby_signal = false;  // standby.signal present: PostgreSQL starts (or runs) in recovery

  bool running = false;         // a postmaster for this data directory is alive
  int64_t postgres_pid = 0;
  bool accepting = false;       // it answered our queries this tick
  std::string connect_error;    // why not, when running but not accepting
  bool in_recovery = false;
  Timeline timeline = 0;
  Lsn wal_position;             // primary: current; replica: max(received, replayed)
  Lsn replayed;
  bool streaming = false;       // WAL receiver status is "streaming"
  std::string upstream;         // "host:port" from the effective primary_conninfo, "" if none
  Lsn timeline_switch_lsn;      // where the previous timeline ended (from the .history file)
  // The store's cluster-wide PostgreSQL parameters as pgpilot.conf holds them, and whether a
  // changed parameter waits for a restart (pg_settings.pending_restart).
  std::vector<std::pair<std::string, std::string>> cluster_parameters;
  bool pending_restart = false;
  // Roles or databases set to synchronous_commit=off or local ("app in shop: synchronous_commit=off;
  // ..."): their commits wait neither for synchronous standbys nor for the commit fence.
  std::string commit_overrides;
  // Primary only: the synchronous_standby_names in effect and the connected standbys.
  std::string synchronous_standby_names;
  std::vector<StandbyProgress> standbys;

  TaskState task;

  bool is_running_primary() const { return running && accepting && !in_recovery; }
  // Running and possibly writable: a primary, or an instance we cannot query whose data
  // directory has no standby.signal. The fence treats "cannot tell" as writable.
  bool may_accept_writes() const {
    return running && (accepting ? !in_recovery : !standby_signal);
  }
  bool is_running_replica() const { return running && accepting && in_recovery; }
};

// The role a member publishes (store entry, API): "uninitialized", "stopped", "starting",
// "replica" or "primary".
const char* PublishedRole(const LocalState& local);

}  // namespace pgpilot
