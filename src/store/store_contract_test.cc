// The Store contract (store/store.h), written once and run against every backend: the embedded
// SQLite store, etcd v3 (a real etcd started by the test, tests/support/etcd_process.h) and the
// Kubernetes store (against the API server test double, tests/support/k8s_api_double.h).
// Backend-specific cases (SQLite garbage injection, fake clocks) live in each backend's own test.
//
// Every test works in a cluster of its own (a unique cluster name), so tests never share keys.

// Set to 0 to run the contract against SQLite only (e.g. while the etcd store does not build).
#ifndef PGPILOT_STORE_CONTRACT_ETCD
#define PGPILOT_STORE_CONTRACT_ETCD 1
#endif

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/clock.h"
#include "platform/net.h"
#include "support/temp_dir.h"
#include "support/sample_member.h"
#include "store/keys.h"
#include "store/base64.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "support/etcd_process.h"
#include "support/k8s_api_double.h"
#include "store/k8s_store.h"
#if PGPILOT_STORE_CONTRACT_ETCD
#include "store/etcd_store.h"
#endif

namespace pgpilot {
namespace {

MemberStatus Member(const std::string& name, uint64_t lsn = 0x3000148) {
  return testing::SampleMember(name, lsn);
}

using ::testing::AnyOf;
using ::testing::HasSubstr;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

milliseconds Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
}

// Polls `condition` every 100 ms until it holds or `timeout` passes; returns whether it held.
bool Eventually(const std::function<bool()>& condition, milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(100));
  }
}

// A directory under /tmp that removes itself.
class TempDir : public testing::ScratchDir {
 public:
  TempDir() : ScratchDir("pgpilot-contract-test") {}
};


LeaseRequest Req(const std::string& member, uint64_t lsn = 0x100, Timeline tl = 1,
                 Duration ttl = Duration(10000)) {
  return LeaseRequest{member, ttl, Lsn{lsn}, tl};
}

// The member entries' ttl in the expiry tests: etcd rounds lease TTLs up to whole seconds, and its
// minimum useful TTL is bounded by the election timeout.
constexpr Duration kShortTtl{2000};
// How long an entry with kShortTtl may take to disappear.
constexpr milliseconds kExpiryDeadline{6000};

// The current change token without waiting (as the HA loop gets its first one).
uint64_t Token(Store& s) {
  auto t = s.WaitForChange(~uint64_t{0}, Duration(0));
  EXPECT_TRUE(t.ok()) << t.error().ToString();
  return t.ok() ? *t : 0;
}

// A token after which nothing is pending: changes made before this call (whose notifications may
// still be on their way, e.g. over etcd's watch) have all been consumed.
uint64_t SettledToken(Store& s) {
  uint64_t token = Token(s);
  for (int i = 0; i < 20; ++i) {
    auto next = s.WaitForChange(token, Duration(400));
    EXPECT_TRUE(next.ok()) << next.error().ToString();
    if (!next.ok() || *next == token) return token;
    token = *next;
  }
  ADD_FAILURE() << "the change token never settled";
  return token;
}

// Waits on `waiter` while `change` runs on another thread after 150 ms; returns the time taken.
milliseconds WaitAcross(Store& waiter, uint64_t token, const std::function<void()>& change,
                        uint64_t* out, Duration timeout = Duration(5000)) {
  auto start = SteadyClock::now();
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(150));
    change();
  });
  auto r = waiter.WaitForChange(token, timeout);
  auto elapsed = Since(start);
  t.join();
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  *out = r.ok() ? *r : token;
  return elapsed;
}

// Closes store instances in parallel (closing one may wait for its background threads).
void CloseAll(std::vector<std::unique_ptr<Store>>& stores) {
  std::vector<std::thread> closers;
  for (auto& s : stores) closers.emplace_back([&s] { s.reset(); });
  for (auto& t : closers) t.join();
  stores.clear();
}

// ---------------------------------------------------------------------------------------------
// The shared etcd: started on first use, stopped when the test program ends.

class SharedEtcd {
 public:
  // The running etcd, starting (or restarting) it if needed; nullptr with `*error` set on failure.
  static testing::EtcdProcess* Get(std::string* error) {
    auto& self = Instance();
    if (!self.start_error_.empty()) {
      *error = self.start_error_;
      return nullptr;
    }
    if (self.etcd_ && self.etcd_->paused()) (void)self.etcd_->Resume();  // left paused by a failed test
    if (self.etcd_ && !self.etcd_->Healthy(Duration(2000))) {
      Status restarted = self.etcd_->Restart();
      if (!restarted.ok()) self.etcd_.reset();
    }
    if (!self.etcd_) {
      auto started = testing::EtcdProcess::Start();
      if (!started.ok()) {
        self.start_error_ = "could not start etcd: " + started.error().ToString();
        *error = self.start_error_;
        return nullptr;
      }
      self.etcd_ = std::move(started.value());
    }
    return self.etcd_.get();
  }
  static void Shutdown() { Instance().etcd_.reset(); }

 private:
  static SharedEtcd& Instance() {
    static SharedEtcd self;
    return self;
  }
  std::unique_ptr<testing::EtcdProcess> etcd_;
  std::string start_error_;  // once starting failed, later tests fail fast with the same reason
};

// The shared Kubernetes API double, started on first use.
class SharedApiDouble {
 public:
  static testing::KubernetesApiDouble* Get(std::string* error) {
    static std::unique_ptr<testing::KubernetesApiDouble> api;
    static std::string start_error;
    if (!api && start_error.empty()) {
      auto started = testing::KubernetesApiDouble::Start();
      if (started.ok()) api = std::move(started.value());
      else start_error = "could not start the API double: " + started.error().ToString();
    }
    if (api) api->Resume();  // left paused by a failed test
    *error = start_error;
    return api.get();
  }
};

class SharedEtcdEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedEtcd::Shutdown(); }
};
[[maybe_unused]] ::testing::Environment* const kSharedEtcdEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedEtcdEnvironment);

// A cluster name no other test (or earlier run against the same etcd) uses.
std::string UniqueCluster() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? info->name() : "test";
  std::string clean;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) clean += static_cast<char>(std::tolower(c));
    if (clean.size() >= 40) break;
  }
  return clean + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

// ---------------------------------------------------------------------------------------------
// The fixture: one backend per parameter.

// Makes the store unreachable while it lives.
class Outage {
 public:
  virtual ~Outage() = default;
};

class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  bool IsEtcd() const { return GetParam() == "etcd"; }
  bool IsKubernetes() const { return GetParam() == "kubernetes"; }

  void SetUp() override {
    cluster_ = UniqueCluster();
    if (IsKubernetes()) {
      std::string error;
      api_ = SharedApiDouble::Get(&error);
      ASSERT_NE(api_, nullptr) << error;
    } else if (IsEtcd()) {
#if PGPILOT_STORE_CONTRACT_ETCD
      std::string error;
      etcd_ = SharedEtcd::Get(&error);
      ASSERT_NE(etcd_, nullptr) << error;
#else
      GTEST_SKIP() << "the etcd backend is disabled (PGPILOT_STORE_CONTRACT_ETCD=0)";
#endif
    } else {
      ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
      sqlite_path_ = dir_.path() + "/store.db";
    }
  }

  // A new store instance (its own connection) on `cluster` (default: this test's cluster).
  std::unique_ptr<Store> Open(const std::string& cluster = "") {
    const std::string& c = cluster.empty() ? cluster_ : cluster;
    if (IsKubernetes()) {
      KubernetesConfig config;
      config.enabled = true;
      config.api_server = api_->url();
      config.namespace_name = "contract";
      config.label_pod = false;
      config.request_timeout = request_timeout_;
      auto store = KubernetesStore::Open(config, c, clock_);
      EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().ToString());
      if (!store.ok()) return nullptr;
      return std::move(store.value());
    }
    if (IsEtcd()) {
#if PGPILOT_STORE_CONTRACT_ETCD
      EtcdConfig config;
      config.endpoints = {etcd_->endpoint()};
      config.request_timeout = request_timeout_;
      auto store = EtcdStore::Open(config, c, clock_);
      EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().ToString());
      if (!store.ok()) return nullptr;
      return std::move(store.value());
#else
      return nullptr;
#endif
    }
    auto store = SqliteStore::Open(sqlite_path_, c, clock_);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().ToString());
    if (!store.ok()) return nullptr;
    return std::move(store.value());
  }

  // How soon a waiter must see another instance's change.
  milliseconds Prompt() const { return IsEtcd() ? milliseconds(2000) : milliseconds(1500); }
  // `change`, run from another thread, must wake `waiter` (waiting from `token`) within
  // Prompt(); returns the token once the waiter has settled again.
  uint64_t ExpectWakes(Store& waiter, uint64_t token, const std::string& what,
                       const std::function<void()>& change) {
    uint64_t next = 0;
    milliseconds elapsed = WaitAcross(waiter, token, change, &next);
    EXPECT_NE(next, token) << what << " wakes the waiter";
    EXPECT_LT(elapsed, Prompt()) << what;
    return SettledToken(waiter);
  }
  // How soon a waiter must see a change it already missed.
  milliseconds AtOnce() const { return IsEtcd() ? milliseconds(1000) : milliseconds(500); }
  // Whether the store itself removes a leader record whose ttl passed (etcd's leases do; for the
  // embedded store observers judge expiry, core/lease.h).
  bool ExpiresLeaderItself() const { return IsEtcd(); }
  // Whether reads still work during the outage StartOutage() makes: SQLite's WAL lets readers
  // through a writer's lock.
  bool ReadsSurviveOutage() const { return !IsEtcd() && !IsKubernetes(); }

  class SqliteLock final : public Outage {
   public:
    explicit SqliteLock(const std::string& path) {
      if (sqlite3_open(path.c_str(), &db_) == SQLITE_OK &&
          sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK) {
        locked_ = true;
      }
    }
    ~SqliteLock() override {
      if (locked_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db_);
    }
    bool locked() const { return locked_; }

   private:
    sqlite3* db_ = nullptr;
    bool locked_ = false;
  };

  class EtcdPause final : public Outage {
   public:
    explicit EtcdPause(testing::EtcdProcess* etcd) : etcd_(etcd) { paused_ = etcd_->Pause().ok(); }
    ~EtcdPause() override {
      if (paused_) (void)etcd_->Resume();
    }
    bool paused() const { return paused_; }

   private:
    testing::EtcdProcess* etcd_;
    bool paused_ = false;
  };

  class ApiPause final : public Outage {
   public:
    explicit ApiPause(testing::KubernetesApiDouble* api) : api_(api) { api_->Pause(); }
    ~ApiPause() override { api_->Resume(); }

   private:
    testing::KubernetesApiDouble* api_;
  };

  // The backend's outage: etcd frozen (SIGSTOP: connections hang), the API server double paused
  // (requests hang), SQLite's file locked by another connection for longer than the store's busy
  // timeout.
  std::unique_ptr<Outage> StartOutage() {
    if (IsKubernetes()) return std::make_unique<ApiPause>(api_);
    if (IsEtcd()) {
      auto pause = std::make_unique<EtcdPause>(etcd_);
      EXPECT_TRUE(pause->paused());
      return pause;
    }
    auto lock = std::make_unique<SqliteLock>(sqlite_path_);
    EXPECT_TRUE(lock->locked());
    return lock;
  }

  TempDir dir_;
  std::string sqlite_path_;
  testing::EtcdProcess* etcd_ = nullptr;
  testing::KubernetesApiDouble* api_ = nullptr;
  Duration request_timeout_{2000};  // EtcdConfig's and KubernetesConfig's default
  std::string cluster_;
  RealClock clock_;
};

// ---------------------------------------------------------------------------------------------
// Opening

TEST_P(StoreContractTest, FreshStoreLoadsEmpty) {
  auto s = Open();
  ASSERT_TRUE(s);
  auto view = s->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_FALSE(view->initialize.has_value());
  EXPECT_FALSE(view->leader.has_value());
  EXPECT_TRUE(view->members.empty());
  EXPECT_TRUE(view->history.empty());
  EXPECT_FALSE(view->sync.has_value());
  EXPECT_FALSE(view->switchover.has_value());
  EXPECT_FALSE(view->config.has_value());
  EXPECT_FALSE(s->Describe().empty());
}

TEST_P(StoreContractTest, ClosingAnInstanceIsQuick) {
  // Agents open one instance and close it on shutdown; tools (ctl) open and close many.
  for (bool used : {false, true}) {
    auto s = Open();
    ASSERT_TRUE(s);
    if (used) {
      ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(60000)).ok());
      (void)SettledToken(*s);
    }
    auto start = SteadyClock::now();
    s.reset();
    auto took = Since(start);
    EXPECT_LT(took, milliseconds(1500)) << (used ? "a used" : "a fresh") << " instance took "
                                       << took.count() << " ms to close";
  }
}

// ---------------------------------------------------------------------------------------------
// initialize

