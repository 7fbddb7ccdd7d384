# shellcheck shell=bash
# Shared by bench/run and the system libraries (bench/lib/pgpilot.sh, bench/lib/patroni.sh):
# paths, the work directory and its cleanup, free ports, the local etcd, the PostgreSQL-level
# health check that both systems are judged by, and statistics.
# Sourced, not run. Expects `set -euo pipefail` in the caller.

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_ROOT=$(cd "$BENCH_LIB/../.." && pwd)
BUILD=$BENCH_ROOT/build
# Where pgpilot and pgpilot-prober are taken from: PGPILOT_BIN_DIR (a private copy, so that a
# rebuild of build/ during a run changes nothing), else build/.
BIN_DIR=${PGPILOT_BIN_DIR:-$BUILD}
PY=/usr/bin/python3               # Debian's python3 (not a pyenv shim earlier in PATH)
HELPER=$BENCH_LIB/helper.py
PG_BIN=/usr/lib/postgresql/15/bin
ETCD_BIN=/usr/bin/etcd
RUN_AS=postgres                    # PostgreSQL refuses to run as root

WORK=""                            # one mktemp dir; everything of this invocation lives below it
ETCD_PID="" ETCD_ENDPOINT=""
PROBER_PID="" PROBER_T0=""
WATCH_PID=""                       # the role watcher of the partition scenario

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
  [ -n "$WATCH_PID" ] && kill -TERM "$WATCH_PID" 2>/dev/null
  resume_stopped
  if [ -n "${RUN_DIR:-}" ] && declare -F sys_down >/dev/null; then sys_down quick >/dev/null 2>&1; fi
  kill_work_processes
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; fi
  netns_down
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
  if [ -n "$NETNS" ]; then etcd_start_netns; return; fi
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
  etcd_wait
}

etcd_wait() {
  local i
  for i in $(seq 100); do
    client_exec curl -sf --max-time 1 "http://$ETCD_ENDPOINT/health" >/dev/null 2>&1 && return 0
    kill -0 "$ETCD_PID" 2>/dev/null || { cat "$WORK/etcd.log" >&2; die "etcd exited at start (log above)"; }
    sleep 0.1
  done
  die "etcd did not become healthy on $ETCD_ENDPOINT within 10 s (log: $WORK/etcd.log)"
}

# etcd alone in the namespace "etcd", on its own address (2379 and 2380 are free there).
etcd_start_netns() {
  local a
  a=$(ns_addr etcd)
  ETCD_ENDPOINT=$a:2379
  # `ip netns exec` execs the command: $! is etcd's pid.
  ip netns exec "${NS_PREFIX}etcd" "$ETCD_BIN" --name bench --data-dir "$WORK/etcd" \
    --listen-client-urls "http://$a:2379" --advertise-client-urls "http://$a:2379" \
    --listen-peer-urls "http://$a:2380" --initial-advertise-peer-urls "http://$a:2380" \
    --initial-cluster "bench=http://$a:2380" \
    --enable-v2="${ETCD_V2:-false}" --log-level warn >"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  etcd_wait
}

# --- network namespaces (the partition scenario) ----------------------------------------
# The design of tests/integration/netns_lab.cc: a hub namespace holds a bridge; every host
# (etcd, the client, each member) is a namespace of its own with one veth link to the bridge and
# one address 10.A.B.(10+i)/24 that exists only inside these namespaces. Nothing is configured in
# the caller's namespace, so no packet for these addresses leaves the machine, and everything
# that talks to a host runs inside a namespace (the bench's own clients inside "client").
NETNS=""                 # non-empty: this invocation runs in namespaces (set by bench/run)
NS_PREFIX="" NS_NET=""   # namespace name prefix; "10.A.B."
NS_HOSTS=()              # host i has the address ${NS_NET}$((10 + i))

netns_require() {
  command -v ip >/dev/null || die "iproute2's ip is missing: apt-get install iproute2"
  [ "$(id -u)" -eq 0 ] || die "network namespaces need root"
}

