// The secrets `pgpilot up` generates (DIR/secrets/: the superuser and replication passwords, and
// any token) stay secret: through bootstrap, clones, a killed PostgreSQL, a kill -9 failover and
// the old primary's rejoin (pg_rewind), no log or other file under the cluster directory holds
// one except its own file and, for a password, the pgpass files (all 0600); no command line or
// environment of any process on the machine carries one (sampled every 20 ms, so short-lived
// children like initdb, pg_basebackup and pg_rewind are seen); `up`, `ctl` and `down` never print
// one; every file pgpilot writes is 0600 and every directory under the cluster's 0700.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness.h"

namespace pgpilot::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr int kTtl = 4;

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What identifies the secret a file of DIR/secrets/ holds: its first line (a password, a token),
// or a private key's first line of base64. "" for a certificate (not secret).
std::string SecretIn(const std::string& text) {
  std::string first = text.substr(0, text.find('\n'));
  if (first.rfind("-----BEGIN", 0) != 0) return first;
  if (first.find("PRIVATE KEY") == std::string::npos) return "";
  size_t start = first.size() + 1;
  return start < text.size() ? text.substr(start, text.find('\n', start) - start) : "";
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What /proc says about every process on the machine, sampled until stopped: each distinct
// command line and environment seen, by process, kept for checking once the secrets are known
// (they do not exist yet when `pgpilot up` starts).
class ProcessSampler {
 public:
  ProcessSampler() : thread_([this] { Run(); }) {}
  ~ProcessSampler() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  struct Seen {
    pid_t pid;
    std::string what;  // "cmdline" or "environ"
    std::string text;  // as in /proc: NUL-separated
  };
  // Every sample holding `needle`.
  std::vector<Seen> Containing(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Seen> out;
    for (const auto& [key, text] : samples_) {
      if (text.find(needle) != std::string::npos) out.push_back({key.first, key.second, text});
    }
    return out;
  }
  // The program names (first word of the command line) seen, with how many processes ran each.
  std::map<std::string, int> Programs() {
    std::lock_guard<std::mutex> lock(mu_);
    return programs_;
  }
  size_t EnvironmentsRead() {
    std::lock_guard<std::mutex> lock(mu_);
    return environments_read_;
  }

 private:
  void Run() {
    while (!stop_) {
      Sample();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Sample();
  }

  void Sample() {
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return;
    std::vector<pid_t> pids;
    while (dirent* e = readdir(proc)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (*end == '\0' && pid > 0 && pid != getpid()) pids.push_back(static_cast<pid_t>(pid));
    }
    closedir(proc);
    for (pid_t pid : pids) {
      std::string base = "/proc/" + std::to_string(pid) + "/";
      Record(pid, "cmdline", ReadWhole(base + "cmdline"));
      Record(pid, "environ", ReadWhole(base + "environ"));
    }
  }

  void Record(pid_t pid, const char* what, const std::string& text) {
    if (text.empty()) return;  // a kernel thread, a zombie, or gone already
    std::lock_guard<std::mutex> lock(mu_);
    auto key = std::make_pair(pid, std::string(what));
    auto [it, inserted] = samples_.emplace(key, text);
    if (!inserted && it->second.find(text) == std::string::npos) {
      it->second += "\n" + text;  // the pid exec'd something else (pg_ctl -> postgres)
    }
    if (std::string(what) == "environ") ++environments_read_;
    if (std::string(what) == "cmdline") {
      std::string argv0 = text.substr(0, text.find('\0'));
      std::string program = fs::path(argv0.substr(0, argv0.find(' '))).filename().string();
      if (seen_programs_.insert({pid, program}).second) ++programs_[program];
    }
  }

  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::pair<pid_t, std::string>, std::string> samples_;
  std::set<std::pair<pid_t, std::string>> seen_programs_;
  std::map<std::string, int> programs_;
  size_t environments_read_ = 0;
  std::thread thread_;
};

struct TreeEntry {
  std::string path;  // relative to the cluster directory
  bool is_directory;
  mode_t mode;       // permission bits
  std::string content;  // files only
};

// Every directory and regular file under `root` (read after the cluster stopped).
std::vector<TreeEntry> ReadTree(const std::string& root) {
  std::vector<TreeEntry> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st{};
    if (lstat(it->path().c_str(), &st) != 0) continue;
    std::string rel = fs::relative(it->path(), root).string();
    if (S_ISDIR(st.st_mode)) {
      out.push_back({rel, true, st.st_mode & 07777, ""});
    } else if (S_ISREG(st.st_mode)) {
      out.push_back({rel, false, st.st_mode & 07777, ReadWhole(it->path().string())});
    }
  }
  EXPECT_FALSE(ec) << "reading " << root << ": " << ec.message();
  return out;
}

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode));
  return buf;
}

