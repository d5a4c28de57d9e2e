# bench/scale.sh: the scale-out mode of the bench (`bench/run.sh --scale`),
# sourced by run.sh after its build and helpers (ROOT, BIN, JB, RUN_DIR,
# RES, RUNS, SETS, MODE, log, next_group come from there).
#
# One generated log (jd_sim, 10 000 accounts) on a 12-partition topic of
# the embedded broker, processed from the start, from empty state, by
#   single/1   1 journeyd pipeline on one redis-server           (a)
#   single/2   2 pipelines in one consumer group, one redis-server (b)
#   cluster/1  1 pipeline on a local three-master Redis Cluster   (c)
#   cluster/2  2 pipelines in one group on the cluster            (d)
# in interleaved rounds (the order rotates each round). A pipeline is
# `jd_bench full`, i.e. `journeyd run` in-process. The instances of a run
# start together (the mock broker then gives them their partitions in one
# generation) and are stopped together (SIGTERM) once their counts
# (--count-file) add up to the log: one leaving the group alone would make
# the other rebalance, which on the mock broker takes up to ~45 s. The
# combined rate is every event / (first message of any instance .. last
# batch of any); the stop comes after that and is not in it. A run with a
# rebalance, a failed instance or events that do not add up to the log is
# flagged and left out of the medians (bench/report.py). Before and after
# each run every Redis node's INFO cpu and commandstats are recorded
# (redis_node lines), so Redis CPU per event is per node; a scale_run line
# adds the assignments, exit codes, broker CPU and the machine's busy time.
# bench/report.py --mode scale* makes the table.

SCALE_PARTS=12
SCALE_IDLE=30   # a bound only: runs end by SIGTERM once the log is done
SCENARIOS=(single/1 single/2 cluster/1 cluster/2)
# As in test_cluster.sh: a member the mock broker lost is noticed in
# seconds, not after the default 45 s (runs with a rebalance are flagged
# and left out of the medians anyway).
SCALE_KAFKA=(--set kafka.session.timeout.ms=6000 --set kafka.heartbeat.interval.ms=500)

jd_start_redis "$RUN_DIR/redis"
SPORT=$JD_REDIS_PORT
log "starting a three-master Redis Cluster"
jd_start_cluster "$RUN_DIR/cluster"
jd_start_broker "$BIN" "$RUN_DIR" --partitions "$SCALE_PARTS" --set topics.input=bench-scale
BROKER_PID="${JD_PIDS[-1]}" HZ=$(getconf CLK_TCK)
log "redis-server 127.0.0.1:$SPORT, cluster 127.0.0.1:${JD_CLUSTER_PORTS[*]}," \
    "embedded Kafka $JD_BROKERS ($SCALE_PARTS partitions), mode $MODE"
: >"$RES"

# redis_snap LABEL PHASE PORT...: one redis_node JSON line per node (CPU
# of the whole redis-server process, commandstats totals and EVALSHA).
redis_snap() {
  local label="$1" phase="$2" p; shift 2
  for p in "$@"; do
    { redis-cli -p "$p" info cpu; redis-cli -p "$p" info commandstats; } | tr -d '\r' |
      awk -F'[:,=]' -v label="$label" -v phase="$phase" -v port="$p" '
        /^used_cpu_(user|sys):/ { cpu += $2 }
        /^cmdstat_/ { calls += $3; usec += $5
                      if ($1 == "cmdstat_evalsha") { ev = $3; evu = $5 } }
        END { printf "{\"mode\":\"redis_node\",\"label\":\"%s\",\"phase\":\"%s\",\"port\":%d,", label, phase, port
              printf "\"cpu_s\":%.6f,\"calls\":%d,\"usec\":%d,\"evalsha_calls\":%d,\"evalsha_usec\":%d}\n",
                     cpu, calls, usec, ev, evu }'
  done
}

# machine_jiffies: "busy total" CPU jiffies of the whole machine (/proc/stat).
machine_jiffies() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }
# proc_jiffies PID: user + system CPU jiffies of one process.
proc_jiffies() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# scale_wait NAME N PID...: until the N instances' counts add up to the
# log (or all of them ended), then SIGTERM to all, and their exit codes in
# RCS. MACHINE gets the machine's busy/total jiffies from the first
# message to that moment.
scale_wait() {
  local name="$1" n="$2" k c total m0="" m1; shift 2
  while :; do
    total=0
    for k in $(seq 1 "$n"); do
      c=$(cat "$RUN_DIR/$name-$k.count" 2>/dev/null || true); total=$((total + ${c:-0}))
    done
    [ "$total" -gt 0 ] && [ -z "$m0" ] && m0=$(machine_jiffies)
    [ "$total" -lt "$SCALE_EVENTS" ] || break
    c=0; for k in "$@"; do kill -0 "$k" 2>/dev/null && c=1; done
    [ "$c" = 1 ] || break
    sleep 0.1
  done
  m1=$(machine_jiffies); m0=${m0:-$m1}
  MACHINE="$(echo "$m0 $m1" | awk '{print $3 - $1 "," $4 - $2}')"
  for k in "$@"; do kill -TERM "$k" 2>/dev/null || true; done
  for _ in $(seq 1 600); do   # 60 s for the stop, then SIGKILL (and no result)
    c=0; for k in "$@"; do kill -0 "$k" 2>/dev/null && c=1; done
    [ "$c" = 1 ] || break
    sleep 0.1
  done
  for k in "$@"; do
    kill -0 "$k" 2>/dev/null || continue
    log "  pid $k did not stop within 60 s of SIGTERM: killed (stacks in $RUN_DIR/$name-$k.stacks)"
    if command -v gdb >/dev/null; then
      timeout 30 gdb -batch -p "$k" -ex "thread apply all bt 25" >"$RUN_DIR/$name-$k.stacks" 2>&1 || true
    fi
    kill -KILL "$k" 2>/dev/null || true
  done
  RCS=()
  for k in "$@"; do c=0; wait "$k" || c=$?; RCS+=("$c"); done
  jd_forget_pids "$@"
}

