// Which texts may name a PostgreSQL parameter in the configuration pgpilot renders.
#include "core/parameter_name.h"

#include <string>

#include <gtest/gtest.h>

namespace pgpilot {
namespace {

TEST(ParameterName, AcceptsPostgresNamesAndModuleParameters) {
  for (const char* name : {"work_mem", "max_connections", "log_min_duration_statement", "_x1",
                           "pg_stat_statements.max", "auto_explain.log_min_duration", "Work_Mem"}) {
    EXPECT_TRUE(IsParameterName(name)) << name;
  }
  EXPECT_TRUE(IsParameterName(std::string(63, 'a')));
}

TEST(ParameterName, RefusesWhatWouldChangeTheLinesOfTheConfigurationFile) {
  for (const char* name : {"", "1work_mem", "work-mem", "work mem", "work_mem = '1MB'\nport",
                           "a\rb", "a#b", "a'b", "a.b.c", ".a", "a.", "a..b", "caf\xc3\xa9"}) {
    EXPECT_FALSE(IsParameterName(name)) << name;
  }
  EXPECT_FALSE(IsParameterName(std::string(64, 'a')));
  EXPECT_FALSE(IsParameterName(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace pgpilot
