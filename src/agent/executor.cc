#include "agent/executor.h"

#include "platform/log.h"

namespace pgpilot {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

Status Refused(const std::string& what) { return FailedPrecondition(what); }

}  // namespace

LeaseRequest Executor::Request(const LocalState& local) const {
  return LeaseRequest{member_, ttl_, local.wal_position, local.timeline};
}

void Executor::RecordLease(const LeaseWrite& write, MonoTime sent, ExecutionReport* report) const {
  report->lease = LeaseOutcome{write.granted, write.record.value_or(LeaderRecord{}), sent};
  if (write.granted && on_lease_) on_lease_(LeaseGranted(*report->lease));
}

Status Executor::Launch(TaskKind kind, std::function<Status()> work) {
  if (!tasks_.Launch(kind, std::move(work))) {
    return FailedPrecondition(std::string("cannot start ") + TaskKindName(kind) +
                              ": another task is running");
  }
  return Status::Ok();
}

Status Executor::Do(const Action& action, const LocalState& local, ExecutionReport* report) {
  PostgresController* pg = &postgres_;
  return std::visit(
      Overloaded{
          [&](const ClaimInitialize& a) -> Status {
            auto created = store_.ClaimInitialize(member_, a.system_id);
            if (!created.ok()) return created.error();
            return *created ? Status::Ok() : Refused("initialize already exists");
          },
          [&](const CompleteInitialize& a) -> Status {
            auto done = store_.CompleteInitialize(member_, a.system_id);
            if (!done.ok()) return done.error();
            return *done ? Status::Ok() : Refused("initialize is not our incomplete claim");
          },
          [&](const AbandonInitialize&) -> Status { return store_.AbandonInitialize(member_).status(); },
          [&](const AcquireLease& a) -> Status {
            MonoTime sent = clock_.Now();
            auto w = store_.AcquireLeader(Request(local), a.expect_absent
                                                              ? std::nullopt
                                                              : std::optional<uint64_t>(a.expected_revision));
            if (!w.ok()) return w.error();
            RecordLease(*w, sent, report);
            if (!w->granted) {
              return Refused("the lease changed meanwhile" +
                             (w->record ? " (now " + w->record->holder + ")" : std::string()));
            }
            return Status::Ok();
          },
          [&](const RenewLease& a) -> Status {
            MonoTime sent = clock_.Now();
            auto w = store_.RenewLeader(Request(local), a.term);
            report->renewal = LeaseRenewal{clock_.Now().since_epoch - sent.since_epoch,
                                           w.ok() && w->granted};
            if (!w.ok()) return w.error();
            RecordLease(*w, sent, report);
            return w->granted ? Status::Ok() : Refused("the lease is no longer ours");
          },
          [&](const ReleaseLease& a) -> Status {
            // After the stop this decision made: the position the shutdown ended at. Only a
            // clean shutdown proves it is the end of our WAL; otherwise the lease expires and
            // the election compares the members' own positions.
            LocalState after = pg->Observe();
            if (after.running || !after.clean_shutdown) {
              return FailedPrecondition("PostgreSQL did not stop cleanly: not releasing the lease");
            }
            MonoTime sent = clock_.Now();
            auto released = store_.ReleaseLeader(Request(after), a.term);
            if (!released.ok()) return released.error();
            RecordLease(LeaseWrite{false, std::nullopt}, sent, report);  // no longer ours either way
            return *released ? Status::Ok() : Refused("the lease is no longer ours");
          },
          [&](const ClearSwitchover&) -> Status { return store_.ClearSwitchover(); },
          [&](const Checkpoint&) -> Status {
            Status s = pg->Checkpoint(ttl_ / 3);
            if (!s.ok()) LogWarn("checkpoint before the switchover: " + s.ToString() + "; stopping anyway");
            return Status::Ok();
          },
          [&](const AppendHistory& a) -> Status { return store_.AppendHistory(a.entry); },
          [&](const WriteSync& a) -> Status {
            auto written = store_.WriteSync(a.record, a.expect_absent ? std::nullopt
                                                                      : std::optional<uint64_t>(a.expected_revision));
            if (!written.ok()) return written.error();
            return *written ? Status::Ok() : Refused("the sync key changed meanwhile");
          },
          [&](const WriteRequests& a) -> Status {
            auto written = store_.WriteRequests(a.record, a.expected_revision);
            if (!written.ok()) return written.error();
            return *written ? Status::Ok() : Refused("the requests key changed meanwhile");
          },
          [&](const Bootstrap&) -> Status {
            return Launch(TaskKind::kBootstrap, [pg] { return pg->Bootstrap(); });
          },
          [&](const Clone& a) -> Status {
            return Launch(TaskKind::kClone,
                          [pg, src = a.source, leader = a.from_leader] { return pg->Clone(src, leader); });
          },
          [&](const Rewind& a) -> Status {
            return Launch(TaskKind::kRewind, [pg, src = a.source] { return pg->Rewind(src); });
          },
          [&](const Start& a) -> Status {
            return Launch(TaskKind::kStart,
                          [pg, role = a.role, up = a.upstream] { return pg->Start(role, up); });
          },
          [&](const Stop& a) -> Status {
            Status s = pg->Stop(a.mode);
            report->stopped_postgres = s.ok();
            return s;
          },
          [&](const Promote& a) -> Status {
            Status s = pg->Promote(local.timeline, a.timeline);
            report->promoted = s.ok();
            return s;
          },
          [&](const Follow& a) -> Status { return pg->Follow(a.upstream); },
          [&](const EnsureSlots& a) -> Status { return pg->EnsureSlots(a.members); },
          [&](const SetSyncStandbys& a) -> Status { return pg->SetSyncStandbys(a.names, a.commit_fence); },
          [&](const SetParameters& a) -> Status { return pg->SetParameters(a.parameters); },
          [&](const KeepDataDirAside&) -> Status { return pg->KeepDataDirAside().status(); },
      },
      action);
}

ExecutionReport Executor::Run(const std::vector<Action>& actions, const LocalState& local, Duration ttl) {
  ttl_ = ttl;
  ExecutionReport report;
  for (const Action& action : actions) {
    Status s = Do(action, local, &report);
    if (!s.ok()) {
      std::string line = DescribeAction(action) + ": " + s.ToString();
      LogWarn("action failed, skipping the rest of this decision: " + line);
      report.failures.push_back(line);
      report.all_done = false;
      break;
    }
  }
  return report;
}

}  // namespace pgpilot
