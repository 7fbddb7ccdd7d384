#include "store/codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kKey = "/pgpilot/alpha/members/pg-0";

MemberStatus FullMember() {
  MemberStatus m;
  m.name = "pg-0";
  m.role = "replica";
  m.state = "replica";
  m.reason = "following pg-1 \"quoted\" \\ back\nslash, ünïcode";
  m.api_url = "http://10.0.0.7:8008";
  m.host = "10.0.0.7";
  m.port = 5433;
  m.timeline = 7;
  m.wal_position = Lsn{0x16B374D848};
  m.replayed = Lsn{0x16B374D000};
  m.streaming = true;
  m.upstream = "pg-1";
  m.term = 12;
  m.tags.nofailover = true;
  m.version = "0.1.0";
  m.agent_pid = 4242;
  m.postgres_pid = 4343;
  m.updated = WallTime{1'700'000'000'123};
  return m;
}

// Asserts `r` failed with an InvalidArgument naming the key and each of `words`.
template <typename T>
void ExpectRejected(const Result<T>& r, const std::string& key, std::vector<std::string> words = {}) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr(key));
  for (const auto& w : words) EXPECT_THAT(r.error().message, HasSubstr(w));
}

// ---------------------------------------------------------------------------------------------
// round trips

TEST(Codec, InitializeRoundTrips) {
  for (const InitializeRecord& rec : {InitializeRecord{"pg-0", ""}, InitializeRecord{"pg-2", "7311350155343754086"}}) {
    auto back = DecodeInitialize("k", EncodeInitialize(rec));
    ASSERT_TRUE(back.ok()) << back.error().ToString();
    EXPECT_EQ(back->claimed_by, rec.claimed_by);
    EXPECT_EQ(back->system_id, rec.system_id);
    EXPECT_EQ(back->complete(), !rec.system_id.empty());
  }
}

TEST(Codec, LeaderRoundTripsWithoutTheRevision) {
  LeaderRecord rec{"pg-1", 0xFFFFFFFFull + 5, Duration(2500), Lsn{0xFFFFFFFF00000001ull}, 4294967295u, true, 77};
  auto back = DecodeLeader("k", EncodeLeader(rec));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->revision, 0u) << "the revision is the store's, not part of the value";
  rec.revision = 0;
  EXPECT_EQ(*back, rec);
  EXPECT_THAT(EncodeLeader(rec), Not(HasSubstr("revision")));
}

TEST(Codec, MemberRoundTripsEveryField) {
  MemberStatus m = FullMember();
  auto back = DecodeMember(kKey, EncodeMember(m));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, m);

  MemberStatus minimal;
  minimal.name = "pg-9";
  back = DecodeMember(kKey, EncodeMember(minimal));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, minimal);
}

TEST(Codec, HistoryRoundTripsInOrder) {
  std::vector<HistoryEntry> h = {
      {2, Lsn{0x3000148}, 1, "pg-0", "pg-1", 2, WallTime{1700000000000}, "failover: pg-0 lost its lease"},
      {3, Lsn{0x16B374D848}, 0, "pg-1", "pg-0", 9, WallTime{1700000100000}, "switchover"},
  };
  auto back = DecodeHistory("k", EncodeHistory(h));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, h);

  auto empty = DecodeHistory("k", EncodeHistory({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Codec, OptionalMemberFieldsMayBeAbsent) {
  auto m = DecodeMember(kKey, R"({"name":"pg-0","role":"replica","state":"starting","api_url":"http://h:1",
    "host":"h","port":5432,"timeline":1,"wal_position":"0/3000148","streaming":false})");
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_EQ(m->name, "pg-0");
  EXPECT_EQ(m->wal_position, Lsn{0x3000148});
  EXPECT_EQ(m->replayed, Lsn{});
  EXPECT_FALSE(m->tags.nofailover);
  EXPECT_EQ(m->term, 0u);
}

// A member's reason can carry text from outside (file names found in a data directory, server
// messages) that is not valid UTF-8; publishing it must not throw.
TEST(Codec, EncodingInvalidUtf8DoesNotThrowAndStaysDecodable) {
  MemberStatus m = FullMember();
  m.reason = "/data holds files that are not a PostgreSQL data directory (caf\xe9.txt, \xff\xfe)";
  std::string text;
  ASSERT_NO_THROW(text = EncodeMember(m));
  auto back = DecodeMember(kKey, text);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_THAT(back->reason, HasSubstr("/data holds files"));
  EXPECT_THAT(back->reason, HasSubstr(".txt"));

  std::vector<HistoryEntry> h = {{2, Lsn{1}, 0, "a", "b", 1, WallTime{1}, "bad \xc3"}};
  ASSERT_NO_THROW(text = EncodeHistory(h));
  EXPECT_TRUE(DecodeHistory("k", text).ok());
  ASSERT_NO_THROW(text = EncodeLeader(LeaderRecord{"pg\xff", 1, Duration(1000), Lsn{}, 1, false, 0}));
  EXPECT_TRUE(DecodeLeader("k", text).ok());
  ASSERT_NO_THROW(text = EncodeInitialize(InitializeRecord{"pg-0", "\xfe"}));
  EXPECT_TRUE(DecodeInitialize("k", text).ok());
}

// ---------------------------------------------------------------------------------------------
// malformed values

TEST(Codec, MalformedJsonIsRejectedNamingTheKey) {
  for (const std::string text : {"", "{", "not json", "{\"holder\":}", "\x01\x02", "null", "42", "\"str\"",
                                 "[]", "[{\"holder\":\"pg-0\"}]"}) {
    SCOPED_TRACE(text);
    ExpectRejected(DecodeInitialize("/k/initialize", text), "/k/initialize", {"JSON object"});
    ExpectRejected(DecodeLeader("/k/leader", text), "/k/leader", {"JSON object"});
    ExpectRejected(DecodeMember(kKey, text), kKey, {"JSON object"});
    auto r = DecodeLeader("/k/leader", text);
    EXPECT_FALSE(r.error().hint.empty());
  }
  for (const std::string text : {"", "[", "{}", "{\"timeline\":2}", "null", "garbage"}) {
    SCOPED_TRACE(text);
    ExpectRejected(DecodeHistory("/k/history", text), "/k/history", {"JSON list"});
  }
}

TEST(Codec, MissingRequiredFieldsAreNamed) {
  ExpectRejected(DecodeInitialize("k", R"({"claimed_by":"pg-0"})"), "k", {"'system_id'"});
  ExpectRejected(DecodeInitialize("k", R"({"system_id":"1"})"), "k", {"'claimed_by'"});

  const std::string full = R"({"holder":"pg-0","term":1,"ttl_ms":10000,"lsn":"0/10","timeline":1,"released":false})";
  ASSERT_TRUE(DecodeLeader("k", full).ok());
  for (const std::string field : {"holder", "term", "ttl_ms", "lsn", "timeline", "released"}) {
    SCOPED_TRACE(field);
    auto j = full;
    // Drop `"field":value,` (or the last field with its leading comma).
    size_t at = j.find("\"" + field + "\"");
    size_t end = j.find_first_of(",}", at);
    if (j[end] == ',') j.erase(at, end - at + 1);
    else j.erase(at - 1, end - at + 1);
    ExpectRejected(DecodeLeader("k", j), "k", {"'" + field + "'"});
  }

  ExpectRejected(DecodeMember(kKey, R"({"name":"pg-0"})"), kKey, {"has no field"});
  ExpectRejected(DecodeHistory("k", R"([{"timeline":2,"switch_lsn":"0/1","old_leader":"a","new_leader":"b",
    "term":1,"time_ms":5}])"), "k", {"'reason'"});
}

