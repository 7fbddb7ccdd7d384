#include "store/k8s_store.h"

#include <charconv>
#include <ctime>
#include <set>
#include <thread>

#include "platform/json_fields.h"
#include "platform/json_text.h"
#include "platform/log.h"
#include "store/codec.h"
#include "store/k8s_client.h"
#include "store/k8s_names.h"

namespace pgpilot {
namespace {

using json = nlohmann::json;

constexpr auto kPollEvery = std::chrono::milliseconds(500);
constexpr int kConflictRetries = 10;

// Kubernetes MicroTime of now: "2026-11-23T15:04:05.123456Z". Informational (renewTime for
// kubectl); expiry never reads it. Microseconds make every renewal's content, and so its
// resourceVersion, change: the API server keeps the version of a write that changes nothing.
std::string MicroTimeNow() {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06dZ", static_cast<int>(micros % 1000000));
  return std::string(buf) + frac;
}

std::string ObjectPath(const std::string& collection, const std::string& name) {
  return collection + "/" + name;
}

std::string ResourceVersion(const json& object) {
  const json* metadata = JsonMember(object, "metadata");
  return metadata != nullptr ? JsonString(*metadata, "resourceVersion") : "";
}

json Labels(const std::string& cluster) { return {{std::string(k8s::kClusterLabel), cluster}}; }

// A key of a ConfigMap's `data` object, or "" when absent.
std::string DataField(const json& data, std::string_view key) {
  if (!data.is_object() || !data.contains(std::string(key))) return "";
  const json& v = data[std::string(key)];
  return v.is_string() ? v.get<std::string>() : "";
}

// A ConfigMap's data key, or "" when absent.
std::string DataValue(const json& configmap, std::string_view key) {
  if (!configmap.contains("data")) return "";
  return DataField(configmap["data"], key);
}

// A data key of the cluster ConfigMap written by compare-and-swap, and the decimal counter next to
// it that every write of it bumps: its revision. Not the ConfigMap's resourceVersion, which writes
// of the other keys change too.
struct CountedKey {
  std::string_view key;
  std::string_view revision_key;
  std::string_view rewritten_by;  // for the hint: who writes the pair again once removed
};
constexpr CountedKey kSyncCounted{k8s::kSyncKey, k8s::kSyncRevisionKey, "the primary writes them again"};
constexpr CountedKey kConfigCounted{k8s::kConfigKey, k8s::kConfigRevisionKey,
                                    "set the config again with `pgpilot ctl edit-config`"};
constexpr CountedKey kRequestsCounted{k8s::kRequestsKey, k8s::kRequestsRevisionKey,
                                      "ask again with `pgpilot ctl restart` or `pgpilot ctl reinit`"};

std::string RepairHint(const CountedKey& k) {
  return "someone edited the ConfigMap by hand; remove the " + std::string(k.key) + " and " +
         std::string(k.revision_key) + " keys, and " + std::string(k.rewritten_by);
}

// The counter of `k` in the cluster ConfigMap's `data`: 0 when no write of it happened yet.
Result<uint64_t> CountedRevision(const json& data, const CountedKey& k, const std::string& cluster) {
  std::string text = DataField(data, k.revision_key);
  if (text.empty()) return uint64_t{0};
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return InvalidArgument("ConfigMap " + k8s::ClusterConfigMapName(cluster) + " key " +
                               std::string(k.revision_key) + " holds '" + text + "', not a number",
                           RepairHint(k));
  }
  return value;
}

// The value of `k` and its revision.
struct CountedValue {
  std::string text;
  uint64_t revision = 0;
};

// `k`'s value in the cluster ConfigMap's `data`, nullopt when absent; an error when its counter is
// missing or damaged.
Result<std::optional<CountedValue>> ReadCounted(const json& data, const CountedKey& k,
                                                const std::string& cluster) {
  std::string text = DataField(data, k.key);
  if (text.empty()) return std::optional<CountedValue>();
  auto revision = CountedRevision(data, k, cluster);
  if (!revision.ok()) return revision.error();
  if (*revision == 0) {
    return InvalidArgument("ConfigMap " + k8s::ClusterConfigMapName(cluster) + " key " + std::string(k.key) +
                               " has no " + std::string(k.revision_key) + " key next to it",
                           RepairHint(k));
  }
  return std::optional<CountedValue>(CountedValue{text, *revision});
}

std::string RoleLabelFor(const std::string& role) {
  if (role == k8s::kRolePrimary) return std::string(k8s::kRolePrimary);
  if (role == k8s::kRoleReplica) return std::string(k8s::kRoleReplica);
  return std::string(k8s::kRoleNone);
}

// The leader record in a Lease, or nullopt when nobody holds it; an error for foreign content.
Result<std::optional<LeaderRecord>> DecodeLease(const json& lease, const std::string& where) {
  const json* metadata = JsonMember(lease, "metadata");
  const json* annotations = metadata != nullptr ? JsonMember(*metadata, "annotations") : nullptr;
  std::string annotation =
      annotations != nullptr ? JsonString(*annotations, std::string(k8s::kLeaderAnnotation)) : "";
  const json* spec = JsonMember(lease, "spec");
  std::string holder = spec != nullptr ? JsonString(*spec, "holderIdentity") : "";
  if (annotation.empty()) {
    if (holder.empty()) return std::optional<LeaderRecord>();
    return InvalidArgument(where + " is held by '" + holder + "' but carries no pgpilot record",
                           "another program uses this Lease name: delete it or rename the cluster");
  }
  auto record = DecodeLeader(where, annotation);
  if (!record.ok()) return record.error();
  if (record->holder != holder) {
    return InvalidArgument(where + ": spec.holderIdentity '" + holder + "' disagrees with the "
                               "pgpilot record's holder '" + record->holder + "'",
                           "someone edited the Lease by hand; delete it and the agents elect again");
  }
  std::string rv = ResourceVersion(lease);
  char* end = nullptr;
  record->revision = std::strtoull(rv.c_str(), &end, 10);
  if (rv.empty() || *end != '\0') {
    return InvalidArgument(where + " has resourceVersion '" + rv + "', not a number",
                           "pgpilot needs an API server that numbers versions (every conformant one does)");
  }
  return std::optional<LeaderRecord>(*record);
}

}  // namespace

