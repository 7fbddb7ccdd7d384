#include "postgres/data_dir.h"

#include <sys/stat.h>

#include <cstdlib>
#include <sstream>

#include "platform/files.h"

namespace pgpilot {

DataDirInspection InspectDataDir(const std::string& path, uid_t expected_owner) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return {DataDirKind::kMissing, ""};
  if (!S_ISDIR(st.st_mode)) {
    return {DataDirKind::kForeign, path + " is not a directory; set data_dir to a directory path"};
  }
  if (st.st_uid != expected_owner) {
    return {DataDirKind::kForeign,
            path + " is owned by uid " + std::to_string(st.st_uid) + ", but the agent runs as uid " +
                std::to_string(expected_owner) + "; if it is this cluster's data, chown -R it to "
                "the agent's user (run_as)"};
  }
  auto entries = ListDirectory(path);
  if (!entries.ok()) {
    return {DataDirKind::kForeign, "cannot list " + path + ": " + entries.error().message};
  }
  if (entries->empty()) return {DataDirKind::kEmpty, ""};
  bool has_version = PathExists(JoinPath(path, "PG_VERSION"));
  bool has_control = PathExists(JoinPath(path, "global/pg_control"));
  if (has_version && has_control) return {DataDirKind::kValid, ""};
  if (has_version) return {DataDirKind::kIncomplete, "PG_VERSION without global/pg_control"};
  std::string listed;
  for (size_t i = 0; i < entries->size() && i < 5; ++i) listed += (i ? ", " : "") + (*entries)[i];
  if (entries->size() > 5) listed += ", ...";
  if (entries->size() == 1 && entries->front() == "lost+found") {
    return {DataDirKind::kForeign,
            path + " is the root of a volume (it holds lost+found); set data_dir to a "
                   "subdirectory of the volume, e.g. " + JoinPath(path, "pgdata")};
  }
  return {DataDirKind::kForeign, path + " holds files that are not a PostgreSQL data directory (" +
                                     listed + "); move them away or set data_dir to an empty "
                                     "directory"};
}

Result<ControlData> ParseControlData(const std::string& output) {
  ControlData out;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    size_t start = value.find_first_not_of(" \t");
    value = start == std::string::npos ? "" : value.substr(start);
    if (key == "Database system identifier") out.system_id = value;
    else if (key == "Database cluster state") out.cluster_state = value;
    else if (key == "Latest checkpoint location") out.checkpoint_lsn = Lsn::Parse(value).value_or(Lsn{});
    else if (key == "Latest checkpoint's TimeLineID") {
      out.timeline = static_cast<Timeline>(std::strtoul(value.c_str(), nullptr, 10));
    }
  }
  if (out.system_id.empty() || out.cluster_state.empty()) {
    return InvalidArgument("pg_controldata output has no system identifier or cluster state");
  }
  out.was_primary = out.cluster_state == "in production" || out.cluster_state == "shut down" ||
                    out.cluster_state == "shutting down" || out.cluster_state == "in crash recovery";
  return out;
}

}  // namespace pgpilot
