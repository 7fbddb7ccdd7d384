#!/usr/bin/python3
"""Small helpers for the bench scripts (Debian's python3, standard library only).

Subcommands:
  free-ports OFFSET...          pick a random base below 32768 such that base+OFFSET is free
                                on 127.0.0.1 for every OFFSET; prints the base
  procs-matching STRING         pids whose command line contains STRING (not this process's
                                ancestors), with all their descendants
  descendants PID...            every descendant of the given pids
  children PID...               the direct children of the given pids
  sample PID...                 one line per live pid: PID RSS_KB CPU_SECONDS (utime+stime)
  summary                       reads one number a line, prints "n median min max"
  pgpilot-primary               reads `pgpilot ctl list --json`, prints the primary
  pgpilot-members               reads `pgpilot ctl list --json`, prints NAME AGENT_PID PG_PORT API_URL
  patroni-leader                reads Patroni's GET /cluster, prints the running leader's name
  ab CSV_FILE                   reads `ab` output (and its -e CSV file), prints
                                "req_per_s p99_ms non2xx errors length_differs complete"
  table RESULTS_FILE            prints the Markdown rows of bench/compare from RESULT lines
  watch-roles OUT NAME=HOST:PORT...
                                until SIGTERM, asks every member `select pg_is_in_recovery()`
                                every 0.1 s (one connection each, psycopg2 if installed, else
                                psql; PGPASSFILE from the environment) and appends a line
                                "UNIX_TIME NAME primary|replica|down" to OUT on every change
  partition-report ROLES PROBE_LOG PROBER_T0 T_CUT T_HEAL OLD_NAME OLD_PORT
                                what watch-roles and the prober's log say about a partition of
                                OLD_NAME (wall-clock times): one line of key=value
"""
import json
import os
import random
import socket
import signal
import statistics
import subprocess
import sys
import threading
import time


def port_free(port):
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0")):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_ports(offsets):
    offsets = [int(o) for o in offsets]
    span = max(offsets)
    rng = random.SystemRandom()
    for _ in range(200):
        # Below the ephemeral range (32768+), where outgoing connections may hold a port.
        base = rng.randrange(20000, 32767 - span)
        if all(port_free(base + o) for o in offsets):
            print(base)
            return 0
    print("no free block of ports found below 32768", file=sys.stderr)
    return 1


def all_procs():
    """pid -> (ppid, cmdline)"""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError):
            continue
        out[int(d)] = (ppid, cmd)
    return out


def descendants(procs, roots):
    kids = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def ancestors(procs, pid):
    out = set()
    while pid in procs and pid not in out and pid > 1:
        out.add(pid)
        pid = procs[pid][0]
    return out


def procs_matching(needle):
    procs = all_procs()
    mine = ancestors(procs, os.getpid())
    roots = {p for p, (_, cmd) in procs.items() if needle in cmd and p not in mine}
    for p in sorted(roots | descendants(procs, roots)):
        if p not in mine:
            print(p)


