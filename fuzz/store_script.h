// The input format of the store_responses fuzz target, read by the target and written by the seed
// generator: which store and call, and the answers its server gives.
//
//   byte 0        bit 0: the store (0 etcd, 1 Kubernetes); the bits above, modulo the number of
//                 operations: the store call made (StoreOperation)
//   then          answers separated by the byte 0x1e (never valid inside JSON text): the first
//                 answers etcd's watch stream (ignored for Kubernetes), the others the call's
//                 requests in order (503 once they run out). An answer starting "@NNN " has HTTP
//                 status NNN, otherwise 200.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "scripted_server.h"

namespace pgpilot::fuzz {

enum class StoreBackend { kEtcd = 0, kKubernetes = 1 };

enum class StoreOperation {
  kLoad,
  kClaimInitialize,
  kCompleteInitialize,
  kAbandonInitialize,
  kAcquireLeader,          // no leader expected
  kTakeOverLeader,         // the leader record of revision 41 expected
  kRenewLeader,
  kReleaseLeader,
  kPutMember,
  kDeleteMember,
  kAppendHistory,
  kWriteSync,
  kWriteConfig,
  kWriteRequests,
  kRequestSwitchover,
  kClearSwitchover,
  kWaitForChange,
  kCount,
};

constexpr char kAnswerSeparator = '\x1e';

struct StoreInput {
  StoreBackend backend = StoreBackend::kEtcd;
  StoreOperation operation = StoreOperation::kLoad;
  Script script;
};

inline ScriptedAnswer ParseAnswer(std::string_view text) {
  ScriptedAnswer answer;
  if (text.size() >= 5 && text[0] == '@' && text[4] == ' ' &&
      text.substr(1, 3).find_first_not_of("0123456789") == std::string_view::npos) {
    answer.status = std::stoi(std::string(text.substr(1, 3)));
    text.remove_prefix(5);
  }
  answer.body = std::string(text);
  return answer;
}

inline StoreInput ParseStoreInput(std::string_view bytes) {
  StoreInput in;
  if (bytes.empty()) return in;
  auto selector = static_cast<uint8_t>(bytes[0]);
  in.backend = (selector & 1) ? StoreBackend::kKubernetes : StoreBackend::kEtcd;
  in.operation = static_cast<StoreOperation>((selector >> 1) % static_cast<int>(StoreOperation::kCount));
  bytes.remove_prefix(1);
  bool first = true;
  while (true) {
    size_t end = bytes.find(kAnswerSeparator);
    ScriptedAnswer answer = ParseAnswer(bytes.substr(0, end));
    if (first) in.script.watch = answer;
    else in.script.answers.push_back(answer);
    first = false;
    if (end == std::string_view::npos) break;
    bytes.remove_prefix(end + 1);
  }
  return in;
}

inline std::string RenderStoreInput(const StoreInput& in) {
  std::string out(1, static_cast<char>((static_cast<int>(in.operation) << 1) | static_cast<int>(in.backend)));
  auto add = [&out](const ScriptedAnswer& a) {
    if (a.status != 200) {
      out += '@';
      out += std::to_string(a.status);
      out += ' ';
    }
    out += a.body;
  };
  add(in.script.watch);
  for (const ScriptedAnswer& a : in.script.answers) {
    out += kAnswerSeparator;
    add(a);
  }
  return out;
}

}  // namespace pgpilot::fuzz
