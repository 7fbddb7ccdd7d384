#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "platform/clock.h"
#include "store/keys.h"
#include "store/open_store.h"
#include "store/store.h"

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A directory under /tmp that removes itself.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pgpilot-store-test.XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Wall time set by the test; monotonic time is the real one (WaitForChange sleeps on it).
class FakeWallClock final : public Clock {
 public:
  MonoTime Now() const override { return real_.Now(); }
  WallTime WallNow() const override { return WallTime{wall_ms_.load()}; }
  void Set(int64_t ms) { wall_ms_ = ms; }
  void Advance(int64_t ms) { wall_ms_ += ms; }

 private:
  RealClock real_;
  std::atomic<int64_t> wall_ms_{1'700'000'000'000};
};

MemberStatus Member(const std::string& name, uint64_t lsn = 0x3000148) {
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

LeaseRequest Req(const std::string& member, uint64_t lsn = 0x100, Timeline tl = 1) {
  return LeaseRequest{member, Duration(10000), Lsn{lsn}, tl};
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
    path_ = dir_.path() + "/store.db";
  }

  std::unique_ptr<Store> OpenWith(const Clock& clock, const std::string& cluster = "alpha") {
    auto store = OpenStore(StoreConfig{path_}, cluster, clock);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().ToString());
    if (!store.ok()) return nullptr;
    return std::move(store.value());
  }
  std::unique_ptr<Store> Open(const std::string& cluster = "alpha") { return OpenWith(clock_, cluster); }

  void RawPut(const std::string& key, const std::string& value) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "INSERT INTO kv(key, value, revision, expires_ms) VALUES(?1, ?2, 999, 0) "
                                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                 -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, value.c_str(), -1, SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }

  // The current change token without waiting.
  static uint64_t Token(Store& s) {
    auto t = s.WaitForChange(~uint64_t{0}, Duration(0));
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : 0;
  }

  TempDir dir_;
  std::string path_;
  RealClock clock_;
};

// ---------------------------------------------------------------------------------------------
// Opening

TEST(StoreUrl, AcceptsSqliteUrlsAndAbsoluteDbPaths) {
  for (const auto& [url, path] : std::vector<std::pair<std::string, std::string>>{
           {"sqlite:/var/lib/pgpilot/store.db", "/var/lib/pgpilot/store.db"},
           {"sqlite:///var/lib/pgpilot/store.db", "/var/lib/pgpilot/store.db"},
           {"/srv/x/store.db", "/srv/x/store.db"}}) {
    auto c = ParseStoreUrl(url);
    ASSERT_TRUE(c.ok()) << url << ": " << c.error().ToString();
    EXPECT_EQ(c->sqlite_path, path) << url;
  }
}

TEST(StoreUrl, RejectsRelativeAndUnknownAddresses) {
  for (const std::string url : {"store.db", "sqlite:store.db", "sqlite://relative/store.db",
                                "etcd://", "etcd://,", "redis://127.0.0.1:6379", "", "sqlite:"}) {
    auto c = ParseStoreUrl(url);
    ASSERT_FALSE(c.ok()) << url;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << url;
    EXPECT_THAT(c.error().message, HasSubstr("'" + url + "'"));
    EXPECT_THAT(c.error().hint, HasSubstr("sqlite:/"));
  }
}

TEST(StoreUrl, ParsesEtcdEndpointLists) {
  auto c = ParseStoreUrl("etcd://10.0.0.5:2379,10.0.0.6:2379,https://10.0.0.7:2379");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_TRUE(c->is_etcd());
  EXPECT_EQ(c->etcd.endpoints,
            (std::vector<std::string>{"10.0.0.5:2379", "10.0.0.6:2379", "https://10.0.0.7:2379"}));
}

TEST_F(SqliteStoreTest, DescribeNamesTheFile) {
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Describe(), "sqlite:" + path_);
}

TEST_F(SqliteStoreTest, FreshStoreLoadsEmpty) {
  auto s = Open();
  ASSERT_TRUE(s);
  auto view = s->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_FALSE(view->initialize.has_value());
  EXPECT_FALSE(view->leader.has_value());
  EXPECT_TRUE(view->members.empty());
  EXPECT_TRUE(view->history.empty());
}

