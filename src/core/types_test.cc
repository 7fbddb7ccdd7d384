#include "core/types.h"

#include <gtest/gtest.h>

namespace pgpilot {
namespace {

TEST(Lsn, ParsesAndPrintsPostgresFormat) {
  auto lsn = Lsn::Parse("16/B374D848");
  ASSERT_TRUE(lsn.has_value());
  EXPECT_EQ(lsn->value, (uint64_t{0x16} << 32) | 0xB374D848);
  EXPECT_EQ(lsn->ToString(), "16/B374D848");
  EXPECT_EQ(Lsn::Parse("0/3000148")->ToString(), "0/3000148");
  EXPECT_EQ(Lsn::Parse("0/0")->value, 0u);
}

TEST(Lsn, RejectsMalformedText) {
  for (const char* bad : {"", "/", "1/", "/1", "16B374D848", "1/G", "123456789/0", "1/2/3"}) {
    EXPECT_FALSE(Lsn::Parse(bad).has_value()) << bad;
  }
}

TEST(Lsn, DistanceIsZeroWhenNotBehind) {
  EXPECT_EQ(LsnDistance(Lsn{100}, Lsn{40}), 60u);
  EXPECT_EQ(LsnDistance(Lsn{40}, Lsn{100}), 0u);
}

TEST(WallTime, FormatsUtc) {
  EXPECT_EQ(FormatWallTime(WallTime{0}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatWallTime(WallTime{1700000000123}), "2023-11-14T22:13:20.123Z");
}

}  // namespace
}  // namespace pgpilot
