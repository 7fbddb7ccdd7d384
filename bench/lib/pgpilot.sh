# shellcheck shell=bash
# The pgpilot side of the benchmarks: a local 3-member cluster started with `pgpilot up` on the
# bench's etcd. Same function interface as bench/lib/patroni.sh. Sourced after common.sh.
# In network namespaces (NETNS set, the partition scenario) `pgpilot up` cannot place the
# members, so this writes the agent configs itself in the layout `pgpilot up` makes
# (DIR/pg-N/agent.yaml, DIR/secrets/, DIR/pgpass), each member listening on its namespace's
# address, and starts `pgpilot agent --config` inside each member's namespace; `ctl --dir` and
# `down --dir` work on that layout as on one made by `up` (run from the client's namespace).
#
#   sys_check                     prerequisites (build/pgpilot), dies with the fix
#   sys_version                   one word
#   sys_timing PROFILE            sets SYS_TTL SYS_LOOP (seconds) for default|fast
#   sys_prepare NODES PROFILE     everything before the agents start (nothing for pgpilot)
#   sys_start                     start the agents, return at once
#   sys_up NODES PROFILE          prepare + start + wait for 1 primary and NODES-1 streaming replicas
#   sys_primary                   NAME AGENT_PID POSTGRES_PID PG_PORT API_PORT of the primary
#   sys_dsn                       multi-host read-write libpq string with connect_timeout=1 and a passfile
#   sys_passfile                  the passfile of the postgres superuser
#   sys_pg_ports                  PostgreSQL ports of all members
#   sys_api_urls                  REST API base URLs of all members
#   sys_agent_pids                pids of the agent processes
#   sys_helper_pids               other long-lived processes of the agents (the fence watchdogs)
#   sys_switchover                planned switchover, returns when done
#   sys_data_dir NAME             the member's data directory
#   sys_reinit NAME               rebuild the replica NAME from the leader; returns when it runs again
#   sys_down [quick]              stop the cluster
# Inputs: RUN_DIR (this run's directory), RUN_ID, ETCD_ENDPOINT, SYNC (on|off),
# LOOP_OVERRIDE (seconds, empty for the profile's).

SYS_NAME=pgpilot
SYS_DCS=etcd3                      # pgpilot's etcd store speaks the v3 API
PGPILOT=$BIN_DIR/pgpilot
SYS_NODES=3 SYS_TTL="" SYS_LOOP="" SYS_BASE="" SYS_UP_PID=""

pgpilot_bin() { wait_for_binary "$PGPILOT"; client_exec "$PGPILOT" "$@"; }

sys_check() {
  [ -x "$PGPILOT" ] || wait_for_binary "$PGPILOT"
}

sys_version() {
  local c
  c=$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  # --no-optional-locks: read only, never refreshes the index.
  if [ -n "$(git -C "$BENCH_ROOT" --no-optional-locks status --porcelain --untracked-files=no -- src CMakeLists.txt 2>/dev/null)" ]; then
    c="$c+local-changes"
  fi
  echo "$c"
}

sys_timing() {
  case "$1" in
    default) SYS_TTL=10 SYS_LOOP=1 ;;   # `pgpilot up` defaults
    fast) SYS_TTL=4 SYS_LOOP=1 ;;       # fastest documented safe setting (docs/configuration.md, Timing)
    *) die "unknown profile $1" ;;
  esac
  if [ -n "${LOOP_OVERRIDE:-}" ]; then SYS_LOOP=$LOOP_OVERRIDE; fi
}


sys_prepare() {
  SYS_NODES=$1
  sys_timing "$2"
  SYS_BASE=$(free_ports 0 1 2 3 4 5 6 7 8 100 101 102 103 104 105 106 107 108)
  if [ -n "$NETNS" ]; then netns_prepare; fi
}

# The files `pgpilot up` would write, for members in namespaces: member i listens on its
# namespace's address (PostgreSQL on SYS_BASE+i, the API on SYS_BASE+100+i), reaches etcd in
# the namespace "etcd", and lets the namespaces' subnet connect (scram-sha-256).
netns_prepare() {
  local dir secrets i m host su_pw
  dir=$(sys_dir) secrets=$(sys_dir)/secrets
  install -d -m 0755 "$dir"
  install -d -m 0700 -o "$RUN_AS" -g "$RUN_AS" "$secrets"
  su_pw=$(random_secret)
  (umask 077
   echo "$su_pw" >"$secrets/superuser-password"
   random_secret >"$secrets/replication-password"
   echo "*:*:*:postgres:$su_pw" >"$dir/pgpass")
  chown "$RUN_AS:$RUN_AS" "$secrets/superuser-password" "$secrets/replication-password"
  for i in $(seq 0 $((SYS_NODES - 1))); do
    m=$dir/pg-$i host=$(member_host "$i")
    install -d -m 0700 "$m"    # the agent, started as root, gives it to run_as
    (umask 077; cat >"$m/agent.yaml" <<EOF
cluster: bench-$RUN_ID
name: pg-$i
data_dir: $m/data
state_dir: $m
run_as: $RUN_AS
ttl: $SYS_TTL
loop_wait: $SYS_LOOP
synchronous_mode: ${SYNC:-off}
commit_fence: ${PGPILOT_COMMIT_FENCE:-false}
store:
  etcd:
    endpoints: [$ETCD_ENDPOINT]
api:
  listen: $host:$((SYS_BASE + 100 + i))
postgresql:
  bin_dir: $PG_BIN
  listen: $host
  port: $((SYS_BASE + i))
  connect_address: $host
  log_file: $m/postgres.log
  allowed_networks: [$(ns_subnet)]
  superuser: {username: postgres, password_file: $secrets/superuser-password}
  replication: {username: replicator, password_file: $secrets/replication-password}
EOF
    )
  done
}