TEST_P(StoreContractTest, InitializeRaceHasExactlyOneWinnerAcrossInstances) {
  constexpr int kRounds = 3;
  constexpr int kThreads = 12;
  for (int round = 0; round < kRounds; ++round) {
    const std::string cluster = cluster_ + "-race-" + std::to_string(round);
    // Every contender has its own store instance (its own connection).
    std::vector<std::unique_ptr<Store>> stores;
    for (int i = 0; i < kThreads; ++i) {
      stores.push_back(Open(cluster));
      ASSERT_TRUE(stores.back());
    }
    std::latch start(kThreads);
    std::vector<int> outcome(kThreads, -1);  // 1 won, 0 lost, 2 error
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        auto r = stores[i]->ClaimInitialize("m" + std::to_string(i), "");
        if (!r.ok()) {
          outcome[i] = 2;
          errors[i] = r.error().ToString();
        } else {
          outcome[i] = *r ? 1 : 0;
        }
      });
    }
    for (auto& t : threads) t.join();
    int winners = 0, winner = -1;
    for (int i = 0; i < kThreads; ++i) {
      EXPECT_NE(outcome[i], 2) << "contender " << i << ": " << errors[i];
      if (outcome[i] == 1) {
        ++winners;
        winner = i;
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round;
    auto view = Open(cluster)->Load();
    ASSERT_TRUE(view.ok()) << view.error().ToString();
    ASSERT_TRUE(view->initialize.has_value());
    EXPECT_EQ(view->initialize->claimed_by, "m" + std::to_string(winner));
    EXPECT_FALSE(view->initialize->complete());
    CloseAll(stores);
  }
}

TEST_P(StoreContractTest, SecondClaimLosesAndKeepsTheFirst) {
  auto a = Open();
  auto b = Open();
  auto first = a->ClaimInitialize("pg-0", "");
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_TRUE(*first);
  auto second = b->ClaimInitialize("pg-1", "");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  auto again = a->ClaimInitialize("pg-0", "");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "a claim is created once, even for the same member";
  auto view = b->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->initialize.has_value());
  EXPECT_EQ(view->initialize->claimed_by, "pg-0");
}

TEST_P(StoreContractTest, CompleteInitializeOnlyByTheClaimerAndOnlyOnce) {
  auto s = Open();
  auto none = s->CompleteInitialize("pg-0", "7000000000000000001");
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  EXPECT_FALSE(*none) << "nothing to complete without a claim";
  EXPECT_FALSE(s->Load()->initialize.has_value()) << "completing never creates the claim";

  ASSERT_TRUE(*s->ClaimInitialize("pg-0", ""));
  auto other = s->CompleteInitialize("pg-1", "7000000000000000001");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(*other);
  auto view = s->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_FALSE(view->initialize->complete());

  auto mine = s->CompleteInitialize("pg-0", "7000000000000000001");
  ASSERT_TRUE(mine.ok());
  EXPECT_TRUE(*mine);
  view = Open()->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->initialize.has_value());
  EXPECT_EQ(view->initialize->claimed_by, "pg-0");
  EXPECT_EQ(view->initialize->system_id, "7000000000000000001");
  EXPECT_TRUE(view->initialize->complete());

  auto twice = s->CompleteInitialize("pg-0", "7999999999999999999");
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(*twice) << "a completed initialize is never overwritten";
  view = s->Load();
  EXPECT_EQ(view->initialize->system_id, "7000000000000000001");
}

TEST_P(StoreContractTest, AbandonInitializeOnlyOurIncompleteClaim) {
  auto s = Open();
  auto nothing = s->AbandonInitialize("pg-0");
  ASSERT_TRUE(nothing.ok()) << nothing.error().ToString();
  EXPECT_FALSE(*nothing);

  ASSERT_TRUE(*s->ClaimInitialize("pg-0", ""));
  auto other = s->AbandonInitialize("pg-1");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(*other);
  EXPECT_TRUE(s->Load()->initialize.has_value());

  auto mine = s->AbandonInitialize("pg-0");
  ASSERT_TRUE(mine.ok());
  EXPECT_TRUE(*mine);
  EXPECT_FALSE(s->Load()->initialize.has_value());

  // The race is open again.
  auto b = Open();
  auto reclaim = b->ClaimInitialize("pg-1", "");
  ASSERT_TRUE(reclaim.ok());
  EXPECT_TRUE(*reclaim);
  ASSERT_TRUE(*b->CompleteInitialize("pg-1", "42"));
  auto late = b->AbandonInitialize("pg-1");
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(*late) << "a completed initialize is never abandoned";
  EXPECT_EQ(s->Load()->initialize->system_id, "42");
}

// ---------------------------------------------------------------------------------------------
// leader lease

TEST_P(StoreContractTest, AcquireWhenAbsentSucceedsOnceThenTheStoreSaysNo) {
  auto a = Open();
  auto b = Open();
  auto first = a->AcquireLeader(Req("pg-0", 0x500, 1), std::nullopt);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_TRUE(first->granted);
  ASSERT_TRUE(first->record.has_value());
  EXPECT_EQ(first->record->holder, "pg-0");
  EXPECT_EQ(first->record->term, 1u);
  EXPECT_EQ(first->record->ttl, Duration(10000));
  EXPECT_EQ(first->record->lsn, Lsn{0x500});
  EXPECT_EQ(first->record->timeline, 1u);
  EXPECT_FALSE(first->record->released);
  EXPECT_NE(first->record->revision, 0u);

  auto second = b->AcquireLeader(Req("pg-1"), std::nullopt);
  ASSERT_TRUE(second.ok()) << "a refused compare is an ordinary outcome, not an error: "
                           << second.error().ToString();
  EXPECT_FALSE(second->granted);
  ASSERT_TRUE(second->record.has_value());
  EXPECT_EQ(second->record->holder, "pg-0");
  EXPECT_EQ(second->record->term, 1u);
  EXPECT_EQ(second->record->revision, first->record->revision);

  auto view = b->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->leader.has_value());
  EXPECT_EQ(*view->leader, *first->record);
}

TEST_P(StoreContractTest, ExpectingARevisionWhenTheLeaseIsAbsentIsRefused) {
  auto s = Open();
  auto r = s->AcquireLeader(Req("pg-0"), 1);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(r->granted);
  EXPECT_FALSE(r->record.has_value());
  EXPECT_FALSE(s->Load()->leader.has_value());
}

TEST_P(StoreContractTest, CompareAndSwapOnRevisionRefusesAStaleExpectation) {
  auto a = Open();
  auto b = Open();
  auto acquired = a->AcquireLeader(Req("pg-0"), std::nullopt);
  ASSERT_TRUE(acquired.ok() && acquired->granted);
  uint64_t rev1 = acquired->record->revision;

  auto renewed = a->RenewLeader(Req("pg-0", 0x600), 1);
  ASSERT_TRUE(renewed.ok() && renewed->granted);
  uint64_t rev2 = renewed->record->revision;
  ASSERT_NE(rev1, rev2) << "a renewal always changes the revision";

  // b saw the lease at rev1 and believes it expired: its view is stale.
  auto stale = b->AcquireLeader(Req("pg-1"), rev1);
  ASSERT_TRUE(stale.ok()) << stale.error().ToString();
  EXPECT_FALSE(stale->granted);
  ASSERT_TRUE(stale->record.has_value());
  EXPECT_EQ(stale->record->holder, "pg-0");
  EXPECT_EQ(stale->record->revision, rev2);

  auto fresh = b->AcquireLeader(Req("pg-1", 0x700, 1), rev2);
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  EXPECT_TRUE(fresh->granted);
  EXPECT_EQ(fresh->record->holder, "pg-1");
  EXPECT_EQ(fresh->record->term, 2u) << "every acquisition increments the term";
  EXPECT_NE(fresh->record->revision, rev2);

  // The same expectation cannot win twice.
  auto replay = a->AcquireLeader(Req("pg-0"), rev2);
  ASSERT_TRUE(replay.ok());
  EXPECT_FALSE(replay->granted);
  EXPECT_EQ(replay->record->holder, "pg-1");

  // The old holder's renewal under its old term is refused.
  auto old = a->RenewLeader(Req("pg-0"), 1);
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(old->granted);
  EXPECT_EQ(old->record->holder, "pg-1");
  EXPECT_EQ(old->record->term, 2u);
}

TEST_P(StoreContractTest, ConcurrentAcquireOnOneRevisionHasOneWinner) {
  auto setup = Open();
  auto first = setup->AcquireLeader(Req("pg-0"), std::nullopt);
  ASSERT_TRUE(first.ok() && first->granted);
  const uint64_t seen = first->record->revision;
  constexpr int kThreads = 8;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kThreads; ++i) stores.push_back(Open());
  std::latch start(kThreads);
  std::atomic<int> granted{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto r = stores[i]->AcquireLeader(Req("pg-" + std::to_string(i + 1)), seen);
      if (!r.ok()) ++errors;
      else if (r->granted) ++granted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(granted.load(), 1);
  auto view = setup->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->leader.has_value());
  EXPECT_EQ(view->leader->term, 2u);
  EXPECT_NE(view->leader->holder, "pg-0");
  CloseAll(stores);
}

TEST_P(StoreContractTest, ConcurrentAcquireOfAnAbsentLeaseHasOneWinner) {
  constexpr int kThreads = 8;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kThreads; ++i) stores.push_back(Open());
  std::latch start(kThreads);
  std::atomic<int> granted{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto r = stores[i]->AcquireLeader(Req("pg-" + std::to_string(i)), std::nullopt);
      if (!r.ok()) ++errors;
      else if (r->granted) ++granted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(granted.load(), 1);
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->leader.has_value());
  EXPECT_EQ(view->leader->term, 1u);
  CloseAll(stores);
}

TEST_P(StoreContractTest, RenewByHolderWithTheRightTermOnly) {
  auto s = Open();
  auto acquired = s->AcquireLeader(Req("pg-0", 0x100, 1), std::nullopt);
  ASSERT_TRUE(acquired.ok() && acquired->granted);

  auto ok = s->RenewLeader(LeaseRequest{"pg-0", Duration(4000), Lsn{0x900}, 2}, 1);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_TRUE(ok->granted);
  ASSERT_TRUE(ok->record.has_value());
  EXPECT_EQ(ok->record->holder, "pg-0");
  EXPECT_EQ(ok->record->term, 1u) << "a renewal keeps the term";
  EXPECT_EQ(ok->record->ttl, Duration(4000));
  EXPECT_EQ(ok->record->lsn, Lsn{0x900});
  EXPECT_EQ(ok->record->timeline, 2u);
  EXPECT_NE(ok->record->revision, acquired->record->revision) << "a renewal changes the revision";
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->leader.has_value());
  EXPECT_EQ(*view->leader, *ok->record);

  // Every renewal changes the revision again.
  auto again = s->RenewLeader(LeaseRequest{"pg-0", Duration(4000), Lsn{0x900}, 2}, 1);
  ASSERT_TRUE(again.ok() && again->granted);
  EXPECT_NE(again->record->revision, ok->record->revision) << "even with nothing else changed";
  ok = again;

  auto stranger = s->RenewLeader(Req("pg-1"), 1);
  ASSERT_TRUE(stranger.ok()) << stranger.error().ToString();
  EXPECT_FALSE(stranger->granted);
  ASSERT_TRUE(stranger->record.has_value());
  EXPECT_EQ(stranger->record->holder, "pg-0");
  EXPECT_EQ(stranger->record->revision, ok->record->revision) << "a refusal writes nothing";

  for (uint64_t wrong : {uint64_t{0}, uint64_t{2}}) {
    auto r = s->RenewLeader(Req("pg-0"), wrong);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->granted) << "term " << wrong;
  }
  EXPECT_EQ(s->Load()->leader->revision, ok->record->revision);
}

TEST_P(StoreContractTest, RenewWithoutALeaseIsRefused) {
  auto s = Open();
  auto r = s->RenewLeader(Req("pg-0"), 1);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(r->granted);
  EXPECT_FALSE(r->record.has_value());
  EXPECT_FALSE(s->Load()->leader.has_value()) << "a renewal never creates the lease";
}

TEST_P(StoreContractTest, ReleaseRecordsReleasedAndTheFinalPosition) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a->AcquireLeader(Req("pg-0", 0x100, 3), std::nullopt)->granted);

  auto stranger = b->ReleaseLeader(Req("pg-1"), 1);
  ASSERT_TRUE(stranger.ok()) << stranger.error().ToString();
  EXPECT_FALSE(*stranger);
  auto wrong_term = a->ReleaseLeader(Req("pg-0"), 7);
  ASSERT_TRUE(wrong_term.ok());
  EXPECT_FALSE(*wrong_term);
  EXPECT_FALSE(b->Load()->leader->released);

  auto released = a->ReleaseLeader(Req("pg-0", 0x16B374D848, 3), 1);
  ASSERT_TRUE(released.ok()) << released.error().ToString();
  EXPECT_TRUE(*released);
  auto view = b->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->leader.has_value());
  EXPECT_TRUE(view->leader->released);
  EXPECT_EQ(view->leader->holder, "pg-0");
  EXPECT_EQ(view->leader->term, 1u);
  EXPECT_EQ(view->leader->lsn, Lsn{0x16B374D848});
  EXPECT_EQ(view->leader->timeline, 3u);

  auto twice = a->ReleaseLeader(Req("pg-0"), 1);
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(*twice);
  auto renew = a->RenewLeader(Req("pg-0"), 1);
  ASSERT_TRUE(renew.ok());
  EXPECT_FALSE(renew->granted) << "a released lease is not renewed";
  ASSERT_TRUE(renew->record.has_value());
  EXPECT_TRUE(renew->record->released);

  // Another member takes it over from the released record, with the next term.
  auto take = b->AcquireLeader(Req("pg-1"), view->leader->revision);
  ASSERT_TRUE(take.ok()) << take.error().ToString();
  EXPECT_TRUE(take->granted);
  ASSERT_TRUE(take->record.has_value());
  EXPECT_EQ(take->record->holder, "pg-1");
  EXPECT_EQ(take->record->term, 2u);
  EXPECT_FALSE(take->record->released);
}

