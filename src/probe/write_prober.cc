#include "probe/write_prober.h"

#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace pgpilot {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS pgpilot_probe (id bigint PRIMARY KEY, at timestamptz DEFAULT now())";
// The acknowledging server and its WAL insert timeline (the first 8 hex digits of a segment name).
constexpr const char* kInsert =
    "INSERT INTO pgpilot_probe (id) VALUES ($1::bigint) "
    "RETURNING inet_server_port(), substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)";

std::string ErrorOf(PGconn* conn) {
  std::string e = PQerrorMessage(conn);
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e;
}

PGconn* Connect(const std::string& conninfo, std::string* error) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) == CONNECTION_OK) return conn;
  *error = ErrorOf(conn);
  PQfinish(conn);
  return nullptr;
}

}  // namespace

struct WriteProber::Shared {
  std::string conninfo;
  std::mutex mu;
  std::condition_variable work;
  std::vector<ProbeAttempt> attempts;
  std::deque<size_t> queue;     // attempts waiting for a connection's thread
  int threads = 0;
  int idle = 0;
  int max_connecting = 2;
  Duration connect_backoff{25};
  int connecting = 0;                      // threads connecting now
  SteadyClock::time_point connect_after;   // no new connection attempt before this
  bool stopping = false;
  SteadyClock::time_point start = SteadyClock::now();
  int64_t first_id = 0;

  int64_t ElapsedMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
  }
};

WriteProber::WriteProber(ProberOptions options)
    : options_(std::move(options)), shared_(std::make_shared<Shared>()) {
  shared_->conninfo = options_.conninfo;
  shared_->max_connecting = options_.max_connecting;
  shared_->connect_backoff = options_.connect_backoff;
  // Ids unique across runs against the same table: milliseconds since the epoch, times 1000.
  shared_->first_id = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count() * 1000;
}

WriteProber::~WriteProber() {
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->stopping = true;
  shared_->work.notify_all();
}

Status WriteProber::Prepare(Duration patience) {
  auto deadline = SteadyClock::now() + patience;
  std::string error;
  do {
    if (PGconn* conn = Connect(options_.conninfo, &error)) {
      PGresult* r = PQexec(conn, kCreateTable);
      bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      if (!ok) error = ErrorOf(conn);
      PQclear(r);
      PQfinish(conn);
      if (ok) return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (SteadyClock::now() < deadline);
  return Unavailable("cannot create the probe table: " + error,
                     "check the connection string reaches a writable primary (target_session_attrs=read-write)");
}

// One connection's thread: takes attempts from the queue, connects when it has no connection,
// and waits for the server's answer however long it takes. It owns a share of the state, so it
// may outlive the prober (a server that never answers).
void WriteProber::Work(std::shared_ptr<Shared> s) {
  PGconn* conn = nullptr;
  std::unique_lock<std::mutex> lock(s->mu);
  for (;;) {
    ++s->idle;
    s->work.wait(lock, [&] { return s->stopping || !s->queue.empty(); });
    --s->idle;
    if (s->stopping) break;
    size_t index = s->queue.front();
    s->queue.pop_front();
    int64_t id = s->attempts[index].id;
    bool may_connect = conn == nullptr && s->connecting < s->max_connecting &&
                       SteadyClock::now() >= s->connect_after;
    if (may_connect) ++s->connecting;
    lock.unlock();

    ProbeAttempt result;
    std::string error;
    if (may_connect) {
      conn = Connect(s->conninfo, &error);
      std::lock_guard<std::mutex> relock(s->mu);
      --s->connecting;
      if (conn == nullptr) s->connect_after = SteadyClock::now() + s->connect_backoff;
    } else if (conn == nullptr) {
      error = "no connection (waiting before the next connection attempt)";
    }
    if (conn != nullptr) {
      std::string text = std::to_string(id);
      const char* values[] = {text.c_str()};
      PGresult* r = PQexecParams(conn, kInsert, 1, nullptr, values, nullptr, nullptr, 0);
      if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        result.outcome = ProbeAttempt::Outcome::kAcknowledged;
        result.server_port = std::atoi(PQgetvalue(r, 0, 0));
        result.timeline = static_cast<uint32_t>(std::strtoul(PQgetvalue(r, 0, 1), nullptr, 16));
      } else {
        error = ErrorOf(conn);
        PQfinish(conn);
        conn = nullptr;
      }
      PQclear(r);
    }
    int64_t ended = s->ElapsedMs();
    lock.lock();
    ProbeAttempt& a = s->attempts[index];
    if (a.outcome == ProbeAttempt::Outcome::kUnanswered) {
      a.ended_ms = ended;
      a.outcome = result.outcome == ProbeAttempt::Outcome::kAcknowledged ? result.outcome
                                                                           : ProbeAttempt::Outcome::kFailed;
      a.server_port = result.server_port;
      a.timeline = result.timeline;
      a.error = error;
    }
    s->work.notify_all();
  }
  --s->threads;
  lock.unlock();
  if (conn != nullptr) PQfinish(conn);
}

void WriteProber::Run(const std::atomic<bool>& stop, Duration duration) {
  auto next = SteadyClock::now();
  auto end = duration.count() > 0 ? next + duration : SteadyClock::time_point::max();
  int64_t sequence = 0;
  while (!stop.load() && SteadyClock::now() < end) {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      // A backlog means every thread is busy connecting or stuck: one more thread, and no more
      // attempts queued than can start soon.
      if (shared_->queue.size() < 8) {
        ProbeAttempt a;
        a.id = shared_->first_id + sequence++;
        a.started_ms = shared_->ElapsedMs();
        shared_->attempts.push_back(a);
        shared_->queue.push_back(shared_->attempts.size() - 1);
      }
      if (shared_->idle == 0 && shared_->threads < options_.max_connections) {
        ++shared_->threads;
        std::thread(Work, shared_).detach();
      }
      shared_->work.notify_one();
    }
    next += options_.interval;
    std::this_thread::sleep_until(next);
  }
}

