#include "postgres/data_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;

// `LC_ALL=C pg_controldata` of a PostgreSQL 15 cluster freshly made by initdb (checksums on), as
// printed on this machine; the state line is swapped in by the tests.
const char* kControlDataTemplate = R"(pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7711350155343754086
Database cluster state:               @STATE@
pg_control last modified:             Mon Nov 23 12:57:01 2026
Latest checkpoint location:           0/1741890
Latest checkpoint's REDO location:    0/1741858
Latest checkpoint's REDO WAL file:    000000010000000000000001
Latest checkpoint's TimeLineID:       @TL@
Latest checkpoint's PrevTimeLineID:   1
Latest checkpoint's full_page_writes: on
Latest checkpoint's NextXID:          0:725
Latest checkpoint's NextOID:          13572
Latest checkpoint's NextMultiXactId:  1
Latest checkpoint's NextMultiOffset:  0
Latest checkpoint's oldestXID:        717
Latest checkpoint's oldestXID's DB:   1
Latest checkpoint's oldestActiveXID:  0
Latest checkpoint's oldestMultiXid:   1
Latest checkpoint's oldestMulti's DB: 1
Latest checkpoint's oldestCommitTsXid:0
Latest checkpoint's newestCommitTsXid:0
Time of latest checkpoint:            Mon Nov 23 12:57:01 2026
Fake LSN counter for unlogged rels:   0/3E8
Minimum recovery ending location:     0/0
Min recovery ending loc's timeline:   0
Backup start location:                0/0
Backup end location:                  0/0
End-of-backup record required:        no
wal_level setting:                    replica
wal_log_hints setting:                on
max_connections setting:              100
max_worker_processes setting:         8
max_wal_senders setting:              10
max_prepared_xacts setting:           0
max_locks_per_xact setting:           64
track_commit_timestamp setting:       off
Maximum data alignment:               8
Database block size:                  8192
Blocks per segment of large relation: 131072
WAL block size:                       8192
Bytes per WAL segment:                16777216
Maximum length of identifiers:        64
Maximum columns in an index:          32
Maximum size of a TOAST chunk:        1996
Size of a large-object chunk:         2048
Date/time type storage:               64-bit integers
Float8 argument passing:              by value
Data page checksum version:           1
Mock authentication nonce:            0495a63d52c87a5cff74cb9f461acfebb1a46f234daca5e68f166e871e83f86d
)";

std::string ControlData(const std::string& state, const std::string& timeline = "1") {
  std::string out = kControlDataTemplate;
  out.replace(out.find("@STATE@"), 7, state);
  out.replace(out.find("@TL@"), 4, timeline);
  return out;
}

TEST(ControlData, ParsesAPrimaryThatRuns) {
  auto c = ParseControlData(ControlData("in production"));
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->system_id, "7711350155343754086");
  EXPECT_EQ(c->cluster_state, "in production");
  EXPECT_EQ(c->timeline, 1u);
  EXPECT_EQ(c->checkpoint_lsn, Lsn{0x1741890}) << "the checkpoint location, not the REDO location";
  EXPECT_TRUE(c->was_primary);
}

TEST(ControlData, PrimaryStates) {
  for (const char* state : {"in production", "shut down", "shutting down", "in crash recovery"}) {
    auto c = ParseControlData(ControlData(state));
    ASSERT_TRUE(c.ok()) << state;
    EXPECT_EQ(c->cluster_state, state);
    EXPECT_TRUE(c->was_primary) << state;
  }
}

TEST(ControlData, ReplicaStatesAreNotPrimary) {
  for (const char* state : {"in archive recovery", "shut down in recovery"}) {
    auto c = ParseControlData(ControlData(state, "3"));
    ASSERT_TRUE(c.ok()) << state;
    EXPECT_EQ(c->cluster_state, state);
    EXPECT_FALSE(c->was_primary) << state;
    EXPECT_EQ(c->timeline, 3u);
  }
}

TEST(ControlData, LargeTimelineAndLsn) {
  std::string text = ControlData("shut down in recovery", "4294967295");
  text.replace(text.find("0/1741890"), 9, "16/B374D848");
  auto c = ParseControlData(text);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->timeline, 4294967295u);
  EXPECT_EQ(c->checkpoint_lsn, Lsn{0x16B374D848});
}

TEST(ControlData, OutputWithoutIdentityIsAnError) {
  for (const std::string& text :
       {std::string(""), std::string("pg_controldata: error: could not open file \"global/pg_control\"\n"),
        std::string("Database cluster state:               in production\n"),
        std::string("Database system identifier:           7711350155343754086\n")}) {
    auto c = ParseControlData(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(c.error().message, HasSubstr("pg_controldata"));
  }
}

TEST(ControlData, LocalizedOutputIsNotMistakenForAPrimary) {
  // What a German locale prints: nothing parses, so it is an error, not a guess.
  auto c = ParseControlData(
      "Datenbanksystemidentifikation:        7711350155343754086\n"
      "Datenbank-Cluster-Status:             in Produktion\n");
  EXPECT_FALSE(c.ok());
}

// ---------------------------------------------------------------------------------------------
// InspectDataDir

class InspectDataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgpilot-datadir-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::string Dir(const std::string& name) {
    std::string p = root_ + "/" + name;
    std::filesystem::create_directories(p);
    return p;
  }
  static void Touch(const std::string& path, const std::string& content = "x") {
    std::ofstream(path) << content;
  }

  std::string root_;
  uid_t me_ = getuid();
};

