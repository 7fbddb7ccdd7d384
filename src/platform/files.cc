#include "platform/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace pgpilot {
namespace {

std::string Errno() { return std::strerror(errno); }

}  // namespace

Result<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + " does not exist");
    if (errno == EACCES) return PermissionDenied("cannot read " + path + ": " + Errno());
    return Internal("cannot open " + path + ": " + Errno());
  }
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = Errno();
      close(fd);
      return Internal("cannot read " + path + ": " + err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return PermissionDenied("cannot write " + tmp + ": " + Errno());
  fchmod(fd, mode);  // the umask may have narrowed it; never widened beyond `mode`
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = Errno();
      close(fd);
      unlink(tmp.c_str());
      return Internal("cannot write " + tmp + ": " + err);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    return Internal("cannot flush " + tmp + ": " + Errno());
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = Errno();
    unlink(tmp.c_str());
    return Internal("cannot rename " + tmp + " to " + path + ": " + err);
  }
  int dfd = open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return Status::Ok();
}

Status EnsureDirectory(const std::string& path, mode_t mode) {
  if (path.empty()) return InvalidArgument("empty directory path");
  if (IsDirectory(path)) return Status::Ok();
  std::string parent = DirName(path);
  if (parent != path && !parent.empty() && !IsDirectory(parent)) {
    Status s = EnsureDirectory(parent, mode);
    if (!s.ok()) return s;
  }
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return PermissionDenied("cannot create directory " + path + ": " + Errno(),
                            "create it yourself or choose a directory the agent's user may write");
  }
  chmod(path.c_str(), mode);
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st{};
  return lstat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> ListDirectory(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return NotFound(path + " does not exist");
    return PermissionDenied("cannot list " + path + ": " + Errno());
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> MoveAside(const std::string& path, WallTime now) {
  std::time_t seconds = static_cast<std::time_t>(now.unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  std::string target = path + ".aside-" + stamp;
  for (int i = 1; PathExists(target); ++i) target = path + ".aside-" + stamp + "-" + std::to_string(i);
  if (rename(path.c_str(), target.c_str()) != 0) {
    return Internal("cannot rename " + path + " to " + target + ": " + Errno());
  }
  return target;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty() || b.front() == '/') return b.empty() ? a : b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == nullptr) return path;
  std::string rel = path;
  while (rel.rfind("./", 0) == 0) rel = rel.substr(2);
  return JoinPath(cwd, rel == "." ? "" : rel);
}

Result<std::string> ReadSecretFile(const std::string& path, std::string_view what) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) {
    return NotFound(std::string(what) + " file " + path + " does not exist",
                    "create it with one line holding the secret and chmod 600 it");
  }
  // PostgreSQL's rule for its key files: owned by us, nobody else may read it (0600); owned by
  // root, its group may read it (0640, as Kubernetes mounts secrets with fsGroup); never others.
  mode_t forbidden = st.st_uid == 0 ? (S_IWGRP | S_IXGRP | S_IRWXO) : (S_IRWXG | S_IRWXO);
  if ((st.st_mode & forbidden) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return PermissionDenied(std::string(what) + " file " + path +
                                " is readable by group or others (mode " + mode + ")",
                            "chmod 600 " + path + " (or 640 if root owns it and only the "
                            "agent's group may read it)");
  }
  auto content = ReadFile(path);
  if (!content.ok()) {
    return Error{content.error().code, std::string(what) + " file: " + content.error().message,
                 "make " + path + " readable by the agent's user"};
  }
  std::string secret = content.value();
  size_t eol = secret.find_first_of("\r\n");
  if (eol != std::string::npos) secret.resize(eol);
  if (secret.empty()) {
    return InvalidArgument(std::string(what) + " file " + path + " is empty",
                           "write the secret on its first line");
  }
  return secret;
}

}  // namespace pgpilot