std::vector<ProbeAttempt> WriteProber::Finish(Duration patience) {
  std::unique_lock<std::mutex> lock(shared_->mu);
  // Attempts no thread took were never sent: they are not attempts.
  for (size_t index : shared_->queue) shared_->attempts[index].id = 0;
  shared_->queue.clear();
  auto in_flight = [&] {
    for (const ProbeAttempt& a : shared_->attempts) {
      if (a.id != 0 && a.outcome == ProbeAttempt::Outcome::kUnanswered) return true;
    }
    return false;
  };
  shared_->work.wait_for(lock, patience, [&] { return !in_flight(); });
  shared_->stopping = true;
  shared_->work.notify_all();
  std::vector<ProbeAttempt> out;
  for (const ProbeAttempt& a : shared_->attempts) {
    if (a.id != 0) out.push_back(a);
  }
  // From here on a late answer no longer changes what was reported.
  for (ProbeAttempt& a : shared_->attempts) {
    if (a.outcome == ProbeAttempt::Outcome::kUnanswered) a.outcome = ProbeAttempt::Outcome::kFailed;
  }
  return out;
}

Result<std::set<int64_t>> WriteProber::IdsOnPrimary(Duration patience) {
  auto deadline = SteadyClock::now() + patience;
  std::string error;
  do {
    if (PGconn* conn = Connect(options_.conninfo, &error)) {
      std::string first = std::to_string(shared_->first_id);
      const char* values[] = {first.c_str()};
      PGresult* r = PQexecParams(conn, "SELECT id FROM pgpilot_probe WHERE id >= $1::bigint", 1, nullptr,
                                 values, nullptr, nullptr, 0);
      std::set<int64_t> ids;
      bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
      if (ok) {
        for (int i = 0; i < PQntuples(r); ++i) ids.insert(std::strtoll(PQgetvalue(r, i, 0), nullptr, 10));
      } else {
        error = ErrorOf(conn);
      }
      PQclear(r);
      PQfinish(conn);
      if (ok) return ids;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (SteadyClock::now() < deadline);
  return Unavailable("cannot read the probe table on the final primary: " + error);
}

}  // namespace pgpilot