TEST(Secrets, NeverInLogsFilesCommandLinesOrEnvironmentsThroughBootstrapFailoverAndRewind) {
  ProcessSampler sampler;  // from before the first initdb
  LocalClusterUnderTest cluster(3, kTtl);
  std::vector<std::pair<std::string, std::string>> printed;  // (command, output)

  CommandResult up = cluster.Up();
  printed.emplace_back("up", up.output);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);

  const std::string dir = cluster.dir();
  // Every secret `up` generated: each file of DIR/secrets/ (the two passwords, and any token).
  std::map<std::string, std::string> secrets;  // file under secrets/ -> the secret
  for (const auto& entry : fs::directory_iterator(dir + "/secrets")) {
    std::string secret = SecretIn(ReadWhole(entry.path().string()));
    if (!secret.empty()) secrets["secrets/" + entry.path().filename().string()] = secret;
  }
  const std::string superuser = secrets["secrets/superuser-password"];
  const std::string replication = secrets["secrets/replication-password"];
  ASSERT_GE(superuser.size(), 16u) << "the superuser password pgpilot generated";
  ASSERT_GE(replication.size(), 16u) << "the replication password pgpilot generated";
  ASSERT_NE(superuser, replication);

  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items (id int primary key)", &error)) << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("INSERT INTO items SELECT generate_series(1, 1000)", &error)) << error;

  // kill -9 of the primary's PostgreSQL alone: its agent starts it again under its lease.
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value()) << cluster.ListJson().dump(2);
  ASSERT_EQ(kill(primary->postgres_pid, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] {
    auto now = cluster.Primary();
    return now && now->postgres_pid != primary->postgres_pid && cluster.Converged(3);
  }, seconds(60))) << cluster.ListJson().dump(2);

  // kill -9 of the primary's agent and PostgreSQL: a replica is promoted, the other follows it.
  primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value()) << cluster.ListJson().dump(2);
  auto takeover = cluster.KillAndAwaitTakeover(*primary, "INSERT INTO items VALUES (1001)");
  ASSERT_TRUE(takeover.new_primary) << takeover.failure << "\n" << cluster.ListJson().dump(2);
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(2, primary->name); }, seconds(60)))
      << cluster.ListJson().dump(2);
  // The old primary, started again, finds another leader and runs pg_rewind before following.
  up = cluster.Up();
  printed.emplace_back("up (rejoin)", up.output);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(90))) << cluster.ListJson().dump(2);

  for (std::vector<std::string> args : {std::vector<std::string>{"list", "--json"}, {"list"}, {"dsn"},
                                        {"dsn", "--replicas"}, {"history"}, {"show-config"}}) {
    CommandResult r = cluster.Ctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    printed.emplace_back("ctl " + args.front(), r.output);
  }
  // Stopped, so the files are complete (shutdown messages included) and hold still.
  CommandResult down = cluster.Down();
  printed.emplace_back("down", down.output);
  EXPECT_EQ(down.exit_code, 0) << down.output;
  sampler.Stop();

  // Commands' output.
  for (const auto& [command, output] : printed) {
    for (const auto& [name, secret] : secrets) {
      EXPECT_EQ(output.find(secret), std::string::npos) << "`pgpilot " << command << "` printed the secret of " << name;
    }
  }

  // Processes: every command line and environment seen on the machine during the test.
  for (const auto& [name, secret] : secrets) {
    for (const auto& seen : sampler.Containing(secret)) {
      // Only the start of its own argument or variable: the rest of an environment may hold
      // other secrets.
      size_t at = seen.text.find(secret);
      size_t entry = seen.text.rfind('\0', at);
      size_t from = entry == std::string::npos ? 0 : entry + 1;
      ADD_FAILURE() << "the secret of " << name << " is in the " << seen.what << " of process " << seen.pid
                    << ": " << seen.text.substr(from, std::min<size_t>(at - from, 80)) << "<" << name << ">";
    }
  }
  auto programs = sampler.Programs();
  std::cout << "[ sampled  ] " << sampler.EnvironmentsRead() << " environments; programs seen:";
  for (const auto& [program, count] : programs) std::cout << " " << program << "(" << count << ")";
  std::cout << "\n";
  EXPECT_GT(sampler.EnvironmentsRead(), 0u) << "no process environment could be read";
  for (const char* program : {"pgpilot", "postgres", "initdb", "pg_basebackup"}) {
    EXPECT_GT(programs[program], 0) << "the sampler never saw " << program << " run";
  }

  // Files: a secret is only in its own file, and a password also in the pgpass files; they and
  // every other file outside the data directories are 0600, and every directory is 0700
  // (PostgreSQL's own included). The logs exist, so their absence of secrets means something.
  auto may_hold = [](const std::string& path, const std::string& secret_file) {
    return path == secret_file || (EndsWith(secret_file, "-password") && EndsWith("/" + path, "/pgpass"));
  };
  std::vector<TreeEntry> tree = ReadTree(dir);
  std::set<std::string> logs;
  for (const TreeEntry& e : tree) {
    bool in_data_dir = e.path.find("/data") != std::string::npos;
    if (e.is_directory) {
      EXPECT_EQ(e.mode & 077, 0u) << e.path << " is a directory open to group or others: " << Octal(e.mode);
      continue;
    }
    if (e.path.size() > 4 && e.path.compare(e.path.size() - 4, 4, ".log") == 0 && !e.content.empty()) {
      logs.insert(e.path);
    }
    bool holds_secret = false;
    for (const auto& [name, secret] : secrets) {
      if (e.content.find(secret) == std::string::npos) continue;
      holds_secret = true;
      EXPECT_TRUE(may_hold(e.path, name)) << e.path << " holds the secret of " << name;
    }
    if (holds_secret || !in_data_dir) {
      EXPECT_EQ(e.mode, 0600u) << e.path << (holds_secret ? " holds a password" : " was written by pgpilot")
                               << " and has mode " << Octal(e.mode);
    }
  }
  // The scan finds a secret where one is: in the pgpass files.
  for (const auto& [holder, password] : std::map<std::string, std::string>{
           {"pgpass", superuser}, {"pg-0/pgpass", replication}, {"pg-1/pgpass", superuser},
           {"pg-2/pgpass", replication}}) {
    auto it = std::find_if(tree.begin(), tree.end(), [&](const TreeEntry& e) { return e.path == holder; });
    ASSERT_NE(it, tree.end()) << holder << " is missing";
    EXPECT_NE(it->content.find(password), std::string::npos) << holder << " does not hold its password";
  }
  std::cout << "[ scanned  ] " << tree.size() << " files and directories for the secrets of";
  for (const auto& [name, secret] : secrets) std::cout << " " << name;
  std::cout << "; logs:";
  for (const std::string& log : logs) std::cout << " " << log;
  std::cout << "\n";
  for (const std::string& member : std::vector<std::string>{"pg-0", "pg-1", "pg-2"}) {
    EXPECT_TRUE(logs.count(member + "/agent.log")) << member << "'s agent log is missing or empty";
    EXPECT_TRUE(logs.count(member + "/postgres.log")) << member << "'s PostgreSQL log is missing or empty";
  }
  EXPECT_GE(std::count_if(logs.begin(), logs.end(), [](const std::string& l) { return EndsWith(l, "/clone.log"); }), 2)
      << "two members were cloned";
  EXPECT_TRUE(logs.count(primary->name + "/rewind.log")) << "the old primary rejoined without pg_rewind";
}

}  // namespace
}  // namespace pgpilot::testing
