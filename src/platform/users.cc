#include "platform/users.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace pgpilot {
namespace {

Result<UserInfo> FromPasswd(const passwd* pw) {
  return UserInfo{pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : "/"};
}

}  // namespace

bool RunningAsRoot() { return geteuid() == 0; }

Result<UserInfo> LookupUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) {
    return NotFound("operating-system user '" + name + "' does not exist",
                    "create it (useradd --system " + name +
                        ") or set run_as in the agent config to an existing unprivileged user");
  }
  return FromPasswd(found);
}

Result<UserInfo> LookupUserById(uid_t uid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return NotFound("no operating-system user has uid " + std::to_string(uid),
                    "chown the cluster's files to an existing user");
  }
  return FromPasswd(found);
}

Result<UserInfo> CurrentUser() {
  auto user = LookupUserById(geteuid());
  if (!user.ok()) return UserInfo{std::to_string(geteuid()), geteuid(), getegid(), "/"};
  return user;
}

Status ChownTo(const std::string& path, const UserInfo& user) {
  if (chown(path.c_str(), user.uid, user.gid) != 0) {
    return PermissionDenied("cannot give " + path + " to user " + user.name + ": " +
                            std::strerror(errno));
  }
  return Status::Ok();
}

Result<uid_t> OwnerOf(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return NotFound(path + " does not exist");
  return st.st_uid;
}

Status BecomeUser(const UserInfo& user) {
  if (initgroups(user.name.c_str(), user.gid) != 0 && setgroups(0, nullptr) != 0) {
    return PermissionDenied(std::string("cannot set supplementary groups: ") + std::strerror(errno));
  }
  if (setgid(user.gid) != 0 || setuid(user.uid) != 0) {
    return PermissionDenied("cannot become user " + user.name + ": " + std::strerror(errno));
  }
  if (setuid(0) == 0 && user.uid != 0) {
    return Internal("still able to regain root after dropping privileges; refusing to continue");
  }
  setenv("HOME", user.home.c_str(), 1);
  setenv("USER", user.name.c_str(), 1);
  setenv("LOGNAME", user.name.c_str(), 1);
  return Status::Ok();
}

Status DropRootPrivileges(const std::string& user_name) {
  if (!RunningAsRoot()) return Status::Ok();
  auto user = LookupUser(user_name);
  if (!user.ok()) return user.error();
  if (user->uid == 0) {
    return InvalidArgument("run_as names user '" + user_name + "', which is root",
                           "PostgreSQL refuses to run as root; name an unprivileged user");
  }
  return BecomeUser(*user);
}

}  // namespace pgpilot