Result<std::unique_ptr<KubernetesStore>> KubernetesStore::Open(const KubernetesConfig& config,
                                                               const std::string& cluster,
                                                               const Clock& clock) {
  auto client = KubernetesClient::Create(config);
  if (!client.ok()) return client.error();
  return std::unique_ptr<KubernetesStore>(
      new KubernetesStore(std::move(client.value()), cluster, config, clock));
}

KubernetesStore::KubernetesStore(std::unique_ptr<KubernetesClient> client, std::string cluster,
                                 KubernetesConfig config, const Clock& clock)
    : client_(std::move(client)), cluster_(std::move(cluster)), config_(std::move(config)), clock_(clock) {}

KubernetesStore::~KubernetesStore() = default;

std::string KubernetesStore::Describe() const {
  return "kubernetes:" + client_->Describe() + " namespace " + client_->namespace_name();
}

void KubernetesStore::SetCallDeadline(std::optional<MonoTime> deadline) {
  if (!deadline) {
    client_->SetDeadline(std::nullopt);
    return;
  }
  client_->SetDeadline(std::chrono::steady_clock::now() + (*deadline - clock_.Now()));
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace {

struct Snapshot {
  std::optional<json> lease;     // absent: 404
  std::optional<json> cluster;   // the cluster ConfigMap
  std::optional<json> members;   // the members ConfigMap
};

Result<std::optional<json>> GetObject(KubernetesClient& client, const std::string& path) {
  auto reply = client.Call("GET", path);
  if (!reply.ok()) return reply.error();
  if (reply->status == 404) return std::optional<json>();
  if (reply->status != 200 || !reply->body.is_object()) {
    return InvalidArgument("Kubernetes API GET " + path + " answered HTTP " +
                           std::to_string(reply->status) + " without an object");
  }
  return std::optional<json>(reply->body);
}

}  // namespace

Result<ClusterView> KubernetesStore::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string& ns = client_->namespace_name();
  ClusterView view;
  auto lease = GetObject(*client_, ObjectPath(k8s::LeasesPath(ns), k8s::LeaseName(cluster_)));
  if (!lease.ok()) return lease.error();
  if (*lease) {
    auto record = DecodeLease(**lease, "Lease " + k8s::LeaseName(cluster_));
    if (!record.ok()) return record.error();
    view.leader = *record;
  }
  auto cluster = GetObject(*client_, ObjectPath(k8s::ConfigMapsPath(ns), k8s::ClusterConfigMapName(cluster_)));
  if (!cluster.ok()) return cluster.error();
  if (*cluster) {
    std::string where = "ConfigMap " + k8s::ClusterConfigMapName(cluster_) + " key ";
    std::string init = DataValue(**cluster, k8s::kInitializeKey);
    if (!init.empty()) {
      auto decoded = DecodeInitialize(where + std::string(k8s::kInitializeKey), init);
      if (!decoded.ok()) return decoded.error();
      view.initialize = *decoded;
    }
    std::string history = DataValue(**cluster, k8s::kHistoryKey);
    if (!history.empty()) {
      auto decoded = DecodeHistory(where + std::string(k8s::kHistoryKey), history);
      if (!decoded.ok()) return decoded.error();
      view.history = *decoded;
    }
    const json data = (**cluster).value("data", json::object());
    auto sync = ReadCounted(data, kSyncCounted, cluster_);
    if (!sync.ok()) return sync.error();
    if (*sync) {
      auto decoded = DecodeSync(where + std::string(k8s::kSyncKey), (*sync)->text);
      if (!decoded.ok()) return decoded.error();
      view.sync = *decoded;
      view.sync->revision = (*sync)->revision;
    }
    auto config = ReadCounted(data, kConfigCounted, cluster_);
    if (!config.ok()) return config.error();
    if (*config) {
      auto decoded = DecodeConfig(where + std::string(k8s::kConfigKey), (*config)->text);
      if (!decoded.ok()) return decoded.error();
      view.config = *decoded;
      view.config->revision = (*config)->revision;
    }
    auto requests = ReadCounted(data, kRequestsCounted, cluster_);
    if (!requests.ok()) return requests.error();
    if (*requests) {
      auto decoded = DecodeRequests(where + std::string(k8s::kRequestsKey), (*requests)->text);
      if (!decoded.ok()) return decoded.error();
      view.requests = *decoded;
      view.requests->revision = (*requests)->revision;
    }
    std::string switchover = DataValue(**cluster, k8s::kSwitchoverKey);
    if (!switchover.empty()) {
      auto decoded = DecodeSwitchover(where + std::string(k8s::kSwitchoverKey), switchover);
      if (!decoded.ok()) return decoded.error();
      view.switchover = *decoded;
    }
  }
  auto members = GetObject(*client_, ObjectPath(k8s::ConfigMapsPath(ns), k8s::MembersConfigMapName(cluster_)));
  if (!members.ok()) return members.error();
  if (*members && (**members).contains("data") && (**members)["data"].is_object()) {
    int64_t now = clock_.WallNow().unix_ms;
    for (const auto& [name, value] : (**members)["data"].items()) {
      std::string where = "ConfigMap " + k8s::MembersConfigMapName(cluster_) + " key " + name;
      json entry = value.is_string() ? json::parse(value.get<std::string>(), nullptr, false) : json();
      if (!entry.is_object() || !entry.contains("expires_ms") || !entry["expires_ms"].is_number_integer() ||
          !entry.contains("member")) {
        return InvalidArgument(where + " is not a pgpilot member entry",
                               "remove the key; the member publishes itself again");
      }
      if (entry["expires_ms"].get<int64_t>() < now) continue;  // its owner stopped refreshing it
      auto member = DecodeMember(where, JsonText(entry["member"]));
      if (!member.ok()) return member.error();
      view.members.push_back(*member);
    }
  }
  std::sort(view.members.begin(), view.members.end(),
            [](const MemberStatus& a, const MemberStatus& b) { return a.name < b.name; });
  return view;
}