TEST_P(StoreContractTest, TermIncreasesByOneOnEveryAcquisition) {
  auto a = Open();
  auto b = Open();
  auto c = Open();
  // Absent: term 1.
  auto r1 = a->AcquireLeader(Req("pg-0"), std::nullopt);
  ASSERT_TRUE(r1.ok() && r1->granted);
  EXPECT_EQ(r1->record->term, 1u);
  // Released, then taken over from the released record: term 2.
  ASSERT_TRUE(*a->ReleaseLeader(Req("pg-0"), 1));
  auto seen = b->Load();
  ASSERT_TRUE(seen.ok() && seen->leader.has_value());
  auto r2 = b->AcquireLeader(Req("pg-1"), seen->leader->revision);
  ASSERT_TRUE(r2.ok() && r2->granted);
  EXPECT_EQ(r2->record->term, 2u);
  // Renewals keep it.
  auto renewed = b->RenewLeader(Req("pg-1", 0x200), 2);
  ASSERT_TRUE(renewed.ok() && renewed->granted);
  EXPECT_EQ(renewed->record->term, 2u);
  // Taken over from a live record (as after an expiry judged by observers): term 3.
  auto r3 = c->AcquireLeader(Req("pg-2"), renewed->record->revision);
  ASSERT_TRUE(r3.ok() && r3->granted);
  EXPECT_EQ(r3->record->term, 3u);
  // The same holder again, from its own record: term 4.
  auto r4 = c->AcquireLeader(Req("pg-2"), r3->record->revision);
  ASSERT_TRUE(r4.ok() && r4->granted);
  EXPECT_EQ(r4->record->term, 4u);
  // A refused attempt does not move it.
  auto refused = a->AcquireLeader(Req("pg-0"), r3->record->revision);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->granted);
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok() && view->leader.has_value());
  EXPECT_EQ(view->leader->term, 4u);
  EXPECT_EQ(view->leader->holder, "pg-2");
}

TEST_P(StoreContractTest, AcquisitionAfterTheLeaseRanOutContinuesTheTerm) {
  auto a = Open();
  auto b = Open();
  auto first = a->AcquireLeader(Req("pg-0", 0x100, 1, kShortTtl), std::nullopt);
  ASSERT_TRUE(first.ok() && first->granted) << (first.ok() ? "" : first.error().ToString());
  EXPECT_EQ(first->record->ttl, kShortTtl);

  std::optional<LeaderRecord> leader;
  if (ExpiresLeaderItself()) {
    // The store removes the record once its ttl (rounded up to a second) passed.
    bool gone = Eventually([&] {
      auto v = b->Load();
      return v.ok() && !v->leader.has_value();
    }, kExpiryDeadline);
    ASSERT_TRUE(gone) << "the leader record outlived its ttl by far";
  } else {
    // Observers judge expiry: the record stays, unchanged.
    std::this_thread::sleep_for(milliseconds(2500));
    auto v = b->Load();
    ASSERT_TRUE(v.ok() && v->leader.has_value());
    EXPECT_EQ(*v->leader, *first->record);
    leader = v->leader;
  }
  // The holder cannot renew what ran out (where the store judged it).
  if (ExpiresLeaderItself()) {
    auto renew = a->RenewLeader(Req("pg-0"), 1);
    ASSERT_TRUE(renew.ok()) << renew.error().ToString();
    EXPECT_FALSE(renew->granted) << "a lease the store expired is not renewed";
  }
  std::optional<uint64_t> expected;
  if (leader) expected = leader->revision;
  auto next = b->AcquireLeader(Req("pg-1"), expected);
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  EXPECT_TRUE(next->granted);
  ASSERT_TRUE(next->record.has_value());
  EXPECT_EQ(next->record->holder, "pg-1");
  EXPECT_EQ(next->record->term, 2u) << "the term survives the record's expiry";
}

TEST_P(StoreContractTest, ARenewalWithALongerTtlKeepsTheRecordForTheNewTtl) {
  // The ttl can change at run time (an operator sets it cluster-wide). The holder counts its lease
  // from each renewal with the new ttl, so the store must keep the record at least that long
  // (etcd: the lease granted at acquisition had the old ttl), or another member could take the
  // lease while its holder still counts on it.
  auto holder = Open();
  auto observer = Open();
  auto acquired = holder->AcquireLeader(Req("pg-0", 0x100, 1, Duration(2000)), std::nullopt);
  ASSERT_TRUE(acquired.ok() && acquired->granted) << (acquired.ok() ? "refused" : acquired.error().ToString());
  auto renewed = holder->RenewLeader(Req("pg-0", 0x200, 1, Duration(6000)), 1);
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  ASSERT_TRUE(renewed->granted);
  ASSERT_TRUE(renewed->record.has_value());
  EXPECT_EQ(renewed->record->ttl, Duration(6000));

  std::this_thread::sleep_for(milliseconds(3500));  // past the old ttl, well within the new one
  auto view = observer->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  ASSERT_TRUE(view->leader.has_value()) << "the record expired with the old ttl";
  EXPECT_EQ(view->leader->ttl, Duration(6000));
  EXPECT_TRUE(HeldBy(view->leader, "pg-0", 1));
  EXPECT_EQ(*view->leader, *renewed->record);

  // The holder renews on, with the new ttl.
  auto again = holder->RenewLeader(Req("pg-0", 0x300, 1, Duration(6000)), 1);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_TRUE(again->granted);
}

TEST_P(StoreContractTest, ARenewalWithAShorterTtlLetsTheStoreExpireTheRecordSooner) {
  auto holder = Open();
  auto observer = Open();
  ASSERT_TRUE(holder->AcquireLeader(Req("pg-0", 0x100, 1, Duration(10000)), std::nullopt)->granted);
  auto renewed = holder->RenewLeader(Req("pg-0", 0x200, 1, kShortTtl), 1);
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  ASSERT_TRUE(renewed->granted);
  EXPECT_EQ(renewed->record->ttl, kShortTtl);
  auto view = observer->Load();
  ASSERT_TRUE(view.ok() && view->leader.has_value());
  EXPECT_EQ(view->leader->ttl, kShortTtl) << "observers judge expiry by the new ttl";
  if (!ExpiresLeaderItself()) return;
  // etcd: the record goes with the new ttl (rounded up to a second), well before the old one.
  bool gone = Eventually([&] {
    auto v = observer->Load();
    return v.ok() && !v->leader.has_value();
  }, kExpiryDeadline);
  EXPECT_TRUE(gone) << "the leader record lived on with the old ttl";
}

// ---------------------------------------------------------------------------------------------
// members

TEST_P(StoreContractTest, PutMemberRoundTripsAndListsByName) {
  auto s = Open();
  ASSERT_TRUE(s->PutMember(Member("pg-2"), Duration(60000)).ok());
  ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(60000)).ok());
  Status put = s->PutMember(Member("pg-1"), Duration(60000));
  ASSERT_TRUE(put.ok()) << put.ToString();
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  ASSERT_EQ(view->members.size(), 3u);
  EXPECT_EQ(view->members[0], Member("pg-0"));
  EXPECT_EQ(view->members[1].name, "pg-1");
  EXPECT_EQ(view->members[2].name, "pg-2");

  // A newer status replaces the old one.
  MemberStatus updated = Member("pg-1", 0x9000000);
  updated.role = "primary";
  updated.state = "primary";
  ASSERT_TRUE(s->PutMember(updated, Duration(60000)).ok());
  view = s->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->members.size(), 3u);
  EXPECT_EQ(view->members[1], updated);
}

TEST_P(StoreContractTest, MembersPublishedByDifferentInstancesAreAllListed) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a->PutMember(Member("pg-0"), Duration(60000)).ok());
  ASSERT_TRUE(b->PutMember(Member("pg-1"), Duration(60000)).ok());
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->members.size(), 2u);
  EXPECT_EQ(view->members[0].name, "pg-0");
  EXPECT_EQ(view->members[1].name, "pg-1");
  ASSERT_NE(view->FindMember("pg-1"), nullptr);
  EXPECT_EQ(*view->FindMember("pg-1"), Member("pg-1"));
}

TEST_P(StoreContractTest, DeleteMemberRemovesOnlyThatMember) {
  auto s = Open();
  ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(60000)).ok());
  ASSERT_TRUE(s->PutMember(Member("pg-1"), Duration(60000)).ok());
  Status deleted = s->DeleteMember("pg-0");
  ASSERT_TRUE(deleted.ok()) << deleted.ToString();
  auto view = s->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->members.size(), 1u);
  EXPECT_EQ(view->members[0].name, "pg-1");
  EXPECT_EQ(view->FindMember("pg-0"), nullptr);
  EXPECT_TRUE(s->DeleteMember("pg-9").ok()) << "deleting an absent member is not an error";
  // Deleted by another instance than the one that published it.
  ASSERT_TRUE(Open()->DeleteMember("pg-1").ok());
  view = s->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE(view->members.empty());
}

TEST_P(StoreContractTest, MemberEntryNotRefreshedDisappearsAfterItsTtl) {
  auto s = Open();
  ASSERT_TRUE(s->PutMember(Member("pg-0"), kShortTtl).ok());
  ASSERT_TRUE(s->PutMember(Member("pg-1"), Duration(60000)).ok());
  auto start = SteadyClock::now();
  auto view = s->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->members.size(), 2u);

  std::this_thread::sleep_for(milliseconds(1000));
  view = Open()->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->members.size(), 2u) << "not expired before its ttl";

  auto reader = Open();
  bool gone = Eventually([&] {
    auto v = reader->Load();
    return v.ok() && v->FindMember("pg-0") == nullptr;
  }, kExpiryDeadline);
  auto took = Since(start);
  ASSERT_TRUE(gone) << "pg-0 still listed " << took.count() << " ms after a ttl of 2 s";
  EXPECT_GE(took, milliseconds(1900)) << "gone before its ttl";
  view = reader->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->members.size(), 1u);
  EXPECT_EQ(view->members[0].name, "pg-1") << "the other member's entry lives on";

  // Published again, it is back.
  ASSERT_TRUE(s->PutMember(Member("pg-0"), kShortTtl).ok());
  view = reader->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->members.size(), 2u);
}

TEST_P(StoreContractTest, RefreshingAMemberKeepsItAlive) {
  auto s = Open();
  auto reader = Open();
  auto start = SteadyClock::now();
  while (Since(start) < milliseconds(4500)) {
    Status put = s->PutMember(Member("pg-0"), kShortTtl);
    ASSERT_TRUE(put.ok()) << put.ToString();
    std::this_thread::sleep_for(milliseconds(700));
    auto view = reader->Load();
    ASSERT_TRUE(view.ok());
    ASSERT_EQ(view->members.size(), 1u) << "refreshed every 0.7 s, gone after " << Since(start).count()
                                       << " ms";
  }
  // No more refreshes: it expires.
  EXPECT_TRUE(Eventually([&] {
    auto v = reader->Load();
    return v.ok() && v->members.empty();
  }, kExpiryDeadline));
}

TEST_P(StoreContractTest, AMemberWithALongerTtlOutlivesOneWithAShorterTtl) {
  auto s = Open();
  ASSERT_TRUE(s->PutMember(Member("pg-0"), kShortTtl).ok());
  // The same instance publishes another entry with another ttl (etcd: another lease).
  ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(60000)).ok());
  std::this_thread::sleep_for(milliseconds(3500));
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->members.size(), 1u) << "the entry was published again with a ttl of 60 s";
}

// ---------------------------------------------------------------------------------------------
// history

TEST_P(StoreContractTest, AppendHistoryRoundTripsInOrderAndRefusesATimelineTakenByAnotherPromotion) {
  auto s = Open();
  HistoryEntry h2{2, Lsn{0x3000148}, 1, "pg-0", "pg-1", 2, WallTime{1700000000000}, "failover"};
  HistoryEntry h3{3, Lsn{0x16B374D848}, 1, "pg-1", "pg-0", 5, WallTime{1700000100000}, "switchover"};
  Status a = s->AppendHistory(h2);
  ASSERT_TRUE(a.ok()) << a.ToString();
  ASSERT_TRUE(Open()->AppendHistory(h3).ok()) << "appended by another instance";
  Status again = s->AppendHistory(h2);
  EXPECT_TRUE(again.ok()) << "the same promotion's entry again (a retry) is ignored: " << again.ToString();
  HistoryEntry dup = h2;
  dup.new_leader = "pg-2";
  dup.reason = "a second promotion to the same timeline";
  Status d = s->AppendHistory(dup);
  ASSERT_FALSE(d.ok()) << "another promotion onto a recorded timeline must be refused";
  EXPECT_EQ(d.error().code, ErrorCode::kFailedPrecondition) << d.ToString();
  EXPECT_NE(d.error().message.find("timeline 2 is already recorded for pg-1"), std::string::npos) << d.ToString();
  HistoryEntry later_term = h2;
  later_term.term = 9;
  EXPECT_FALSE(s->AppendHistory(later_term).ok()) << "the same member in another term is another promotion";

  auto view = Open()->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  ASSERT_EQ(view->history.size(), 2u);
  EXPECT_EQ(view->history[0], h2);
  EXPECT_EQ(view->history[1], h3);
}

// ---------------------------------------------------------------------------------------------
// sync