TEST_F(SqliteStoreTest, OpenInMissingDirectoryIsAClearError) {
  std::string missing = dir_.path() + "/no-such-dir/store.db";
  auto s = OpenStore(StoreConfig{missing}, "alpha", clock_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(s.error().message, HasSubstr(missing));
  EXPECT_FALSE(s.error().hint.empty());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/no-such-dir"));
}

TEST_F(SqliteStoreTest, OpenOfADirectoryIsAClearError) {
  auto s = OpenStore(StoreConfig{dir_.path()}, "alpha", clock_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr(dir_.path()));
  EXPECT_FALSE(s.error().hint.empty());
}

TEST_F(SqliteStoreTest, OpenOfAFileThatIsNotADatabaseIsAClearError) {
  {
    FILE* f = fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::string junk(8192, 'x');
    fputs("this is not an SQLite database\n", f);
    fputs(junk.c_str(), f);
    fclose(f);
  }
  auto s = OpenStore(StoreConfig{path_}, "alpha", clock_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr(path_));
  EXPECT_THAT(s.error().hint, HasSubstr("not be a pgpilot store"));
}

// ---------------------------------------------------------------------------------------------
// initialize

TEST_F(SqliteStoreTest, InitializeRaceHasExactlyOneWinnerAcrossConnections) {
  constexpr int kRounds = 3;
  constexpr int kThreads = 12;
  for (int round = 0; round < kRounds; ++round) {
    const std::string cluster = "race-" + std::to_string(round);
    // Every contender has its own store instance, hence its own SQLite connection.
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
  }
}

TEST_F(SqliteStoreTest, OpeningManyConnectionsConcurrentlyOnAFreshFileSucceeds) {
  constexpr int kThreads = 12;
  std::latch start(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto s = OpenStore(StoreConfig{path_}, "alpha", clock_);
      if (!s.ok()) {
        errors[i] = s.error().ToString();
        return;
      }
      auto claimed = (*s)->ClaimInitialize("m" + std::to_string(i), "");
      if (!claimed.ok()) errors[i] = claimed.error().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(errors[i], "") << "contender " << i;
}

TEST_F(SqliteStoreTest, SecondClaimLosesAndKeepsTheFirst) {
  auto a = Open();
  auto b = Open();
  auto first = a->ClaimInitialize("pg-0", "");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  auto second = b->ClaimInitialize("pg-1", "");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  auto again = a->ClaimInitialize("pg-0", "");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "a claim is created once, even for the same member";
  auto view = b->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->initialize->claimed_by, "pg-0");
}

TEST_F(SqliteStoreTest, CompleteInitializeOnlyByTheClaimerAndOnlyOnce) {
  auto s = Open();
  auto none = s->CompleteInitialize("pg-0", "7000000000000000001");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none) << "nothing to complete without a claim";

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

TEST_F(SqliteStoreTest, AbandonInitializeOnlyOurIncompleteClaim) {
  auto s = Open();
  auto nothing = s->AbandonInitialize("pg-0");
  ASSERT_TRUE(nothing.ok());
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

TEST_F(SqliteStoreTest, AcquireWhenAbsentSucceedsOnceThenTheStoreSaysNo) {
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
  EXPECT_FALSE(first->record->released);
  EXPECT_NE(first->record->revision, 0u);

  auto second = b->AcquireLeader(Req("pg-1"), std::nullopt);
  ASSERT_TRUE(second.ok()) << "a refused compare is an ordinary outcome, not an error";
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

TEST_F(SqliteStoreTest, ExpectingARevisionWhenTheLeaseIsAbsentIsRefused) {
  auto s = Open();
  auto r = s->AcquireLeader(Req("pg-0"), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->granted);
  EXPECT_FALSE(r->record.has_value());
  EXPECT_FALSE(s->Load()->leader.has_value());
}

TEST_F(SqliteStoreTest, LockedStoreIsUnavailableNotARefusal) {
  auto s = Open();
  ASSERT_TRUE(s->AcquireLeader(Req("pg-0"), std::nullopt)->granted);

  // Another connection holds the write lock longer than the store's busy timeout.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);

  auto b = OpenStore(StoreConfig{path_}, "alpha", clock_);
  // Opening may or may not need the lock; either way nothing may look like a refusal.
  if (b.ok()) {
    auto r = (*b)->AcquireLeader(Req("pg-1"), std::nullopt);
    ASSERT_FALSE(r.ok()) << "granted=" << r->granted;
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().ToString();
    auto renew = (*b)->RenewLeader(Req("pg-0"), 1);
    ASSERT_FALSE(renew.ok());
    EXPECT_EQ(renew.error().code, ErrorCode::kUnavailable);
    Status put = (*b)->PutMember(Member("pg-1"), Duration(1000));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, ErrorCode::kUnavailable);
  }
  auto r = s->AcquireLeader(Req("pg-1"), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().ToString();
  EXPECT_THAT(r.error().message, HasSubstr(path_));

  ASSERT_EQ(sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  // The failed calls left nothing behind, and the store works again.
  auto again = s->AcquireLeader(Req("pg-1"), std::nullopt);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_FALSE(again->granted);
  EXPECT_EQ(again->record->holder, "pg-0");
  auto renew = s->RenewLeader(Req("pg-0"), 1);
  ASSERT_TRUE(renew.ok()) << renew.error().ToString();
  EXPECT_TRUE(renew->granted);
}

TEST_F(SqliteStoreTest, CompareAndSwapOnRevisionRefusesAStaleExpectation) {
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
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(stale->granted);
  EXPECT_EQ(stale->record->holder, "pg-0");
  EXPECT_EQ(stale->record->revision, rev2);

  auto fresh = b->AcquireLeader(Req("pg-1", 0x700, 1), rev2);
  ASSERT_TRUE(fresh.ok());
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

TEST_F(SqliteStoreTest, ConcurrentAcquireOnOneRevisionHasOneWinner) {
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
  EXPECT_EQ(view->leader->term, 2u);
  EXPECT_NE(view->leader->holder, "pg-0");
}

TEST_F(SqliteStoreTest, RenewByHolderWithTheRightTermOnly) {
  auto s = Open();
  auto acquired = s->AcquireLeader(Req("pg-0", 0x100, 1), std::nullopt);
  ASSERT_TRUE(acquired.ok() && acquired->granted);

  auto ok = s->RenewLeader(LeaseRequest{"pg-0", Duration(4000), Lsn{0x900}, 2}, 1);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_TRUE(ok->granted);
  EXPECT_EQ(ok->record->holder, "pg-0");
  EXPECT_EQ(ok->record->term, 1u) << "a renewal keeps the term";
  EXPECT_EQ(ok->record->ttl, Duration(4000));
  EXPECT_EQ(ok->record->lsn, Lsn{0x900});
  EXPECT_EQ(ok->record->timeline, 2u);
  EXPECT_GT(ok->record->revision, acquired->record->revision);
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(*view->leader, *ok->record);

  auto stranger = s->RenewLeader(Req("pg-1"), 1);
  ASSERT_TRUE(stranger.ok());
  EXPECT_FALSE(stranger->granted);
  EXPECT_EQ(stranger->record->holder, "pg-0");
  EXPECT_EQ(stranger->record->revision, ok->record->revision) << "a refusal writes nothing";

  for (uint64_t wrong : {uint64_t{0}, uint64_t{2}}) {
    auto r = s->RenewLeader(Req("pg-0"), wrong);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->granted) << "term " << wrong;
  }
  EXPECT_EQ(s->Load()->leader->revision, ok->record->revision);
}

TEST_F(SqliteStoreTest, RenewWithoutALeaseIsRefused) {
  auto s = Open();
  auto r = s->RenewLeader(Req("pg-0"), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->granted);
  EXPECT_FALSE(r->record.has_value());
  EXPECT_FALSE(s->Load()->leader.has_value()) << "a renewal never creates the lease";
}

TEST_F(SqliteStoreTest, ReleaseRecordsReleasedAndTheFinalPosition) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a->AcquireLeader(Req("pg-0", 0x100, 3), std::nullopt)->granted);

  auto stranger = b->ReleaseLeader(Req("pg-1"), 1);
  ASSERT_TRUE(stranger.ok());
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
  EXPECT_TRUE(renew->record->released);

  // Another member takes it over from the released record, with the next term.
  auto take = b->AcquireLeader(Req("pg-1"), view->leader->revision);
  ASSERT_TRUE(take.ok());
  EXPECT_TRUE(take->granted);
  EXPECT_EQ(take->record->term, 2u);
  EXPECT_FALSE(take->record->released);
}

// ---------------------------------------------------------------------------------------------
// members

TEST_F(SqliteStoreTest, PutMemberRoundTripsAndListsByName) {
  auto s = Open();
  ASSERT_TRUE(s->PutMember(Member("pg-2"), Duration(60000)).ok());
  ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(60000)).ok());
  ASSERT_TRUE(s->PutMember(Member("pg-1"), Duration(60000)).ok());
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
  ASSERT_EQ(view->members.size(), 3u);
  EXPECT_EQ(view->members[1], updated);
}

