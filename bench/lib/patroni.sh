# shellcheck shell=bash
# The Patroni side of the benchmarks: a local 3-member Patroni cluster (Debian's patroni
# package) on the bench's etcd, through Patroni's etcd3 support (etcd's v3 JSON gateway; no v2
# API needed) or, with PATRONI_DCS=etcd2, its etcd (v2) support. Same function interface as
# bench/lib/pgpilot.sh (see the list there).
# Sourced after common.sh.
#
# Layout of a run: RUN_DIR/cluster/ (postgres, 0700) holds pgpass (the superuser's, 0600, for
# the bench's clients) and pg-N/ per member: patroni.yml (0600, holds the passwords),
# data/, patroni.log, pgpass (Patroni's own), patroni.pid (the patroni process).
# Member i: PostgreSQL on BASE+i, REST API on BASE+100+i, at member_host i: loopback, or in
# network namespaces (NETNS set, the partition scenario) its namespace's address, with Patroni
# started inside that namespace and the subnet allowed in pg_hba.

SYS_NAME=patroni
# Patroni's store section: etcd3 (the v3 API, as pgpilot) or etcd (the v2 API, python3-etcd;
# bench/run starts etcd with --enable-v2 for it). PATRONI_DCS from bench/run --patroni-dcs.
SYS_DCS=${PATRONI_DCS:-etcd3}
case "$SYS_DCS" in
  etcd3) ;;
  etcd2) ETCD_V2=true ;;
  *) die "unknown Patroni store $SYS_DCS (etcd3 or etcd2)" ;;
esac
SYS_NODES=3 SYS_TTL="" SYS_LOOP="" SYS_RETRY="" SYS_BASE="" SYS_SUPER_PW="" SYS_REPL_PW=""

sys_check() {
  "$BENCH_LIB/install-patroni.sh" || die "could not install Patroni: run bench/lib/install-patroni.sh as root"
  command -v patroni >/dev/null && command -v patronictl >/dev/null || die "patroni not installed (bench/lib/install-patroni.sh)"
}

sys_version() { patroni --version 2>/dev/null | awk '{print $2}'; }

sys_timing() {
  case "$1" in
    default) SYS_TTL=30 SYS_LOOP=10 SYS_RETRY=10 ;;  # Patroni's defaults
    fast) SYS_TTL=20 SYS_LOOP=1 SYS_RETRY=3 ;;       # the fastest Patroni supports (ttl >= 20)
    *) die "unknown profile $1" ;;
  esac
  if [ -n "${LOOP_OVERRIDE:-}" ]; then SYS_LOOP=$LOOP_OVERRIDE; fi
}

member_dir() { echo "$(sys_dir)/pg-$1"; }

sys_prepare() {
  SYS_NODES=$1
  sys_timing "$2"
  SYS_BASE=$(free_ports 0 1 2 3 4 5 6 7 8 100 101 102 103 104 105 106 107 108)
  SYS_SUPER_PW=$(random_secret)
  SYS_REPL_PW=$(random_secret)
  local dir i sync=false hba_net=127.0.0.1/32
  [ "${SYNC:-off}" = on ] && sync=true
  [ -n "$NETNS" ] && hba_net=$(ns_subnet)
  dir=$(sys_dir)
  install -d -m 0700 -o "$RUN_AS" -g "$RUN_AS" "$dir"
  (umask 077; echo "*:*:*:postgres:$SYS_SUPER_PW" >"$dir/pgpass")
  chown "$RUN_AS:$RUN_AS" "$dir/pgpass"
  for i in $(seq 0 $((SYS_NODES - 1))); do
    local m pg api host
    m=$(member_dir "$i") pg=$((SYS_BASE + i)) api=$((SYS_BASE + 100 + i)) host=$(member_host "$i")
    install -d -m 0700 -o "$RUN_AS" -g "$RUN_AS" "$m"
    (umask 077; cat >"$m/patroni.yml" <<EOF
scope: bench-$RUN_ID
namespace: /service/
name: pg-$i
log:
  level: INFO
restapi:
  listen: $host:$api
  connect_address: $host:$api
$([ "$SYS_DCS" = etcd2 ] && echo etcd || echo etcd3):
  hosts: $ETCD_ENDPOINT
bootstrap:
  dcs:
    ttl: $SYS_TTL
    loop_wait: $SYS_LOOP
    retry_timeout: $SYS_RETRY
    maximum_lag_on_failover: 1048576
    synchronous_mode: $sync
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        password_encryption: scram-sha-256
  pg_hba:
  - local all all scram-sha-256
  - host all all 127.0.0.1/32 scram-sha-256
  - host replication replicator 127.0.0.1/32 scram-sha-256
$(if [ -n "$NETNS" ]; then printf '  - host all all %s scram-sha-256\n  - host replication replicator %s scram-sha-256' "$hba_net" "$hba_net"; fi)
postgresql:
  listen: $host:$pg
  connect_address: $host:$pg
  data_dir: $m/data
  bin_dir: $PG_BIN
  pgpass: $m/pgpass
  authentication:
    superuser:
      username: postgres
      password: $SYS_SUPER_PW
    replication:
      username: replicator
      password: $SYS_REPL_PW
    rewind:
      username: postgres
      password: $SYS_SUPER_PW
  parameters:
    unix_socket_directories: '$m'
EOF
    )
    chown "$RUN_AS:$RUN_AS" "$m/patroni.yml"
  done
}

