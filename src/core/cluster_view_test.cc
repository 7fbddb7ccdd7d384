#include "core/cluster_view.h"

#include <gtest/gtest.h>

namespace pgpilot {
namespace {

TEST(RequestsRecord, PutReplacesAMembersRequestAndKeepsTheOrderByMember) {
  RequestsRecord record;
  record.Put(MemberRequest{"pg-2", RequestKind::kRestart, false, WallTime{1}, ""});
  record.Put(MemberRequest{"pg-0", RequestKind::kRestart, false, WallTime{2}, ""});
  record.Put(MemberRequest{"pg-2", RequestKind::kReinit, false, WallTime{3}, "refused earlier"});
  ASSERT_EQ(record.requests.size(), 2u);
  EXPECT_EQ(record.requests[0].member, "pg-0");
  EXPECT_EQ(record.requests[1].member, "pg-2");
  EXPECT_EQ(record.For("pg-2")->kind, RequestKind::kReinit) << "the newer request replaced the older";
  EXPECT_EQ(record.For("pg-1"), nullptr);
}

}  // namespace
}  // namespace pgpilot