def sample(pids):
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            rss = 0
            with open("/proc/%s/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
        except (OSError, ValueError):
            continue
        print(p, rss, "%.2f" % cpu)


def summary():
    v = [float(x) for x in sys.stdin.read().split()]
    if not v:
        print("0 nan nan nan")
        return
    print(len(v), fmt(statistics.median(v)), fmt(min(v)), fmt(max(v)))


def fmt(x):
    if x != x:
        return "nan"
    for limit, f in ((1000, "%.0f"), (100, "%.1f"), (10, "%.2f")):
        if abs(x) >= limit:
            return f % x
    return "%.3f" % x


def pgpilot_primary():
    j = json.load(sys.stdin)
    ps = [m for m in j["members"] if m.get("role") == "primary" and m.get("holds_lease")
          and m.get("state") == "primary"]
    if len(ps) != 1:
        return 1
    p = ps[0]
    api = p["api_url"].rsplit(":", 1)[1].strip("/")
    print(p["name"], p.get("agent_pid") or 0, p.get("postgres_pid") or 0, p["port"], api)
    return 0


def pgpilot_members():
    j = json.load(sys.stdin)
    for m in j["members"]:
        print(m["name"], m.get("agent_pid") or 0, m["port"], m["api_url"])


def patroni_leader():
    j = json.load(sys.stdin)
    ls = [m for m in j.get("members", []) if m.get("role") == "leader" and m.get("state") == "running"]
    if len(ls) != 1:
        return 1
    print(ls[0]["name"])
    return 0


def ab(csv_file):
    """ab's summary. ab counts a response whose length differs from the first one's as a
    failed request ("Length"); bodies that carry a changing number (an age in ms) do that, so
    errors are the other kinds only (connect, receive, exceptions) plus non-2xx answers."""
    rps = p99 = None
    non2xx = errors = length = complete = 0
    for line in sys.stdin:
        if line.startswith("Requests per second:"):
            rps = float(line.split()[3])
        elif line.startswith("Non-2xx responses:"):
            non2xx = int(line.split()[2])
        elif line.strip().startswith("(Connect:"):
            parts = dict(p.strip(" ()\n").split(": ") for p in line.strip().split(","))
            errors = int(parts["Connect"]) + int(parts["Receive"]) + int(parts["Exceptions"])
            length = int(parts["Length"])
        elif line.startswith("Complete requests:"):
            complete = int(line.split()[2])
    with open(csv_file) as f:
        for line in f:
            parts = line.strip().split(",")
            if parts[0] == "99":
                p99 = float(parts[1])
    if rps is None or p99 is None:
        print("could not parse ab's output", file=sys.stderr)
        return 1
    print("%.1f %.3f %d %d %d %d" % (rps, p99, non2xx, errors, length, complete))
    return 0


def parse_result(line):
    kv = {}
    for tok in line.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            kv[k] = v
    return kv


def table(results_file, scenarios):
    """Rows of the comparison: one per scenario and metric, pgpilot vs Patroni."""
    rows = {}
    first_seen = {}
    failed = {}
    with open(results_file) as f:
        for line in f:
            if line.startswith("RESULT "):
                kv = parse_result(line)
                key = (kv["scenario"], kv["profile"], kv["metric"])
                first_seen.setdefault(key, len(first_seen))
                rows.setdefault(key, {})[kv["system"]] = kv
            elif line.startswith("FAILED "):
                head, _, reason = line.rstrip("\n").partition(" reason=")
                kv = parse_result(head)
                failed[(kv["scenario"], kv["profile"], kv["system"])] = (reason or "failed").replace("|", "/")
    core = {"scenario", "system", "profile", "metric", "unit", "n", "median", "min", "max", "dcs"}
    profiles = []
    for (s, p, _) in list(rows) + [(s, p, None) for (s, p, _) in failed]:
        if p not in profiles:
            profiles.append(p)
    order = {s: i for i, s in enumerate(scenarios)}
    print("| scenario | profile | metric | pgpilot median (min–max, n) | Patroni median (min–max, n) | pgpilot/Patroni |")
    print("|---|---|---|---|---|---|")
    keys = sorted(rows, key=lambda k: (profiles.index(k[1]), order.get(k[0], 99), first_seen[k]))
    shown = set()
    for key in keys:
        s, p, metric = key
        cells = []
        for system in ("pgpilot", "patroni"):
            kv = rows[key].get(system)
            if kv is None:
                cells.append("failed: " + failed.get((s, p, system), "no result"))
                continue
            extra = " ".join("%s=%s" % (k, v) for k, v in kv.items() if k not in core)
            unit = kv["unit"]
            cells.append("%s %s (%s–%s, n=%s)%s" % (kv["median"], unit, kv["min"], kv["max"], kv["n"],
                                                  (" " + extra) if extra else ""))
        a, b = rows[key].get("pgpilot"), rows[key].get("patroni")
        ratio = "–"
        if a and b:
            try:
                x, y = float(a["median"]), float(b["median"])
                ratio = "%.2f" % (x / y) if y else "–"
            except ValueError:
                pass
        print("| %s | %s | %s | %s | %s | %s |" % (s, p, metric, cells[0], cells[1], ratio))
        shown.add((s, p))
    for (s, p, system), reason in sorted(failed.items()):
        if (s, p) not in shown:
            shown.add((s, p))
            other = "pgpilot" if system == "patroni" else "patroni"
            both = {system: "failed: " + reason,
                    other: ("failed: " + failed[(s, p, other)]) if (s, p, other) in failed else "no result"}
            print("| %s | %s | – | %s | %s | – |" % (s, p, both["pgpilot"], both["patroni"]))


def watch_roles(out_path, specs):
    """One thread per member; each keeps one connection and reconnects when it breaks."""
    try:
        import psycopg2  # Debian's python3-psycopg2 (a Patroni dependency)
    except ImportError:
        psycopg2 = None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lock = threading.Lock()
    out = open(out_path, "a", buffering=1)

    def ask_psql(host, port):
        r = subprocess.run(["psql", "-XAtq", "host=%s port=%s user=postgres dbname=postgres "
                            "connect_timeout=1" % (host, port), "-c", "select pg_is_in_recovery()"],
                           capture_output=True, text=True, timeout=3)
        if r.returncode != 0:
            return "down"
        return "replica" if r.stdout.strip() == "t" else "primary"

    def poll(name, host, port):
        last, conn = None, None
        while not stop.is_set():
            state = "down"
            try:
                if psycopg2 is None:
                    state = ask_psql(host, port)
                else:
                    if conn is None:
                        conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres",
                                                connect_timeout=1, application_name="bench-watch",
                                                options="-c statement_timeout=1000", keepalives=1,
                                                keepalives_idle=1, keepalives_interval=1,
                                                keepalives_count=2)
                        conn.autocommit = True
                    with conn.cursor() as cur:
                        cur.execute("select pg_is_in_recovery()")
                        state = "replica" if cur.fetchone()[0] else "primary"
            except Exception:  # noqa: BLE001 - any failure means "not answering"
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass
                    conn = None
            if state != last:
                with lock:
                    out.write("%.3f %s %s\n" % (time.time(), name, state))
                last = state
            stop.wait(0.1)

    threads = []
    for spec in specs:
        name, addr = spec.split("=", 1)
        host, port = addr.rsplit(":", 1)
        t = threading.Thread(target=poll, args=(name, host, port), daemon=True)
        t.start()
        threads.append(t)
    while not stop.is_set():
        stop.wait(0.5)
    for t in threads:
        t.join(timeout=3)
    return 0


