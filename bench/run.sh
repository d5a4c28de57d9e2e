#!/usr/bin/env bash
# The journeyd bench suite in one command (bench/README.md).
#
# Starts a throwaway redis-server and the embedded Kafka cluster (`journeyd
# broker`), generates Avro product events, and measures side by side in the
# same run, on the same events:
#   raw     a bare librdkafka consumer (the ceiling on this machine)
#   decode  consume + decode
#   full    the whole journeyd pipeline (decode, Redis state, rules, publish)
# then Redis commands per event, event-to-trigger latency at fixed offered
# rates (next to the raw produce-to-consume latency at the same rates), the
# micro-benchmarks and, in the full mode, peak RSS with 1M accounts and the
# knob sweep. Prints a table, writes bench/results/bench-<time>.json (+
# latest.json) and a PNG plot when gnuplot is there.
#
#   bench/run.sh --quick          under a minute: 3 rounds, 2 rates
#   bench/run.sh                  the full run (~11 min, progress shown)
#   bench/run.sh --set pipeline.batch_size=8000 --quick   try a knob
#   bench/run.sh --scale [--quick]   scale-out: 1 or 2 instances, on one
#                 redis-server or a 3-master Redis Cluster (bench/scale.sh;
#                 ~2 min quick, ~10 min)
# Options: --runs N, --out DIR, --no-build, --no-plot, --set KEY=VALUE (any
# journeyd key, applied to raw, decode and full alike), --help.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/deploy/lib.sh"

