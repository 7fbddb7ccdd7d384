#include "store/codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
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

TEST(Codec, ConfigRoundTripsEveryFieldWithoutTheRevision) {
  DynamicConfig full;
  full.pause = true;
  full.maximum_lag_on_failover = uint64_t{1} << 40;
  full.synchronous_mode = SyncMode::kStrict;
  full.synchronous_node_count = 16;
  full.parameters = {{"max_connections", "200"}, {"shared_buffers", "1GB"}, {"work_mem", "64MB"}};
  full.ttl = Duration(30000);
  full.loop_wait = Duration(2500);
  full.revision = 77;
  auto back = DecodeConfig("k", EncodeConfig(full));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->revision, 0u) << "the revision is the store's, not part of the value";
  full.revision = 0;
  EXPECT_EQ(*back, full);
  EXPECT_THAT(EncodeConfig(full), Not(HasSubstr("revision")));

  for (SyncMode mode : {SyncMode::kOff, SyncMode::kOn}) {
    DynamicConfig c;
    c.synchronous_mode = mode;
    c.synchronous_node_count = 1;
    back = DecodeConfig("k", EncodeConfig(c));
    ASSERT_TRUE(back.ok()) << back.error().ToString();
    EXPECT_EQ(*back, c) << SyncModeName(mode);
  }

  // Parameters come back sorted by name, whatever the order in the value.
  back = DecodeConfig("k", R"({"postgresql":{"parameters":{"work_mem":"4MB","max_wal_senders":"10"}}})");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->parameters, (std::vector<std::pair<std::string, std::string>>{
                                  {"max_wal_senders", "10"}, {"work_mem", "4MB"}}));
}

TEST(Codec, ConfigWithNoFieldsRoundTripsEmpty) {
  const DynamicConfig none;
  EXPECT_EQ(EncodeConfig(none), "{}") << "unset settings are left out, not written as defaults";
  auto back = DecodeConfig("k", EncodeConfig(none));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, none);
  EXPECT_FALSE(back->pause);
  EXPECT_FALSE(back->maximum_lag_on_failover.has_value());
  EXPECT_FALSE(back->synchronous_mode.has_value());
  EXPECT_FALSE(back->synchronous_node_count.has_value());
  EXPECT_TRUE(back->parameters.empty());
  EXPECT_FALSE(back->ttl.has_value());
  EXPECT_FALSE(back->loop_wait.has_value());
}

TEST(Codec, ConfigTtlAndLoopWaitTravelInMillisecondsDownToTheirMinimums) {
  DynamicConfig c;
  c.ttl = Duration(2000);
  c.loop_wait = Duration(100);
  const std::string text = EncodeConfig(c);
  EXPECT_THAT(text, HasSubstr(R"("ttl_ms":2000)"));
  EXPECT_THAT(text, HasSubstr(R"("loop_wait_ms":100)"));
  auto back = DecodeConfig("k", text);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, c);

  // Either alone is a setting of its own.
  back = DecodeConfig("k", R"({"ttl_ms":45000})");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->ttl, Duration(45000));
  EXPECT_FALSE(back->loop_wait.has_value());
  back = DecodeConfig("k", R"({"loop_wait_ms":750})");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->loop_wait, Duration(750));
  EXPECT_FALSE(back->ttl.has_value());
}

TEST(Codec, ConfigRefusesATtlOrLoopWaitBelowItsMinimum) {
  const std::string key = "/pgpilot/alpha/config";
  for (const char* ms : {"1999", "0", "-5000", R"("10s")", "true"}) {
    SCOPED_TRACE(ms);
    ExpectRejected(DecodeConfig(key, std::string(R"({"ttl_ms":)") + ms + "}"), key, {"ttl_ms"});
  }
  for (const char* ms : {"99", "0", "-1", R"("1s")"}) {
    SCOPED_TRACE(ms);
    ExpectRejected(DecodeConfig(key, std::string(R"({"loop_wait_ms":)") + ms + "}"), key, {"loop_wait_ms"});
  }
  ExpectRejected(DecodeConfig(key, R"({"ttl_ms":1000})"), key, {"ttl_ms", "2000"});
  ExpectRejected(DecodeConfig(key, R"({"loop_wait_ms":50})"), key, {"loop_wait_ms", "100"});
  ExpectRejected(DecodeConfig(key, R"({"ttl":10})"), key, {"'ttl'", "ttl_ms", "loop_wait_ms"});
}

// ---------------------------------------------------------------------------------------------
// requests

TEST(Codec, RequestsRoundTripEveryFieldSortedByMemberWithoutTheRevision) {
  RequestsRecord record;
  record.requests = {
      MemberRequest{"pg-2", RequestKind::kReinit, false, WallTime{1700000002000}},
      MemberRequest{"pg-0", RequestKind::kRestart, true, WallTime{1700000000123}},
      MemberRequest{"pg-1", RequestKind::kRestart, false, WallTime{1700000001000}},
  };
  record.revision = 77;
  const std::string text = EncodeRequests(record);
  EXPECT_THAT(text, Not(HasSubstr("revision")));
  auto back = DecodeRequests("k", text);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->revision, 0u) << "the revision is the store's, not part of the value";
  EXPECT_EQ(back->requests, (std::vector<MemberRequest>{
                                MemberRequest{"pg-0", RequestKind::kRestart, true, WallTime{1700000000123}},
                                MemberRequest{"pg-1", RequestKind::kRestart, false, WallTime{1700000001000}},
                                MemberRequest{"pg-2", RequestKind::kReinit, false, WallTime{1700000002000}}}))
      << "member, kind, only_if_pending and requested round-trip, sorted by member";
  ASSERT_NE(back->For("pg-0"), nullptr);
  EXPECT_TRUE(back->For("pg-0")->only_if_pending);
  EXPECT_EQ(back->For("pg-3"), nullptr);

  // The wire names of the kinds, and the optional fields' defaults.
  back = DecodeRequests("k", R"({"requests":[{"member":"pg-1","kind":"reinit"},
                                             {"member":"pg-0","kind":"restart","requested_ms":5}]})");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  ASSERT_EQ(back->requests.size(), 2u);
  EXPECT_EQ(back->requests[0], (MemberRequest{"pg-0", RequestKind::kRestart, false, WallTime{5}}));
  EXPECT_EQ(back->requests[1], (MemberRequest{"pg-1", RequestKind::kReinit, false, WallTime{0}}));
}

