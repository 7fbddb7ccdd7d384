// The store's cluster-wide settings as an operator edits them: "key: value" lines and
// `--set key=value`, both through one setter that names the problem and the allowed keys.
#pragma once

#include <string>

#include "core/cluster_view.h"
#include "core/result.h"

namespace pgpilot {

// Sets `key` (pause, maximum_lag_on_failover, synchronous_mode, synchronous_node_count,
// postgresql.parameters.NAME) to `value`; an empty value unsets it.
Status SetDynamicSetting(DynamicConfig* config, const std::string& key, const std::string& value);

// Settings that are wrong together: a loop_wait over half the ttl (both set here).
Status CheckDynamicConfig(const DynamicConfig& config);

// One "key: value" line per setting, after a comment saying how to edit them.
std::string RenderDynamicConfig(const DynamicConfig& config);

// The inverse of RenderDynamicConfig: "key: value" lines, '#' comments and blank lines.
Result<DynamicConfig> ParseDynamicConfig(const std::string& text);

}  // namespace pgpilot