TEST_F(SqliteStoreTest, DeleteMemberRemovesOnlyThatMember) {
  auto s = Open();
  ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(60000)).ok());
  ASSERT_TRUE(s->PutMember(Member("pg-1"), Duration(60000)).ok());
  ASSERT_TRUE(s->DeleteMember("pg-0").ok());
  auto view = s->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->members.size(), 1u);
  EXPECT_EQ(view->members[0].name, "pg-1");
  EXPECT_EQ(view->FindMember("pg-0"), nullptr);
  EXPECT_TRUE(s->DeleteMember("pg-9").ok()) << "deleting an absent member is not an error";
}

TEST_F(SqliteStoreTest, MemberEntryExpiresAfterItsTtlOnTheWallClock) {
  FakeWallClock wall;
  auto writer = OpenWith(wall);
  auto reader = OpenWith(wall);
  ASSERT_TRUE(writer->PutMember(Member("pg-0"), Duration(300)).ok());
  ASSERT_TRUE(writer->PutMember(Member("pg-1"), Duration(5000)).ok());

  wall.Advance(299);
  auto view = reader->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->members.size(), 2u) << "not expired before its ttl";

  wall.Advance(1);
  view = reader->Load();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->members.size(), 1u) << "expired at its ttl";
  EXPECT_EQ(view->members[0].name, "pg-1");

  // Published again, it is back.
  ASSERT_TRUE(writer->PutMember(Member("pg-0"), Duration(300)).ok());
  view = reader->Load();
  ASSERT_EQ(view->members.size(), 2u);
}