ns_name() { echo "$NS_PREFIX$1"; }
ns_addr() {
  local i
  for i in "${!NS_HOSTS[@]}"; do
    if [ "${NS_HOSTS[$i]}" = "$1" ]; then echo "$NS_NET$((10 + i))"; return 0; fi
  done
  die "no host $1 in the namespaces"
}
ns_subnet() { echo "${NS_NET}0/24"; }
# Not for a command run in the background: `f &` forks a subshell, so $! would not be the
# command's pid. Those are written `ip netns exec "$NS_PREFIX$HOST" CMD &` and
# `"${CLIENT_EXEC[@]}" CMD &` (ip netns exec execs CMD: $! is CMD's pid).
in_ns() { local h=$1; shift; ip netns exec "$NS_PREFIX$h" "$@"; }
# The bench's own clients (psql, curl, ctl, the prober): in the namespace "client", or here.
CLIENT_EXEC=()
client_exec() { "${CLIENT_EXEC[@]}" "$@"; }

# netns_up HOST...: the hub with its bridge and one namespace per host, linked up.
netns_up() {
  netns_require
  NS_PREFIX="pgbench-$$-"
  NS_NET="10.$((200 + RANDOM % 50)).$((RANDOM % 250))."
  NS_HOSTS=("$@")
  CLIENT_EXEC=(ip netns exec "${NS_PREFIX}client")
  local hub=${NS_PREFIX}hub i ns
  ip netns add "$hub" || die "cannot create a network namespace (ip netns add $hub)"
  echo "$hub" >>"$WORK/netns"
  ip -n "$hub" link set lo up
  ip -n "$hub" link add br0 type bridge
  ip -n "$hub" link set br0 up
  for i in "${!NS_HOSTS[@]}"; do
    ns=$NS_PREFIX${NS_HOSTS[$i]}
    ip netns add "$ns" || die "cannot create the network namespace $ns"
    echo "$ns" >>"$WORK/netns"
    ip -n "$ns" link set lo up
    ip -n "$hub" link add "port$i" type veth peer name eth0 netns "$ns"
    ip -n "$hub" link set "port$i" master br0
    ip -n "$hub" link set "port$i" up
    ip -n "$ns" addr add "$NS_NET$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

# Deletes the namespaces this invocation made. A process still inside one (only ours run there)
# is killed first, by pid, since a namespace lives on while a process uses it.
netns_down() {
  [ -n "$WORK" ] && [ -s "$WORK/netns" ] || return 0
  local ns pids
  for ns in $(tac "$WORK/netns"); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    [ -z "${pids// /}" ] || kill_pids $pids
    ip netns delete "$ns" 2>/dev/null || true
  done
  : >"$WORK/netns"
}

# --- partitions inside a host's namespace ---------------------------------------------------
# partition_host HOST PEER...: every packet between HOST and the PEERS is dropped, both ways
# (dropped, not refused: each side sees silence), by a packet filter inside HOST's own
# namespace; traffic with every other host (the client) is untouched. nft if it works, else
# iptables; with neither, Debian's nftables is installed; if no filter works at all, HOST's link
# to the bridge is cut instead (the client then loses it too). PARTITION_HOW says which.
PARTITION_HOW=""
partition_tool() {
  [ -n "$PARTITION_HOW" ] && return 0
  local t
  for t in nft iptables; do
    if command -v "$t" >/dev/null && partition_probe "$t"; then PARTITION_HOW=$t; return 0; fi
  done
  if ! command -v nft >/dev/null; then
    say "neither nft nor iptables works here: installing Debian's nftables"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables; } >/dev/null 2>&1 || true
    if command -v nft >/dev/null && partition_probe nft; then PARTITION_HOW=nft; return 0; fi
  fi
  say "no packet filter works in a namespace: a partition cuts the host's link (the client loses it too)"
  PARTITION_HOW=link
}

# Does TOOL work inside a namespace of ours? (a throw-away rule in the client's namespace)
partition_probe() {
  case "$1" in
    nft)
      printf '%s\n' 'table inet bench_probe {' \
        '  chain input { type filter hook input priority 0; policy accept; ip saddr 192.0.2.1 drop; }' '}' |
        in_ns client nft -f - >/dev/null 2>&1 &&
        in_ns client nft delete table inet bench_probe >/dev/null 2>&1 ;;
    iptables)
      in_ns client iptables -w -A INPUT -s 192.0.2.1 -j DROP >/dev/null 2>&1 &&
        in_ns client iptables -w -D INPUT -s 192.0.2.1 -j DROP >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