// ---------------------------------------------------------------------------------------------
// The leader Lease

namespace {

// `acquired`: the acquireTime to keep, or "" for an acquisition now.
json LeaseObject(const std::string& cluster, const std::string& ns, const LeaderRecord& record,
                 const std::string& acquired, int64_t transitions, const std::string& resource_version) {
  std::string now = MicroTimeNow();
  int64_t seconds = std::max<int64_t>(1, (record.ttl.count() + 999) / 1000);
  json metadata = {{"name", k8s::LeaseName(cluster)},
                   {"namespace", ns},
                   {"labels", Labels(cluster)},
                   {"annotations", {{std::string(k8s::kLeaderAnnotation), EncodeLeader(record)}}}};
  if (!resource_version.empty()) metadata["resourceVersion"] = resource_version;
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", metadata},
          {"spec",
           {{"holderIdentity", record.holder},
            {"leaseDurationSeconds", seconds},
            {"acquireTime", acquired.empty() ? now : acquired},
            {"renewTime", now},
            {"leaseTransitions", transitions}}}};
}

int64_t Transitions(const json& lease) {
  if (!lease.contains("spec") || !lease["spec"].contains("leaseTransitions")) return 0;
  const json& t = lease["spec"]["leaseTransitions"];
  return t.is_number_integer() ? t.get<int64_t>() : 0;
}

