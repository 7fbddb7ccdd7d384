// Test support: a member status with every field set, for store and codec round trips.
#pragma once

#include <string>

#include "core/cluster_view.h"

namespace pgpilot::testing {

inline MemberStatus SampleMember(const std::string& name, uint64_t lsn = 0x3000148) {
  MemberStatus m;
  m.name = name;
  m.role = "replica";
  m.state = "replica";
  m.reason = "following the leader";
  m.api_url = "http://127.0.0.1:8008";
  m.host = "127.0.0.1";
  m.port = 5432;
  m.timeline = 1;
  m.wal_position = Lsn{lsn};
  m.replayed = Lsn{lsn - 8};
  m.streaming = true;
  m.upstream = "pg-0";
  m.term = 3;
  m.tags.nofailover = true;
  m.version = "0.1.0";
  m.agent_pid = 123;
  m.postgres_pid = 456;
  m.updated = WallTime{1'700'000'000'123};
  return m;
}

}  // namespace pgpilot::testing