// The sync record in the store, read by a new instance; nullopt when absent or unreadable.
std::optional<SyncRecord> LoadSync(Store& s) {
  auto view = s.Load();
  EXPECT_TRUE(view.ok()) << view.error().ToString();
  return view.ok() ? view->sync : std::nullopt;
}

TEST_P(StoreContractTest, WriteSyncCreatesTheKeyOnlyWhenAbsentAndRoundTripsSorted) {
  auto a = Open();
  auto b = Open();
  auto created = a->WriteSync(SyncRecord{"pg-0", {"pg-2", "pg-1"}, 0}, std::nullopt);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_TRUE(*created);
  auto stored = LoadSync(*Open());
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->leader, "pg-0");
  EXPECT_EQ(stored->members, (std::vector<std::string>{"pg-1", "pg-2"})) << "members come back sorted";
  EXPECT_NE(stored->revision, 0u);

  auto again = b->WriteSync(SyncRecord{"pg-1", {"pg-0"}, 0}, std::nullopt);
  ASSERT_TRUE(again.ok()) << "a refused compare is an ordinary outcome, not an error: "
                          << again.error().ToString();
  EXPECT_FALSE(*again) << "the key exists: creating it again is refused";
  auto same = a->WriteSync(SyncRecord{"pg-0", {"pg-1", "pg-2"}, 0}, std::nullopt);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(*same) << "even with the same content";
  auto after = LoadSync(*b);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(*after, *stored) << "refused writes change neither the value nor the revision";

  auto empty = b->WriteSync(SyncRecord{"pg-0", {}, 0}, stored->revision);
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  EXPECT_TRUE(*empty);
  after = LoadSync(*a);
  ASSERT_TRUE(after.has_value()) << "a record without members is a record";
  EXPECT_EQ(after->leader, "pg-0");
  EXPECT_TRUE(after->members.empty());
}

TEST_P(StoreContractTest, WriteSyncComparesTheRevision) {
  auto a = Open();
  auto b = Open();
  for (uint64_t expected : {uint64_t{0}, uint64_t{1}, uint64_t{12345}}) {
    auto absent = a->WriteSync(SyncRecord{"pg-0", {"pg-1"}, 0}, expected);
    ASSERT_TRUE(absent.ok()) << absent.error().ToString();
    EXPECT_FALSE(*absent) << "expecting revision " << expected << " of an absent key";
  }
  EXPECT_FALSE(LoadSync(*b).has_value()) << "a refused write creates nothing";

  ASSERT_TRUE(*a->WriteSync(SyncRecord{"pg-0", {"pg-1"}, 0}, std::nullopt));
  auto first = LoadSync(*b);
  ASSERT_TRUE(first.has_value());
  const uint64_t rev1 = first->revision;

  auto swapped = b->WriteSync(SyncRecord{"pg-0", {"pg-1", "pg-2"}, 0}, rev1);
  ASSERT_TRUE(swapped.ok()) << swapped.error().ToString();
  EXPECT_TRUE(*swapped);
  auto second = LoadSync(*a);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->members, (std::vector<std::string>{"pg-1", "pg-2"}));
  const uint64_t rev2 = second->revision;
  EXPECT_NE(rev2, rev1) << "a write changes the revision";

  // a saw rev1: its view is stale.
  auto stale = a->WriteSync(SyncRecord{"pg-0", {}, 0}, rev1);
  ASSERT_TRUE(stale.ok()) << stale.error().ToString();
  EXPECT_FALSE(*stale);
  auto kept = LoadSync(*Open());
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(*kept, *second) << "a refused write changes neither the value nor the revision";

  // Writing the same content again still moves the revision: every successful write does.
  auto rewrite = a->WriteSync(SyncRecord{"pg-0", {"pg-2", "pg-1"}, 0}, rev2);
  ASSERT_TRUE(rewrite.ok()) << rewrite.error().ToString();
  EXPECT_TRUE(*rewrite);
  auto third = LoadSync(*b);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->members, second->members);
  EXPECT_NE(third->revision, rev2);
  EXPECT_NE(third->revision, rev1);
  auto replay = b->WriteSync(SyncRecord{"pg-9", {}, 0}, rev2);
  ASSERT_TRUE(replay.ok());
  EXPECT_FALSE(*replay) << "the same expectation cannot win twice";
}

TEST_P(StoreContractTest, OtherWritesDoNotChangeTheSyncRevision) {
  // The primary compares the sync revision it last saw: writes of other keys (Kubernetes: in the
  // same ConfigMap) must not make its compare fail.
  auto primary = Open();
  auto other = Open();
  ASSERT_TRUE(*primary->WriteSync(SyncRecord{"pg-0", {"pg-1"}, 0}, std::nullopt));
  auto seen = LoadSync(*primary);
  ASSERT_TRUE(seen.has_value());

  ASSERT_TRUE(*other->ClaimInitialize("pg-1", ""));
  ASSERT_TRUE(*other->CompleteInitialize("pg-1", "7000000000000000001"));
  ASSERT_TRUE(other->AppendHistory(HistoryEntry{2, Lsn{1}, 1, "pg-1", "pg-0", 1, WallTime{1}, "r"}).ok());
  ASSERT_TRUE(other->AcquireLeader(Req("pg-1"), std::nullopt)->granted);
  ASSERT_TRUE(other->PutMember(Member("pg-1"), Duration(60000)).ok());
  auto now = LoadSync(*other);
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(*now, *seen);

  auto swapped = primary->WriteSync(SyncRecord{"pg-0", {"pg-1", "pg-2"}, 0}, seen->revision);
  ASSERT_TRUE(swapped.ok()) << swapped.error().ToString();
  EXPECT_TRUE(*swapped);
  auto view = other->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  ASSERT_TRUE(view->sync.has_value());
  EXPECT_EQ(view->sync->members, (std::vector<std::string>{"pg-1", "pg-2"}));
  EXPECT_EQ(view->history.size(), 1u) << "the sync write kept the other keys";
  ASSERT_TRUE(view->initialize.has_value());
  EXPECT_EQ(view->initialize->system_id, "7000000000000000001");
}

TEST_P(StoreContractTest, WriteSyncSucceedsWhileOtherKeysChangeConcurrently) {
  // Kubernetes: concurrent history appends change the shared ConfigMap's resourceVersion; a sync
  // write whose own compare holds must still succeed (its conflicts are retried).
  auto setup = Open();
  ASSERT_TRUE(*setup->WriteSync(SyncRecord{"pg-0", {}, 0}, std::nullopt));
  constexpr int kAppenders = 4;
  constexpr int kRounds = 5;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i <= kAppenders; ++i) stores.push_back(Open());
  for (int round = 0; round < kRounds; ++round) {
    auto seen = LoadSync(*setup);
    ASSERT_TRUE(seen.has_value());
    std::latch start(kAppenders + 1);
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kAppenders; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        Timeline tl = static_cast<Timeline>(2 + round * kAppenders + i);
        if (!stores[i]->AppendHistory(HistoryEntry{tl, Lsn{1}, 0, "a", "b", 1, WallTime{1}, "r"}).ok()) {
          ++errors;
        }
      });
    }
    start.arrive_and_wait();
    auto r = stores[kAppenders]->WriteSync(SyncRecord{"pg-0", {"pg-" + std::to_string(round + 1)}, 0},
                                           seen->revision);
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_TRUE(*r) << "round " << round << ": the sync revision did not change, only other keys";
  }
  auto view = setup->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_EQ(view->history.size(), static_cast<size_t>(kAppenders * kRounds));
  ASSERT_TRUE(view->sync.has_value());
  EXPECT_EQ(view->sync->members, (std::vector<std::string>{"pg-" + std::to_string(kRounds)}));
  CloseAll(stores);
}

TEST_P(StoreContractTest, ConcurrentWriteSyncOnOneExpectationHasOneWinner) {
  constexpr int kThreads = 8;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kThreads; ++i) stores.push_back(Open());
  // Round 0 races to create the key; round 1 races on the revision round 0's winner left.
  std::optional<uint64_t> expected;
  for (int round = 0; round < 2; ++round) {
    std::latch start(kThreads);
    std::atomic<int> errors{0};
    std::vector<int> won(kThreads, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        auto r = stores[i]->WriteSync(SyncRecord{"pg-" + std::to_string(i), {"pg-x"}, 0}, expected);
        if (!r.ok()) ++errors;
        else won[i] = *r ? 1 : 0;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0) << "round " << round;
    int winners = 0, winner = -1;
    for (int i = 0; i < kThreads; ++i) {
      if (won[i]) {
        ++winners;
        winner = i;
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round;
    auto stored = LoadSync(*Open());
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->leader, "pg-" + std::to_string(winner)) << "round " << round;
    if (expected) {
      EXPECT_NE(stored->revision, *expected);
    }
    expected = stored->revision;
  }
  CloseAll(stores);
}

// ---------------------------------------------------------------------------------------------
// config

// The config in the store; nullopt when absent or unreadable.
std::optional<DynamicConfig> LoadConfig(Store& s) {
  auto view = s.Load();
  EXPECT_TRUE(view.ok()) << view.error().ToString();
  return view.ok() ? view->config : std::nullopt;
}

// Every setting set; parameters out of order (the store keeps them by name).
DynamicConfig FullConfig() {
  DynamicConfig c;
  c.pause = true;
  c.maximum_lag_on_failover = uint64_t{16} << 20;
  c.synchronous_mode = SyncMode::kStrict;
  c.synchronous_node_count = 2;
  c.parameters = {{"work_mem", "64MB"}, {"max_connections", "200"}, {"shared_buffers", "1GB"}};
  return c;
}

DynamicConfig PausedConfig(bool pause) {
  DynamicConfig c;
  c.pause = pause;
  return c;
}

TEST_P(StoreContractTest, WriteConfigCreatesTheKeyOnlyWhenAbsentAndRoundTripsEveryField) {
  auto a = Open();
  auto b = Open();
  auto created = a->WriteConfig(FullConfig(), std::nullopt);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_TRUE(*created);
  auto stored = LoadConfig(*Open());
  ASSERT_TRUE(stored.has_value()) << "read by another instance";
  EXPECT_TRUE(stored->pause);
  EXPECT_EQ(stored->maximum_lag_on_failover, uint64_t{16} << 20);
  EXPECT_EQ(stored->synchronous_mode, SyncMode::kStrict);
  EXPECT_EQ(stored->synchronous_node_count, 2);
  EXPECT_EQ(stored->parameters, (std::vector<std::pair<std::string, std::string>>{
                                    {"max_connections", "200"}, {"shared_buffers", "1GB"}, {"work_mem", "64MB"}}))
      << "parameters come back sorted by name";
  EXPECT_NE(stored->revision, 0u);

  auto again = b->WriteConfig(PausedConfig(false), std::nullopt);
  ASSERT_TRUE(again.ok()) << "a refused compare is an ordinary outcome, not an error: "
                          << again.error().ToString();
  EXPECT_FALSE(*again) << "the key exists: creating it again is refused";
  auto same = a->WriteConfig(FullConfig(), std::nullopt);
  ASSERT_TRUE(same.ok()) << same.error().ToString();
  EXPECT_FALSE(*same) << "even with the same content";
  auto after = LoadConfig(*b);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(*after, *stored) << "refused writes change neither the value nor the revision";

  auto empty = b->WriteConfig(DynamicConfig{}, stored->revision);
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  EXPECT_TRUE(*empty);
  after = LoadConfig(*Open());
  ASSERT_TRUE(after.has_value()) << "a config without settings is a config";
  EXPECT_FALSE(after->pause);
  EXPECT_FALSE(after->maximum_lag_on_failover.has_value());
  EXPECT_FALSE(after->synchronous_mode.has_value());
  EXPECT_FALSE(after->synchronous_node_count.has_value());
  EXPECT_TRUE(after->parameters.empty());
  EXPECT_NE(after->revision, 0u);
  EXPECT_NE(after->revision, stored->revision);
}

TEST_P(StoreContractTest, WriteConfigComparesTheRevision) {
  auto a = Open();
  auto b = Open();
  for (uint64_t expected : {uint64_t{0}, uint64_t{1}, uint64_t{12345}}) {
    auto absent = a->WriteConfig(PausedConfig(true), expected);
    ASSERT_TRUE(absent.ok()) << absent.error().ToString();
    EXPECT_FALSE(*absent) << "expecting revision " << expected << " of an absent key";
  }
  EXPECT_FALSE(LoadConfig(*b).has_value()) << "a refused write creates nothing";

  ASSERT_TRUE(*a->WriteConfig(PausedConfig(true), std::nullopt));
  auto first = LoadConfig(*b);
  ASSERT_TRUE(first.has_value());
  const uint64_t rev1 = first->revision;

  auto swapped = b->WriteConfig(FullConfig(), rev1);
  ASSERT_TRUE(swapped.ok()) << swapped.error().ToString();
  EXPECT_TRUE(*swapped);
  auto second = LoadConfig(*a);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->synchronous_node_count, 2);
  const uint64_t rev2 = second->revision;
  EXPECT_NE(rev2, rev1) << "a write changes the revision";

  // a saw rev1: its view is stale. A revision the key never had is refused too.
  for (uint64_t wrong : {rev1, rev2 + 12345}) {
    auto refused = a->WriteConfig(PausedConfig(false), wrong);
    ASSERT_TRUE(refused.ok()) << refused.error().ToString();
    EXPECT_FALSE(*refused) << "expecting revision " << wrong << " (current: " << rev2 << ")";
  }
  auto kept = LoadConfig(*Open());
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(*kept, *second) << "a refused write changes neither the value nor the revision";

  // Writing the same content again still moves the revision: every successful write does.
  auto rewrite = a->WriteConfig(FullConfig(), rev2);
  ASSERT_TRUE(rewrite.ok()) << rewrite.error().ToString();
  EXPECT_TRUE(*rewrite);
  auto third = LoadConfig(*b);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->parameters, second->parameters);
  EXPECT_NE(third->revision, rev2);
  EXPECT_NE(third->revision, rev1);
  auto replay = b->WriteConfig(PausedConfig(false), rev2);
  ASSERT_TRUE(replay.ok()) << replay.error().ToString();
  EXPECT_FALSE(*replay) << "the same expectation cannot win twice";
}