// The acquireTime of the Lease as it is, to keep it across renewals.
std::string AcquireTime(const json& lease) {
  if (!lease.contains("spec") || !lease["spec"].contains("acquireTime")) return "";
  const json& t = lease["spec"]["acquireTime"];
  return t.is_string() ? t.get<std::string>() : "";
}

}  // namespace

namespace {

// The Lease as read (nullopt: none) and the record it carries (nullopt: nobody holds it).
struct LeaseState {
  std::optional<json> object;
  std::optional<LeaderRecord> record;
};

Result<LeaseState> ReadLease(KubernetesClient& client, const std::string& cluster) {
  auto object = GetObject(client, ObjectPath(k8s::LeasesPath(client.namespace_name()), k8s::LeaseName(cluster)));
  if (!object.ok()) return object.error();
  LeaseState state{*object, std::nullopt};
  if (*object) {
    auto record = DecodeLease(**object, "Lease " + k8s::LeaseName(cluster));
    if (!record.ok()) return record.error();
    state.record = *record;
  }
  return state;
}

// Writes `next` into the Lease as read in `state` (compare-and-swap on its resourceVersion; a new
// Lease when there was none). Granted with the stored record, or refused with what is there now.
Result<LeaseWrite> WriteLease(KubernetesClient& client, const std::string& cluster, const LeaseState& state,
                              const LeaderRecord& next) {
  const std::string& ns = client.namespace_name();
  Result<KubernetesReply> reply = Unavailable("not sent");
  if (!state.object) {
    json object = LeaseObject(cluster, ns, next, "", 0, "");
    reply = client.Call("POST", k8s::LeasesPath(ns), &object);
  } else {
    bool same_holder = state.record && state.record->holder == next.holder;
    json object = LeaseObject(cluster, ns, next, same_holder ? AcquireTime(*state.object) : "",
                              Transitions(*state.object) + (same_holder ? 0 : 1),
                              ResourceVersion(*state.object));
    reply = client.Call("PUT", ObjectPath(k8s::LeasesPath(ns), k8s::LeaseName(cluster)), &object);
  }
  if (!reply.ok()) return reply.error();
  if (reply->status == 200 || reply->status == 201) {
    auto written = DecodeLease(reply->body, "Lease " + k8s::LeaseName(cluster));
    if (!written.ok()) return written.error();
    return LeaseWrite{true, *written};
  }
  // 409 (changed or created under us) or 404 (deleted under us): the store said no.
  auto now = ReadLease(client, cluster);
  if (!now.ok()) return now.error();
  return LeaseWrite{false, now->record};
}

}  // namespace

