# shellcheck shell=bash
# Shared by bench/run and the system libraries (bench/lib/pgpilot.sh, bench/lib/patroni.sh):
# paths, the work directory and its cleanup, free ports, the local etcd, the PostgreSQL-level
# health check that both systems are judged by, and statistics.
# Sourced, not run. Expects `set -euo pipefail` in the caller.

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_ROOT=$(cd "$BENCH_LIB/../.." && pwd)
BUILD=$BENCH_ROOT/build
PY=/usr/bin/python3               # Debian's python3 (not a pyenv shim earlier in PATH)
HELPER=$BENCH_LIB/helper.py
PG_BIN=/usr/lib/postgresql/15/bin
ETCD_BIN=/usr/bin/etcd
RUN_AS=postgres                    # PostgreSQL refuses to run as root

WORK=""                            # one mktemp dir; everything of this invocation lives below it
ETCD_PID="" ETCD_ENDPOINT=""
PROBER_PID=""

die() { echo "bench: $*" >&2; exit 1; }
# nap SECONDS: a sleep that a trapped signal interrupts at once (bash runs a trap only after
# the foreground command ends, but interrupts the `wait` builtin).
NAP_PID=""
nap() {
  sleep "$1" &
  NAP_PID=$!
  wait "$NAP_PID" || true
  NAP_PID=""
}
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }
elapsed() { "$PY" -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }
helper() { "$PY" "$HELPER" "$@"; }

bench_require() {
  [ -x "$PY" ] || die "$PY not found: apt-get install python3"
  [ -x "$ETCD_BIN" ] || die "$ETCD_BIN not found: apt-get install etcd-server"
  [ -x "$PG_BIN/postgres" ] || die "$PG_BIN/postgres not found: apt-get install postgresql-15"
  command -v psql >/dev/null || die "psql not found: apt-get install postgresql-client-15"
  command -v curl >/dev/null || die "curl not found: apt-get install curl"
  id "$RUN_AS" >/dev/null 2>&1 || die "user $RUN_AS missing (the postgresql package creates it)"
  [ "$(id -u)" -eq 0 ] || die "run as root: the bench starts PostgreSQL as $RUN_AS and reads its files"
}

# A binary of build/ that the other side of the project may be rebuilding right now: wait for it.
wait_for_binary() {
  local bin=$1 i
  for i in $(seq 120); do
    [ -x "$bin" ] && return 0
    [ "$i" -eq 1 ] && say "waiting for $bin (being rebuilt?)"
    sleep 1
  done
  die "$bin not found: run make build first"
}

