// Keeps the documents of the state machine true to the code:
//  - docs/architecture.md: every edge of the code's state table appears in its table;
//  - docs/ha-state-machine.md: its Mermaid diagram draws exactly the code's edges, in order, and
//    its states table and "Edges from any state" list match the code.
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

// How docs/ha-state-machine.md draws one edge: "    from --> to: trigger", where every ':' and
// every ';' of the trigger is written " -" (Mermaid ends a transition label at either).
std::string MermaidEdge(const Transition& t) {
  std::string label;
  for (char c : std::string(t.trigger)) {
    if (c == ':' || c == ';') label += " -";
    else label += c;
  }
  return std::string("    ") + NodeStateName(t.from) + " --> " + NodeStateName(t.to) + ": " + label;
}

std::vector<std::string> Lines(std::istream& in) {
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

// The lines under the heading "## title", up to the next "## " heading.
std::vector<std::string> Section(const std::vector<std::string>& lines, const std::string& title) {
  std::vector<std::string> out;
  bool inside = false;
  for (const std::string& line : lines) {
    if (line.rfind("## ", 0) == 0) {
      inside = line == "## " + title;
      continue;
    }
    if (inside) out.push_back(line);
  }
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(StateTableDoc, StateMachineDocDiagramMatchesTheCode) {
  const std::string path = std::string(PGPILOT_SOURCE_DIR) + "/docs/ha-state-machine.md";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path << " not found";
  const std::vector<std::string> lines = Lines(in);

  // The arrows drawn inside the ```mermaid block.
  std::vector<std::string> drawn;
  bool in_block = false, seen_block = false;
  for (const std::string& line : lines) {
    if (!in_block && line == "```mermaid") {
      in_block = seen_block = true;
    } else if (in_block && line.rfind("```", 0) == 0) {
      in_block = false;
    } else if (in_block && line.find("-->") != std::string::npos) {
      drawn.push_back(line);
    }
  }
  ASSERT_TRUE(seen_block) << "no ```mermaid block in " << path;
  ASSERT_FALSE(in_block) << "the ```mermaid block in " << path << " is not closed";

  std::vector<std::string> expected;
  for (const Transition& t : Transitions()) expected.push_back(MermaidEdge(t));
  bool same_edges = true;
  for (const std::string& line : expected) {
    if (!Contains(drawn, line)) {
      same_edges = false;
      ADD_FAILURE() << "edge of the code missing from the diagram in docs/ha-state-machine.md:\n"
                    << line;
    }
  }
  for (const std::string& line : drawn) {
    if (!Contains(expected, line)) {
      same_edges = false;
      ADD_FAILURE() << "diagram line in docs/ha-state-machine.md that is no edge of the code "
                       "(stale, or not rendered by the rule):\n"
                    << line;
    }
  }
  if (same_edges) {
    // The same lines: they must also come in the table's order, once each.
    ASSERT_EQ(drawn.size(), expected.size()) << "the diagram draws an edge more than once";
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(drawn[i], expected[i]) << "diagram edge " << i + 1
                                       << " is out of the order of Transitions()";
    }
  }

  const std::vector<std::string> states = Section(lines, "States");
  for (NodeState s : kAllNodeStates) {
    const std::string row = std::string("| ") + NodeStateName(s) + " |";
    EXPECT_TRUE(std::any_of(states.begin(), states.end(),
                            [&](const std::string& line) { return line.rfind(row, 0) == 0; }))
        << "state " << NodeStateName(s) << " has no row in the states table of " << path;
  }

  // "Edges from any state" lists each state as a bullet "- `name`: why".
  std::set<std::string> listed;
  for (const std::string& line : Section(lines, "Edges from any state")) {
    if (line.rfind("- `", 0) != 0) continue;
    size_t end = line.find('`', 3);
    if (end != std::string::npos) listed.insert(line.substr(3, end - 3));
  }
  std::set<std::string> reachable;
  for (NodeState s : ReachableFromAnywhere()) reachable.insert(NodeStateName(s));
  for (const std::string& name : reachable) {
    EXPECT_TRUE(listed.count(name)) << "state " << name << " is reachable from any state in the code "
                                    << "but not listed under \"Edges from any state\" in " << path;
  }
  for (const std::string& name : listed) {
    EXPECT_TRUE(reachable.count(name)) << "\"Edges from any state\" in " << path << " lists " << name
                                       << ", which the code does not make reachable from any state";
  }
}

}  // namespace
}  // namespace pgpilot