Result<LeaseWrite> KubernetesStore::AcquireLeader(const LeaseRequest& request,
                                                  std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  auto state = ReadLease(*client_, cluster_);
  if (!state.ok()) return state.error();
  // "Absent" is: no Lease, or a Lease nobody holds. Otherwise the caller must name its revision.
  const std::optional<LeaderRecord>& record = state->record;
  if (!record ? expected_revision.has_value() : expected_revision != record->revision) {
    return LeaseWrite{false, record};
  }
  LeaderRecord next{request.member, (record ? record->term : 0) + 1, request.ttl, request.lsn,
                    request.timeline, false, 0};
  return WriteLease(*client_, cluster_, *state, next);
}

Result<LeaseWrite> KubernetesStore::RenewLeader(const LeaseRequest& request, uint64_t term) {
  std::lock_guard<std::mutex> lock(mu_);
  auto state = ReadLease(*client_, cluster_);
  if (!state.ok()) return state.error();
  if (!HeldBy(state->record, request.member, term)) return LeaseWrite{false, state->record};
  LeaderRecord next = *state->record;
  next.ttl = request.ttl;
  next.lsn = request.lsn;
  next.timeline = request.timeline;
  return WriteLease(*client_, cluster_, *state, next);
}

Result<bool> KubernetesStore::ReleaseLeader(const LeaseRequest& request, uint64_t term) {
  std::lock_guard<std::mutex> lock(mu_);
  auto state = ReadLease(*client_, cluster_);
  if (!state.ok()) return state.error();
  if (!HeldBy(state->record, request.member, term)) return false;
  LeaderRecord next = *state->record;
  next.released = true;
  next.lsn = request.lsn;
  next.timeline = request.timeline;
  auto written = WriteLease(*client_, cluster_, *state, next);
  if (!written.ok()) return written.error();
  return written->granted;
}

// ---------------------------------------------------------------------------------------------
// The cluster ConfigMap: initialize, history, sync, config, requests and switchover, updated by
// read-modify-write on resourceVersion

namespace {

// Applies `change` to the cluster ConfigMap's data (creating the ConfigMap when missing) until a
// write succeeds without conflict. `change` returns false to write nothing (the outcome is then
// false too).
Result<bool> UpdateClusterData(KubernetesClient& client, const std::string& cluster,
                               const std::function<Result<bool>(json& data)>& change) {
  const std::string& ns = client.namespace_name();
  std::string name = k8s::ClusterConfigMapName(cluster);
  std::string path = ObjectPath(k8s::ConfigMapsPath(ns), name);
  for (int attempt = 0; attempt < kConflictRetries; ++attempt) {
    auto current = GetObject(client, path);
    if (!current.ok()) return current.error();
    json data = *current && (**current).contains("data") && (**current)["data"].is_object()
                    ? (**current)["data"]
                    : json::object();
    auto changed = change(data);
    if (!changed.ok()) return changed.error();
    if (!*changed) return false;
    json object = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", name}, {"namespace", ns}, {"labels", Labels(cluster)}}},
                   {"data", data}};
    Result<KubernetesReply> reply = Unavailable("not sent");
    if (*current) {
      object["metadata"]["resourceVersion"] = ResourceVersion(**current);
      reply = client.Call("PUT", path, &object);
    } else {
      reply = client.Call("POST", k8s::ConfigMapsPath(ns), &object);
    }
    if (!reply.ok()) return reply.error();
    if (reply->status == 200 || reply->status == 201) return true;
    // 409 (someone wrote in between) or 404 (deleted in between): read again and retry.
  }
  return Unavailable("ConfigMap " + name + " kept changing under us (" +
                         std::to_string(kConflictRetries) + " conflicts in a row)",
                     "the agent retries on its next loop");
}

}  // namespace

