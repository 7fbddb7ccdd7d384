// A realistic three-member cluster as values (every record of the store filled in), shared by the
// seed corpus generator and the HTTP API target's snapshots.
#pragma once

#include <memory>
#include <string>

#include "agent/config.h"
#include "agent/snapshot.h"
#include "core/cluster_view.h"

namespace pgpilot::fuzz {

inline MemberStatus SampleMember(int index, bool primary) {
  MemberStatus m;
  m.name = "pg-" + std::to_string(index);
  m.role = primary ? "primary" : "replica";
  m.state = primary ? "primary" : "replica";
  m.reason = primary ? "holding the leader lease" : "following pg-0";
  m.api_url = "http://127.0.0.1:" + std::to_string(15532 + index);
  m.host = "127.0.0.1";
  m.port = 15432 + index;
  m.timeline = 2;
  m.wal_position = Lsn{0x3000148 + 0x100 * static_cast<uint64_t>(primary)};
  m.replayed = Lsn{0x3000148};
  m.streaming = !primary;
  m.upstream = primary ? "" : "pg-0";
  m.term = 3;
  m.tags.nosync = index == 2;
  m.pending_restart = index == 1;
  m.commit_overrides = index == 0 ? "role app: synchronous_commit=off" : "";
  m.version = "0.1.0";
  m.agent_pid = 1000 + index;
  m.postgres_pid = 2000 + index;
  m.updated = WallTime{1'764'000'000'000 + index};
  return m;
}

inline ClusterView SampleView() {
  ClusterView v;
  v.initialize = InitializeRecord{"pg-0", "7311240523456789012"};
  v.leader = LeaderRecord{"pg-0", 3, Duration(10000), Lsn{0x3000248}, 2, false, 41};
  for (int i = 0; i < 3; ++i) v.members.push_back(SampleMember(i, i == 0));
  v.history = {HistoryEntry{2, Lsn{0x3000000}, 1, "pg-1", "pg-0", 3, WallTime{1'764'000'000'000},
                            "failover: the lease of pg-1 expired"}};
  v.sync = SyncRecord{"pg-0", {"pg-1"}, 17};
  v.switchover = SwitchoverRecord{"pg-0", "pg-1", WallTime{1'764'000'600'000},
                                  WallTime{1'764'000'000'500}, false};
  DynamicConfig config;
  config.pause = false;
  config.maximum_lag_on_failover = 1048576;
  config.synchronous_mode = SyncMode::kOn;
  config.synchronous_node_count = 1;
  config.parameters = {{"max_connections", "200"}, {"work_mem", "'8MB'"}};
  config.ttl = Duration(10000);
  config.loop_wait = Duration(1000);
  config.revision = 9;
  v.config = config;
  RequestsRecord requests;
  requests.Put(MemberRequest{"pg-1", RequestKind::kRestart, true, WallTime{1'764'000'000'100}, ""});
  requests.Put(MemberRequest{"pg-2", RequestKind::kReinit, false, WallTime{1'764'000'000'200},
                             "pg-2 is the leader"});
  requests.revision = 5;
  v.requests = requests;
  return v;
}

// What member `index` publishes for the API after a tick at `now`.
inline std::shared_ptr<const AgentSnapshot> SampleSnapshot(int index, MonoTime now) {
  auto s = std::make_shared<AgentSnapshot>();
  s->cluster = SampleView();
  s->member = s->cluster->members.at(static_cast<size_t>(index));
  s->holds_lease = index == 0;
  s->store_reachable = index != 2;
  s->store_error = index == 2 ? "etcd http://10.0.0.5:2379 cannot be reached: Timeout was reached" : "";
  s->last_loop = now;
  s->ttl = Duration(10000);
  return s;
}

// An agent config as `pgpilot up` writes one for member `index`, on the store given.
inline AgentConfig SampleAgentConfig(int index, const StoreConfig& store) {
  AgentConfig c;
  c.cluster = "local";
  c.name = "pg-" + std::to_string(index);
  c.state_dir = "/tmp/pgpilot-demo/" + c.name;
  c.data_dir = c.state_dir + "/data";
  c.store = store;
  c.api_listen = {"127.0.0.1", 15532 + index};
  c.api_connect = c.api_listen;
  c.pg_port = 15432 + index;
  c.pg_connect_host = "127.0.0.1";
  c.pg_log_file = c.state_dir + "/postgres.log";
  c.superuser_password_file = "/tmp/pgpilot-demo/secrets/superuser-password";
  c.replication_password_file = "/tmp/pgpilot-demo/secrets/replication-password";
  return c;
}

}  // namespace pgpilot::fuzz