TEST_F(SqliteStoreTest, MemberEntryExpiresInRealTime) {
  auto s = Open();
  ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(300)).ok());
  ASSERT_EQ(s->Load()->members.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  auto view = Open()->Load();
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE(view->members.empty());
}

TEST_F(SqliteStoreTest, RefreshingAMemberKeepsItAlive) {
  FakeWallClock wall;
  auto s = OpenWith(wall);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(300)).ok());
    wall.Advance(200);
    ASSERT_EQ(s->Load()->members.size(), 1u) << "refresh " << i;
  }
  wall.Advance(100);
  EXPECT_TRUE(s->Load()->members.empty());
}

// ---------------------------------------------------------------------------------------------
// history

TEST_F(SqliteStoreTest, AppendHistoryRoundTripsInOrderAndIgnoresARecordedTimeline) {
  auto s = Open();
  HistoryEntry h2{2, Lsn{0x3000148}, "pg-0", "pg-1", 2, WallTime{1700000000000}, "failover"};
  HistoryEntry h3{3, Lsn{0x16B374D848}, "pg-1", "pg-0", 5, WallTime{1700000100000}, "switchover"};
  ASSERT_TRUE(s->AppendHistory(h2).ok());
  ASSERT_TRUE(s->AppendHistory(h3).ok());
  HistoryEntry dup = h2;
  dup.new_leader = "pg-2";
  dup.reason = "a second promotion to the same timeline";
  ASSERT_TRUE(s->AppendHistory(dup).ok());

  auto view = Open()->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  ASSERT_EQ(view->history.size(), 2u);
  EXPECT_EQ(view->history[0], h2);
  EXPECT_EQ(view->history[1], h3);
}

// ---------------------------------------------------------------------------------------------
// scope