Result<bool> KubernetesStore::ClaimInitialize(const std::string& member, const std::string& system_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return UpdateClusterData(*client_, cluster_, [&](json& data) -> Result<bool> {
    if (data.contains(std::string(k8s::kInitializeKey))) return false;
    data[std::string(k8s::kInitializeKey)] = EncodeInitialize(InitializeRecord{member, system_id});
    return true;
  });
}

namespace {

// Whether `data` holds an initialize claim by `member` that is not complete yet.
Result<bool> HoldsIncompleteClaim(const json& data, const std::string& member, const std::string& cluster) {
  std::string key(k8s::kInitializeKey);
  if (!data.contains(key) || !data[key].is_string()) return false;
  auto current = DecodeInitialize("ConfigMap " + k8s::ClusterConfigMapName(cluster) + " key " + key,
                                  data[key].get<std::string>());
  if (!current.ok()) return current.error();
  return current->claimed_by == member && !current->complete();
}

}  // namespace

Result<bool> KubernetesStore::CompleteInitialize(const std::string& member, const std::string& system_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return UpdateClusterData(*client_, cluster_, [&](json& data) -> Result<bool> {
    auto ours = HoldsIncompleteClaim(data, member, cluster_);
    if (!ours.ok() || !*ours) return ours;
    data[std::string(k8s::kInitializeKey)] = EncodeInitialize(InitializeRecord{member, system_id});
    return true;
  });
}

Result<bool> KubernetesStore::AbandonInitialize(const std::string& member) {
  std::lock_guard<std::mutex> lock(mu_);
  return UpdateClusterData(*client_, cluster_, [&](json& data) -> Result<bool> {
    auto ours = HoldsIncompleteClaim(data, member, cluster_);
    if (!ours.ok() || !*ours) return ours;
    data.erase(std::string(k8s::kInitializeKey));
    return true;
  });
}

Status KubernetesStore::AppendHistory(const HistoryEntry& entry) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key(k8s::kHistoryKey);
  auto done = UpdateClusterData(*client_, cluster_, [&](json& data) -> Result<bool> {
    std::vector<HistoryEntry> history;
    if (data.contains(key) && data[key].is_string()) {
      auto decoded = DecodeHistory("ConfigMap " + k8s::ClusterConfigMapName(cluster_) + " key " + key,
                                   data[key].get<std::string>());
      if (!decoded.ok()) return decoded.error();
      history = *decoded;
    }
    auto appendable = HistoryAppendable(history, entry);
    if (!appendable.ok() || !*appendable) return appendable;  // taken, or recorded already
    history.push_back(entry);
    data[key] = EncodeHistory(history);
    return true;
  });
  if (!done.ok()) return done.error();
  return Status::Ok();
}

namespace {

// Writes `value` at `k` if it is absent (expected_revision = nullopt) or still at
// `expected_revision`, bumping its counter. The compare is on the counter, inside the ConfigMap's
// read-modify-write: a conflict caused by another key (history, initialize) retries and compares
// again, so it does not refuse us.
Result<bool> CompareAndPut(KubernetesClient& client, const std::string& cluster, const CountedKey& k,
                           const std::string& value, std::optional<uint64_t> expected_revision) {
  return UpdateClusterData(client, cluster, [&](json& data) -> Result<bool> {
    auto current = ReadCounted(data, k, cluster);
    if (!current.ok()) return current.error();
    bool present = current->has_value();
    if (expected_revision ? !present || (*current)->revision != *expected_revision : present) return false;
    // Count on from the counter even when the value was removed: no revision comes back.
    auto last = CountedRevision(data, k, cluster);
    if (!last.ok()) return last.error();
    data[std::string(k.key)] = value;
    data[std::string(k.revision_key)] = std::to_string(*last + 1);
    return true;
  });
}

}  // namespace

