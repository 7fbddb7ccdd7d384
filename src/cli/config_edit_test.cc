#include "cli/config_edit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;

TEST(DynamicConfigEdit, SetRenderAndParseRoundTrip) {
  DynamicConfig c;
  ASSERT_TRUE(SetDynamicSetting(&c, "pause", "true").ok());
  ASSERT_TRUE(SetDynamicSetting(&c, " synchronous_mode ", " strict ").ok());
  ASSERT_TRUE(SetDynamicSetting(&c, "synchronous_node_count", "2").ok());
  ASSERT_TRUE(SetDynamicSetting(&c, "maximum_lag_on_failover", "4096").ok());
  ASSERT_TRUE(SetDynamicSetting(&c, "postgresql.parameters.work_mem", "64MB").ok());
  ASSERT_TRUE(SetDynamicSetting(&c, "postgresql.parameters.log_min_duration_statement", "250ms").ok());
  EXPECT_TRUE(c.pause);
  EXPECT_EQ(c.synchronous_mode, SyncMode::kStrict);
  EXPECT_EQ(c.synchronous_node_count, 2);
  EXPECT_EQ(c.maximum_lag_on_failover, 4096u);
  ASSERT_EQ(c.parameters.size(), 2u);
  EXPECT_EQ(c.parameters[0].first, "log_min_duration_statement") << "sorted by name";
  auto parsed = ParseDynamicConfig(RenderDynamicConfig(c));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, c);

  // An empty value unsets.
  ASSERT_TRUE(SetDynamicSetting(&c, "synchronous_mode", "").ok());
  ASSERT_TRUE(SetDynamicSetting(&c, "postgresql.parameters.work_mem", "").ok());
  EXPECT_FALSE(c.synchronous_mode.has_value());
  EXPECT_EQ(c.parameters.size(), 1u);
  EXPECT_EQ(*ParseDynamicConfig("# nothing\n\n"), DynamicConfig{});
}

TEST(DynamicConfigEdit, BadInputNamesTheKeyAndTheAllowedOnes) {
  DynamicConfig c;
  struct Case { std::string key, value, words; };
  for (const Case& bad : std::vector<Case>{
           {"scope", "x", "'scope' is not a cluster-wide setting"},
           {"pause", "yes", "true or false"},
           {"synchronous_mode", "always", "off, on or strict"},
           {"synchronous_node_count", "0", "1 to 16"},
           {"maximum_lag_on_failover", "1MB", "number of bytes"},
           {"postgresql.parameters.primary_conninfo", "x", "managed by pgpilot"},
           {"postgresql.parameters.work_mem = '1MB'\nport", "5999", "does not name a PostgreSQL parameter"},
       }) {
    Status s = SetDynamicSetting(&c, bad.key, bad.value);
    ASSERT_FALSE(s.ok()) << bad.key;
    EXPECT_THAT(s.error().message, HasSubstr(bad.words)) << bad.key;
  }
  EXPECT_EQ(c, DynamicConfig{}) << "nothing was set";
  auto line = ParseDynamicConfig("pause: false\nsynchronous_mode on\n");
  ASSERT_FALSE(line.ok());
  EXPECT_THAT(line.error().message, HasSubstr("line 2"));
}

TEST(DynamicConfigEdit, TtlAndLoopWaitInSecondsChecked) {
  DynamicConfig c;
  ASSERT_TRUE(SetDynamicSetting(&c, "ttl", "6").ok());
  ASSERT_TRUE(SetDynamicSetting(&c, "loop_wait", "0.25").ok());
  EXPECT_EQ(c.ttl, Duration(6000));
  EXPECT_EQ(c.loop_wait, Duration(250));
  EXPECT_TRUE(CheckDynamicConfig(c).ok());
  auto parsed = ParseDynamicConfig(RenderDynamicConfig(c));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, c) << RenderDynamicConfig(c);

  Status short_ttl = SetDynamicSetting(&c, "ttl", "1.5");
  ASSERT_FALSE(short_ttl.ok());
  EXPECT_THAT(short_ttl.error().message, HasSubstr("at least 2"));
  EXPECT_FALSE(SetDynamicSetting(&c, "loop_wait", "0.05").ok());
  EXPECT_FALSE(SetDynamicSetting(&c, "loop_wait", "fast").ok());
  EXPECT_FALSE(SetDynamicSetting(&c, "ttl", "1.2.3").ok());
  EXPECT_EQ(c.ttl, Duration(6000)) << "a refused value changes nothing";

  ASSERT_TRUE(SetDynamicSetting(&c, "loop_wait", "4").ok());
  Status too_slow = CheckDynamicConfig(c);
  ASSERT_FALSE(too_slow.ok());
  EXPECT_THAT(too_slow.error().message, HasSubstr("more than half of ttl"));
  ASSERT_TRUE(SetDynamicSetting(&c, "ttl", "").ok());
  EXPECT_TRUE(CheckDynamicConfig(c).ok()) << "with one unset, the agent clamps to its own ttl";
}

}  // namespace
}  // namespace pgpilot