def partition_report(roles, probe_log, prober_t0, t_cut, t_heal, old_name, old_port):
    """promoted_s: from the cut until another member answered as a primary (PostgreSQL's own
    view, polled every 0.1 s) or acknowledged a write, whichever came first; fenced_s: until the old primary no longer answered as one (down
    or in recovery); two_primaries_s: how long both answered as primaries; old_acks_after_cut:
    writes the old primary acknowledged after the cut; split_brain: those acknowledged after
    another member had been promoted. Times of acknowledgements: PROBER_T0 + the prober's
    ms (started about then; within some 0.1 s)."""
    prober_t0, t_cut, t_heal = float(prober_t0), float(t_cut), float(t_heal)
    events = []
    with open(roles) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                events.append((float(parts[0]), parts[1], parts[2]))
    events.sort()
    t_prom = new = t_fenced = None
    for t, name, state in events:
        if t <= t_cut:
            continue
        if t_prom is None and name != old_name and state == "primary":
            t_prom, new = t, name
        if t_fenced is None and name == old_name and state != "primary":
            t_fenced = t
    end = events[-1][0] if events else t_heal
    old_after_cut = split = 0
    first_other = first_other_port = None
    with open(probe_log) as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0].startswith("#") or len(parts) < 6 or parts[3] != "ack":
                continue
            at = prober_t0 + int(parts[2]) / 1000.0
            if at <= t_cut:
                continue
            if parts[4] == str(old_port):
                old_after_cut += 1
                if t_prom is not None and at > t_prom:
                    split += 1
            elif first_other is None or at < first_other:
                first_other, first_other_port = at, parts[4]
    if first_other is not None and (t_prom is None or first_other < t_prom):
        t_prom = first_other
        if new is None:
            new = "port-%s" % first_other_port
    two = 0.0
    if t_prom is not None:
        two = max(0.0, (t_fenced if t_fenced is not None else end) - t_prom)
    f3 = lambda x: "%.3f" % x  # noqa: E731
    print("promoted_s=%s new_primary=%s fenced_s=%s two_primaries_s=%s old_acks_after_cut=%d "
          "split_brain=%d first_new_ack_s=%s" % (
              f3(t_prom - t_cut) if t_prom is not None else "never", new or "none",
              f3(t_fenced - t_cut) if t_fenced is not None else "never", f3(two), old_after_cut, split,
              f3(first_other - t_cut) if first_other is not None else "never"))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "free-ports":
        return free_ports(args)
    if cmd == "procs-matching":
        return procs_matching(args[0])
    if cmd == "descendants":
        for p in sorted(descendants(all_procs(), [int(a) for a in args])):
            print(p)
        return 0
    if cmd == "children":
        want = {int(a) for a in args}
        for p, (ppid, _) in sorted(all_procs().items()):
            if ppid in want:
                print(p)
        return 0
    if cmd == "sample":
        return sample(args)
    if cmd == "summary":
        return summary()
    if cmd == "pgpilot-primary":
        return pgpilot_primary()
    if cmd == "pgpilot-members":
        return pgpilot_members()
    if cmd == "patroni-leader":
        return patroni_leader()
    if cmd == "ab":
        return ab(args[0])
    if cmd == "watch-roles":
        return watch_roles(args[0], args[1:])
    if cmd == "partition-report":
        return partition_report(*args[:7])
    if cmd == "table":
        return table(args[0], args[1].split(",") if len(args) > 1 else [])
    print("helper.py: unknown subcommand " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
