#include "agent/operations.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "cli/config_edit.h"
#include "core/member_requests.h"
#include "core/switchover.h"

namespace pgpilot {

namespace {

// How long a switchover request may wait for fresh positions before refusing a target for lag.
constexpr auto kLagRefusalPatience = std::chrono::seconds(3);

// Adds `added` to the `requests` key (replacing an older request of the same member) with a
// compare-and-swap, read again and retried a few times when an agent wrote meanwhile.
Status AddRequests(Store& store, const std::vector<MemberRequest>& added) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto view = store.Load();
    if (!view.ok()) return view.error();
    RequestsRecord record = view->requests.value_or(RequestsRecord{});
    for (const MemberRequest& request : added) record.Put(request);
    auto written = store.WriteRequests(
        record, view->requests ? std::optional<uint64_t>(view->requests->revision) : std::nullopt);
    if (!written.ok()) return written.error();
    if (*written) return Status::Ok();
  }
  return FailedPrecondition("the store's requests kept changing while we wrote ours", "run the command again");
}

Result<std::vector<SentRequest>> Send(Store& store, const ClusterView& view, std::vector<MemberRequest> requests) {
  std::vector<SentRequest> sent;
  for (MemberRequest& r : requests) {
    const MemberStatus* m = view.FindMember(r.member);
    sent.push_back(SentRequest{std::move(r), m != nullptr ? m->postgres_pid : 0});
  }
  std::vector<MemberRequest> added;
  for (const SentRequest& s : sent) added.push_back(s.request);
  if (Status s = AddRequests(store, added); !s.ok()) return s.error();
  return sent;
}

}  // namespace

Result<SwitchoverRecord> RequestSwitchover(Store& store, const SwitchoverParams& params, WallTime now) {
  // Positions are published once a loop, each member at its own moment: right after the primary
  // publishes a position past a WAL segment switch, a replica that is in fact caught up still
  // shows its previous one. A refusal for lag alone (the same choice succeeds when forced) is
  // only given once it has lasted kLagRefusalPatience of fresh publications.
  auto patience_ends = std::chrono::steady_clock::now() + kLagRefusalPatience;
  Result<ClusterView> view = store.Load();
  Result<std::string> to = std::string();
  for (;;) {
    if (!view.ok()) return view.error();
    uint64_t max_lag = params.maximum_lag;
    if (view->config && view->config->maximum_lag_on_failover) max_lag = *view->config->maximum_lag_on_failover;
    to = ChooseSwitchoverTarget(*view, params.to, max_lag, params.force);
    bool lag_alone = !to.ok() && !params.force && ChooseSwitchoverTarget(*view, params.to, max_lag, true).ok();
    if (!lag_alone || std::chrono::steady_clock::now() >= patience_ends) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    view = store.Load();
  }
  if (!to.ok()) return to.error();
  SwitchoverRecord request{view->leader->holder, *to, params.not_before.value_or(WallTime{}), now};
  auto written = store.RequestSwitchover(request);
  if (!written.ok()) return written.error();
  if (!*written) {
    return FailedPrecondition("another switchover request was written meanwhile", "see `pgpilot ctl list`");
  }
  return request;
}

Result<std::optional<SwitchoverRecord>> CancelSwitchover(Store& store) {
  auto view = store.Load();
  if (!view.ok()) return view.error();
  if (!view->switchover) return std::optional<SwitchoverRecord>();
  if (Status s = store.ClearSwitchover(); !s.ok()) return s.error();
  return view->switchover;
}

Result<SwitchoverRecord> RequestFailover(Store& store, const std::string& to, bool force, WallTime now) {
  if (to.empty()) return InvalidArgument("a failover needs the member to promote", "see `pgpilot ctl list`");
  auto view = store.Load();
  if (!view.ok()) return view.error();
  if (Status s = CheckFailoverTarget(*view, to, force); !s.ok()) return s.error();
  SwitchoverRecord request{"", to, WallTime{}, now, force};
  auto written = store.RequestSwitchover(request);
  if (!written.ok()) return written.error();
  if (!*written) return FailedPrecondition("another request was written meanwhile", "see `pgpilot ctl list`");
  return request;
}