sys_start() {
  if [ -n "$NETNS" ]; then
    local i
    wait_for_binary "$PGPILOT"
    for i in $(seq 0 $((SYS_NODES - 1))); do
      # `ip netns exec` execs: $! is the agent (it writes pg-N/agent.pid itself, too).
      ip netns exec "${NS_PREFIX}pg-$i" "$PGPILOT" agent --config "$(sys_dir)/pg-$i/agent.yaml" >"$RUN_DIR/agent-$i.log" 2>&1 &
      echo $! >"$RUN_DIR/agent-$i.pid"
    done
    return 0
  fi
  local sync=()
  [ "${SYNC:-off}" = on ] && sync=(--synchronous-mode on)
  wait_for_binary "$PGPILOT"
  "$PGPILOT" up --nodes "$SYS_NODES" --dir "$(sys_dir)" --base-port "$SYS_BASE" \
    --ttl "$SYS_TTL" --loop-wait "$SYS_LOOP" --dcs "etcd://$ETCD_ENDPOINT" --cluster "bench-$RUN_ID" \
    --wait 300 "${sync[@]}" --commit-fence "${PGPILOT_COMMIT_FENCE:-false}" >"$RUN_DIR/up.log" 2>&1 &
  SYS_UP_PID=$!
}

sys_up() {
  sys_prepare "$1" "$2"
  sys_start
  if [ -n "$NETNS" ]; then
    if ! wait_healthy $((SYS_NODES - 1)) 300; then
      tail -n 20 "$RUN_DIR"/agent-*.log >&2
      die "pgpilot cluster (in namespaces) not healthy within 300 s (agent logs above, in $RUN_DIR)"
    fi
    return 0
  fi
  if ! wait "$SYS_UP_PID"; then
    tail -n 20 "$RUN_DIR/up.log" >&2
    die "pgpilot up failed (its output above; logs in $(sys_dir)/pg-*/)"
  fi
  SYS_UP_PID=""
  wait_healthy $((SYS_NODES - 1)) 60 || die "pgpilot cluster not healthy after pgpilot up"
}

list_json() { pgpilot_bin ctl --dir "$(sys_dir)" list --json 2>/dev/null; }

sys_primary() {
  local j
  j=$(list_json) || return 1
  helper pgpilot-primary <<<"$j"
}

sys_agent_pids() {
  local f
  if [ -n "$NETNS" ]; then
    for f in "$RUN_DIR"/agent-*.pid; do
      [ -f "$f" ] && cat "$f"
    done
    return 0
  fi
  for f in "$(sys_dir)"/pg-*/agent.pid; do
    [ -f "$f" ] && cat "$f"
  done
}

sys_helper_pids() {
  helper procs-matching "fence-watchdog --data-dir $(sys_dir)/" | while read -r p; do
    grep -q fence-watchdog "/proc/$p/cmdline" 2>/dev/null && echo "$p"
  done
  return 0
}

sys_switchover() { pgpilot_bin ctl --dir "$(sys_dir)" switchover; }

sys_data_dir() { echo "$(sys_dir)/$1/data"; }

sys_reinit() { pgpilot_bin ctl --dir "$(sys_dir)" reinit "$1" --yes --wait 900; }

sys_down() {
  [ -n "${RUN_DIR:-}" ] && [ -d "$(sys_dir)" ] || return 0
  if [ -n "$SYS_UP_PID" ]; then kill "$SYS_UP_PID" 2>/dev/null || true; SYS_UP_PID=""; fi
  resume_stopped
  local wait=30
  [ "${1:-}" = quick ] && wait=5
  [ -x "$PGPILOT" ] && client_exec "$PGPILOT" down --dir "$(sys_dir)" --wait "$wait" >"$RUN_DIR/down.log" 2>&1 || true
  if [ -n "$NETNS" ]; then
    # Agents whose pid file is gone (down found none running) or that did not stop: by pid.
    local pids="" p
    for p in $(sys_agent_pids); do
      if kill -0 "$p" 2>/dev/null; then pids+=" $p"; fi
    done
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill_pids $pids
  fi
  kill_work_processes "$(sys_dir)/"
}
