// JSON encoding of store values; the only code that touches nlohmann::json for store records.
// Decoding never throws: a value that does not parse is an error naming the key.
#pragma once

#include <string>
#include <vector>

#include "core/cluster_view.h"
#include "core/result.h"

namespace pgpilot {

std::string EncodeInitialize(const InitializeRecord& r);
Result<InitializeRecord> DecodeInitialize(const std::string& key, const std::string& text);

// The revision is not part of the value; the store supplies it.
std::string EncodeLeader(const LeaderRecord& r);
Result<LeaderRecord> DecodeLeader(const std::string& key, const std::string& text);

std::string EncodeMember(const MemberStatus& m);
Result<MemberStatus> DecodeMember(const std::string& key, const std::string& text);

// The revision is not part of the value; the store supplies it.
std::string EncodeSync(const SyncRecord& r);
Result<SyncRecord> DecodeSync(const std::string& key, const std::string& text);

// The revision is not part of the value; the store supplies it. Unknown keys are refused
// (naming them), so a typo in an edited config is not silently ignored.
std::string EncodeConfig(const DynamicConfig& c);
Result<DynamicConfig> DecodeConfig(const std::string& key, const std::string& text);

// The revision is not part of the value; the store supplies it.
std::string EncodeRequests(const RequestsRecord& r);
Result<RequestsRecord> DecodeRequests(const std::string& key, const std::string& text);

std::string EncodeSwitchover(const SwitchoverRecord& r);
Result<SwitchoverRecord> DecodeSwitchover(const std::string& key, const std::string& text);

std::string EncodeHistory(const std::vector<HistoryEntry>& h);
Result<std::vector<HistoryEntry>> DecodeHistory(const std::string& key, const std::string& text);

}  // namespace pgpilot
