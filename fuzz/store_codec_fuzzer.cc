// Fuzz target: the store value decoders (store/codec.h). The first byte chooses the decoder, the
// rest is the stored text. A decoder answers with a value or an error, never a crash or an
// exception; a value it accepts must encode to text it accepts again, encoding the same.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "store/codec.h"

namespace {

using pgpilot::Result;

[[noreturn]] void Fail(const char* decoder, const std::string& what, const std::string& text) {
  std::fprintf(stderr, "%s: %s\n--- text:\n%s\n", decoder, what.c_str(), text.c_str());
  std::abort();
}

// Decode, and if accepted: encode, decode that, encode again; both encodings must agree.
template <typename Decode, typename Encode>
void RoundTrip(const char* decoder, const std::string& text, Decode decode, Encode encode) {
  const std::string key = "/pgpilot/fuzz/key";
  auto first = decode(key, text);
  if (!first.ok()) return;
  std::string encoded = encode(*first);
  auto second = decode(key, encoded);
  if (!second.ok()) Fail(decoder, "refuses its own encoding: " + second.error().ToString(), encoded);
  std::string reencoded = encode(*second);
  if (reencoded != encoded) Fail(decoder, "encoding is not stable: " + reencoded, encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgpilot;
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      RoundTrip("DecodeInitialize", text, DecodeInitialize, EncodeInitialize);
      break;
    case 1:
      RoundTrip("DecodeLeader", text, DecodeLeader, EncodeLeader);
      break;
    case 2:
      RoundTrip("DecodeMember", text, DecodeMember, EncodeMember);
      break;
    case 3:
      RoundTrip("DecodeSync", text, DecodeSync, EncodeSync);
      break;
    case 4:
      RoundTrip("DecodeConfig", text, DecodeConfig, EncodeConfig);
      break;
    case 5:
      RoundTrip("DecodeRequests", text, DecodeRequests, EncodeRequests);
      break;
    case 6:
      RoundTrip("DecodeSwitchover", text, DecodeSwitchover, EncodeSwitchover);
      break;
    case 7:
      RoundTrip("DecodeHistory", text, DecodeHistory, EncodeHistory);
      break;
  }
  return 0;
}