TEST_P(StoreContractTest, OtherWritesDoNotChangeTheConfigRevision) {
  // `ctl edit-config` compares the revision it read: the agents' own writes (Kubernetes: in the
  // same ConfigMap) must not make its compare fail, and a config write must not move theirs.
  auto ctl = Open();
  auto other = Open();
  ASSERT_TRUE(*ctl->WriteConfig(FullConfig(), std::nullopt));
  auto seen = LoadConfig(*ctl);
  ASSERT_TRUE(seen.has_value());

  ASSERT_TRUE(other->AppendHistory(HistoryEntry{2, Lsn{1}, 1, "pg-1", "pg-0", 1, WallTime{1}, "r"}).ok());
  ASSERT_TRUE(*other->WriteSync(SyncRecord{"pg-1", {"pg-0"}, 0}, std::nullopt));
  ASSERT_TRUE(*other->RequestSwitchover(SwitchoverRecord{"pg-1", "pg-0", WallTime{0}, WallTime{5}}));
  ASSERT_TRUE(other->ClearSwitchover().ok());
  ASSERT_TRUE(*other->ClaimInitialize("pg-1", ""));
  ASSERT_TRUE(*other->CompleteInitialize("pg-1", "7000000000000000001"));
  ASSERT_TRUE(other->AcquireLeader(Req("pg-1"), std::nullopt)->granted);
  ASSERT_TRUE(other->RenewLeader(Req("pg-1", 0x200), 1)->granted);
  ASSERT_TRUE(other->PutMember(Member("pg-1"), Duration(60000)).ok());
  ASSERT_TRUE(other->PutMember(Member("pg-2"), Duration(60000)).ok());
  ASSERT_TRUE(other->DeleteMember("pg-2").ok());
  auto before = other->Load();
  ASSERT_TRUE(before.ok()) << before.error().ToString();
  ASSERT_TRUE(before->config.has_value());
  EXPECT_EQ(*before->config, *seen);

  auto swapped = ctl->WriteConfig(PausedConfig(true), seen->revision);
  ASSERT_TRUE(swapped.ok()) << swapped.error().ToString();
  EXPECT_TRUE(*swapped);
  auto after = other->Load();
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  ASSERT_TRUE(after->config.has_value());
  EXPECT_EQ(after->config->parameters.size(), 0u);
  EXPECT_EQ(after->history, before->history) << "the config write kept the other keys";
  EXPECT_EQ(after->sync, before->sync) << "neither the sync record nor its revision moved";
  ASSERT_TRUE(after->initialize.has_value());
  EXPECT_EQ(after->initialize->system_id, "7000000000000000001");
  ASSERT_TRUE(after->leader.has_value());
  EXPECT_EQ(after->leader->holder, "pg-1");
}

// ---------------------------------------------------------------------------------------------
// requests

// The operators' requests in the store; nullopt when absent or unreadable.
std::optional<RequestsRecord> LoadRequests(Store& s) {
  auto view = s.Load();
  EXPECT_TRUE(view.ok()) << view.error().ToString();
  return view.ok() ? view->requests : std::nullopt;
}

// Every field in use; members out of order (the store keeps them by member).
RequestsRecord SomeRequests() {
  RequestsRecord r;
  r.requests = {MemberRequest{"pg-2", RequestKind::kReinit, false, WallTime{1700000002000}},
                MemberRequest{"pg-0", RequestKind::kRestart, true, WallTime{1700000000000}},
                MemberRequest{"pg-1", RequestKind::kRestart, false, WallTime{1700000001000}}};
  return r;
}

RequestsRecord OneRequest(const std::string& member, RequestKind kind = RequestKind::kRestart) {
  RequestsRecord r;
  r.requests = {MemberRequest{member, kind, false, WallTime{1700000000000}}};
  return r;
}

TEST_P(StoreContractTest, WriteRequestsCreatesTheKeyOnlyWhenAbsentAndRoundTripsSorted) {
  auto a = Open();
  auto b = Open();
  auto created = a->WriteRequests(SomeRequests(), std::nullopt);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_TRUE(*created);
  auto stored = LoadRequests(*Open());
  ASSERT_TRUE(stored.has_value()) << "read by another instance";
  EXPECT_EQ(stored->requests,
            (std::vector<MemberRequest>{
                MemberRequest{"pg-0", RequestKind::kRestart, true, WallTime{1700000000000}},
                MemberRequest{"pg-1", RequestKind::kRestart, false, WallTime{1700000001000}},
                MemberRequest{"pg-2", RequestKind::kReinit, false, WallTime{1700000002000}}}))
      << "every field round-trips; the requests come back sorted by member";
  EXPECT_NE(stored->revision, 0u);
  ASSERT_NE(stored->For("pg-2"), nullptr);
  EXPECT_EQ(stored->For("pg-2")->kind, RequestKind::kReinit);
  EXPECT_EQ(stored->For("pg-9"), nullptr);

  auto again = b->WriteRequests(OneRequest("pg-1"), std::nullopt);
  ASSERT_TRUE(again.ok()) << "a refused compare is an ordinary outcome, not an error: "
                          << again.error().ToString();
  EXPECT_FALSE(*again) << "the key exists: creating it again is refused";
  auto same = a->WriteRequests(SomeRequests(), std::nullopt);
  ASSERT_TRUE(same.ok()) << same.error().ToString();
  EXPECT_FALSE(*same) << "even with the same content";
  auto after = LoadRequests(*b);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(*after, *stored) << "refused writes change neither the value nor the revision";

  // The last request done: the record stays, empty (not absent), and keeps its revision.
  auto empty = b->WriteRequests(RequestsRecord{}, stored->revision);
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  EXPECT_TRUE(*empty);
  after = LoadRequests(*Open());
  ASSERT_TRUE(after.has_value()) << "a record without requests is a record";
  EXPECT_TRUE(after->requests.empty());
  EXPECT_NE(after->revision, 0u);
  EXPECT_NE(after->revision, stored->revision);
  auto recreate = a->WriteRequests(OneRequest("pg-0"), std::nullopt);
  ASSERT_TRUE(recreate.ok()) << recreate.error().ToString();
  EXPECT_FALSE(*recreate) << "an empty record is present: creating it is refused";
}

TEST_P(StoreContractTest, WriteRequestsComparesTheRevision) {
  auto a = Open();
  auto b = Open();
  for (uint64_t expected : {uint64_t{0}, uint64_t{1}, uint64_t{12345}}) {
    auto absent = a->WriteRequests(OneRequest("pg-0"), expected);
    ASSERT_TRUE(absent.ok()) << absent.error().ToString();
    EXPECT_FALSE(*absent) << "expecting revision " << expected << " of an absent key";
  }
  EXPECT_FALSE(LoadRequests(*b).has_value()) << "a refused write creates nothing";

  ASSERT_TRUE(*a->WriteRequests(OneRequest("pg-0"), std::nullopt));
  auto first = LoadRequests(*b);
  ASSERT_TRUE(first.has_value());
  const uint64_t rev1 = first->revision;

  // ctl adds a request on top of what it read.
  RequestsRecord added = *first;
  added.requests.push_back(MemberRequest{"pg-1", RequestKind::kReinit, false, WallTime{1700000005000}});
  auto swapped = b->WriteRequests(added, rev1);
  ASSERT_TRUE(swapped.ok()) << swapped.error().ToString();
  EXPECT_TRUE(*swapped);
  auto second = LoadRequests(*a);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->requests.size(), 2u);
  const uint64_t rev2 = second->revision;
  EXPECT_NE(rev2, rev1) << "a write changes the revision";

  // a saw rev1 (an agent removing its own request from a stale view): refused, and a revision the
  // key never had is refused too.
  for (uint64_t wrong : {rev1, rev2 + 12345}) {
    auto refused = a->WriteRequests(RequestsRecord{}, wrong);
    ASSERT_TRUE(refused.ok()) << "a stale revision is refused, not an error: " << refused.error().ToString();
    EXPECT_FALSE(*refused) << "expecting revision " << wrong << " (current: " << rev2 << ")";
  }
  auto kept = LoadRequests(*Open());
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(*kept, *second) << "a refused write changes neither the value nor the revision";

  // Writing the same content again still moves the revision: every successful write does.
  auto rewrite = a->WriteRequests(*second, rev2);
  ASSERT_TRUE(rewrite.ok()) << rewrite.error().ToString();
  EXPECT_TRUE(*rewrite);
  auto third = LoadRequests(*b);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->requests, second->requests);
  EXPECT_NE(third->revision, rev2);
  EXPECT_NE(third->revision, rev1);
  auto replay = b->WriteRequests(RequestsRecord{}, rev2);
  ASSERT_TRUE(replay.ok()) << replay.error().ToString();
  EXPECT_FALSE(*replay) << "the same expectation cannot win twice";
}

TEST_P(StoreContractTest, OtherWritesDoNotChangeTheRequestsRevision) {
  // `ctl` and the agents compare the requests revision they read: writes of other keys
  // (Kubernetes: in the same ConfigMap) must not make their compare fail, and a requests write
  // must not move the config's or the sync record's.
  auto ctl = Open();
  auto other = Open();
  ASSERT_TRUE(*ctl->WriteRequests(SomeRequests(), std::nullopt));
  auto seen = LoadRequests(*ctl);
  ASSERT_TRUE(seen.has_value());

  ASSERT_TRUE(other->AppendHistory(HistoryEntry{2, Lsn{1}, 1, "pg-1", "pg-0", 1, WallTime{1}, "r"}).ok());
  ASSERT_TRUE(*other->WriteSync(SyncRecord{"pg-1", {"pg-0"}, 0}, std::nullopt));
  ASSERT_TRUE(*other->WriteConfig(FullConfig(), std::nullopt));
  ASSERT_TRUE(*other->RequestSwitchover(SwitchoverRecord{"pg-1", "pg-0", WallTime{0}, WallTime{5}}));
  ASSERT_TRUE(other->ClearSwitchover().ok());
  ASSERT_TRUE(*other->ClaimInitialize("pg-1", ""));
  ASSERT_TRUE(*other->CompleteInitialize("pg-1", "7000000000000000001"));
  ASSERT_TRUE(other->AcquireLeader(Req("pg-1"), std::nullopt)->granted);
  ASSERT_TRUE(other->RenewLeader(Req("pg-1", 0x200), 1)->granted);
  ASSERT_TRUE(other->PutMember(Member("pg-1"), Duration(60000)).ok());
  auto before = other->Load();
  ASSERT_TRUE(before.ok()) << before.error().ToString();
  ASSERT_TRUE(before->requests.has_value());
  EXPECT_EQ(*before->requests, *seen);

  auto swapped = ctl->WriteRequests(OneRequest("pg-1", RequestKind::kReinit), seen->revision);
  ASSERT_TRUE(swapped.ok()) << swapped.error().ToString();
  EXPECT_TRUE(*swapped);
  auto after = other->Load();
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  ASSERT_TRUE(after->requests.has_value());
  EXPECT_EQ(after->requests->requests, OneRequest("pg-1", RequestKind::kReinit).requests);
  EXPECT_EQ(after->history, before->history) << "the requests write kept the other keys";
  EXPECT_EQ(after->sync, before->sync) << "neither the sync record nor its revision moved";
  EXPECT_EQ(after->config, before->config) << "neither the config nor its revision moved";
  ASSERT_TRUE(after->initialize.has_value());
  EXPECT_EQ(after->initialize->system_id, "7000000000000000001");
  ASSERT_TRUE(after->leader.has_value());
  EXPECT_EQ(after->leader->holder, "pg-1");
}

// ---------------------------------------------------------------------------------------------
// switchover

// The switchover request in the store; nullopt when absent or unreadable.
std::optional<SwitchoverRecord> LoadSwitchover(Store& s) {
  auto view = s.Load();
  EXPECT_TRUE(view.ok()) << view.error().ToString();
  return view.ok() ? view->switchover : std::nullopt;
}

