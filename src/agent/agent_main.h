// `pgpilot agent --config FILE`: builds the real implementations and runs the HA loop.
#pragma once

#include <string>

namespace pgpilot {

// Returns the process exit code: 0 after a clean shutdown, 2 for bad configuration, 1 otherwise.
int RunAgent(const std::string& config_path);

}  // namespace pgpilot