TEST(Codec, WrongTypesAreRejectedWithTheExpectedType) {
  ExpectRejected(DecodeInitialize("k", R"({"claimed_by":5,"system_id":""})"), "k", {"'claimed_by'", "string"});
  ExpectRejected(DecodeLeader("k", R"({"holder":"pg-0","term":"1","ttl_ms":10000,"lsn":"0/10","timeline":1,"released":false})"),
                 "k", {"'term'", "integer"});
  ExpectRejected(DecodeLeader("k", R"({"holder":"pg-0","term":1.5,"ttl_ms":10000,"lsn":"0/10","timeline":1,"released":false})"),
                 "k", {"'term'", "integer"});
  ExpectRejected(DecodeLeader("k", R"({"holder":"pg-0","term":-1,"ttl_ms":10000,"lsn":"0/10","timeline":1,"released":false})"),
                 "k", {"'term'", "non-negative"});
  ExpectRejected(DecodeLeader("k", R"({"holder":"pg-0","term":1,"ttl_ms":10000,"lsn":"0/10","timeline":1,"released":"no"})"),
                 "k", {"'released'", "true or false"});
  ExpectRejected(DecodeLeader("k", R"({"holder":"pg-0","term":1,"ttl_ms":10000,"lsn":"16B374D848","timeline":1,"released":false})"),
                 "k", {"'lsn'", "WAL position"});
  ExpectRejected(DecodeLeader("k", R"({"holder":"pg-0","term":1,"ttl_ms":10000,"lsn":16,"timeline":1,"released":false})"),
                 "k", {"'lsn'", "string"});
  ExpectRejected(DecodeLeader("k", R"({"holder":null,"term":1,"ttl_ms":10000,"lsn":"0/1","timeline":1,"released":false})"),
                 "k", {"'holder'"});

  MemberStatus m = FullMember();
  std::string text = EncodeMember(m);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? t : t.replace(at, from.size(), to);
  };
  ExpectRejected(DecodeMember(kKey, replace("\"port\":5433", "\"port\":\"5433\"")), kKey, {"'port'"});
  ExpectRejected(DecodeMember(kKey, replace("\"streaming\":true", "\"streaming\":1")), kKey, {"'streaming'"});
  ExpectRejected(DecodeMember(kKey, replace("\"replayed\":\"16/B374D000\"", "\"replayed\":\"x/y\"")), kKey,
                 {"'replayed'"});
  ExpectRejected(DecodeMember(kKey, replace("\"nofailover\":true", "\"nofailover\":\"yes\"")), kKey,
                 {"'nofailover'"});
  ExpectRejected(DecodeMember(kKey, replace("\"timeline\":7", "\"timeline\":-7")), kKey, {"'timeline'"});

  ExpectRejected(DecodeHistory("k", R"([{"timeline":2,"switch_lsn":"0/1","old_leader":"a","new_leader":"b",
    "term":1,"time_ms":"yesterday","reason":"r"}])"), "k", {"'time_ms'"});
  ExpectRejected(DecodeHistory("k", R"([5])"), "k", {"not an object"});
}

TEST(Codec, RecordsWithoutIdentityAreRejected) {
  ExpectRejected(DecodeLeader("k", R"({"holder":"","term":1,"ttl_ms":10000,"lsn":"0/1","timeline":1,"released":false})"),
                 "k", {"holder"});
  ExpectRejected(DecodeLeader("k", R"({"holder":"pg-0","term":1,"ttl_ms":0,"lsn":"0/1","timeline":1,"released":false})"),
                 "k", {"ttl"});
  MemberStatus nameless = FullMember();
  nameless.name = "";
  ExpectRejected(DecodeMember(kKey, EncodeMember(nameless)), kKey, {"name"});
}

}  // namespace
}  // namespace pgpilot
