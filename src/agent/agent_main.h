// `pgpilot agent --config FILE`: builds the real implementations and runs the HA loop.
#pragma once

#include <optional>
#include <string>

#include "platform/log.h"

namespace pgpilot {

// Returns the process exit code: 0 after a clean shutdown, 2 for bad configuration, 1 otherwise.
// `log_format` (from --log-format) overrides the config file's log.format.
int RunAgent(const std::string& config_path, std::optional<LogFormat> log_format = std::nullopt);

}  // namespace pgpilot