TEST_F(InspectDataDirTest, MissingDirectory) {
  auto r = InspectDataDir(root_ + "/nope", me_);
  EXPECT_EQ(r.kind, DataDirKind::kMissing);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/nope")) << "inspection never creates anything";
}

TEST_F(InspectDataDirTest, EmptyDirectory) {
  auto r = InspectDataDir(Dir("data"), me_);
  EXPECT_EQ(r.kind, DataDirKind::kEmpty);
}

TEST_F(InspectDataDirTest, VolumeRootWithLostAndFoundOnly) {
  std::string vol = Dir("volume");
  Dir("volume/lost+found");
  auto r = InspectDataDir(vol, me_);
  EXPECT_EQ(r.kind, DataDirKind::kForeign) << "never initdb the root of a volume";
  EXPECT_THAT(r.detail, HasSubstr("lost+found"));
  EXPECT_THAT(r.detail, HasSubstr(vol + "/pgdata")) << "says which subdirectory to use";
  EXPECT_TRUE(std::filesystem::exists(vol + "/lost+found"));
}

TEST_F(InspectDataDirTest, NonPostgresDirectoryIsForeignAndListsWhatIsThere) {
  std::string d = Dir("data");
  for (const char* f : {"a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt", "g.txt"}) Touch(d + "/" + f);
  auto r = InspectDataDir(d, me_);
  EXPECT_EQ(r.kind, DataDirKind::kForeign);
  EXPECT_THAT(r.detail, HasSubstr(d));
  EXPECT_THAT(r.detail, HasSubstr("a.txt, b.txt, c.txt, d.txt, e.txt, ..."));
  EXPECT_THAT(r.detail, testing::Not(HasSubstr("f.txt")));
  EXPECT_THAT(r.detail, HasSubstr("empty directory")) << "says what to do";
  EXPECT_TRUE(std::filesystem::exists(d + "/g.txt")) << "nothing is touched";
}

TEST_F(InspectDataDirTest, LostAndFoundWithOtherFilesIsForeign) {
  std::string d = Dir("volume");
  Dir("volume/lost+found");
  Touch(d + "/backup.tar");
  auto r = InspectDataDir(d, me_);
  EXPECT_EQ(r.kind, DataDirKind::kForeign);
  EXPECT_THAT(r.detail, HasSubstr("backup.tar"));
}

TEST_F(InspectDataDirTest, ValidDataDirectory) {
  std::string d = Dir("data");
  Dir("data/global");
  Dir("data/base");
  Touch(d + "/PG_VERSION", "15\n");
  Touch(d + "/global/pg_control", std::string(8192, '\0'));
  auto r = InspectDataDir(d, me_);
  EXPECT_EQ(r.kind, DataDirKind::kValid);
}

TEST_F(InspectDataDirTest, VersionWithoutControlFileIsIncomplete) {
  std::string d = Dir("data");
  Touch(d + "/PG_VERSION", "15\n");
  Dir("data/base");
  auto r = InspectDataDir(d, me_);
  EXPECT_EQ(r.kind, DataDirKind::kIncomplete);
  EXPECT_THAT(r.detail, HasSubstr("pg_control"));
}

TEST_F(InspectDataDirTest, AFileIsNotADataDirectory) {
  std::string f = root_ + "/file";
  Touch(f);
  auto r = InspectDataDir(f, me_);
  EXPECT_EQ(r.kind, DataDirKind::kForeign);
  EXPECT_THAT(r.detail, HasSubstr("not a directory"));
}

TEST_F(InspectDataDirTest, DirectoryOwnedBySomeoneElseIsForeign) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to chown";
  struct passwd* pw = getpwnam("postgres");
  if (pw == nullptr) GTEST_SKIP() << "no postgres user";
  std::string d = Dir("data");
  ASSERT_EQ(chown(d.c_str(), pw->pw_uid, pw->pw_gid), 0);
  auto r = InspectDataDir(d, 0);
  EXPECT_EQ(r.kind, DataDirKind::kForeign);
  EXPECT_THAT(r.detail, HasSubstr("uid " + std::to_string(pw->pw_uid)));
  EXPECT_THAT(r.detail, HasSubstr("chown"));
  EXPECT_EQ(InspectDataDir(d, pw->pw_uid).kind, DataDirKind::kEmpty);
}

}  // namespace
}  // namespace pgpilot