bench_init() {
  WORK=$(mktemp -d /tmp/pgpilot-bench.XXXXXX)
  chmod 755 "$WORK"               # postgres must traverse it
  : >"$WORK/stopped"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Everything this invocation started is found by pid: the recorded ones, then every process
# whose command line names the work directory, and their descendants.
bench_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [ -n "$NAP_PID" ] && kill "$NAP_PID" 2>/dev/null
  [ -n "$PROBER_PID" ] && kill -TERM "$PROBER_PID" 2>/dev/null
  resume_stopped
  if [ -n "${RUN_DIR:-}" ] && declare -F sys_down >/dev/null; then sys_down quick >/dev/null 2>&1; fi
  kill_work_processes
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $WORK (BENCH_KEEP set)" >&2; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}

resume_stopped() {
  local pids
  [ -n "$WORK" ] && [ -s "$WORK/stopped" ] || return 0
  pids=$(sort -u "$WORK/stopped")
  # shellcheck disable=SC2086
  kill -CONT $pids 2>/dev/null || true
  : >"$WORK/stopped"
}

# kill_pids PID...: SIGCONT + SIGTERM, then SIGKILL whatever is left after 5 s.
kill_pids() {
  [ $# -gt 0 ] || return 0
  kill -CONT "$@" 2>/dev/null || true
  kill -TERM "$@" 2>/dev/null || true
  local i p alive
  for i in $(seq 50); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}

# Processes whose command line names DIR (default: the work dir), with their descendants.
kill_work_processes() {
  local dir=${1:-$WORK} pids
  [ -n "$dir" ] || return 0
  pids=$(helper procs-matching "$dir" | grep -vx -e "$$" -e "${ETCD_PID:-0}" || true)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill_pids $pids
}

# free_ports OFFSET...: a base port below 32768 with base+OFFSET free for every OFFSET.
free_ports() { helper free-ports "$@" || die "no free ports below 32768"; }

etcd_start() {
  local base
  base=$(free_ports 0 1)
  ETCD_ENDPOINT=127.0.0.1:$base
  "$ETCD_BIN" --name bench --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$base" --advertise-client-urls "http://127.0.0.1:$base" \
    --listen-peer-urls "http://127.0.0.1:$((base + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((base + 1))" \
    --initial-cluster "bench=http://127.0.0.1:$((base + 1))" \
    --enable-v2="${ETCD_V2:-false}" --log-level warn >"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  local i
  for i in $(seq 100); do
    curl -sf --max-time 1 "http://$ETCD_ENDPOINT/health" >/dev/null 2>&1 && return 0
    kill -0 "$ETCD_PID" 2>/dev/null || { cat "$WORK/etcd.log" >&2; die "etcd exited at start (log above)"; }
    sleep 0.1
  done
  die "etcd did not become healthy on $ETCD_ENDPOINT within 10 s (log: $WORK/etcd.log)"
}

# --- PostgreSQL-level view, the same for both systems -------------------------------------
# pg_status PASSFILE PORT...: one line per port: "PORT down" or
# "PORT f STREAMING_REPLICAS" (a primary) or "PORT t WAL_RECEIVER_STATUS" (a standby).
pg_status() {
  local passfile=$1 port out
  shift
  for port in "$@"; do
    out=$(PGPASSFILE=$passfile PGCONNECT_TIMEOUT=2 timeout 4 psql -XAtq \
      "host=127.0.0.1 port=$port user=postgres dbname=postgres" -F ' ' -c \
      "select pg_is_in_recovery(), case when pg_is_in_recovery() then coalesce((select status from pg_stat_wal_receiver), 'none') else (select count(*) from pg_stat_replication where state = 'streaming')::text end" \
      2>/dev/null) || out=down
    echo "$port ${out:-down}"
  done
}

# cluster_healthy REPLICAS: one primary (by PostgreSQL and by the system's own view, which
# must agree), REPLICAS standbys streaming and the primary seeing REPLICAS streaming.
cluster_healthy() {
  local want=$1 prim status primaries=0 streaming=0 pport="" port r x
  prim=$(sys_primary 2>/dev/null) || return 1
  status=$(pg_status "$(sys_passfile)" $(sys_pg_ports))
  while read -r port r x; do
    if [ "$r" = f ]; then primaries=$((primaries + 1)); pport=$port; [ "$x" -ge "$want" ] || return 1; fi
    if [ "$r" = t ] && [ "$x" = streaming ]; then streaming=$((streaming + 1)); fi
  done <<<"$status"
  [ "$primaries" -eq 1 ] && [ "$streaming" -ge "$want" ] || return 1
  [ "$(echo "$prim" | awk '{print $4}')" = "$pport" ]
}

# wait_healthy REPLICAS TIMEOUT_S: 0 once healthy, 1 on timeout.
wait_healthy() {
  local want=$1 timeout=$2 deadline
  deadline=$(( $(date +%s) + ${timeout%.*} ))
  until cluster_healthy "$want"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# A write through the read-write connection string, retried until it succeeds or TIMEOUT_S.
write_once() {
  local timeout=$1 deadline
  deadline=$(( $(date +%s) + timeout ))
  until psql -XAtq "$(sys_dsn)" -c "create table if not exists bench_write (at timestamptz default now()); insert into bench_write default values" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# --- the write prober (build/pgpilot-prober) -------------------------------------------
PROBER=$BUILD/pgpilot-prober

prober_start() {
  wait_for_binary "$PROBER"
  "$PROBER" --dsn "$(sys_dsn)" --interval-ms 10 --drain-s 5 --log "$RUN_DIR/probe.log" \
    >"$RUN_DIR/probe.out" 2>"$RUN_DIR/probe.err" &
  PROBER_PID=$!
}

# Stops the prober and sets PROBE to its summary line's key=value pairs (without "PROBE").
# Not in $(...): the prober is a child of this shell.
PROBE=""
prober_stop() {
  local rc=0
  kill -TERM "$PROBER_PID" 2>/dev/null || true
  wait "$PROBER_PID" || rc=$?
  PROBER_PID=""
  if [ $rc -ne 0 ] || ! grep -q '^PROBE ' "$RUN_DIR/probe.out"; then
    cat "$RUN_DIR/probe.err" >&2
    die "the prober exited with status $rc without its summary line (its stderr above)"
  fi
  PROBE=$(grep '^PROBE ' "$RUN_DIR/probe.out" | tail -n 1 | cut -d' ' -f2-)
}

# kv KEY "k=v k=v ...": the value of KEY.
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1; }

# --- results -----------------------------------------------------------------------------
# record METRIC VALUE: one run's value; summarized by result_line.
record() { echo "$2" >>"$WORK/values.$1"; }
# add KEY N: an extra count summed over the runs (lost, split_brain, ...).
add() {
  local prev=0
  [ -f "$WORK/extra.$1" ] && prev=$(cat "$WORK/extra.$1")
  echo $((prev + $2)) >"$WORK/extra.$1"
}
# result_line SCENARIO SYSTEM PROFILE METRIC UNIT [EXTRA_KEY...]: an EXTRA_KEY recorded with
# `record` shows its median over the runs, one counted with `add` its total.
result_line() {
  local scenario=$1 system=$2 profile=$3 metric=$4 unit=$5 n median min max extra="" k
  shift 5
  read -r n median min max < <(helper summary <"$WORK/values.$metric")
  for k in "$@"; do
    if [ -f "$WORK/values.$k" ]; then
      extra+=" $k=$(helper summary <"$WORK/values.$k" | awk '{print $2}')"
    elif [ -f "$WORK/extra.$k" ]; then
      extra+=" $k=$(cat "$WORK/extra.$k")"
    fi
  done
  echo "RESULT scenario=$scenario system=$system profile=$profile metric=$metric unit=$unit n=$n median=$median min=$min max=$max dcs=$SYS_DCS$extra"
}

# --- processes ---------------------------------------------------------------------------
children_of() { helper children "$@"; }

# freeze PID...: SIGSTOP, remembered so that cleanup resumes them whatever happens.
freeze_pids() {
  printf '%s\n' "$@" >>"$WORK/stopped"
  kill -STOP "$@"
}
thaw_pids() {
  kill -CONT "$@" 2>/dev/null || true
  local p
  for p in "$@"; do sed -i "/^$p\$/d" "$WORK/stopped"; done
}

# A parent that stopped itself because its child was stopped (runuser's watching parent does,
# like su) stays stopped after the child is continued: continue it too, if it is one of ours.
thaw_stopped_parent() {
  local ppid state
  ppid=$(awk '{print $4}' "/proc/$1/stat" 2>/dev/null) || return 0
  [ -n "$ppid" ] && [ "$ppid" -gt 1 ] || return 0
  state=$(awk '{print $3}' "/proc/$ppid/stat" 2>/dev/null) || return 0
  if [ "$state" = T ] && tr '\0' ' ' <"/proc/$ppid/cmdline" 2>/dev/null | grep -qF "$WORK"; then
    kill -CONT "$ppid" 2>/dev/null || true
  fi
}

random_secret() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }

# --- the layout both systems share: members on SYS_BASE+i (PostgreSQL) and SYS_BASE+100+i (API),
# the cluster under $RUN_DIR/cluster, the superuser's passfile there -----------------------------

sys_dir() { echo "$RUN_DIR/cluster"; }

sys_passfile() { echo "$(sys_dir)/pgpass"; }

sys_dsn() {
  local i hosts=""
  for i in $(seq 0 $((SYS_NODES - 1))); do hosts+="${hosts:+,}127.0.0.1:$((SYS_BASE + i))"; done
  # The string `pgpilot ctl dsn` prints, with connect_timeout=1 and the passfile.
  echo "postgresql://postgres@$hosts/postgres?target_session_attrs=read-write&connect_timeout=1&passfile=$(sys_passfile)"
}

sys_pg_ports() {
  local i
  for i in $(seq 0 $((SYS_NODES - 1))); do echo $((SYS_BASE + i)); done
}

sys_api_urls() {
  local i
  for i in $(seq 0 $((SYS_NODES - 1))); do echo "http://127.0.0.1:$((SYS_BASE + 100 + i))"; done
}
