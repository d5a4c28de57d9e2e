# Shell helpers shared by the demo, the test scripts and the bench:
# throwaway redis-server and embedded broker processes on free loopback
# ports, stopped by jd_cleanup (install it with `trap jd_cleanup EXIT`).

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

jd_cleanup() {
  local p
  for p in "${JD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${JD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  JD_PIDS=()
}
