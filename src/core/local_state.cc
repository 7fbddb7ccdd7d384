#include "core/local_state.h"

namespace pgpilot {

const char* DataDirKindName(DataDirKind kind) {
  switch (kind) {
    case DataDirKind::kMissing: return "missing";
    case DataDirKind::kEmpty: return "empty";
    case DataDirKind::kValid: return "valid";
    case DataDirKind::kIncomplete: return "incomplete";
    case DataDirKind::kForeign: return "foreign";
  }
  return "unknown";
}

const char* PublishedRole(const LocalState& local) {
  if (local.data_dir != DataDirKind::kValid) return "uninitialized";
  if (!local.running) return "stopped";
  if (!local.accepting) return "starting";
  return local.in_recovery ? "replica" : "primary";
}

const char* TaskKindName(TaskKind kind) {
  switch (kind) {
    case TaskKind::kNone: return "none";
    case TaskKind::kBootstrap: return "bootstrap";
    case TaskKind::kClone: return "clone";
    case TaskKind::kRewind: return "rewind";
    case TaskKind::kStart: return "start";
  }
  return "unknown";
}

}  // namespace pgpilot