Result<bool> KubernetesStore::WriteSync(const SyncRecord& record,
                                        std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  return CompareAndPut(*client_, cluster_, kSyncCounted, EncodeSync(record), expected_revision);
}

Result<bool> KubernetesStore::WriteConfig(const DynamicConfig& config,
                                          std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  return CompareAndPut(*client_, cluster_, kConfigCounted, EncodeConfig(config), expected_revision);
}

Result<bool> KubernetesStore::WriteRequests(const RequestsRecord& record,
                                            std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  return CompareAndPut(*client_, cluster_, kRequestsCounted, EncodeRequests(record), expected_revision);
}

Result<bool> KubernetesStore::RequestSwitchover(const SwitchoverRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  return UpdateClusterData(*client_, cluster_, [&](json& data) -> Result<bool> {
    if (!DataField(data, k8s::kSwitchoverKey).empty()) return false;  // one is pending
    data[std::string(k8s::kSwitchoverKey)] = EncodeSwitchover(record);
    return true;
  });
}

Status KubernetesStore::ClearSwitchover() {
  std::lock_guard<std::mutex> lock(mu_);
  auto done = UpdateClusterData(*client_, cluster_, [&](json& data) -> Result<bool> {
    if (!data.contains(std::string(k8s::kSwitchoverKey))) return false;  // nothing to clear
    data.erase(std::string(k8s::kSwitchoverKey));
    return true;
  });
  if (!done.ok()) return done.error();
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Members: one key each in the members ConfigMap (merge patches never conflict), and the role
// label of our own pod

namespace {

Status PatchMembers(KubernetesClient& client, const std::string& cluster, const json& data) {
  const std::string& ns = client.namespace_name();
  std::string name = k8s::MembersConfigMapName(cluster);
  std::string path = ObjectPath(k8s::ConfigMapsPath(ns), name);
  json patch = {{"data", data}};
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto reply = client.Call("PATCH", path, &patch);
    if (!reply.ok()) return reply.error();
    if (reply->status == 200) return Status::Ok();
    // 404: nobody has created it yet.
    json object = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", name}, {"namespace", ns}, {"labels", Labels(cluster)}}},
                   {"data", json::object()}};
    for (const auto& [k, v] : data.items()) {
      if (v.is_string()) object["data"][k] = v;
    }
    auto created = client.Call("POST", k8s::ConfigMapsPath(ns), &object);
    if (!created.ok()) return created.error();
    if (created->status == 201 || created->status == 200) return Status::Ok();
    // 409: another member created it meanwhile; patch again.
  }
  return Unavailable("could not write ConfigMap " + name, "the agent retries on its next loop");
}

}  // namespace