TEST(Codec, EmptyRequestsRoundTripAsAnEmptyRecord) {
  const RequestsRecord none;
  auto back = DecodeRequests("k", EncodeRequests(none));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_TRUE(back->requests.empty());
  EXPECT_EQ(*back, none);
}

TEST(Codec, RequestsRefuseWhatTheyDoNotKnow) {
  const std::string key = "/pgpilot/alpha/requests";
  ExpectRejected(DecodeRequests(key, R"({"requests":[{"member":"pg-0","kind":"promote"}]})"), key,
                 {"'promote'", "restart", "reinit"});
  ExpectRejected(DecodeRequests(key, R"({"requests":[{"member":"pg-0","kind":"Restart"}]})"), key,
                 {"'Restart'"});
  ExpectRejected(DecodeRequests(key, R"({"requests":[{"member":"pg-0"}]})"), key, {"'kind'"});
  ExpectRejected(DecodeRequests(key, R"({"requests":[{"kind":"restart"}]})"), key, {"'member'"});
  ExpectRejected(DecodeRequests(key, R"({"requests":[{"member":"","kind":"restart"}]})"), key, {"member"});
  ExpectRejected(DecodeRequests(key, R"({"requests":[{"member":"pg-0","kind":"restart","only_if_pending":"yes"}]})"),
                 key, {"'only_if_pending'"});
  ExpectRejected(DecodeRequests(key, R"({"requests":[{"member":"pg-0","kind":"restart","requested_ms":"now"}]})"),
                 key, {"'requested_ms'"});
  ExpectRejected(DecodeRequests(key, R"({"requests":["pg-0"]})"), key, {"not an object"});
  ExpectRejected(DecodeRequests(key, R"({"requests":[{"member":"pg-1","kind":"restart"},)"
                                     R"({"member":"pg-1","kind":"reinit"}]})"),
                 key, {"two requests for pg-1"});
  ExpectRejected(DecodeRequests(key, R"({"requests":{"pg-0":"restart"}})"), key, {"'requests'"});
  ExpectRejected(DecodeRequests(key, R"({})"), key, {"'requests'"});
  ExpectRejected(DecodeRequests(key, "[]"), key);
  ExpectRejected(DecodeRequests(key, "}{"), key);
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

TEST(Codec, ConfigRefusesWhatItDoesNotKnow) {
  const std::string key = "/pgpilot/alpha/config";
  ExpectRejected(DecodeConfig(key, R"({"pause":true,"maximum_lag_on_faliover":5})"), key,
                 {"'maximum_lag_on_faliover'", "pause", "maximum_lag_on_failover", "synchronous_mode",
                  "synchronous_node_count", "ttl_ms", "loop_wait_ms", "postgresql.parameters"});
  ExpectRejected(DecodeConfig(key, R"({"synchronous_mode":"maybe"})"), key, {"synchronous_mode"});
  ExpectRejected(DecodeConfig(key, R"({"synchronous_mode":true})"), key, {"synchronous_mode"});
  for (const char* count : {"0", "17", "-1"}) {
    SCOPED_TRACE(count);
    ExpectRejected(DecodeConfig(key, std::string(R"({"synchronous_node_count":)") + count + "}"), key,
                   {"synchronous_node_count"});
  }
  for (const char* count : {"1", "16"}) {
    auto ok = DecodeConfig(key, std::string(R"({"synchronous_node_count":)") + count + "}");
    ASSERT_TRUE(ok.ok()) << count << ": " << ok.error().ToString();
    EXPECT_EQ(ok->synchronous_node_count, std::stoi(count));
  }
  ExpectRejected(DecodeConfig(key, R"({"postgresql":{"pg_hba":["host all all 0/0 trust"]}})"), key,
                 {"'pg_hba'", "parameters"});
  ExpectRejected(DecodeConfig(key, R"({"postgresql":{"parameters":{"a":"1"},"use_pg_rewind":true}})"), key,
                 {"'use_pg_rewind'"});
  ExpectRejected(DecodeConfig(key, R"({"postgresql":{"parameters":["max_connections"]}})"), key,
                 {"parameters"});
  ExpectRejected(DecodeConfig(key, R"({"postgresql":"parameters"})"), key, {"postgresql"});
  // Names are written unquoted into every member's PostgreSQL configuration.
  ExpectRejected(DecodeConfig(key, R"({"postgresql":{"parameters":{"work_mem = '1MB'\nport":"5999"}}})"), key,
                 {"not a PostgreSQL parameter name"});
  ExpectRejected(DecodeConfig(key, R"({"postgresql":{"parameters":{"max_connections":200}}})"), key,
                 {"max_connections", "string"});
  ExpectRejected(DecodeConfig(key, R"({"pause":"yes"})"), key, {"'pause'"});
  ExpectRejected(DecodeConfig(key, R"({"maximum_lag_on_failover":-1})"), key, {"'maximum_lag_on_failover'"});
  ExpectRejected(DecodeConfig(key, "[]"), key, {"JSON object"});
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
