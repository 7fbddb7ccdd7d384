#include "platform/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "platform/json_text.h"

namespace pgpilot {
namespace {

nlohmann::json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return node.Scalar();
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) {
        out[kv.first.IsScalar() ? kv.first.Scalar() : std::string("?")] = ToJson(kv.second);
      }
      return out;
    }
    default:
      return nullptr;
  }
}

}  // namespace

Result<std::string> YamlToJsonText(const std::string& yaml, const std::string& source) {
  try {
    return JsonText(ToJson(YAML::Load(yaml)));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ": not valid YAML: " + e.what(), "fix the syntax at the line shown");
  }
}

}  // namespace pgpilot
