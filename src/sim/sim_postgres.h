// A simulated PostgreSQL instance and its data directory: WAL as positions on a tree of timelines
// (so "does this instance hold that acknowledged write" is a walk up the tree), promote, rewind,
// clone, crash, freeze. Plain data plus the operations the simulated controller performs.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/local_state.h"
#include "core/types.h"

namespace pgpilot::sim {

// Every timeline any instance ever wrote, as a tree: a promotion forks a child at the position
// where its parent's WAL ended.
class WalTree {
 public:
  int NewRoot();
  // A child of `parent` from position `at`, numbered `timeline` (0: the parent's plus one).
  int Fork(int parent, uint64_t at, Timeline timeline);
  Timeline TimelineOf(int branch) const { return branches_[branch].timeline; }
  // How many branches carry this timeline number (more than one: two histories, one number).
  int CountNumbered(Timeline timeline) const;
  uint64_t ForkPoint(int branch) const { return branches_[branch].fork; }
  // Whether WAL ending at (branch, lsn) holds the record that ended at (w_branch, w_lsn).
  bool Contains(int branch, uint64_t lsn, int w_branch, uint64_t w_lsn) const;

 private:
  struct Branch { int parent; uint64_t fork; Timeline timeline; };
  std::vector<Branch> branches_;
};

struct SimPostgres {
  // The data directory.
  DataDirKind data = DataDirKind::kEmpty;
  std::string system_id;
  int branch = -1;          // where its WAL ends: (branch, lsn)
  uint64_t lsn = 0;
  bool was_primary = false; // pg_control's state
  bool clean_shutdown = false;  // pg_control says "shut down": a primary's clean stop
  bool standby_signal = false;
  int aside_count = 0;      // directories renamed aside (never deleted)
  std::set<Timeline> history_files;  // pg_wal/NNNNNNNN.history present in the directory
  std::vector<std::string> sync_standbys;  // synchronous_standby_names (kept in the directory)
  bool commit_fence = false;               // ... names the agent's commit fence too

  // The server.
  bool running = false;
  bool frozen = false;      // SIGSTOP: answers nothing, acknowledges nothing
  bool in_recovery = false;
  int upstream = -1;        // node named by primary_conninfo (kept in the directory), -1 for none
  bool streaming = false;

  bool Writable() const { return running && !frozen && !in_recovery; }
  // What the agent's Observe() reports.
  LocalState Observe(const WalTree& wal, const std::vector<std::string>& host_ports) const;
};

}  // namespace pgpilot::sim
