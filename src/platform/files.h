// File-system helpers: atomic writes with explicit modes, directory listing, keeping data aside.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/types.h"

namespace pgpilot {

Result<std::string> ReadFile(const std::string& path);
// Writes to a temporary file in the same directory, fsyncs, renames over `path`: readers see the
// old or the new content, never a mix. The file gets `mode` before any content is written.
Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode);
// mkdir -p; new directories get `mode`.
Status EnsureDirectory(const std::string& path, mode_t mode);
bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);
// Entry names except "." and "..", sorted.
Result<std::vector<std::string>> ListDirectory(const std::string& path);
// Renames `path` to `path.aside-YYYYMMDDTHHMMSS` (never deletes); returns the new name.
Result<std::string> MoveAside(const std::string& path, WallTime now);
std::string DirName(const std::string& path);
std::string JoinPath(const std::string& a, const std::string& b);
// Absolute form of `path` relative to the current directory (no symlink resolution).
std::string AbsolutePath(const std::string& path);

// A password or token file: must exist, belong to us (or root), not be readable by group or
// others, and hold one non-empty line. Returns the secret without the trailing newline.
Result<std::string> ReadSecretFile(const std::string& path, std::string_view what);

}  // namespace pgpilot
