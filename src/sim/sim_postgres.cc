#include "sim/sim_postgres.h"

#include <algorithm>

namespace pgpilot::sim {

int WalTree::NewRoot() {
  branches_.push_back(Branch{-1, 0, 1});
  return static_cast<int>(branches_.size()) - 1;
}

int WalTree::Fork(int parent, uint64_t at, Timeline timeline) {
  branches_.push_back(Branch{parent, at, timeline != 0 ? timeline : branches_[parent].timeline + 1});
  return static_cast<int>(branches_.size()) - 1;
}

int WalTree::CountNumbered(Timeline timeline) const {
  int n = 0;
  for (const auto& b : branches_) n += b.timeline == timeline ? 1 : 0;
  return n;
}

bool WalTree::Contains(int branch, uint64_t lsn, int w_branch, uint64_t w_lsn) const {
  uint64_t limit = lsn;
  int b = branch;
  while (b >= 0 && b != w_branch) {
    limit = std::min(limit, branches_[b].fork);
    b = branches_[b].parent;
  }
  return b == w_branch && w_lsn <= limit;
}

LocalState SimPostgres::Observe(const WalTree& wal, const std::vector<std::string>& host_ports) const {
  LocalState s;
  s.data_dir = data;
  if (data == DataDirKind::kValid) {
    s.system_id = system_id;
    s.was_primary = was_primary;
    s.clean_shutdown = clean_shutdown && !running;
    s.standby_signal = standby_signal;
    if (upstream >= 0) s.upstream = host_ports[upstream];  // from the managed configuration
  }
  s.running = running;
  s.postgres_pid = running ? 1000 : 0;
  s.accepting = running && !frozen;
  if (running && frozen) s.connect_error = "timeout expired";
  if (s.accepting) {
    s.in_recovery = in_recovery;
    s.timeline = wal.TimelineOf(branch);
    s.wal_position = Lsn{lsn};
    s.replayed = Lsn{lsn};
    s.streaming = in_recovery && streaming;
    if (!in_recovery && s.timeline > 1) s.timeline_switch_lsn = Lsn{wal.ForkPoint(branch)};
  } else if (data == DataDirKind::kValid) {
    s.timeline = wal.TimelineOf(branch);  // from pg_control
    s.wal_position = Lsn{lsn};
  }
  return s;
}

}  // namespace pgpilot::sim
