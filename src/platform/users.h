// Operating-system users: PostgreSQL refuses to run as root, so a root agent becomes the
// configured unprivileged user (like the official image's gosu) once its directories exist.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/result.h"

namespace pgpilot {

struct UserInfo {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

bool RunningAsRoot();
Result<UserInfo> LookupUser(const std::string& name);
Result<UserInfo> CurrentUser();
Result<UserInfo> LookupUserById(uid_t uid);
// chown path (not recursive) to the user.
Status ChownTo(const std::string& path, const UserInfo& user);
// Owner uid of a path.
Result<uid_t> OwnerOf(const std::string& path);
// setgroups + setgid + setuid, irreversibly; sets HOME, USER and LOGNAME.
Status BecomeUser(const UserInfo& user);
// When root: become `user_name`. Otherwise nothing. Errors name the missing user.
Status DropRootPrivileges(const std::string& user_name);

}  // namespace pgpilot
