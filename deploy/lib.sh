# Shell helpers shared by the demo, the test scripts and the bench:
# throwaway redis-server, Redis Cluster and embedded broker processes on
# free loopback ports, stopped by jd_cleanup (install it with
# `trap jd_cleanup EXIT`).

JD_PIDS=()

jd_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# jd_start_redis DIR [PORT [redis-server options...]] -> sets JD_REDIS_PORT,
# JD_REDIS_SOCKET and JD_REDIS_PID. PORT empty = a free one; the options
# come last, so they override the defaults (e.g. --appendonly yes to keep
# the data over a restart in the same DIR and PORT).
jd_start_redis() {
  local dir="$1" port="${2:-}"
  shift; [ $# -gt 0 ] && shift
  mkdir -p "$dir"
  JD_REDIS_PORT="${port:-$(jd_free_port)}"
  JD_REDIS_SOCKET="$dir/redis.sock"
  redis-server --port "$JD_REDIS_PORT" --bind 127.0.0.1 --unixsocket "$JD_REDIS_SOCKET" \
    --save '' --appendonly no --daemonize no --dir "$dir" "$@" >>"$dir/redis.log" 2>&1 &
  JD_REDIS_PID=$!
  JD_PIDS+=($!)
  for _ in $(seq 1 100); do
    redis-cli -p "$JD_REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  redis-cli -p "$JD_REDIS_PORT" ping >/dev/null || { echo "redis-server did not start: $(cat "$dir/redis.log")" >&2; return 1; }
  export JD_REDIS_PORT JD_REDIS_SOCKET
}

# jd_stop_redis PORT: SHUTDOWN (which writes the AOF / RDB when enabled),
# then waits for the process to go.
jd_stop_redis() {
  redis-cli -p "$1" shutdown >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do
    redis-cli -p "$1" ping >/dev/null 2>&1 || return 0
    sleep 0.1
  done
  echo "redis-server on $1 did not stop" >&2; return 1
}

# jd_cluster_port: a free loopback port <= 55535 whose cluster bus port
# (+10000) is free too.
jd_cluster_port() {
  python3 - <<'PY'
import random, socket
for _ in range(1000):
    p = random.randint(20000, 55535)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass
PY
}

# jd_start_cluster DIR [redis-server options...]: a three-master Redis
# Cluster (no replicas) on free loopback ports, node I's data in DIR/nodeI;
# the options are added to every node's (e.g. --appendonly yes to keep the
# data over a restart). Sets JD_CLUSTER_PORTS (the masters' ports) and
# JD_CLUSTER_SEEDS ("127.0.0.1:P2,127.0.0.1:P3": with --redis
# 127.0.0.1:P1, journeyd's redis.nodes). The nodes are in JD_PIDS, so
# jd_cleanup stops them; jd_stop_cluster stops them earlier.
jd_start_cluster() {
  local dir="$1" i p hosts=()
  shift
  JD_CLUSTER_DIR="$dir"
  JD_CLUSTER_OPTS=(--cluster-enabled yes --cluster-config-file nodes.conf
                   --cluster-node-timeout 5000 "$@")
  JD_CLUSTER_PORTS=() JD_CLUSTER_PIDS=()
  for i in 1 2 3; do
    jd_start_redis "$dir/node$i" "$(jd_cluster_port)" "${JD_CLUSTER_OPTS[@]}" || return 1
    JD_CLUSTER_PORTS+=("$JD_REDIS_PORT") JD_CLUSTER_PIDS+=("$JD_REDIS_PID")
  done
  for p in "${JD_CLUSTER_PORTS[@]}"; do hosts+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes \
    >"$dir/cluster-create.log" 2>&1 \
    || { cat "$dir/cluster-create.log" >&2; echo "redis-cli --cluster create failed" >&2; return 1; }
  jd_cluster_ok || return 1
  JD_CLUSTER_SEEDS="${hosts[1]},${hosts[2]}"
}

# jd_start_cluster_node I: starts master I (1..3) of the cluster again, on
# its port, data directory and options (after jd_stop_redis of its port).
jd_start_cluster_node() {
  local i=$(($1 - 1))
  jd_forget_pids "${JD_CLUSTER_PIDS[$i]}"
  jd_start_redis "$JD_CLUSTER_DIR/node$1" "${JD_CLUSTER_PORTS[$i]}" "${JD_CLUSTER_OPTS[@]}" &&
    JD_CLUSTER_PIDS[$i]=$JD_REDIS_PID
}

# jd_cluster_ok: waits until every master says cluster_state:ok (30 s at
# most); 1 when they do not.
jd_cluster_ok() {
  local ok p
  for _ in $(seq 1 300); do
    ok=0
    for p in "${JD_CLUSTER_PORTS[@]}"; do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && ok=$((ok + 1))
    done
    [ "$ok" -eq "${#JD_CLUSTER_PORTS[@]}" ] && return 0
    sleep 0.1
  done
  echo "the Redis Cluster did not reach cluster_state:ok" >&2; return 1
}

# jd_stop_cluster: SHUTDOWN of every master (jd_stop_redis).
jd_stop_cluster() {
  local p rc=0
  for p in "${JD_CLUSTER_PORTS[@]}"; do jd_stop_redis "$p" || rc=1; done
  if [ "$rc" = 0 ]; then
    wait "${JD_CLUSTER_PIDS[@]}" 2>/dev/null || true
    jd_forget_pids "${JD_CLUSTER_PIDS[@]}"
  fi
  JD_CLUSTER_PORTS=() JD_CLUSTER_PIDS=()
  return "$rc"
}

# jd_start_broker BIN DIR [args] -> sets JD_BROKERS
jd_start_broker() {
  local bin="$1" dir="$2"; shift 2
  mkdir -p "$dir"
  : >"$dir/broker.out"
  "$bin" broker "$@" >"$dir/broker.out" 2>"$dir/broker.log" &
  JD_PIDS+=($!)
  for _ in $(seq 1 100); do
    [ -s "$dir/broker.out" ] && break
    sleep 0.05
  done
  JD_BROKERS="$(head -n1 "$dir/broker.out")"
  [ -n "$JD_BROKERS" ] || { echo "journeyd broker did not start: $(cat "$dir/broker.log")" >&2; return 1; }
  export JD_BROKERS
}

# jd_forget_pids PID...: takes processes that have ended out of JD_PIDS,
# so jd_cleanup never signals a process id the system has given again.
jd_forget_pids() {
  local p q keep=()
  for p in "${JD_PIDS[@]}"; do
    for q in "$@"; do [ "$p" = "$q" ] && continue 2; done
    keep+=("$p")
  done
  JD_PIDS=("${keep[@]}")
}

jd_cleanup() {
  local p
  for p in "${JD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${JD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  JD_PIDS=()
}