TEST_F(SqliteStoreTest, ClustersSharingAFileDoNotSeeEachOther) {
  auto a = Open("alpha");
  auto b = Open("alph");  // a prefix of the other name
  auto c = Open("alpha-2");
  ASSERT_TRUE(*a->ClaimInitialize("pg-0", ""));
  ASSERT_TRUE(a->AcquireLeader(Req("pg-0"), std::nullopt)->granted);
  ASSERT_TRUE(a->PutMember(Member("pg-0"), Duration(60000)).ok());
  for (Store* other : {b.get(), c.get()}) {
    auto view = other->Load();
    ASSERT_TRUE(view.ok());
    EXPECT_FALSE(view->initialize.has_value());
    EXPECT_FALSE(view->leader.has_value());
    EXPECT_TRUE(view->members.empty());
    auto claim = other->ClaimInitialize("pg-0", "");
    ASSERT_TRUE(claim.ok());
    EXPECT_TRUE(*claim);
    auto lease = other->AcquireLeader(Req("pg-0"), std::nullopt);
    ASSERT_TRUE(lease.ok());
    EXPECT_TRUE(lease->granted);
  }
}

// ---------------------------------------------------------------------------------------------
// WaitForChange

TEST_F(SqliteStoreTest, WaitForChangeTimesOutWithoutAChange) {
  auto s = Open();
  uint64_t token = Token(*s);
  auto start = std::chrono::steady_clock::now();
  auto r = s->WaitForChange(token, Duration(300));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, token);
  EXPECT_GE(elapsed, std::chrono::milliseconds(290));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(SqliteStoreTest, WaitForChangeReturnsAtOnceForAnOldToken) {
  auto s = Open();
  uint64_t token = Token(*s);
  ASSERT_TRUE(*s->ClaimInitialize("pg-0", ""));
  auto start = std::chrono::steady_clock::now();
  auto r = s->WaitForChange(token, Duration(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_NE(*r, token);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

// Waits on `waiter` while `change` runs on another connection after 150 ms; returns the time taken.
std::chrono::milliseconds WaitAcross(Store& waiter, uint64_t token, const std::function<void()>& change,
                                     uint64_t* out) {
  auto start = std::chrono::steady_clock::now();
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    change();
  });
  auto r = waiter.WaitForChange(token, Duration(5000));
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  t.join();
  EXPECT_TRUE(r.ok());
  *out = r.ok() ? *r : token;
  return elapsed;
}

TEST_F(SqliteStoreTest, WaitForChangeWakesPromptlyOnLeaderChangesFromAnotherConnection) {
  auto waiter = Open();
  auto other = Open();
  uint64_t token = Token(*waiter), next = 0;

  auto elapsed = WaitAcross(*waiter, token, [&] {
    EXPECT_TRUE(other->AcquireLeader(Req("pg-1"), std::nullopt)->granted);
  }, &next);
  EXPECT_NE(next, token) << "acquisition wakes the waiter";
  EXPECT_GE(elapsed, std::chrono::milliseconds(140));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
  token = next;

  elapsed = WaitAcross(*waiter, token, [&] { EXPECT_TRUE(*other->ReleaseLeader(Req("pg-1"), 1)); }, &next);
  EXPECT_NE(next, token) << "release wakes the waiter";
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(SqliteStoreTest, WaitForChangeWakesOnMembersJoiningOrLeaving) {
  auto waiter = Open();
  auto other = Open();
  uint64_t token = Token(*waiter), next = 0;

  auto elapsed = WaitAcross(*waiter, token, [&] {
    EXPECT_TRUE(other->PutMember(Member("pg-2"), Duration(60000)).ok());
  }, &next);
  EXPECT_NE(next, token) << "a member joining wakes the waiter";
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
  token = next;

  elapsed = WaitAcross(*waiter, token, [&] { EXPECT_TRUE(other->DeleteMember("pg-2").ok()); }, &next);
  EXPECT_NE(next, token) << "a member leaving wakes the waiter";
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(SqliteStoreTest, RenewalsAndMemberRefreshesDoNotWakeTheWaiter) {
  auto waiter = Open();
  auto other = Open();
  ASSERT_TRUE(other->AcquireLeader(Req("pg-1"), std::nullopt)->granted);
  ASSERT_TRUE(other->PutMember(Member("pg-1"), Duration(60000)).ok());
  uint64_t token = Token(*waiter);
  ASSERT_TRUE(other->RenewLeader(Req("pg-1", 0x200), 1)->granted);
  ASSERT_TRUE(other->PutMember(Member("pg-1", 0x5000000), Duration(60000)).ok());
  ASSERT_TRUE(other->AppendHistory(HistoryEntry{2, Lsn{1}, "a", "b", 1, WallTime{1}, "r"}).ok());
  auto r = waiter->WaitForChange(token, Duration(200));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, token);
}

TEST_F(SqliteStoreTest, AMemberRejoiningAfterExpiryCountsAsJoining) {
  FakeWallClock wall;
  auto s = OpenWith(wall);
  ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(300)).ok());
  uint64_t token = Token(*s);
  wall.Advance(301);
  ASSERT_TRUE(s->PutMember(Member("pg-0"), Duration(300)).ok());
  EXPECT_NE(Token(*s), token);
}