Result<std::vector<SentRequest>> RequestRestart(Store& store, const std::string& member, bool pending,
                                                WallTime now) {
  auto view = store.Load();
  if (!view.ok()) return view.error();
  if (!member.empty() && view->FindMember(member) == nullptr) {
    return NotFound("no member " + member + " in the store", "see `pgpilot ctl list`");
  }
  std::vector<MemberRequest> requests;
  for (const MemberStatus& m : view->members) {
    if (!member.empty() && m.name != member) continue;
    if (pending && !m.pending_restart) continue;
    requests.push_back(MemberRequest{m.name, RequestKind::kRestart, pending, now, ""});
  }
  if (requests.empty()) return std::vector<SentRequest>();
  return Send(store, *view, std::move(requests));
}

Status CheckReinit(const ClusterView& view, const std::string& member) {
  if (member.empty()) return InvalidArgument("a reinit needs a member name", "see `pgpilot ctl list`");
  if (view.FindMember(member) == nullptr) {
    return NotFound("no member " + member + " in the store", "see `pgpilot ctl list`");
  }
  if (!view.leader || view.leader->released) {
    return FailedPrecondition("the cluster has no leader to clone from", "wait for a primary, see `pgpilot ctl list`");
  }
  const MemberStatus* leader = view.FindMember(view.leader->holder);
  if (leader == nullptr || leader->role != "primary") {
    return FailedPrecondition("leader " + view.leader->holder + " does not run as the primary: there is nothing "
                              "safe to clone from, and " + member + "'s copy may be the one the cluster needs",
                              "see `pgpilot ctl list`");
  }
  if (view.leader->holder == member) {
    return FailedPrecondition(member + " is the leader: its data is the cluster's",
                              "switch over first (`pgpilot ctl switchover`), then re-initialize it");
  }
  return Status::Ok();
}

Result<SentRequest> RequestReinit(Store& store, const std::string& member, WallTime now) {
  auto view = store.Load();
  if (!view.ok()) return view.error();
  if (Status s = CheckReinit(*view, member); !s.ok()) return s.error();
  auto sent = Send(store, *view, {MemberRequest{member, RequestKind::kReinit, false, now, ""}});
  if (!sent.ok()) return sent.error();
  return sent->front();
}

void DropRefusedRequest(Store& store, const std::string& member) {
  auto view = store.Load();
  if (!view.ok() || !view->requests) return;
  RequestsRecord record = *view->requests;
  std::erase_if(record.requests, [&](const MemberRequest& r) { return r.member == member && !r.refused.empty(); });
  (void)store.WriteRequests(record, view->requests->revision);
}

Result<DynamicConfig> UpdateClusterConfig(Store& store, const std::function<Status(DynamicConfig*)>& change) {
  auto view = store.Load();
  if (!view.ok()) return view.error();
  const std::optional<DynamicConfig>& current = view->config;
  DynamicConfig config = current.value_or(DynamicConfig{});
  if (Status s = change(&config); !s.ok()) return s.error();
  if (Status s = CheckDynamicConfig(config); !s.ok()) return s.error();
  auto written = store.WriteConfig(config, current ? std::optional<uint64_t>(current->revision) : std::nullopt);
  if (!written.ok()) return written.error();
  if (!*written) {
    return FailedPrecondition("the cluster-wide settings changed while you edited them", "run the command again");
  }
  return config;
}

Result<DynamicConfig> ChangeSettings(Store& store,
                                     const std::vector<std::pair<std::string, std::string>>& settings) {
  if (settings.empty()) {
    return InvalidArgument("no setting to change", "name at least one, e.g. synchronous_mode=on");
  }
  return UpdateClusterConfig(store, [&](DynamicConfig* config) -> Status {
    for (const auto& [key, value] : settings) {
      if (Status s = SetDynamicSetting(config, key, value); !s.ok()) return s;
    }
    return Status::Ok();
  });
}

Result<DynamicConfig> SetPause(Store& store, bool pause) {
  return UpdateClusterConfig(store, [pause](DynamicConfig* config) -> Status {
    config->pause = pause;
    return Status::Ok();
  });
}

}  // namespace pgpilot
