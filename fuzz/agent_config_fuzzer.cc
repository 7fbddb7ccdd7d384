// Fuzz target: the agent's YAML config parser (ParseAgentConfig) on arbitrary text. It must answer
// with a value or an error, never crash or let an exception out; a config it accepts must render
// (RenderAgentConfig, what `pgpilot up` writes) to YAML it accepts again, unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = pgpilot::ParseAgentConfig(text, "fuzz.yaml");
  if (!parsed.ok()) return 0;
  std::string rendered = pgpilot::RenderAgentConfig(*parsed);
  auto again = pgpilot::ParseAgentConfig(rendered, "rendered.yaml");
  if (!again.ok()) {
    std::fprintf(stderr, "an accepted config renders to YAML that is refused: %s\n--- rendered:\n%s\n",
                 again.error().ToString().c_str(), rendered.c_str());
    std::abort();
  }
  std::string rerendered = pgpilot::RenderAgentConfig(*again);
  if (rerendered != rendered) {
    std::fprintf(stderr, "rendering is not stable:\n--- first:\n%s\n--- second:\n%s\n",
                 rendered.c_str(), rerendered.c_str());
    std::abort();
  }
  return 0;
}
