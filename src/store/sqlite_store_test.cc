#include "support/temp_dir.h"
#include "support/sample_member.h"
#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "platform/clock.h"
#include "store/keys.h"
#include "store/open_store.h"
#include "store/store.h"

// What every store must do (initialize race, CAS, terms, member expiry in real time, history,
// scopes, WaitForChange) is tested once for all backends in store_contract_test.cc. Here: what is
// particular to the embedded store (files, locks, wall-clock expiry, garbage written with sqlite3).

namespace pgpilot {
namespace {

MemberStatus Member(const std::string& name, uint64_t lsn = 0x3000148) {
  return testing::SampleMember(name, lsn);
}

using ::testing::HasSubstr;
using ::testing::Not;

// A directory under /tmp that removes itself.
class TempDir : public testing::ScratchDir {
 public:
  TempDir() : ScratchDir("pgpilot-store-test") {}
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
                                "redis://127.0.0.1:6379", "", "sqlite:"}) {
    auto c = ParseStoreUrl(url);
    ASSERT_FALSE(c.ok()) << url;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << url;
    EXPECT_THAT(c.error().message, HasSubstr("'" + url + "'"));
    EXPECT_THAT(c.error().hint, HasSubstr("sqlite:/"));
  }
}

TEST(StoreUrl, EtcdUrlWithoutEndpointsIsRefused) {
  for (const std::string url : {"etcd://", "etcd://,"}) {
    auto c = ParseStoreUrl(url);
    ASSERT_FALSE(c.ok()) << url;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(c.error().hint, HasSubstr("etcd://HOST:PORT"));
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

// ---------------------------------------------------------------------------------------------
// leader lease

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

// ---------------------------------------------------------------------------------------------
// members

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
// WaitForChange

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
  Status h = s->AppendHistory(HistoryEntry{2, Lsn{1}, 0, "a", "b", 1, WallTime{1}, "r"});
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
