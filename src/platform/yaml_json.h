// YAML documents as JSON text (scalars become strings), for readers of YAML files other than the
// agent config (kubeconfig). The only yaml-cpp user besides agent/config.cc; never throws.
#pragma once

#include <string>

#include "core/result.h"

namespace pgpilot {

// `source` names the file in errors.
Result<std::string> YamlToJsonText(const std::string& yaml, const std::string& source);

}  // namespace pgpilot