// ---------------------------------------------------------------------------------------------
// data that cannot be trusted

TEST_F(SqliteStoreTest, GarbageLeaderValueIsAnErrorNamingTheKey) {
  auto s = Open();
  const std::string key = keys::Key("alpha", keys::kLeader);
  RawPut(key, "}{ not json");
  auto view = s->Load();
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(view.error().message, HasSubstr(key));
  EXPECT_FALSE(view.error().hint.empty());

  auto acquire = s->AcquireLeader(Req("pg-0"), std::nullopt);
  ASSERT_FALSE(acquire.ok()) << "an unreadable lease is never silently overwritten";
  EXPECT_THAT(acquire.error().message, HasSubstr(key));
  auto renew = s->RenewLeader(Req("pg-0"), 1);
  ASSERT_FALSE(renew.ok());
  auto release = s->ReleaseLeader(Req("pg-0"), 1);
  ASSERT_FALSE(release.ok());
}

TEST_F(SqliteStoreTest, WrongTypesInALeaderRecordAreAnError) {
  auto s = Open();
  const std::string key = keys::Key("alpha", keys::kLeader);
  RawPut(key, R"({"holder":"pg-0","term":"1","ttl_ms":10000,"lsn":"0/0","timeline":1,"released":false})");
  auto view = s->Load();
  ASSERT_FALSE(view.ok());
  EXPECT_THAT(view.error().message, HasSubstr(key));
  EXPECT_THAT(view.error().message, HasSubstr("term"));
}

TEST_F(SqliteStoreTest, GarbageMemberInitializeOrHistoryIsAnError) {
  for (const std::string name : {"members/pg-0", "initialize", "history"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    path_ = dir.path() + "/store.db";
    auto s = Open();
    ASSERT_TRUE(s);
    const std::string key = keys::Key("alpha", name);
    RawPut(key, "\x01\x02 garbage");
    auto view = s->Load();
    ASSERT_FALSE(view.ok());
    EXPECT_EQ(view.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(view.error().message, HasSubstr(key));
  }
}

TEST_F(SqliteStoreTest, WritesOnTopOfGarbageAreErrorsNotCrashes) {
  auto s = Open();
  RawPut(keys::Key("alpha", keys::kInitialize), "[1,2,3]");
  RawPut(keys::Key("alpha", keys::kHistory), "{\"timeline\": 2}");
  auto complete = s->CompleteInitialize("pg-0", "42");
  ASSERT_FALSE(complete.ok());
  EXPECT_THAT(complete.error().message, HasSubstr("initialize"));
  auto abandon = s->AbandonInitialize("pg-0");
  ASSERT_FALSE(abandon.ok());
  auto claim = s->ClaimInitialize("pg-0", "");
  ASSERT_TRUE(claim.ok());
  EXPECT_FALSE(*claim) << "something already sits at initialize";
  Status h = s->AppendHistory(HistoryEntry{2, Lsn{1}, "a", "b", 1, WallTime{1}, "r"});
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(h.error().message, HasSubstr("history"));
}

TEST_F(SqliteStoreTest, GarbageOutsideTheScopeIsIgnored) {
  auto s = Open();
  RawPut("/pgpilot/other/leader", "garbage");
  RawPut("/elsewhere", "garbage");
  auto view = s->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_FALSE(view->leader.has_value());
}

}  // namespace
}  // namespace pgpilot