MODE=full RUNS="" OUT_DIR="$ROOT/bench/results" BUILD=1 PLOT=1 SCALE=0
SETS=()
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --scale) SCALE=1 ;;
    --runs) RUNS="$2"; shift ;;
    --out) OUT_DIR="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --no-plot) PLOT=0 ;;
    --set) SETS+=(--set "$2"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# ---- sizes --------------------------------------------------------------
PARTS=16
if [ "$SCALE" = 1 ]; then
  # the scale-out mode (bench/scale.sh): events of one log, rounds
  if [ "$MODE" = quick ]; then MODE=scale-quick RUNS="${RUNS:-3}" SCALE_EVENTS=40000 SCALE_MAX_S=60
  else MODE=scale RUNS="${RUNS:-5}" SCALE_EVENTS=200000 SCALE_MAX_S=120; fi
  PLOT=0
elif [ "$MODE" = quick ]; then
  RUNS="${RUNS:-3}" THR_EVENTS=30000 THR_SKIP=20000 MON_EVENTS=20000
  RATES=(10000 50000) LAT_SECS=2 DRAIN=1 LAT_MAX_S=4 THR_MAX_S=6
  MICRO=(--events 100000 --days 12)
  ACC_EVENTS=0 KNOBS=0
else
  RUNS="${RUNS:-5}" THR_EVENTS=300000 THR_SKIP=0 MON_EVENTS=100000
  RATES=(5000 10000 20000 50000) LAT_SECS=8 DRAIN=3 LAT_MAX_S=60 THR_MAX_S=120
  MICRO=(--events 300000 --days 35)
  ACC_EVENTS=1000000 KNOBS=1
fi

RUN_DIR="$ROOT/.jd-run/bench"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/journeyd" JB="$BUILD_DIR/bench/jd_bench" JM="$BUILD_DIR/bench/jd_bench_micro"
RES="$RUN_DIR/results.jsonl"
log() { printf '[%3ds] %s\n' "$SECONDS" "$*" >&2; }
# A fresh consumer group per pipeline run (a reused group would resume from
# its committed offsets). next_group sets G; call it, then use "$G".
GROUP=0
# The pipeline's configuration: one pipeline thread per core
# (pipeline.threads; --set pipeline.threads=1 or JD_BENCH_THREADS to
# compare), then the --set flags given. raw and decode take SETS only.
# The session timeout is short because the embedded broker waits for it
# (less 1 s) before it closes a join round that a member entered late:
# with the default 45 s, a thread whose JoinGroup missed the first round
# held the whole run for ~44 s (as bench/scale.sh does for instances).
THREADS="${JD_BENCH_THREADS:-$(nproc)}"
FULL=(--set "pipeline.threads=$THREADS" --set kafka.session.timeout.ms=6000
      --set kafka.heartbeat.interval.ms=500 "${SETS[@]}")
next_group() { GROUP=$((GROUP + 1)); G="kafka.group.id=bench-$$-$GROUP"; }

# ---- set-up ------------------------------------------------------------------
# gnuplot-nox for the PNG: installed here (not by install-deps.sh) when
# missing; without it the run still prints the table and writes the JSON.
ensure_gnuplot() {
  command -v gnuplot >/dev/null && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then command -v sudo >/dev/null && sudo="sudo -n" || return 1; fi
  log "installing gnuplot-nox (for the plot)"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends gnuplot-nox \
    >"$RUN_DIR/apt.log" 2>&1 \
    || { DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >>"$RUN_DIR/apt.log" 2>&1 &&
         DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
           gnuplot-nox >>"$RUN_DIR/apt.log" 2>&1; } || return 1
  command -v gnuplot >/dev/null
}

rm -rf "$RUN_DIR"; mkdir -p "$RUN_DIR" "$OUT_DIR"
if [ "$BUILD" = 1 ]; then
  "$ROOT/deploy/install-deps.sh" >&2 || [ -x "$JB" ] \
    || { echo "bench/run.sh: dependencies missing (see deploy/install-deps.sh)" >&2; exit 1; }
  log "building ($BUILD_DIR)"
  "$ROOT/deploy/build.sh" >&2
fi
[ -x "$JB" ] && [ -x "$JM" ] || { echo "bench/run.sh: $JB not built" >&2; exit 1; }
GNUPLOT=0
if [ "$PLOT" = 1 ]; then ensure_gnuplot && GNUPLOT=1 || log "gnuplot not available: table and JSON only"; fi

trap jd_cleanup EXIT
if [ "$SCALE" = 1 ]; then . "$ROOT/bench/scale.sh"; exit 0; fi

TOPICS="bench-thr,bench-cost"
for r in "${RATES[@]}"; do TOPICS="$TOPICS,bench-lat-$r,bench-raw-$r"; done
[ "$KNOBS" = 1 ] && TOPICS="$TOPICS,bench-klat-1,bench-klat-2,bench-klat-3,bench-klat-4,bench-klat-5,bench-klat-6"
jd_start_redis "$RUN_DIR/redis"
REDIS_PID="${JD_PIDS[-1]}"
jd_start_broker "$BIN" "$RUN_DIR" --partitions "$PARTS" --set "topics.input=$TOPICS"
BROKER_PID="${JD_PIDS[-1]}"
C=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT")
log "redis-server 127.0.0.1:$JD_REDIS_PORT, embedded Kafka $JD_BROKERS ($PARTS partitions), mode $MODE"
: >"$RES"

# ---- helpers -------------------------------------------------------------------
# wait_assigned LOG: until the pipeline has its partitions (the group join
# takes ~3 s on the embedded broker; no event is produced before that).
wait_assigned() {
  local i
  for i in $(seq 1 300); do grep -q "consumer: assigned" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench/run.sh: the pipeline did not join its group: $1" >&2; tail -5 "$1" >&2; return 1
}

# full_bg NAME ARGS...: the pipeline in the background, JSON to NAME.json.
full_bg() {
  local name="$1"; shift
  "$JB" full "${C[@]}" "$@" --flush >"$RUN_DIR/$name.json" 2>"$RUN_DIR/$name.log" &
  FULL_PID=$!
}

# latency_run LABEL TOPIC RATE [pipeline --set args...]: pipeline on TOPIC,
# then the fixed-rate producer; both JSON lines go to the results. When
# LAT_PRE names a command, it runs while the pipeline joins its group (the
# pipeline is idle until then: its topic gets nothing before the producer).
latency_run() {
  local label="$1" topic="$2" rate="$3"; shift 3
  local n=$((rate * LAT_SECS)) name="lat-${label//\//-}"
  next_group
  full_bg "$name" "${FULL[@]}" "$@" --set "topics.input=$topic" --set "$G" \
    --max-events "$n" --max-seconds "$LAT_MAX_S" --exit-idle 20 --label "$label"
  if [ -n "${LAT_PRE:-}" ]; then $LAT_PRE; fi
  wait_assigned "$RUN_DIR/$name.log" || { kill "$FULL_PID"; wait "$FULL_PID" || true; return 1; }
  "$JB" latency "${C[@]}" --topic "$topic" --rate "$rate" --events "$n" --label "$label" \
    --seed "$GROUP" --drain "$DRAIN" >>"$RES" 2>>"$RUN_DIR/$name.log" || true
  wait "$FULL_PID" || true
  cat "$RUN_DIR/$name.json" >>"$RES"
}

# ---- 1. micro-benchmarks ------------------------------------------------------------
log "micro-benchmarks: decode, rules, the engine's per-event step"
"$JM" "${C[@]}" "${SETS[@]}" "${MICRO[@]}" --only decode,rules,engine >>"$RES" 2>"$RUN_DIR/micro.log"

# ---- 2. throughput: raw / decode / full, interleaved rounds --------------------------
log "producing $THR_EVENTS events (jd_sim, 10000 accounts; first $THR_SKIP skipped)"
"$JB" produce "${C[@]}" --topic bench-thr --accounts 10000 --days 2 --skip "$THR_SKIP" \
  --max-events "$THR_EVENTS" >>"$RES" 2>"$RUN_DIR/produce.log"
for i in $(seq 1 "$RUNS"); do
  log "round $i/$RUNS: raw, decode, full"
  for m in raw decode; do
    "$JB" consume "${C[@]}" "${SETS[@]}" --topic bench-thr --mode "$m" --max-events "$THR_EVENTS" \
      --watch-pid "$BROKER_PID" --label "thr/$i" >>"$RES" 2>>"$RUN_DIR/consume.log"
  done
  next_group
  "$JB" full "${C[@]}" "${FULL[@]}" --set topics.input=bench-thr --set "$G" --flush \
    --max-events "$THR_EVENTS" --max-seconds "$THR_MAX_S" --watch-pid "$BROKER_PID" \
    --label "thr/$i" \
    $([ "$MODE" = full ] && echo --progress) >>"$RES" 2>>"$RUN_DIR/full.log"
done

# ---- 3. Redis commands the client sends (MONITOR, untimed) ----------------------------
# On warm state: the last throughput round left the state of its events in
# Redis; the cost run continues the same jd_sim stream (the next
# $MON_EVENTS events), so it counts what a running journeyd sends per
# event, not the burst of first-time stage events of 10k new accounts (the
# throughput runs, from empty state, report that one).
log "Redis cost run (the next $MON_EVENTS events on warm state, MONITOR on)"
"$JB" produce "${C[@]}" --topic bench-cost --accounts 10000 --days 2 \
  --skip $((THR_SKIP + THR_EVENTS)) --max-events "$MON_EVENTS" >>"$RES" 2>>"$RUN_DIR/produce.log"
next_group
"$JB" full "${C[@]}" "${FULL[@]}" --set topics.input=bench-cost --set "$G" \
  --max-events "$MON_EVENTS" --max-seconds "$THR_MAX_S" --monitor --label cost >>"$RES" 2>>"$RUN_DIR/full.log"

# ---- 4. latency at fixed offered rates ---------------------------------------------------
raw_latency() {   # the raw produce->consume baseline at rate $r
  "$JB" latency "${C[@]}" --topic "bench-raw-$r" --rate "$r" --events $((r * LAT_SECS)) \
    --observe-input --drain "$DRAIN" --label "lat/$r" >>"$RES" 2>>"$RUN_DIR/latency.log"
}
for r in "${RATES[@]}"; do
  log "latency at $r events/s offered: raw produce->consume baseline, then journeyd"
  LAT_PRE=raw_latency latency_run "lat/$r" "bench-lat-$r" "$r" \
    || log "latency at $r events/s failed (see $RUN_DIR)"
done

# ---- 5. peak RSS with 1M distinct accounts (full mode) -------------------------------------
if [ "$ACC_EVENTS" -gt 0 ]; then
  log "1M accounts: second broker (32 partitions), $ACC_EVENTS events, one account each"
  mkdir -p "$RUN_DIR/acc"
  jd_start_broker "$BIN" "$RUN_DIR/acc" --partitions 32 --set topics.input=bench-acc
  ACC_BROKERS="$JD_BROKERS"
  "$JB" produce --brokers "$ACC_BROKERS" --topic bench-acc --gen distinct \
    --max-events "$ACC_EVENTS" >>"$RES" 2>"$RUN_DIR/acc/produce.log"
  next_group
  "$JB" full --brokers "$ACC_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" "${FULL[@]}" \
    --set topics.input=bench-acc --set "$G" --flush --max-events "$ACC_EVENTS" \
    --label "accounts/$ACC_EVENTS" --progress >>"$RES" 2>"$RUN_DIR/acc/full.log"
  redis-cli -p "$JD_REDIS_PORT" flushall >/dev/null
fi

# ---- 6. knobs (full mode) ---------------------------------------------------------------------
if [ "$KNOBS" = 1 ]; then
  KN=$((THR_EVENTS / 2))
  knob_thr() {   # knob_thr LABEL ARGS...: one throughput run of the pipeline
    local label="$1"; shift
    next_group
    "$JB" full "${C[@]}" "${FULL[@]}" "$@" --set topics.input=bench-thr --set "$G" --flush \
      --max-events "$KN" --label "knob/$label" >>"$RES" 2>>"$RUN_DIR/knobs.log"
  }
  log "knobs: batch size (and with it the Redis pipeline depth)"
  for b in 500 2000 8000; do knob_thr "pipeline.batch_size=$b" --set "pipeline.batch_size=$b"; done
  log "knobs: commit interval (an account changed in it is written once; default 1000)"
  for ci in 0 100; do knob_thr "pipeline.commit_interval_ms=$ci" --set "pipeline.commit_interval_ms=$ci"; done
  log "knobs: fetch sizes"
  knob_thr "kafka.max.partition.fetch.bytes=65536" --set kafka.max.partition.fetch.bytes=65536
  knob_thr "kafka.fetch.max.bytes=1048576" --set kafka.fetch.max.bytes=1048576
  log "knobs: pipeline threads (one, two), and two instances of one thread in one group"
  for t in 1 2; do knob_thr "pipeline.threads=$t" --set "pipeline.threads=$t"; done
  next_group
  redis-cli -p "$JD_REDIS_PORT" flushall >/dev/null
  INST=()
  for k in 1 2; do
    "$JB" full "${C[@]}" "${FULL[@]}" --set pipeline.threads=1 --set topics.input=bench-thr \
      --set "$G" --exit-idle 4 \
      --label "knob/instances=2" >"$RUN_DIR/inst-$k.json" 2>"$RUN_DIR/inst-$k.log" &
    INST+=($!)
  done
  wait "${INST[@]}" || true
  cat "$RUN_DIR"/inst-*.json >>"$RES"
  redis-cli -p "$JD_REDIS_PORT" flushall >/dev/null
  log "knobs: latency at 10000 events/s (batch timeout, commit interval, linger)"
  latency_run "knob/default" bench-klat-1 10000
  latency_run "knob/pipeline.batch_timeout_ms=5" bench-klat-2 10000 --set pipeline.batch_timeout_ms=5
  latency_run "knob/pipeline.commit_interval_ms=100" bench-klat-3 10000 --set pipeline.commit_interval_ms=100
  latency_run "knob/kafka.linger.ms=0" bench-klat-4 10000 --set kafka.linger.ms=0
fi

# ---- report ----------------------------------------------------------------------------------------
log "report"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
REV="${JD_BENCH_REV:-$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)}"
python3 "$ROOT/bench/report.py" --results "$RES" --out "$OUT_DIR" --stamp "$STAMP" \
  --mode "$MODE" --rev "$REV" --gnuplot "$GNUPLOT" --plot-script "$ROOT/bench/plot.gp" \
  --sets "${FULL[*]}"