TEST_P(StoreContractTest, RequestSwitchoverCreatesTheKeyOnlyWhenAbsentAndClearRemovesIt) {
  auto a = Open();
  auto b = Open();
  const SwitchoverRecord first{"pg-0", "pg-1", WallTime{1700000060000}, WallTime{1700000000000}};
  auto created = a->RequestSwitchover(first);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_TRUE(*created);
  auto stored = LoadSwitchover(*Open());
  ASSERT_TRUE(stored.has_value()) << "read by another instance";
  EXPECT_EQ(stored->from, "pg-0");
  EXPECT_EQ(stored->to, "pg-1");
  EXPECT_EQ(stored->not_before, first.not_before);
  EXPECT_EQ(stored->requested, first.requested);

  auto again = b->RequestSwitchover(SwitchoverRecord{"pg-0", "pg-2", WallTime{0}, WallTime{1700000001000}});
  ASSERT_TRUE(again.ok()) << "a pending request is an ordinary outcome, not an error: "
                          << again.error().ToString();
  EXPECT_FALSE(*again) << "a switchover is pending: a second request is refused";
  auto same = a->RequestSwitchover(first);
  ASSERT_TRUE(same.ok()) << same.error().ToString();
  EXPECT_FALSE(*same) << "even with the same content";
  auto kept = LoadSwitchover(*b);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(*kept, first) << "a refused request leaves the first one in place";

  Status cleared = b->ClearSwitchover();
  ASSERT_TRUE(cleared.ok()) << cleared.ToString();
  EXPECT_FALSE(LoadSwitchover(*Open()).has_value()) << "cleared by another instance";
  Status twice = a->ClearSwitchover();
  EXPECT_TRUE(twice.ok()) << "clearing an absent request is not an error: " << twice.ToString();
  EXPECT_FALSE(LoadSwitchover(*a).has_value());

  const SwitchoverRecord next{"pg-1", "pg-0", WallTime{0}, WallTime{1700000120000}};
  auto renewed = b->RequestSwitchover(next);
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  EXPECT_TRUE(*renewed) << "after a clear, a new request succeeds";
  auto now = LoadSwitchover(*a);
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(*now, next);
}

TEST_P(StoreContractTest, SwitchoverRequestAndClearKeepTheOtherKeys) {
  // Kubernetes: the request shares the cluster ConfigMap with initialize, history and sync.
  auto s = Open();
  ASSERT_TRUE(*s->ClaimInitialize("pg-0", ""));
  ASSERT_TRUE(s->AppendHistory(HistoryEntry{2, Lsn{1}, 1, "pg-1", "pg-0", 1, WallTime{1}, "r"}).ok());
  ASSERT_TRUE(*s->WriteSync(SyncRecord{"pg-0", {"pg-1"}, 0}, std::nullopt));
  auto before = s->Load();
  ASSERT_TRUE(before.ok()) << before.error().ToString();
  ASSERT_TRUE(*Open()->RequestSwitchover(SwitchoverRecord{"pg-0", "pg-1", WallTime{0}, WallTime{5}}));
  ASSERT_TRUE(Open()->ClearSwitchover().ok());
  auto after = s->Load();
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  EXPECT_TRUE(after->initialize.has_value());
  EXPECT_EQ(after->history, before->history);
  EXPECT_EQ(after->sync, before->sync) << "neither the sync record nor its revision moved";
  EXPECT_FALSE(after->switchover.has_value());
}

// ---------------------------------------------------------------------------------------------
// scope

TEST_P(StoreContractTest, ClustersDoNotSeeEachOther) {
  auto a = Open(cluster_ + "-alpha");
  auto b = Open(cluster_ + "-alph");  // a prefix of the other name
  auto c = Open(cluster_ + "-alpha-2");
  ASSERT_TRUE(*a->ClaimInitialize("pg-0", ""));
  ASSERT_TRUE(a->AcquireLeader(Req("pg-0"), std::nullopt)->granted);
  ASSERT_TRUE(a->PutMember(Member("pg-0"), Duration(60000)).ok());
  ASSERT_TRUE(a->AppendHistory(HistoryEntry{2, Lsn{1}, 0, "a", "b", 1, WallTime{1}, "r"}).ok());
  for (Store* other : {b.get(), c.get()}) {
    auto view = other->Load();
    ASSERT_TRUE(view.ok());
    EXPECT_FALSE(view->initialize.has_value());
    EXPECT_FALSE(view->leader.has_value());
    EXPECT_TRUE(view->members.empty());
    EXPECT_TRUE(view->history.empty());
    auto claim = other->ClaimInitialize("pg-0", "");
    ASSERT_TRUE(claim.ok());
    EXPECT_TRUE(*claim);
    auto lease = other->AcquireLeader(Req("pg-0"), std::nullopt);
    ASSERT_TRUE(lease.ok());
    EXPECT_TRUE(lease->granted);
    EXPECT_EQ(lease->record->term, 1u);
  }
}

// ---------------------------------------------------------------------------------------------
// WaitForChange

TEST_P(StoreContractTest, WaitForChangeTimesOutWithoutAChange) {
  auto s = Open();
  uint64_t token = SettledToken(*s);
  auto start = SteadyClock::now();
  auto r = s->WaitForChange(token, Duration(300));
  auto elapsed = Since(start);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, token);
  EXPECT_GE(elapsed, milliseconds(290));
  EXPECT_LT(elapsed, milliseconds(1500));
}

TEST_P(StoreContractTest, WaitForChangeReturnsAtOnceForAnOldToken) {
  auto s = Open();
  uint64_t token = SettledToken(*s);
  ASSERT_TRUE(*s->ClaimInitialize("pg-0", ""));
  // Give an asynchronous notification (etcd's watch) the time it needs to arrive.
  std::this_thread::sleep_for(milliseconds(IsEtcd() ? 300 : 0));
  auto start = SteadyClock::now();
  auto r = s->WaitForChange(token, Duration(5000));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_NE(*r, token);
  EXPECT_LT(Since(start), AtOnce());
}

TEST_P(StoreContractTest, WaitForChangeWakesPromptlyOnLeaderChangesFromAnotherInstance) {
  auto waiter = Open();
  auto other = Open();
  uint64_t token = SettledToken(*waiter), next = 0;

  auto elapsed = WaitAcross(*waiter, token, [&] {
    EXPECT_TRUE(other->AcquireLeader(Req("pg-1"), std::nullopt)->granted);
  }, &next);
  EXPECT_NE(next, token) << "acquisition wakes the waiter";
  EXPECT_GE(elapsed, milliseconds(140));
  EXPECT_LT(elapsed, Prompt());
  token = SettledToken(*waiter);

  token = ExpectWakes(*waiter, token, "release", [&] { EXPECT_TRUE(*other->ReleaseLeader(Req("pg-1"), 1)); });
  auto released = other->Load();
  ASSERT_TRUE(released.ok() && released->leader.has_value());
  ExpectWakes(*waiter, token, "a takeover by another holder", [&] {
    EXPECT_TRUE(other->AcquireLeader(Req("pg-2"), released->leader->revision)->granted);
  });
}

TEST_P(StoreContractTest, WaitForChangeWakesOnInitializeChanges) {
  auto waiter = Open();
  auto other = Open();
  uint64_t token = SettledToken(*waiter);
  token = ExpectWakes(*waiter, token, "a claim", [&] { EXPECT_TRUE(*other->ClaimInitialize("pg-1", "")); });
  ExpectWakes(*waiter, token, "an abandoned claim", [&] { EXPECT_TRUE(*other->AbandonInitialize("pg-1")); });
}

TEST_P(StoreContractTest, WaitForChangeWakesOnMembersJoiningOrLeaving) {
  auto waiter = Open();
  auto other = Open();
  uint64_t token = SettledToken(*waiter);
  token = ExpectWakes(*waiter, token, "a member joining", [&] {
    EXPECT_TRUE(other->PutMember(Member("pg-2"), Duration(60000)).ok());
  });
  ExpectWakes(*waiter, token, "a member leaving", [&] { EXPECT_TRUE(other->DeleteMember("pg-2").ok()); });
}

TEST_P(StoreContractTest, WaitForChangeWakesOnSwitchoverRequestedOrCleared) {
  auto waiter = Open();
  auto other = Open();
  uint64_t token = SettledToken(*waiter);
  token = ExpectWakes(*waiter, token, "a switchover request", [&] {
    auto r = other->RequestSwitchover(SwitchoverRecord{"pg-0", "pg-1", WallTime{0}, WallTime{1}});
    EXPECT_TRUE(r.ok() && *r) << (r.ok() ? "refused" : r.error().ToString());
  });
  ExpectWakes(*waiter, token, "clearing the switchover", [&] { EXPECT_TRUE(other->ClearSwitchover().ok()); });
}

TEST_P(StoreContractTest, WaitForChangeWakesOnConfigChanges) {
  auto waiter = Open();
  auto other = Open();
  uint64_t token = SettledToken(*waiter);
  token = ExpectWakes(*waiter, token, "creating the config", [&] {
    auto r = other->WriteConfig(PausedConfig(true), std::nullopt);
    EXPECT_TRUE(r.ok() && *r) << (r.ok() ? "refused" : r.error().ToString());
  });
  auto current = LoadConfig(*other);
  ASSERT_TRUE(current.has_value());
  ExpectWakes(*waiter, token, "changing the config", [&] {
    auto r = other->WriteConfig(PausedConfig(false), current->revision);
    EXPECT_TRUE(r.ok() && *r) << (r.ok() ? "refused" : r.error().ToString());
  });
}

TEST_P(StoreContractTest, WaitForChangeWakesOnRequestsWrites) {
  auto waiter = Open();
  auto other = Open();
  uint64_t token = SettledToken(*waiter);
  token = ExpectWakes(*waiter, token, "a first request", [&] {
    auto r = other->WriteRequests(OneRequest("pg-1"), std::nullopt);
    EXPECT_TRUE(r.ok() && *r) << (r.ok() ? "refused" : r.error().ToString());
  });
  auto current = LoadRequests(*other);
  ASSERT_TRUE(current.has_value());
  token = ExpectWakes(*waiter, token, "removing the last request", [&] {
    auto r = other->WriteRequests(RequestsRecord{}, current->revision);
    EXPECT_TRUE(r.ok() && *r) << (r.ok() ? "refused" : r.error().ToString());
  });
  current = LoadRequests(*other);
  ASSERT_TRUE(current.has_value());
  ExpectWakes(*waiter, token, "rewriting the same (empty) requests", [&] {
    auto r = other->WriteRequests(RequestsRecord{}, current->revision);
    EXPECT_TRUE(r.ok() && *r) << (r.ok() ? "refused" : r.error().ToString());
  });
}

TEST_P(StoreContractTest, RenewalsAndMemberRefreshesDoNotWakeTheWaiter) {
  auto waiter = Open();
  auto other = Open();
  ASSERT_TRUE(other->AcquireLeader(Req("pg-1"), std::nullopt)->granted);
  ASSERT_TRUE(other->PutMember(Member("pg-1"), Duration(60000)).ok());
  uint64_t token = SettledToken(*waiter);

  // Before the wait: a renewal, a refresh and a history entry.
  ASSERT_TRUE(other->RenewLeader(Req("pg-1", 0x200), 1)->granted);
  ASSERT_TRUE(other->PutMember(Member("pg-1", 0x5000000), Duration(60000)).ok());
  ASSERT_TRUE(other->AppendHistory(HistoryEntry{2, Lsn{1}, 0, "a", "b", 1, WallTime{1}, "r"}).ok());
  auto r = waiter->WaitForChange(token, Duration(500));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, token) << "woken by a renewal, a member refresh or a history entry";

  // During the wait: the leader renews and refreshes its entry every 200 ms, as the HA loop does.
  std::atomic<bool> stop{false};
  std::atomic<int> renewals{0};
  std::thread busy([&] {
    uint64_t lsn = 0x300;
    while (!stop) {
      auto renewed = other->RenewLeader(Req("pg-1", lsn += 0x100), 1);
      EXPECT_TRUE(renewed.ok() && renewed->granted);
      EXPECT_TRUE(other->PutMember(Member("pg-1", lsn), Duration(60000)).ok());
      ++renewals;
      std::this_thread::sleep_for(milliseconds(200));
    }
  });
  auto start = SteadyClock::now();
  r = waiter->WaitForChange(token, Duration(1500));
  auto elapsed = Since(start);
  stop = true;
  busy.join();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, token) << "woken while the leader was only being renewed (" << renewals.load()
                       << " renewals)";
  EXPECT_GE(elapsed, milliseconds(1490));
  EXPECT_GE(renewals.load(), 3);
}

TEST_P(StoreContractTest, AMemberRejoiningAfterExpiryCountsAsJoining) {
  auto s = Open();
  auto waiter = Open();
  ASSERT_TRUE(s->PutMember(Member("pg-0"), kShortTtl).ok());
  ASSERT_TRUE(Eventually([&] {
    auto v = waiter->Load();
    return v.ok() && v->members.empty();
  }, kExpiryDeadline));
  uint64_t token = SettledToken(*waiter), next = 0;
  auto elapsed = WaitAcross(*waiter, token, [&] {
    EXPECT_TRUE(s->PutMember(Member("pg-0"), kShortTtl).ok());
  }, &next);
  EXPECT_NE(next, token) << "a member back after its entry expired is a member joining";
  EXPECT_LT(elapsed, Prompt());
}

// ---------------------------------------------------------------------------------------------
// An unreachable store: every call is an error (kUnavailable) within a few seconds, never a hang,
// never a refusal that could be mistaken for the store's answer; afterwards the store works again.

