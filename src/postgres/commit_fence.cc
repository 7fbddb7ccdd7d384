#include "postgres/commit_fence.h"

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>

#include "platform/log.h"

namespace pgpilot {
namespace {

// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
constexpr int64_t kPostgresEpochUnixUs = 946684800LL * 1000000;
constexpr auto kStatusInterval = std::chrono::seconds(1);

uint64_t ReadUint64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void WriteUint64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

std::string ErrorOf(PGconn* conn) {
  std::string e = PQerrorMessage(conn);
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e;
}

// A standby status update ('r'): written, flushed and applied up to `position`.
bool SendStatus(PGconn* conn, Lsn position) {
  char msg[1 + 8 * 4 + 1];
  msg[0] = 'r';
  WriteUint64(msg + 1, position.value);
  WriteUint64(msg + 9, position.value);
  WriteUint64(msg + 17, position.value);
  int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  WriteUint64(msg + 25, static_cast<uint64_t>(now_us - kPostgresEpochUnixUs));
  msg[33] = 0;
  return PQputCopyData(conn, msg, sizeof msg) == 1 && PQflush(conn) == 0;
}

}  // namespace

CommitFence::CommitFence(const Clock& clock) : clock_(clock) {
  thread_ = std::thread([this] { Run(); });
}

CommitFence::~CommitFence() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void CommitFence::Target(const std::string& conninfo) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conninfo == target_) return;
  target_ = conninfo;
  ++target_version_;
}

void CommitFence::ConfirmUntil(MonoTime deadline) {
  confirm_until_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(deadline.since_epoch).count());
}

CommitFenceStatus CommitFence::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

bool CommitFence::MayConfirm() const {
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().since_epoch).count();
  return now_ms < confirm_until_ms_.load();
}

void CommitFence::Run() {
  while (!stopping_.load()) {
    std::string target;
    {
      std::lock_guard<std::mutex> lock(mu_);
      target = target_;
      if (target.empty()) status_ = CommitFenceStatus{false, status_.confirmed, "no primary to fence"};
    }
    if (target.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    Stream(target);
    if (!stopping_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void CommitFence::Stream(const std::string& conninfo) {
  uint64_t version = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    version = target_version_;
  }
  auto changed = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_.load() || target_version_ != version;
  };
  auto fail = [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.error != why) LogWarn("commit fence: " + why);
    status_.connected = false;
    status_.error = why;
  };

  std::string full = conninfo + " replication=true application_name=" + std::string(kCommitFenceName) +
                     " connect_timeout=2";
  PGconn* conn = PQconnectdb(full.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    fail("cannot connect to our primary: " + ErrorOf(conn));
    PQfinish(conn);
    return;
  }
  PGresult* id = PQexec(conn, "IDENTIFY_SYSTEM");
  if (PQresultStatus(id) != PGRES_TUPLES_OK || PQntuples(id) != 1 || PQnfields(id) < 3) {
    fail("IDENTIFY_SYSTEM failed: " + ErrorOf(conn));
    PQclear(id);
    PQfinish(conn);
    return;
  }
  std::string timeline = PQgetvalue(id, 0, 1);
  std::string start = PQgetvalue(id, 0, 2);
  PQclear(id);
  std::string command = "START_REPLICATION PHYSICAL " + start + " TIMELINE " + timeline;
  PGresult* started = PQexec(conn, command.c_str());
  if (PQresultStatus(started) != PGRES_COPY_BOTH) {
    fail("START_REPLICATION failed: " + ErrorOf(conn));
    PQclear(started);
    PQfinish(conn);
    return;
  }
  PQclear(started);
  Lsn received = Lsn::Parse(start).value_or(Lsn{});
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = CommitFenceStatus{true, status_.confirmed, ""};
  }
  LogInfo("commit fence: streaming from our primary at " + start + " (timeline " + timeline + ")");

  Lsn confirmed;
  auto last_sent = std::chrono::steady_clock::now() - kStatusInterval;
  while (!changed()) {
    pollfd pfd{PQsocket(conn), POLLIN, 0};
    poll(&pfd, 1, 100);
    if (PQconsumeInput(conn) != 1) {
      fail("the connection to our primary broke: " + ErrorOf(conn));
      break;
    }
    bool reply_requested = false;
    bool ended = false;
    for (;;) {
      char* buf = nullptr;
      int n = PQgetCopyData(conn, &buf, 1);
      if (n == 0) break;
      if (n < 0) {
        ended = true;
        break;
      }
      if (buf[0] == 'w' && n >= 25) {
        received = std::max(received, Lsn{ReadUint64(buf + 1) + static_cast<uint64_t>(n - 25)});
      } else if (buf[0] == 'k' && n >= 18) {
        reply_requested = reply_requested || buf[17] != 0;
      }
      PQfreemem(buf);
    }
    if (ended) {
      fail("our primary ended the stream: " + ErrorOf(conn));
      break;
    }
    // Only under a provable lease: otherwise commits on this primary wait, unacknowledged.
    auto now = std::chrono::steady_clock::now();
    bool due = received > confirmed || reply_requested || now - last_sent >= kStatusInterval;
    if (due && MayConfirm()) {
      if (!SendStatus(conn, received)) {
        fail("cannot confirm to our primary: " + ErrorOf(conn));
        break;
      }
      confirmed = received;
      last_sent = now;
      std::lock_guard<std::mutex> lock(mu_);
      status_.confirmed = confirmed;
    }
  }
  PQfinish(conn);
  std::lock_guard<std::mutex> lock(mu_);
  status_.connected = false;
}

}  // namespace pgpilot