sys_start() {
  local i m
  for i in $(seq 0 $((SYS_NODES - 1))); do
    m=$(member_dir "$i")
    # runuser forks and waits: its child is the patroni process, found below.
    if [ -n "$NETNS" ]; then
      # `ip netns exec` execs runuser: $! is runuser's pid either way.
      ip netns exec "${NS_PREFIX}pg-$i" runuser -u "$RUN_AS" -- patroni "$m/patroni.yml" >"$RUN_DIR/patroni-$i.log" 2>&1 &
    else
      runuser -u "$RUN_AS" -- patroni "$m/patroni.yml" >"$RUN_DIR/patroni-$i.log" 2>&1 &
    fi
    echo $! >"$RUN_DIR/runuser-$i.pid"
  done
  for i in $(seq 0 $((SYS_NODES - 1))); do
    local ru p="" n
    ru=$(cat "$RUN_DIR/runuser-$i.pid")
    for n in $(seq 100); do
      p=$(children_of "$ru" | head -n 1)
      [ -n "$p" ] && break
      sleep 0.05
    done
    [ -n "$p" ] || die "patroni pg-$i did not start (log: $RUN_DIR/patroni-$i.log)"
    echo "$p" >"$RUN_DIR/patroni-$i.pid"
  done
}

sys_up() {
  sys_prepare "$1" "$2"
  sys_start
  if ! wait_healthy $((SYS_NODES - 1)) 300; then
    tail -n 20 "$RUN_DIR"/patroni-*.log >&2
    die "Patroni cluster not healthy within 300 s (logs above, in $RUN_DIR)"
  fi
}

# GET PATH from the first member's REST API that answers.
api_get() {
  local url
  for url in $(sys_api_urls); do
    client_exec curl -sf --max-time 1 "$url$1" 2>/dev/null && return 0
  done
  return 1
}

sys_primary() {
  local j name i
  j=$(api_get /cluster) || return 1
  name=$(helper patroni-leader <<<"$j") || return 1
  i=${name#pg-}
  local agent pg=0
  agent=$(cat "$RUN_DIR/patroni-$i.pid" 2>/dev/null || echo 0)
  [ -f "$(member_dir "$i")/data/postmaster.pid" ] && pg=$(head -n 1 "$(member_dir "$i")/data/postmaster.pid")
  echo "$name $agent $pg $((SYS_BASE + i)) $((SYS_BASE + 100 + i))"
}

sys_agent_pids() {
  local f
  for f in "$RUN_DIR"/patroni-*.pid; do
    [ -f "$f" ] && cat "$f"
  done
}

sys_helper_pids() { return 0; }

sys_switchover() {
  # --force: no prompts; the leader is the current one, the candidate any healthy replica.
  client_exec patronictl -c "$(member_dir 0)/patroni.yml" switchover --force
}

sys_data_dir() { echo "$(member_dir "${1#pg-}")/data"; }

# patronictl reinit --wait returns once Patroni has rebuilt the member and started it again.
sys_reinit() {
  client_exec patronictl -c "$(member_dir 0)/patroni.yml" reinit "bench-$RUN_ID" "$1" --force --wait
}

sys_down() {
  [ -n "${RUN_DIR:-}" ] && [ -d "$(sys_dir)" ] || return 0
  resume_stopped
  local pids="" f p
  for f in "$RUN_DIR"/patroni-*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill -0 "$p" 2>/dev/null && pids+=" $p"
  done
  if [ -n "$pids" ]; then
    # SIGTERM: Patroni stops PostgreSQL (fast shutdown) and exits; the leader releases its key.
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    local n limit=300
    [ "${1:-}" = quick ] && limit=50
    for n in $(seq $limit); do
      local alive=0
      for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.1
    done
  fi
  kill_work_processes "$(sys_dir)/"
  # runuser parents exit with their child; any that are left are ours by pid.
  for f in "$RUN_DIR"/runuser-*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  return 0
}
