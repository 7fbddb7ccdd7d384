// Keeps docs/architecture.md true: every edge of the code's state table appears in its table.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/node_state.h"

namespace pgpilot {
namespace {

TEST(StateTableDoc, ArchitectureDocListsEveryTransitionOfTheCode) {
  std::ifstream in(std::string(PGPILOT_SOURCE_DIR) + "/docs/architecture.md");
  ASSERT_TRUE(in.good()) << "docs/architecture.md not found under " << PGPILOT_SOURCE_DIR;
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  for (const Transition& t : Transitions()) {
    std::string row = std::string("| ") + NodeStateName(t.from) + " | " + NodeStateName(t.to) +
                      " | " + t.trigger + " |";
    EXPECT_NE(doc.find(row), std::string::npos) << "missing from docs/architecture.md: " << row;
  }
  for (NodeState s : kAllNodeStates) {
    EXPECT_NE(doc.find(std::string("| ") + NodeStateName(s) + " | "), std::string::npos)
        << "state " << NodeStateName(s) << " is not described in docs/architecture.md";
  }
}

}  // namespace
}  // namespace pgpilot
