#include "store/etcd_store.h"

#include <algorithm>
#include <chrono>

#include "platform/json_fields.h"
#include "platform/json_text.h"
#include "store/base64.h"
#include "store/codec.h"
#include "store/etcd_client.h"
#include "store/keys.h"

namespace pgpilot {
namespace {

using json = nlohmann::json;

// One key-value as etcd returns it.
struct Kv {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

// etcd's 64-bit integers arrive as JSON strings (and zero values are omitted).
int64_t Int(const json& j, const char* field) {
  if (!j.contains(field)) return 0;
  const json& v = j[field];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    try {
      return std::stoll(v.get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

std::string B64(const std::string& s) { return Base64Encode(s); }

// The first key after every key starting with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last < 0xFF) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

Result<std::vector<Kv>> DecodeKvs(const json& answer) {
  std::vector<Kv> out;
  const json* kvs = JsonMember(answer, "kvs");
  if (kvs == nullptr) return out;
  if (!kvs->is_array()) {
    return InvalidArgument("etcd returned key-values that are not a list",
                           "the store's answer cannot be trusted; check the endpoints");
  }
  for (const json& kv : *kvs) {
    auto key = Base64Decode(JsonString(kv, "key"));
    auto value = Base64Decode(JsonString(kv, "value"));
    if (!kv.is_object() || !key || !value) {
      return InvalidArgument("etcd returned a key-value that is not an object with a base64 key and value",
                             "the store's answer cannot be trusted; check the endpoints");
    }
    out.push_back({*key, *value, Int(kv, "create_revision"), Int(kv, "mod_revision"), Int(kv, "lease")});
  }
  return out;
}

json Compare(const std::string& key, const char* target, int64_t value, const char* result = "EQUAL") {
  // Absent keys have create and mod revision 0.
  std::string field = std::string(target) == "CREATE" ? "create_revision" : "mod_revision";
  return {{"key", B64(key)}, {"result", result}, {"target", target}, {field, std::to_string(value)}};
}

json PutOp(const std::string& key, const std::string& value, int64_t lease = 0) {
  json put = {{"key", B64(key)}, {"value", B64(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  return {{"request_put", put}};
}

json DeleteOp(const std::string& key) { return {{"request_delete_range", {{"key", B64(key)}}}}; }

}  // namespace

// Small typed calls on top of the client; all under the store's mutex.
class EtcdOps {
 public:
  explicit EtcdOps(EtcdClient& c) : c_(c) {}

  Result<std::optional<Kv>> Get(const std::string& key) {
    auto answer = c_.Post("/v3/kv/range", {{"key", B64(key)}});
    if (!answer.ok()) return answer.error();
    auto kvs = DecodeKvs(*answer);
    if (!kvs.ok()) return kvs.error();
    if (kvs->empty()) return std::optional<Kv>();
    return std::optional<Kv>(kvs->front());
  }

  Result<std::vector<Kv>> List(const std::string& prefix) {
    auto answer = c_.Post("/v3/kv/range", {{"key", B64(prefix)}, {"range_end", B64(PrefixEnd(prefix))}});
    if (!answer.ok()) return answer.error();
    return DecodeKvs(*answer);
  }

  // Returns the revision after the transaction when it succeeded, nullopt when a compare failed.
  Result<std::optional<int64_t>> Txn(const json& compare, const json& success) {
    auto answer = c_.Post("/v3/kv/txn", {{"compare", compare}, {"success", success}});
    if (!answer.ok()) return answer.error();
    if (!JsonBool(*answer, "succeeded", false)) return std::optional<int64_t>();
    return std::optional<int64_t>(Int((*answer)["header"], "revision"));
  }

  Result<int64_t> Grant(Duration ttl) {
    int64_t seconds = std::max<int64_t>(1, (ttl.count() + 999) / 1000);
    auto answer = c_.Post("/v3/lease/grant", {{"TTL", std::to_string(seconds)}});
    if (!answer.ok()) return answer.error();
    int64_t id = Int(*answer, "ID");
    if (id == 0) return Unavailable("etcd granted no lease: " + JsonText(*answer));
    return id;
  }

  // True when the lease was alive and is extended; false when it had expired.
  Result<bool> KeepAlive(int64_t lease) {
    auto answer = c_.Post("/v3/lease/keepalive", {{"ID", std::to_string(lease)}});
    if (!answer.ok()) return answer.error();
    return Int(*answer, "TTL") > 0;
  }

  void Revoke(int64_t lease) {
    if (lease != 0) (void)c_.Post("/v3/lease/revoke", {{"ID", std::to_string(lease)}});
  }

  Status Delete(const std::string& key) {
    auto answer = c_.Post("/v3/kv/deleterange", {{"key", B64(key)}});
    return answer.ok() ? Status::Ok() : Status(answer.error());
  }

 private:
  EtcdClient& c_;
};

Result<std::unique_ptr<EtcdStore>> EtcdStore::Open(const EtcdConfig& config, const std::string& cluster,
                                                   const Clock& clock) {
  auto client = EtcdClient::Create(config);
  if (!client.ok()) return client.error();
  std::unique_ptr<EtcdStore> store(new EtcdStore(std::move(*client), cluster, clock));
  store->watcher_ = std::thread([s = store.get()] { s->WatchLoop(); });
  return store;
}

EtcdStore::EtcdStore(std::unique_ptr<EtcdClient> client, std::string cluster, const Clock& clock)
    : client_(std::move(client)), cluster_(std::move(cluster)), clock_(clock) {}

EtcdStore::~EtcdStore() {
  stopping_ = true;
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::string EtcdStore::Describe() const { return client_->Describe(); }

void EtcdStore::SetCallDeadline(std::optional<MonoTime> deadline) {
  if (!deadline) {
    client_->SetDeadline(std::nullopt);
    return;
  }
  // The client times requests on the steady clock; carry over what is left on ours.
  client_->SetDeadline(std::chrono::steady_clock::now() + (*deadline - clock_.Now()));
}

Result<ClusterView> EtcdStore::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string scope = keys::Scope(cluster_);
  auto kvs = EtcdOps(*client_).List(scope);
  if (!kvs.ok()) return kvs.error();
  ClusterView view;
  const std::string members = scope + std::string(keys::kMembers);
  for (const Kv& kv : *kvs) {
    if (kv.key.rfind(scope, 0) != 0) {
      return InvalidArgument("etcd returned key " + kv.key + ", outside the range " + scope + " asked for",
                             "the store's answer cannot be trusted; check the endpoints");
    }
    std::string name = kv.key.substr(scope.size());
    if (name == keys::kInitialize) {
      auto r = DecodeInitialize(kv.key, kv.value);
      if (!r.ok()) return r.error();
      view.initialize = *r;
    } else if (name == keys::kLeader) {
      auto r = DecodeLeader(kv.key, kv.value);
      if (!r.ok()) return r.error();
      view.leader = *r;
      view.leader->revision = static_cast<uint64_t>(kv.mod_revision);
    } else if (name == keys::kHistory) {
      auto r = DecodeHistory(kv.key, kv.value);
      if (!r.ok()) return r.error();
      view.history = *r;
    } else if (name == keys::kSync) {
      auto r = DecodeSync(kv.key, kv.value);
      if (!r.ok()) return r.error();
      view.sync = *r;
      view.sync->revision = static_cast<uint64_t>(kv.mod_revision);
    } else if (name == keys::kConfig) {
      auto r = DecodeConfig(kv.key, kv.value);
      if (!r.ok()) return r.error();
      view.config = *r;
      view.config->revision = static_cast<uint64_t>(kv.mod_revision);
    } else if (name == keys::kRequests) {
      auto r = DecodeRequests(kv.key, kv.value);
      if (!r.ok()) return r.error();
      view.requests = *r;
      view.requests->revision = static_cast<uint64_t>(kv.mod_revision);
    } else if (name == keys::kSwitchover) {
      auto r = DecodeSwitchover(kv.key, kv.value);
      if (!r.ok()) return r.error();
      view.switchover = *r;
    } else if (kv.key.rfind(members, 0) == 0) {
      auto r = DecodeMember(kv.key, kv.value);
      if (!r.ok()) return r.error();
      view.members.push_back(*r);
    }
  }
  std::sort(view.members.begin(), view.members.end(),
            [](const MemberStatus& a, const MemberStatus& b) { return a.name < b.name; });
  return view;
}

Result<bool> EtcdStore::ClaimInitialize(const std::string& member, const std::string& system_id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = keys::Key(cluster_, keys::kInitialize);
  auto done = EtcdOps(*client_).Txn(json::array({Compare(key, "CREATE", 0)}),
                                    json::array({PutOp(key, EncodeInitialize({member, system_id}))}));
  if (!done.ok()) return done.error();
  return done->has_value();
}

namespace {

// The revision of `member`'s incomplete initialize claim, or 0 when there is no such claim.
Result<int64_t> ReadOpenClaim(EtcdOps& ops, const std::string& key, const std::string& member) {
  auto kv = ops.Get(key);
  if (!kv.ok()) return kv.error();
  if (!kv->has_value()) return int64_t{0};
  auto current = DecodeInitialize(key, (*kv)->value);
  if (!current.ok()) return current.error();
  if (current->claimed_by != member || current->complete()) return int64_t{0};
  return (*kv)->mod_revision;
}

}  // namespace

Result<bool> EtcdStore::CompleteInitialize(const std::string& member, const std::string& system_id) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  std::string key = keys::Key(cluster_, keys::kInitialize);
  auto claim = ReadOpenClaim(ops, key, member);
  if (!claim.ok()) return claim.error();
  if (*claim == 0) return false;
  auto done = ops.Txn(json::array({Compare(key, "MOD", *claim)}),
                      json::array({PutOp(key, EncodeInitialize({member, system_id}))}));
  if (!done.ok()) return done.error();
  return done->has_value();
}

Result<bool> EtcdStore::AbandonInitialize(const std::string& member) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  std::string key = keys::Key(cluster_, keys::kInitialize);
  auto claim = ReadOpenClaim(ops, key, member);
  if (!claim.ok()) return claim.error();
  if (*claim == 0) return false;
  auto done = ops.Txn(json::array({Compare(key, "MOD", *claim)}), json::array({DeleteOp(key)}));
  if (!done.ok()) return done.error();
  return done->has_value();
}

namespace {

struct LeaderKv {
  std::optional<LeaderRecord> record;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

Result<LeaderKv> ReadLeader(EtcdOps& ops, const std::string& key) {
  auto kv = ops.Get(key);
  if (!kv.ok()) return kv.error();
  LeaderKv out;
  if (!kv->has_value()) return out;
  auto record = DecodeLeader(key, (*kv)->value);
  if (!record.ok()) return record.error();
  record->revision = static_cast<uint64_t>((*kv)->mod_revision);
  out.record = *record;
  out.mod_revision = (*kv)->mod_revision;
  out.lease = (*kv)->lease;
  return out;
}

}  // namespace

Result<LeaseWrite> EtcdStore::AcquireLeader(const LeaseRequest& req,
                                            std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  std::string key = keys::Key(cluster_, keys::kLeader);
  std::string term_key = keys::Key(cluster_, keys::kLeaderTerm);
  auto current = ReadLeader(ops, key);
  if (!current.ok()) return current.error();
  bool matches = expected_revision
                     ? current->record && static_cast<uint64_t>(current->mod_revision) == *expected_revision
                     : !current->record;
  if (!matches) return LeaseWrite{false, current->record};

  // Terms only grow, even when etcd expired the previous record with its lease.
  auto term_kv = ops.Get(term_key);
  if (!term_kv.ok()) return term_kv.error();
  uint64_t last_term = current->record ? current->record->term : 0;
  int64_t term_revision = 0;
  if (term_kv->has_value()) {
    term_revision = (*term_kv)->mod_revision;
    try {
      last_term = std::max<uint64_t>(last_term, std::stoull((*term_kv)->value));
    } catch (...) {
      return InvalidArgument("etcd key " + term_key + " does not hold a number",
                             "the key prefix holds foreign data; use a fresh cluster name");
    }
  }
  auto lease = ops.Grant(req.ttl);
  if (!lease.ok()) return lease.error();
  LeaderRecord next{req.member, last_term + 1, req.ttl, req.lsn, req.timeline, false, 0};
  json compare = json::array({expected_revision ? Compare(key, "MOD", current->mod_revision)
                                                : Compare(key, "CREATE", 0),
                              term_revision ? Compare(term_key, "MOD", term_revision)
                                            : Compare(term_key, "CREATE", 0)});
  auto done = ops.Txn(compare, json::array({PutOp(key, EncodeLeader(next), *lease),
                                            PutOp(term_key, std::to_string(next.term))}));
  if (!done.ok() || !done->has_value()) {
    ops.Revoke(*lease);
    if (!done.ok()) return done.error();
    auto now = ReadLeader(ops, key);
    if (!now.ok()) return now.error();
    return LeaseWrite{false, now->record};
  }
  ops.Revoke(current->lease);  // the previous holder's lease, if the record had one
  next.revision = static_cast<uint64_t>(**done);
  return LeaseWrite{true, next};
}

Result<LeaseWrite> EtcdStore::RenewLeader(const LeaseRequest& req, uint64_t term) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  std::string key = keys::Key(cluster_, keys::kLeader);
  auto current = ReadLeader(ops, key);
  if (!current.ok()) return current.error();
  const auto& rec = current->record;
  if (!HeldBy(rec, req.member, term) || current->lease == 0) {
    return LeaseWrite{false, rec};
  }
  // The etcd lease expires the key with the ttl it was granted. When the ttl changed (an operator
  // set it cluster-wide), the record moves to a new lease of the new ttl: kept alive, the old one
  // would delete the key before (longer ttl) or after (shorter) the holder's own deadline.
  int64_t lease = current->lease;
  if (rec->ttl == req.ttl) {
    auto alive = ops.KeepAlive(lease);
    if (!alive.ok()) return alive.error();
    if (!*alive) return LeaseWrite{false, std::nullopt};  // expired meanwhile: the key is gone
  } else {
    auto granted = ops.Grant(req.ttl);
    if (!granted.ok()) return granted.error();
    lease = *granted;
  }
  // Rewrite the record so its revision moves: observers see a renewal, not silence.
  LeaderRecord next{req.member, term, req.ttl, req.lsn, req.timeline, false, 0};
  auto done = ops.Txn(json::array({Compare(key, "MOD", current->mod_revision)}),
                      json::array({PutOp(key, EncodeLeader(next), lease)}));
  // Unanswered, the write may still have been applied: the new lease may hold the record, and
  // revoking it would delete the key. Left alone, an unused one expires by itself.
  if (!done.ok()) return done.error();
  if (!done->has_value()) {
    if (lease != current->lease) ops.Revoke(lease);
    auto now = ReadLeader(ops, key);
    if (!now.ok()) return now.error();
    return LeaseWrite{false, now->record};
  }
  if (lease != current->lease) ops.Revoke(current->lease);  // no key left on it
  next.revision = static_cast<uint64_t>(**done);
  return LeaseWrite{true, next};
}

Result<bool> EtcdStore::ReleaseLeader(const LeaseRequest& req, uint64_t term) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  std::string key = keys::Key(cluster_, keys::kLeader);
  auto current = ReadLeader(ops, key);
  if (!current.ok()) return current.error();
  const auto& rec = current->record;
  if (!HeldBy(rec, req.member, term)) return false;
  // The released record carries no lease: it stays, with our final position, until taken.
  LeaderRecord next{req.member, term, req.ttl, req.lsn, req.timeline, true, 0};
  auto done = ops.Txn(json::array({Compare(key, "MOD", current->mod_revision)}),
                      json::array({PutOp(key, EncodeLeader(next))}));
  if (!done.ok()) return done.error();
  if (!done->has_value()) return false;
  ops.Revoke(current->lease);
  return true;
}

Status EtcdStore::PutMember(const MemberStatus& status, Duration ttl) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  MemberLease& lease = member_leases_[status.name];
  bool alive = false;
  if (lease.id != 0 && lease.ttl == ttl) {
    auto kept = ops.KeepAlive(lease.id);
    if (!kept.ok()) return kept.error();
    alive = *kept;
  }
  int64_t replaced = 0;
  if (!alive) {
    auto granted = ops.Grant(ttl);
    if (!granted.ok()) return granted.error();
    replaced = lease.id;
    lease = {*granted, ttl};
  }
  std::string key = keys::MemberKey(cluster_, status.name);
  auto done = ops.Txn(json::array(), json::array({PutOp(key, EncodeMember(status), lease.id)}));
  if (!done.ok()) {
    lease.id = 0;  // perhaps "lease not found": start over next time
    return done.error();
  }
  // Only now that the entry sits on the new lease: revoking the old one earlier would delete the
  // entry for a moment, and watchers would see the member leave and join again.
  ops.Revoke(replaced);
  return Status::Ok();
}

Status EtcdStore::DeleteMember(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  if (Status s = ops.Delete(keys::MemberKey(cluster_, name)); !s.ok()) return s;
  if (auto it = member_leases_.find(name); it != member_leases_.end()) {
    ops.Revoke(it->second.id);
    member_leases_.erase(it);
  }
  return Status::Ok();
}

Status EtcdStore::AppendHistory(const HistoryEntry& entry) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  std::string key = keys::Key(cluster_, keys::kHistory);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto kv = ops.Get(key);
    if (!kv.ok()) return kv.error();
    std::vector<HistoryEntry> history;
    int64_t revision = 0;
    if (kv->has_value()) {
      auto decoded = DecodeHistory(key, (*kv)->value);
      if (!decoded.ok()) return decoded.error();
      history = *decoded;
      revision = (*kv)->mod_revision;
    }
    auto appendable = HistoryAppendable(history, entry);
    if (!appendable.ok()) return appendable.error();
    if (!*appendable) return Status::Ok();
    history.push_back(entry);
    auto done = ops.Txn(json::array({revision ? Compare(key, "MOD", revision) : Compare(key, "CREATE", 0)}),
                        json::array({PutOp(key, EncodeHistory(history))}));
    if (!done.ok()) return done.error();
    if (done->has_value()) return Status::Ok();
  }
  return Unavailable("etcd key " + key + " kept changing while appending to the history");
}

namespace {

// Puts `value` at `key` if the key is absent (expected_revision = nullopt) or its mod revision is
// still `expected_revision`. False when it was not. No lease: the key does not expire.
Result<bool> CompareAndPut(EtcdOps& ops, const std::string& key, const std::string& value,
                           std::optional<uint64_t> expected_revision) {
  json compare = json::array();
  if (expected_revision) {
    compare.push_back(Compare(key, "MOD", static_cast<int64_t>(*expected_revision)));
    // An absent key has mod revision 0 too: an expected revision also requires the key to exist.
    compare.push_back(Compare(key, "CREATE", 0, "GREATER"));
  } else {
    compare.push_back(Compare(key, "CREATE", 0));
  }
  auto done = ops.Txn(compare, json::array({PutOp(key, value)}));
  if (!done.ok()) return done.error();
  return done->has_value();
}

}  // namespace

Result<bool> EtcdStore::WriteSync(const SyncRecord& record, std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  return CompareAndPut(ops, keys::Key(cluster_, keys::kSync), EncodeSync(record), expected_revision);
}

Result<bool> EtcdStore::WriteConfig(const DynamicConfig& config,
                                    std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  return CompareAndPut(ops, keys::Key(cluster_, keys::kConfig), EncodeConfig(config), expected_revision);
}

Result<bool> EtcdStore::WriteRequests(const RequestsRecord& record,
                                      std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  return CompareAndPut(ops, keys::Key(cluster_, keys::kRequests), EncodeRequests(record), expected_revision);
}

Result<bool> EtcdStore::RequestSwitchover(const SwitchoverRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  EtcdOps ops(*client_);
  // A pending request stays until the leader carries it out or someone clears it.
  return CompareAndPut(ops, keys::Key(cluster_, keys::kSwitchover), EncodeSwitchover(record), std::nullopt);
}

Status EtcdStore::ClearSwitchover() {
  std::lock_guard<std::mutex> lock(mu_);
  return EtcdOps(*client_).Delete(keys::Key(cluster_, keys::kSwitchover));
}

Result<uint64_t> EtcdStore::WaitForChange(uint64_t since, Duration timeout) {
  std::unique_lock<std::mutex> lock(watch_mu_);
  auto until = std::chrono::steady_clock::now() + timeout;
  watch_cv_.wait_until(lock, until, [&] { return events_ != since || stopping_.load(); });
  if (events_ == since && !watch_connected_) {
    return Unavailable("etcd watch not connected" + (watch_error_.empty() ? "" : ": " + watch_error_));
  }
  if (events_ != since) return events_;
  // A silent watch proves nothing while etcd is frozen (its connections stay open): unless etcd
  // answered a request sent within the last second (the loop's own reads usually did), ask it,
  // at most once a second, before answering "nothing changed".
  uint64_t token = events_;
  auto now = std::chrono::steady_clock::now();
  auto proven = std::max(last_probe_, client_->LastAnsweredSentAt());
  if (client_->LastRequestUnavailable() || now - proven >= std::chrono::seconds(1)) {
    last_probe_ = now;
    lock.unlock();
    auto probe = client_->Post("/v3/kv/range", {{"key", B64(keys::Scope(cluster_))}, {"count_only", true}});
    if (!probe.ok()) return probe.error();
  }
  return token;
}

void EtcdStore::WatchLoop() {
  std::string scope = keys::Scope(cluster_);
  std::string leader_key = keys::Key(cluster_, keys::kLeader);
  std::string init_key = keys::Key(cluster_, keys::kInitialize);
  std::string switchover_key = keys::Key(cluster_, keys::kSwitchover);
  std::string config_key = keys::Key(cluster_, keys::kConfig);
  std::string requests_key = keys::Key(cluster_, keys::kRequests);
  std::string members = scope + std::string(keys::kMembers);
  json request = {{"create_request",
                   {{"key", B64(scope)}, {"range_end", B64(PrefixEnd(scope))}, {"prev_kv", true}}}};
  auto bump = [this](bool connected) {
    std::lock_guard<std::mutex> lock(watch_mu_);
    ++events_;
    watch_connected_ = connected;
    watch_cv_.notify_all();
  };
  // Which events matter to the HA decision: see Store::WaitForChange.
  auto matters = [&](const json& event) {
    bool deleted = JsonString(event, "type", "PUT") == "DELETE";
    const json* kv_member = JsonMember(event, "kv");
    const json kv = kv_member != nullptr ? *kv_member : json::object();
    auto key = Base64Decode(JsonString(kv, "key"));
    if (!key) return false;
    if (*key == init_key || *key == switchover_key || *key == config_key || *key == requests_key) return true;
    if (key->rfind(members, 0) == 0) return deleted || Int(kv, "create_revision") == Int(kv, "mod_revision");
    if (*key != leader_key) return false;
    const json* prev_kv = JsonMember(event, "prev_kv");
    if (deleted || prev_kv == nullptr) return true;
    auto now = Base64Decode(JsonString(kv, "value"));
    auto before = Base64Decode(JsonString(*prev_kv, "value"));
    if (!now || !before) return true;
    auto a = DecodeLeader(*key, *now);
    auto b = DecodeLeader(*key, *before);
    return !a.ok() || !b.ok() || a->holder != b->holder || a->term != b->term || a->released != b->released;
  };
  while (!stopping_.load()) {
    Status ended = client_->Stream(
        "/v3/watch", request,
        [&](const json& message) {
          if (JsonBool(message, "created", false)) {
            bump(true);  // anything may have changed while we were not watching
            return;
          }
          const json* events = JsonMember(message, "events");
          if (events == nullptr || !events->is_array()) return;
          for (const json& event : *events) {
            if (matters(event)) {
              bump(true);
              return;
            }
          }
        },
        stopping_);
    {
      std::lock_guard<std::mutex> lock(watch_mu_);
      watch_connected_ = false;
      watch_error_ = ended.ok() ? "" : ended.error().message;
    }
    std::unique_lock<std::mutex> lock(watch_mu_);
    watch_cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_.load(); });
  }
}

}  // namespace pgpilot