Status KubernetesStore::PutMember(const MemberStatus& status, Duration ttl) {
  std::lock_guard<std::mutex> lock(mu_);
  json entry = {{"expires_ms", clock_.WallNow().unix_ms + ttl.count()},
                {"member", json::parse(EncodeMember(status), nullptr, false)}};
  if (Status s = PatchMembers(*client_, cluster_, {{status.name, JsonText(entry)}}); !s.ok()) return s;
  if (!config_.label_pod) return Status::Ok();

  // Keep our pod's role label true, so the NAME-primary and NAME-replicas Services route right.
  const std::string& ns = client_->namespace_name();
  std::string role = RoleLabelFor(status.role);
  if (role != labelled_role_) {
    json patch = {{"metadata", {{"labels", {{std::string(k8s::kRoleLabel), role}}}}}};
    auto reply = client_->Call("PATCH", ObjectPath(k8s::PodsPath(ns), status.name), &patch);
    if (!reply.ok()) return reply.error();
    if (reply->status == 404) {
      return NotFound("pod " + status.name + " does not exist in namespace " + ns +
                          ": its role label cannot be set",
                      "the member name must be the pod's name (name: ${POD_NAME}), or set "
                      "store.kubernetes.label_pod: false outside Kubernetes");
    }
    labelled_role_ = role;
  }
  if (role != k8s::kRolePrimary) return Status::Ok();
  // As the primary, take the label off any other pod still claiming it (a crashed former primary
  // cannot take it off itself), so the primary Service selects exactly one pod.
  std::string selector = std::string(k8s::kClusterLabel) + "=" + cluster_ + "," +
                         std::string(k8s::kRoleLabel) + "=" + std::string(k8s::kRolePrimary);
  auto list = client_->Call("GET", k8s::PodsPath(ns) + "?labelSelector=" + KubernetesClient::QueryEscape(selector));
  if (!list.ok()) return list.error();
  if (list->status != 200 || !list->body.contains("items") || !list->body["items"].is_array()) {
    return Unavailable("listing the pods labelled primary answered HTTP " + std::to_string(list->status),
                       "the agent retries on its next loop");
  }
  for (const auto& pod : list->body["items"]) {
    const json* metadata = JsonMember(pod, "metadata");
    std::string name = metadata != nullptr ? JsonString(*metadata, "name") : "";
    if (name.empty() || name == status.name) continue;
    json patch = {{"metadata", {{"labels", {{std::string(k8s::kRoleLabel), std::string(k8s::kRoleNone)}}}}}};
    auto reply = client_->Call("PATCH", ObjectPath(k8s::PodsPath(ns), name), &patch);
    if (!reply.ok()) return reply.error();
    LogInfo("took the primary role label off pod " + name + " (we hold the leader lease)");
  }
  return Status::Ok();
}

Status KubernetesStore::DeleteMember(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return PatchMembers(*client_, cluster_, {{name, nullptr}});
}

// ---------------------------------------------------------------------------------------------
// Changes: polled (the API's watch is not used yet), digested to what Decide cares about.

Result<uint64_t> KubernetesStore::WaitForChange(uint64_t since, Duration timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto now = std::chrono::steady_clock::now();
    bool due = last_digest_.empty() || now - last_poll_ >= kPollEvery;
    if (due) {
      auto view = Load();
      last_poll_ = std::chrono::steady_clock::now();
      if (!view.ok()) {
        poll_failed_ = true;
        return view.error();
      }
      poll_failed_ = false;
      std::string digest = "|";
      if (view->leader) {
        digest += view->leader->holder + "/" + std::to_string(view->leader->term) +
                  (view->leader->released ? "/released" : "");
      }
      digest += "|";
      if (view->initialize) digest += view->initialize->claimed_by + "/" + view->initialize->system_id;
      digest += "|";
      for (const auto& m : view->members) digest += m.name + ",";
      digest += "|";
      if (view->switchover) digest += EncodeSwitchover(*view->switchover);
      digest += "|";
      if (view->config) digest += EncodeConfig(*view->config);
      digest += "|";
      // By revision, not content: every write of the requests bumps it and wakes the waiters.
      if (view->requests) digest += std::to_string(view->requests->revision);
      if (!last_digest_.empty() && digest != last_digest_) ++events_;
      last_digest_ = digest;
    }
    if (since == ~uint64_t{0} || events_ != since) return events_;
    now = std::chrono::steady_clock::now();
    if (now >= until) return events_;
    auto next_poll = last_poll_ + kPollEvery;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now, next_poll - now));
  }
}

}  // namespace pgpilot