# scale_record NAME LABEL N B0: the scale_run line of a finished run (B0:
# the broker's CPU jiffies at its start) and its progress line.
scale_record() {
  local name="$1" label="$2" n="$3" b0="$4" k assigned=() broker
  # how often each instance was assigned partitions (1 = no rebalance)
  for k in $(seq 1 "$n"); do
    assigned+=("$(grep -c 'consumer: assigned [1-9]' "$RUN_DIR/$name-$k.log" || true)")
  done
  broker=$(awk -v a="$b0" -v b="$(proc_jiffies "$BROKER_PID")" -v hz="$HZ" 'BEGIN {print (b - a) / hz}')
  printf '{"mode":"scale_run","label":"%s","instances":%d,"exit_codes":[%s],"assignments":[%s],%s}\n' \
    "$label" "$n" "$(IFS=,; echo "${RCS[*]}")" "$(IFS=,; echo "${assigned[*]}")" \
    "\"machine_jiffies\":[$MACHINE],\"broker_cpu_s\":$broker" >>"$RES"
  [[ "${RCS[*]}" =~ [1-9] ]] && log "  $label: an instance failed (exit ${RCS[*]}; see $RUN_DIR/$name-*.log)"
  log "  ${label#scale/}: $(cat "$RUN_DIR/$name"-*.json | python3 -c '
import json, sys
r = [json.loads(l) for l in sys.stdin if l.startswith("{")]
n = sum(x["events"] for x in r)
span = max(x["t_end"] for x in r) - min(x["t_first"] for x in r) if r else 0
print("%d events, %.0f events/s" % (n, n / span if span > 0 else 0))')"
}

# scale_run SCENARIO ROUND: one run of a scenario (see the top).
scale_run() {
  local where="${1%/*}" n="${1#*/}" label="scale/$1/$2" name="scale-${1//\//-}-$2"
  local ports=() r=() pids=() k b0
  if [ "$where" = single ]; then
    ports=("$SPORT"); r=(--redis "127.0.0.1:$SPORT" --set redis.cluster=off)
  else
    ports=("${JD_CLUSTER_PORTS[@]}")
    r=(--redis "127.0.0.1:${ports[0]}" --set redis.cluster=on --set "redis.nodes=$JD_CLUSTER_SEEDS")
  fi
  for k in "${ports[@]}"; do redis-cli -p "$k" flushall >/dev/null; done
  redis_snap "$label" before "${ports[@]}" >>"$RES"
  b0=$(proc_jiffies "$BROKER_PID")
  next_group
  for k in $(seq 1 "$n"); do
    "$JB" full --brokers "$JD_BROKERS" "${r[@]}" "${SETS[@]}" --set topics.input=bench-scale \
      --set "$G" "${SCALE_KAFKA[@]}" --no-redis-stats --max-seconds "$SCALE_MAX_S" \
      --exit-idle "$SCALE_IDLE" --count-file "$RUN_DIR/$name-$k.count" --label "$label/$k" \
      >"$RUN_DIR/$name-$k.json" 2>"$RUN_DIR/$name-$k.log" &
    pids+=($!); JD_PIDS+=($!)
  done
  scale_wait "$name" "$n" "${pids[@]}"
  redis_snap "$label" after "${ports[@]}" >>"$RES"
  cat "$RUN_DIR/$name"-*.json >>"$RES"
  scale_record "$name" "$label" "$n" "$b0"
}

log "producing $SCALE_EVENTS events (jd_sim, 10000 accounts) on $SCALE_PARTS partitions"
"$JB" produce --brokers "$JD_BROKERS" --topic bench-scale --accounts 10000 --days 2 \
  --max-events "$SCALE_EVENTS" >>"$RES" 2>"$RUN_DIR/produce.log"
for i in $(seq 1 "$RUNS"); do
  log "round $i/$RUNS"
  for k in 0 1 2 3; do scale_run "${SCENARIOS[$(((k + i - 1) % 4))]}" "$i"; done
done
jd_stop_cluster || true

log "report"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
REV="${JD_BENCH_REV:-$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)}"
python3 "$ROOT/bench/report.py" --results "$RES" --out "$OUT_DIR" --stamp "$STAMP" \
  --mode "$MODE" --rev "$REV" --sets "${SETS[*]:-}"
