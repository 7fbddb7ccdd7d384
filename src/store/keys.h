// The store's key names under a cluster's scope, defined once.
#pragma once

#include <string>
#include <string_view>

namespace pgpilot::keys {

inline constexpr std::string_view kRoot = "/pgpilot/";
inline constexpr std::string_view kInitialize = "initialize";
inline constexpr std::string_view kLeader = "leader";
inline constexpr std::string_view kMembers = "members/";
inline constexpr std::string_view kConfig = "config";
inline constexpr std::string_view kSync = "sync";
inline constexpr std::string_view kSwitchover = "switchover";
inline constexpr std::string_view kRequests = "requests";
inline constexpr std::string_view kHistory = "history";
// The last leader term, kept apart from the leader record where the record can expire (etcd).
inline constexpr std::string_view kLeaderTerm = "term";

// "/pgpilot/<cluster>/".
inline std::string Scope(std::string_view cluster) {
  return std::string(kRoot) + std::string(cluster) + "/";
}
inline std::string Key(std::string_view cluster, std::string_view name) {
  return Scope(cluster) + std::string(name);
}
inline std::string MemberKey(std::string_view cluster, std::string_view member) {
  return Scope(cluster) + std::string(kMembers) + std::string(member);
}

}  // namespace pgpilot::keys