TEST_P(StoreContractTest, UnreachableStoreIsAnErrorNotARefusalAndRecovers) {
  // One request may take a second; a call may make a few (etcd: EtcdConfig::request_timeout).
  request_timeout_ = Duration(1000);
  constexpr milliseconds kBound{3500};  // per call: request timeouts, not hangs
  // Lease and entry outlive the outage: the test checks that failed calls changed nothing.
  constexpr Duration kLongTtl{300000};
  auto before = Open();  // connected before the outage
  auto holder = Open();
  ASSERT_TRUE(holder->AcquireLeader(Req("pg-0", 0x100, 1, kLongTtl), std::nullopt)->granted);
  ASSERT_TRUE(holder->PutMember(Member("pg-0"), kLongTtl).ok());
  ASSERT_TRUE(*holder->ClaimInitialize("pg-0", ""));
  auto loaded = before->Load();
  ASSERT_TRUE(loaded.ok());
  // Change tokens belong to an instance.
  std::map<Store*, uint64_t> tokens = {{before.get(), SettledToken(*before)},
                                       {holder.get(), SettledToken(*holder)}};
  const uint64_t revision = loaded->leader->revision;

  auto outage = StartOutage();
  // The first call after the store went away is a wait, as in the HA loop between ticks: it must
  // not report "nothing changed" for a store it could not ask.
  {
    const uint64_t token = tokens[before.get()];
    auto start = SteadyClock::now();
    auto r = before->WaitForChange(token, Duration(1500));
    auto took = Since(start);
    EXPECT_LT(took, milliseconds(1500) + kBound) << "WaitForChange hung for " << took.count() << " ms";
    if (r.ok()) {
      EXPECT_EQ(*r, token) << "WaitForChange reported a change during the outage";
      EXPECT_TRUE(ReadsSurviveOutage())
          << "WaitForChange, the first call after the store became unreachable, answered "
             "\"no change\" (same token, after " << took.count() << " ms) instead of kUnavailable";
    } else {
      EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().ToString();
    }
  }
  auto during = Open();  // opened while the store cannot be reached
  ASSERT_TRUE(during) << "opening must not need the store";
  // Never had a token: asks for the current one, which an instance may know without the store.
  {
    auto current = during->WaitForChange(~uint64_t{0}, Duration(0));
    if (!current.ok()) {
      EXPECT_EQ(current.error().code, ErrorCode::kUnavailable) << current.error().ToString();
    }
    tokens[during.get()] = current.ok() ? *current : 0;
  }

  for (Store* s : {before.get(), holder.get(), during.get()}) {
    SCOPED_TRACE(s == before.get() ? "instance opened before" : s == holder.get() ? "the holder"
                                                                                 : "opened during");
    auto expect_unavailable = [&](const char* what, auto&& call, bool is_read) {
      auto start = SteadyClock::now();
      auto [ok, error] = call();
      auto took = Since(start);
      EXPECT_LT(took, kBound) << what << " hung for " << took.count() << " ms";
      if (ok && is_read && ReadsSurviveOutage()) return;
      EXPECT_FALSE(ok) << what << " answered as if the store were reachable";
      if (!ok) {
        EXPECT_EQ(error.code, ErrorCode::kUnavailable) << what << ": " << error.ToString();
        EXPECT_FALSE(error.message.empty()) << what;
      }
    };
    using Outcome = std::pair<bool, Error>;
    auto of = [](const auto& r) { return r.ok() ? Outcome{true, {}} : Outcome{false, r.error()}; };
    auto st = [](const Status& r) { return r.ok() ? Outcome{true, {}} : Outcome{false, r.error()}; };

    expect_unavailable("Load", [&] { return of(s->Load()); }, true);
    // The holder (whose lease and member entry the instance knows) makes the calls a leader makes.
    const bool all = s != holder.get();
    if (all) {
      expect_unavailable("ClaimInitialize", [&] { return of(s->ClaimInitialize("pg-9", "")); }, false);
      expect_unavailable("CompleteInitialize", [&] { return of(s->CompleteInitialize("pg-0", "1")); },
                         false);
      expect_unavailable("AbandonInitialize", [&] { return of(s->AbandonInitialize("pg-0")); }, false);
      expect_unavailable("AcquireLeader (absent)",
                         [&] { return of(s->AcquireLeader(Req("pg-9"), std::nullopt)); }, false);
      expect_unavailable("AcquireLeader (revision)",
                         [&] { return of(s->AcquireLeader(Req("pg-9"), revision)); }, false);
    }
    expect_unavailable("RenewLeader",
                       [&] { return of(s->RenewLeader(Req("pg-0", 0x100, 1, kLongTtl), 1)); }, false);
    expect_unavailable("ReleaseLeader", [&] { return of(s->ReleaseLeader(Req("pg-0"), 1)); }, false);
    expect_unavailable("PutMember", [&] { return st(s->PutMember(Member("pg-0"), kLongTtl)); },
                       false);
    expect_unavailable("DeleteMember", [&] { return st(s->DeleteMember("pg-5")); }, false);
    // The leader clears a switchover it carried out.
    expect_unavailable("ClearSwitchover", [&] { return st(s->ClearSwitchover()); }, false);
    // The primary's compare-and-swap (the key is absent: refused if the store could answer).
    expect_unavailable("WriteSync (revision)",
                       [&] { return of(s->WriteSync(SyncRecord{"pg-0", {"pg-1"}, 0}, 1)); }, false);
    if (all) {
      expect_unavailable("AppendHistory", [&] {
        return st(s->AppendHistory(HistoryEntry{7, Lsn{1}, 0, "a", "b", 1, WallTime{1}, "r"}));
      }, false);
      expect_unavailable("WriteSync (absent)",
                         [&] { return of(s->WriteSync(SyncRecord{"pg-9", {}, 0}, std::nullopt)); }, false);
      expect_unavailable("RequestSwitchover", [&] {
        return of(s->RequestSwitchover(SwitchoverRecord{"pg-0", "pg-9", WallTime{0}, WallTime{1}}));
      }, false);
      // `ctl edit-config` and `ctl pause` (the key is absent: a revision would be refused).
      expect_unavailable("WriteConfig (absent)",
                         [&] { return of(s->WriteConfig(PausedConfig(true), std::nullopt)); }, false);
      expect_unavailable("WriteConfig (revision)",
                         [&] { return of(s->WriteConfig(PausedConfig(true), 1)); }, false);
    }
    // Waiting on a store that cannot be reached reports it (no silent timeouts while the store is
    // gone). SQLite reads through the lock: its wait times out normally.
    expect_unavailable("WaitForChange", [&] {
      const uint64_t token = tokens[s];
      auto r = s->WaitForChange(token, Duration(1000));
      if (r.ok() && *r != token) {
        ADD_FAILURE() << "WaitForChange reported a change during the outage";
      }
      return of(r);
    }, true);
  }

  outage.reset();
  // Reachable again: every instance works, nothing was changed by the failed calls.
  for (Store* s : {before.get(), holder.get(), during.get()}) {
    bool back = Eventually([&] { return s->Load().ok(); }, milliseconds(10000));
    ASSERT_TRUE(back) << "still unavailable 10 s after the outage ended";
  }
  auto view = during->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->leader.has_value());
  EXPECT_EQ(view->leader->holder, "pg-0");
  EXPECT_EQ(view->leader->term, 1u);
  EXPECT_FALSE(view->leader->released);
  ASSERT_TRUE(view->initialize.has_value());
  EXPECT_EQ(view->initialize->claimed_by, "pg-0");
  EXPECT_FALSE(view->initialize->complete());
  EXPECT_TRUE(view->history.empty());
  if (!IsEtcd()) {
    // A compare-and-swap sent to a frozen etcd waits in its socket and may still apply when it
    // resumes: the caller's error means "no answer", the outcome is unknown (callers are built
    // for that: the sync record only ever names standbys PostgreSQL already waits for).
    EXPECT_FALSE(view->sync.has_value());
    EXPECT_FALSE(view->switchover.has_value());
    EXPECT_FALSE(view->config.has_value());
  }
  ASSERT_EQ(view->members.size(), 1u);
  auto renew = holder->RenewLeader(Req("pg-0", 0x900, 1, kLongTtl), 1);
  ASSERT_TRUE(renew.ok()) << renew.error().ToString();
  EXPECT_TRUE(renew->granted);
  auto refused = during->AcquireLeader(Req("pg-9"), std::nullopt);
  ASSERT_TRUE(refused.ok()) << refused.error().ToString();
  EXPECT_FALSE(refused->granted);
  ASSERT_TRUE(during->PutMember(Member("pg-9"), Duration(60000)).ok());

  // The waiter that lived through the outage sees changes again.
  Result<uint64_t> settled = before->WaitForChange(~uint64_t{0}, Duration(0));
  ASSERT_TRUE(Eventually([&] {
    settled = before->WaitForChange(~uint64_t{0}, Duration(0));
    return settled.ok();
  }, milliseconds(10000))) << settled.error().ToString();
  uint64_t token = SettledToken(*before);
  uint64_t next = 0;
  auto elapsed = WaitAcross(*before, token, [&] {
    EXPECT_TRUE(holder->ReleaseLeader(Req("pg-0"), 1).ok());
  }, &next, Duration(8000));
  EXPECT_NE(next, token) << "a waiter that lived through the outage wakes on changes again";
  EXPECT_LT(elapsed, Prompt());
}

std::string BackendName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest,
#if PGPILOT_STORE_CONTRACT_ETCD
                         ::testing::Values("sqlite", "etcd", "kubernetes"),
#else
                         ::testing::Values("sqlite", "kubernetes"),
#endif
                         BackendName);

// ---------------------------------------------------------------------------------------------
// The test etcd itself.

TEST(EtcdProcessTest, StartsAnswersPausesResumesRestartsAndCleansUp) {
  std::string dir;
  {
    auto started = testing::EtcdProcess::Start();
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    auto& etcd = *started.value();
    dir = etcd.dir();
    EXPECT_THAT(etcd.endpoint(), HasSubstr("http://127.0.0.1:"));
    EXPECT_TRUE(etcd.Healthy());
    auto put = testing::EtcdPost(
        etcd.endpoint(), "/v3/kv/put",
        nlohmann::json{{"key", Base64Encode("/t/a")}, {"value", Base64Encode("1")}}.dump());
    ASSERT_TRUE(put.ok()) << put.error().ToString();

    ASSERT_TRUE(etcd.Pause().ok());
    auto start = SteadyClock::now();
    auto hung = testing::EtcdPost(etcd.endpoint(), "/v3/kv/range",
                                  nlohmann::json{{"key", Base64Encode("/t/a")}}.dump(), "",
                                  Duration(500));
    EXPECT_FALSE(hung.ok()) << "a paused etcd does not answer";
    EXPECT_LT(Since(start), milliseconds(2000));
    ASSERT_TRUE(etcd.Resume().ok());
    EXPECT_TRUE(etcd.Healthy(Duration(3000)));

    ASSERT_TRUE(etcd.Restart().ok()) << etcd.LogTail();
    auto got = testing::EtcdPost(etcd.endpoint(), "/v3/kv/range",
                                 nlohmann::json{{"key", Base64Encode("/t/a")}}.dump());
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    EXPECT_THAT(*got, HasSubstr(Base64Encode("1"))) << "data survives a restart";

    pid_t pid = etcd.pid();
    ASSERT_TRUE(etcd.Pause().ok());
    ASSERT_TRUE(etcd.Stop().ok()) << "even a paused etcd stops";
    EXPECT_NE(kill(pid, 0), 0) << "the process is gone";
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << "the directory is removed";
}

#if PGPILOT_STORE_CONTRACT_ETCD
// ---------------------------------------------------------------------------------------------
// etcd only: what the contract means where the store is a separate server.

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = UniqueCluster();
    std::string error;
    etcd_ = SharedEtcd::Get(&error);
    ASSERT_NE(etcd_, nullptr) << error;
  }
  std::unique_ptr<Store> OpenAt(EtcdConfig config, const std::string& cluster = "") {
    auto store = EtcdStore::Open(config, cluster.empty() ? cluster_ : cluster, clock_);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().ToString());
    if (!store.ok()) return nullptr;
    return std::move(store.value());
  }
  std::unique_ptr<Store> Open() {
    EtcdConfig config;
    config.endpoints = {etcd_->endpoint()};
    return OpenAt(config);
  }
  Status RawPut(const std::string& key, const std::string& value) {
    auto r = testing::EtcdPost(
        etcd_->endpoint(), "/v3/kv/put",
        nlohmann::json{{"key", Base64Encode(key)}, {"value", Base64Encode(value)}}.dump());
    return r.ok() ? Status::Ok() : Status(r.error());
  }

  testing::EtcdProcess* etcd_ = nullptr;
  std::string cluster_;
  RealClock clock_;
};

TEST_F(EtcdStoreTest, DescribeNamesTheEndpoint) {
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_THAT(s->Describe(), HasSubstr("127.0.0.1:" + std::to_string(etcd_->client_port())));
}

TEST_F(EtcdStoreTest, AClosedPortIsUnavailableAtOnce) {
  // A port nothing listens on: connections are refused.
  const int port = FreeLoopbackPort(etcd_->client_port());
  ASSERT_NE(port, 0);
  EtcdConfig config;
  config.endpoints = {"127.0.0.1:" + std::to_string(port)};
  auto s = OpenAt(config);
  ASSERT_TRUE(s);
  auto start = SteadyClock::now();
  auto view = s->Load();
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.error().code, ErrorCode::kUnavailable) << view.error().ToString();
  EXPECT_THAT(view.error().message + view.error().hint, HasSubstr(std::to_string(port)))
      << "the error names the endpoint: " << view.error().ToString();
  auto acquire = s->AcquireLeader(Req("pg-0"), std::nullopt);
  ASSERT_FALSE(acquire.ok());
  EXPECT_EQ(acquire.error().code, ErrorCode::kUnavailable);
  Status put = s->PutMember(Member("pg-0"), Duration(10000));
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code, ErrorCode::kUnavailable);
  // The current token may be known without etcd; a wait for a change cannot succeed.
  auto current = s->WaitForChange(~uint64_t{0}, Duration(0));
  if (!current.ok()) {
    EXPECT_EQ(current.error().code, ErrorCode::kUnavailable);
  }
  auto wait = s->WaitForChange(current.ok() ? *current : 0, Duration(500));
  ASSERT_FALSE(wait.ok()) << "no watch can be running";
  EXPECT_EQ(wait.error().code, ErrorCode::kUnavailable) << wait.error().ToString();
  EXPECT_LT(Since(start), milliseconds(3000)) << "a refused connection fails fast";
}