partition_host() {
  local host=$1 peer a addrs=()
  shift
  partition_tool
  for peer in "$@"; do addrs+=("$(ns_addr "$peer")"); done
  case "$PARTITION_HOW" in
    nft)
      local set
      set=$(IFS=,; echo "${addrs[*]}")
      printf '%s\n' 'table inet bench_partition {' \
        "  chain input { type filter hook input priority 0; policy accept; ip saddr { $set } drop; }" \
        "  chain output { type filter hook output priority 0; policy accept; ip daddr { $set } drop; }" '}' |
        in_ns "$host" nft -f - || die "nft refused the partition rules in $host"
      ;;
    iptables)
      for a in "${addrs[@]}"; do
        in_ns "$host" iptables -w -I INPUT -s "$a" -j DROP || die "iptables refused a rule in $host"
        in_ns "$host" iptables -w -I OUTPUT -d "$a" -j DROP || die "iptables refused a rule in $host"
      done
      printf '%s\n' "${addrs[@]}" >"$WORK/partition.$host"
      ;;
    link) ip -n "${NS_PREFIX}hub" link set "port$(ns_index "$host")" down ;;
  esac
}

heal_host() {
  local host=$1 a
  case "$PARTITION_HOW" in
    nft) in_ns "$host" nft delete table inet bench_partition 2>/dev/null || true ;;
    iptables)
      [ -f "$WORK/partition.$host" ] || return 0
      while read -r a; do
        in_ns "$host" iptables -w -D INPUT -s "$a" -j DROP || true
        in_ns "$host" iptables -w -D OUTPUT -d "$a" -j DROP || true
      done <"$WORK/partition.$host"
      rm -f "$WORK/partition.$host"
      ;;
    link) ip -n "${NS_PREFIX}hub" link set "port$(ns_index "$host")" up ;;
  esac
}

ns_index() {
  local i
  for i in "${!NS_HOSTS[@]}"; do
    if [ "${NS_HOSTS[$i]}" = "$1" ]; then echo "$i"; return 0; fi
  done
  die "no host $1 in the namespaces"
}

# --- PostgreSQL-level view, the same for both systems -------------------------------------
# pg_status PASSFILE PORT...: one line per port: "PORT down" or
# "PORT f STREAMING_REPLICAS" (a primary) or "PORT t WAL_RECEIVER_STATUS" (a standby).
# Member i's PostgreSQL listens on SYS_BASE+i at member_host i (asked from the client's
# namespace when the bench runs in namespaces).
pg_status() {
  local passfile=$1 port out
  shift
  for port in "$@"; do
    out=$(PGPASSFILE=$passfile PGCONNECT_TIMEOUT=2 client_exec timeout 4 psql -XAtq \
      "host=$(member_host $((port - SYS_BASE))) port=$port user=postgres dbname=postgres" -F ' ' -c \
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
  until client_exec psql -XAtq "$(sys_dsn)" -c "create table if not exists bench_write (at timestamptz default now()); insert into bench_write default values" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# --- the write prober (build/pgpilot-prober) -------------------------------------------
PROBER=$BIN_DIR/pgpilot-prober

prober_start() {
  wait_for_binary "$PROBER"
  PROBER_T0=$(now)   # the prober's times (ms since it started) count from about here
  "${CLIENT_EXEC[@]}" "$PROBER" --dsn "$(sys_dsn)" --interval-ms 10 --drain-s 5 --log "$RUN_DIR/probe.log" \
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
  [ -f "$WORK/values.$metric" ] || : >"$WORK/values.$metric"
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

# Member i's address: loopback, or its namespace's address.
member_host() { if [ -n "$NETNS" ]; then ns_addr "pg-$1"; else echo 127.0.0.1; fi; }

sys_dsn() {
  local i hosts=""
  for i in $(seq 0 $((SYS_NODES - 1))); do hosts+="${hosts:+,}$(member_host "$i"):$((SYS_BASE + i))"; done
  # The string `pgpilot ctl dsn` prints, with connect_timeout=1 and the passfile.
  echo "postgresql://postgres@$hosts/postgres?target_session_attrs=read-write&connect_timeout=1&passfile=$(sys_passfile)"
}

sys_pg_ports() {
  local i
  for i in $(seq 0 $((SYS_NODES - 1))); do echo $((SYS_BASE + i)); done
}

sys_api_urls() {
  local i
  for i in $(seq 0 $((SYS_NODES - 1))); do echo "http://$(member_host "$i"):$((SYS_BASE + 100 + i))"; done
}