TEST_F(EtcdStoreTest, ASecondEndpointIsTriedWhenTheFirstIsDown) {
  const int port = FreeLoopbackPort(etcd_->client_port());
  ASSERT_NE(port, 0);
  EtcdConfig config;
  config.endpoints = {"http://127.0.0.1:" + std::to_string(port), etcd_->endpoint()};
  auto s = OpenAt(config);
  ASSERT_TRUE(s);
  auto acquire = s->AcquireLeader(Req("pg-0"), std::nullopt);
  ASSERT_TRUE(acquire.ok()) << acquire.error().ToString();
  EXPECT_TRUE(acquire->granted);
  auto view = s->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_TRUE(view->leader.has_value());
}

TEST_F(EtcdStoreTest, StateAndWatchSurviveAnEtcdRestart) {
  auto holder = Open();
  auto waiter = Open();
  auto acquired = holder->AcquireLeader(Req("pg-0", 0x100, 1, Duration(30000)), std::nullopt);
  ASSERT_TRUE(acquired.ok() && acquired->granted);
  ASSERT_TRUE(holder->PutMember(Member("pg-0"), Duration(30000)).ok());
  uint64_t token = SettledToken(*waiter);

  ASSERT_TRUE(etcd_->Restart().ok()) << etcd_->LogTail();

  auto view = waiter->Load();
  ASSERT_TRUE(Eventually([&] {
    view = waiter->Load();
    return view.ok();
  }, milliseconds(10000))) << view.error().ToString();
  ASSERT_TRUE(view->leader.has_value()) << "the leader lease survives a restart of etcd";
  EXPECT_EQ(*view->leader, *acquired->record);
  EXPECT_EQ(view->members.size(), 1u);
  auto renew = holder->RenewLeader(Req("pg-0", 0x200, 1, Duration(30000)), 1);
  ASSERT_TRUE(renew.ok()) << renew.error().ToString();
  EXPECT_TRUE(renew->granted);
  ASSERT_TRUE(holder->PutMember(Member("pg-0", 0x4000000), Duration(30000)).ok());

  // The watch reconnects: a change after the restart wakes the waiter.
  Result<uint64_t> current = waiter->WaitForChange(token, Duration(0));
  ASSERT_TRUE(Eventually([&] {
    current = waiter->WaitForChange(~uint64_t{0}, Duration(0));
    return current.ok();
  }, milliseconds(10000))) << current.error().ToString();
  token = SettledToken(*waiter);
  uint64_t next = 0;
  auto elapsed = WaitAcross(*waiter, token, [&] {
    EXPECT_TRUE(Open()->PutMember(Member("pg-1"), Duration(30000)).ok());
  }, &next, Duration(8000));
  EXPECT_NE(next, token) << "a member joining after etcd restarted wakes the waiter";
  EXPECT_LT(elapsed, milliseconds(2000));
}

TEST_F(EtcdStoreTest, GarbageInTheStoreIsAnErrorNamingTheKeyNeverOverwritten) {
  auto s = Open();
  const std::string key = keys::Key(cluster_, keys::kLeader);
  ASSERT_TRUE(RawPut(key, "}{ not json").ok());
  auto view = s->Load();
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.error().code, ErrorCode::kInvalidArgument) << view.error().ToString();
  EXPECT_THAT(view.error().message, HasSubstr(key));
  auto acquire = s->AcquireLeader(Req("pg-0"), std::nullopt);
  ASSERT_FALSE(acquire.ok()) << "an unreadable lease is an error; granted=" << acquire->granted;
  EXPECT_THAT(acquire.error().message, HasSubstr(key));
  auto renew = s->RenewLeader(Req("pg-0"), 1);
  ASSERT_FALSE(renew.ok()) << "granted=" << renew->granted;
  auto release = s->ReleaseLeader(Req("pg-0"), 1);
  ASSERT_FALSE(release.ok()) << "released=" << *release;
  // Still the garbage: nothing overwrote it.
  auto still = s->Load();
  ASSERT_FALSE(still.ok());

  const std::string member_key = keys::MemberKey(cluster_ + "-m", "pg-0");
  ASSERT_TRUE(RawPut(member_key, "\x01\x02 garbage").ok());
  EtcdConfig config;
  config.endpoints = {etcd_->endpoint()};
  auto m = OpenAt(config, cluster_ + "-m")->Load();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(m.error().message, HasSubstr(member_key));
}

TEST_F(EtcdStoreTest, ARenewalWithAnotherTtlMovesTheRecordToANewLeaseAndRevokesTheOld) {
  // A JSON answer of etcd's HTTP gateway to `path` with `body`.
  auto post = [&](const std::string& path, const nlohmann::json& body) {
    auto r = testing::EtcdPost(etcd_->endpoint(), path, body.dump());
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? nlohmann::json::parse(*r, nullptr, false) : nlohmann::json();
  };
  // etcd's 64-bit integers arrive as strings.
  auto number = [](const nlohmann::json& j, const char* field) -> int64_t {
    return j.contains(field) ? std::stoll(j[field].get<std::string>()) : 0;
  };
  const std::string key = keys::Key(cluster_, keys::kLeader);
  auto lease_of_record = [&] {
    auto answer = post("/v3/kv/range", {{"key", Base64Encode(key)}});
    return answer.contains("kvs") ? number(answer["kvs"][0], "lease") : 0;
  };
  auto ttl_granted = [&](int64_t lease) {
    return number(post("/v3/lease/timetolive", {{"ID", std::to_string(lease)}}), "grantedTTL");
  };

  auto s = Open();
  ASSERT_TRUE(s->AcquireLeader(Req("pg-0", 0x100, 1, Duration(2000)), std::nullopt)->granted);
  const int64_t first = lease_of_record();
  ASSERT_NE(first, 0);
  EXPECT_EQ(ttl_granted(first), 2);

  ASSERT_TRUE(s->RenewLeader(Req("pg-0", 0x200, 1, Duration(2000)), 1)->granted);
  EXPECT_EQ(lease_of_record(), first) << "the same ttl keeps the lease alive";

  ASSERT_TRUE(s->RenewLeader(Req("pg-0", 0x300, 1, Duration(6000)), 1)->granted);
  const int64_t second = lease_of_record();
  EXPECT_NE(second, first) << "another ttl takes another lease";
  EXPECT_EQ(ttl_granted(second), 6);
  auto old = post("/v3/lease/timetolive", {{"ID", std::to_string(first)}});
  EXPECT_EQ(number(old, "TTL"), -1) << "the old lease is revoked: " << old.dump();

  ASSERT_TRUE(s->RenewLeader(Req("pg-0", 0x400, 1, Duration(6000)), 1)->granted);
  EXPECT_EQ(lease_of_record(), second);
}

TEST_F(EtcdStoreTest, GarbageOutsideTheScopeIsIgnored) {
  ASSERT_TRUE(RawPut("/pgpilot/" + cluster_ + "x/leader", "garbage").ok());
  ASSERT_TRUE(RawPut("/elsewhere", "garbage").ok());
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_FALSE(view->leader.has_value());
}

// Authentication: a separate etcd, since enabling it changes the server for everyone.
TEST(EtcdStoreAuthTest, PasswordAuthenticationWorksAndFailuresAreErrors) {
  auto started = testing::EtcdProcess::Start();
  ASSERT_TRUE(started.ok()) << started.error().ToString();
  auto& etcd = *started.value();
  ASSERT_TRUE(etcd.EnableAuth("root-secret-1", "pgpilot", "pgpilot-secret-2").ok()) << etcd.LogTail();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto password_file = [&](const std::string& name, const std::string& password) {
    std::string path = dir.path() + "/" + name;
    std::ofstream(path) << password << "\n";
    chmod(path.c_str(), 0600);
    return path;
  };
  RealClock clock;
  auto open = [&](const std::string& user, const std::string& file) -> std::unique_ptr<Store> {
    EtcdConfig config;
    config.endpoints = {etcd.endpoint()};
    config.username = user;
    config.password_file = file;
    auto s = EtcdStore::Open(config, "auth", clock);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().ToString());
    if (!s.ok()) return nullptr;
    return std::move(s.value());
  };

  // Without credentials nothing is readable.
  {
    EtcdConfig config;
    config.endpoints = {etcd.endpoint()};
    auto anonymous = EtcdStore::Open(config, "auth", clock);
    ASSERT_TRUE(anonymous.ok());
    auto view = (*anonymous)->Load();
    EXPECT_FALSE(view.ok()) << "etcd with authentication on answered an anonymous read";
    auto acquire = (*anonymous)->AcquireLeader(Req("pg-9"), std::nullopt);
    EXPECT_FALSE(acquire.ok()) << "an anonymous write must be an error, not granted or refused";
  }

  // The right password: the store works, the watch too.
  auto good = open("pgpilot", password_file("good", "pgpilot-secret-2"));
  ASSERT_TRUE(good);
  auto waiter = open("pgpilot", password_file("good2", "pgpilot-secret-2"));
  ASSERT_TRUE(waiter);
  auto view = good->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  uint64_t token = SettledToken(*waiter), next = 0;
  auto elapsed = WaitAcross(*waiter, token, [&] {
    auto r = good->AcquireLeader(Req("pg-0"), std::nullopt);
    EXPECT_TRUE(r.ok() && r->granted) << (r.ok() ? "" : r.error().ToString());
  }, &next);
  EXPECT_NE(next, token) << "the watch works with authentication";
  EXPECT_LT(elapsed, milliseconds(2000));
  Status put = good->PutMember(Member("pg-0"), Duration(10000));
  EXPECT_TRUE(put.ok()) << put.ToString();
  auto renew = good->RenewLeader(Req("pg-0"), 1);
  ASSERT_TRUE(renew.ok()) << renew.error().ToString();
  EXPECT_TRUE(renew->granted);
  view = waiter->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_EQ(view->members.size(), 1u);

  // A wrong password: errors that say so, never a refusal.
  auto bad = open("pgpilot", password_file("bad", "bad-pw-7f3a"));
  if (bad) {
    auto r = bad->Load();
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().code, AnyOf(ErrorCode::kPermissionDenied, ErrorCode::kUnavailable))
        << r.error().ToString();
    EXPECT_THAT(r.error().ToString(), ::testing::Not(HasSubstr("bad-pw-7f3a")))
        << "the password is not echoed";
    auto acquire = bad->AcquireLeader(Req("pg-1"), std::nullopt);
    ASSERT_FALSE(acquire.ok()) << "granted=" << acquire->granted;
    std::cerr << "[ info ] wrong password: " << r.error().ToString() << "\n";
  }

  // A user whose role does not cover /pgpilot/: permission errors are errors, not refusals.
  {
    nlohmann::json login = {{"name", "root"}, {"password", "root-secret-1"}};
    auto auth = testing::EtcdPost(etcd.endpoint(), "/v3/auth/authenticate", login.dump());
    ASSERT_TRUE(auth.ok()) << auth.error().ToString();
    std::string root = nlohmann::json::parse(*auth).value("token", "");
    ASSERT_FALSE(root.empty());
    for (const auto& [path, body] : std::vector<std::pair<std::string, nlohmann::json>>{
             {"/v3/auth/role/add", {{"name", "elsewhere"}}},
             {"/v3/auth/role/grant",
              {{"name", "elsewhere"},
               {"perm",
                {{"permType", "READWRITE"},
                 {"key", Base64Encode("/elsewhere/")},
                 {"range_end", Base64Encode("/elsewhere0")}}}}},
             {"/v3/auth/user/add", {{"name", "outsider"}, {"password", "outsider-secret-3"}}},
             {"/v3/auth/user/grant", {{"user", "outsider"}, {"role", "elsewhere"}}}}) {
      auto r = testing::EtcdPost(etcd.endpoint(), path, body.dump(), root);
      ASSERT_TRUE(r.ok()) << path << ": " << r.error().ToString();
    }
  }
  auto outsider = open("outsider", password_file("outsider", "outsider-secret-3"));
  ASSERT_TRUE(outsider);
  auto denied = outsider->Load();
  ASSERT_FALSE(denied.ok()) << "read without permission";
  std::cerr << "[ info ] no permission: " << denied.error().ToString() << "\n";
  auto acquire = outsider->AcquireLeader(Req("pg-2"), std::nullopt);
  ASSERT_FALSE(acquire.ok()) << "a permission error looked like an answer: granted=" << acquire->granted;
  auto claim = outsider->ClaimInitialize("pg-2", "");
  ASSERT_FALSE(claim.ok()) << "a permission error looked like an answer: claimed=" << *claim;
  Status put_member = outsider->PutMember(Member("pg-2"), Duration(10000));
  EXPECT_FALSE(put_member.ok());

  // And the leader is still pg-0's.
  view = good->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->leader.has_value());
  EXPECT_EQ(view->leader->holder, "pg-0");
}
#endif  // PGPILOT_STORE_CONTRACT_ETCD

}  // namespace
}  // namespace pgpilot
