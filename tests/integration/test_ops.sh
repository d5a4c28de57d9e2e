#!/usr/bin/env bash
# Operations endpoints and structured logs, against a running `journeyd run`:
#  - /metrics (scraped while it runs) has non-zero events per partition,
#    decode errors and dead letters by reason, triggers by kind and rule,
#    batch-size and Redis-latency histograms, accounts, consumer lag series
#    and the event-time watermark; the Prometheus text parses line by line;
#  - /healthz is 200; /readyz is 200, turns 503 naming redis when its
#    redis-server is stopped, and 200 again once it is restarted; the
#    pipeline's reconnect is counted (journeyd_redis_reconnects_total),
#    no redirection or lost claim on one redis-server; 503
#    naming kafka once the broker is stopped;
#  - with log.format=json every stderr line is one JSON object with ts,
#    level, module and msg; start, assignment, dead letters, Kafka down
#    and stop are among them.
# This test runs its own redis-server (it stops and restarts it).
# Needs JD_BIN, JD_ROOT, JD_TMP.
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
PY=/usr/bin/python3
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP/redis"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

RPORT="$(jd_free_port)"
start_redis() {
  redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$JD_TMP/redis" >>"$JD_TMP/redis/redis.log" 2>&1 &
  REDIS_PID=$!
  JD_PIDS+=("$REDIS_PID")
  for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  fail "redis-server did not start"
}
start_redis
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 4
HPORT="$(jd_free_port)"
URL="http://127.0.0.1:$HPORT"
COMMON=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$RPORT")

"$JD_BIN" simulate "${COMMON[@]}" --accounts 40 --days 30 --poison 5 2>"$JD_TMP/sim.log"
tail -n1 "$JD_TMP/sim.log"

"$JD_BIN" run "${COMMON[@]}" --set "http.port=$HPORT" --set log.format=json \
  --set kafka.statistics.interval.ms=500 --set "kafka.group.id=ops$$" \
  --set kafka.session.timeout.ms=6000 \
  >"$JD_TMP/run.out" 2>"$JD_TMP/run.log" &
RUN_PID=$!
JD_PIDS+=("$RUN_PID")

# Waits until `curl URL$1` answers with HTTP status $2 (up to ~30 s).
wait_status() {
  local code=""
  for _ in $(seq 1 150); do
    code=$(curl -s -o "$JD_TMP/body" -w '%{http_code}' "$URL$1" || true)
    [ "$code" = "$2" ] && return 0
    sleep 0.2
  done
  fail "$1: expected HTTP $2, last got '$code': $(cat "$JD_TMP/body" 2>/dev/null)"
}
metric() { # metric NAME_WITH_LABELS -> value (sum when several series match)
  awk -v m="$1" 'index($0, m) == 1 { s += $NF; n++ } END { if (n) print s; else print "none" }' "$JD_TMP/metrics"
}

wait_status /healthz 200
wait_status /readyz 200
# Scrape until the backlog is processed (the dead letters are acknowledged)
# and its first group is written (pipeline.commit_interval_ms after the batch).
for _ in $(seq 1 150); do
  curl -sf "$URL/metrics" >"$JD_TMP/metrics"
  [ "$(metric 'journeyd_dead_letters_total{')" = 5 ] &&
    [ "$(metric 'journeyd_redis_latency_seconds_count{op="write"}')" != none ] &&
    [ "$(metric 'journeyd_accounts')" != 0 ] && break
  sleep 0.2
done
grep -v '^#' "$JD_TMP/metrics" | grep -v '_bucket{' | sed 's/^/   /'

nonzero() {
  local v; v=$(metric "$1")
  [ "$v" != none ] && awk -v v="$v" 'BEGIN { exit !(v > 0) }' || fail "metric $1 is '$v', expected > 0"
}
nonzero 'journeyd_events_consumed_total{topic="product-events",partition="0"}'
nonzero 'journeyd_events_consumed_total{topic="product-events",partition="3"}'
nonzero 'journeyd_decode_errors_total{reason='
nonzero 'journeyd_dead_letters_total{reason='
nonzero 'journeyd_triggers_total{kind="RENEWAL_READINESS",rule='
nonzero 'journeyd_batch_size_count'
nonzero 'journeyd_redis_latency_seconds_count{op="write"}'
nonzero 'journeyd_redis_latency_seconds_sum{op="write"}'
nonzero 'journeyd_accounts'
nonzero 'journeyd_event_time_watermark_seconds'
nonzero 'journeyd_event_time_lag_seconds'
nonzero 'journeyd_kafka_up'
[ "$(metric 'journeyd_dead_letters_total{')" = 5 ] || fail "expected 5 dead letters"
# product events (and the hostile ones) all take the decoder's fast path
[ "$(metric 'journeyd_decoded_generic_total')" = 0 ] ||
  fail "journeyd_decoded_generic_total is '$(metric 'journeyd_decoded_generic_total')', expected 0"
# Lag series appear once librdkafka knows the committed offsets.
for _ in $(seq 1 100); do
  curl -sf "$URL/metrics" >"$JD_TMP/metrics"
  grep -q '^journeyd_kafka_consumer_lag{topic="product-events",partition="[0-3]"} [0-9]' "$JD_TMP/metrics" && break
  sleep 0.2
done
grep -q '^journeyd_kafka_consumer_lag{topic="product-events",partition="[0-3]"} [0-9]' "$JD_TMP/metrics" \
  || fail "no consumer lag series"
# Every sample line is NAME{LABELS} VALUE with a TYPE declared for its family.
$PY - "$JD_TMP/metrics" <<'PYEOF' || fail "/metrics is not valid Prometheus text"
import re, sys
types, sample = {}, re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (\S+)$')
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, name, t = line.split(" ", 3); types[name] = t; continue
    if line.startswith("#"): continue
    m = sample.match(line); assert m, line
    float(m.group(5).replace("Inf", "inf"))
    name = m.group(1)
    base = re.sub(r'_(bucket|sum|count)$', '', name)
    assert name in types or (base in types and types[base] == "histogram"), line
PYEOF

# Readiness follows Redis.
kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
wait_status /readyz 503
grep -q redis "$JD_TMP/body" || fail "/readyz does not name redis: $(cat "$JD_TMP/body")"
curl -sf "$URL/healthz" >/dev/null || fail "/healthz must stay 200 while redis is down"
start_redis
wait_status /readyz 200
# The pipeline's own connection comes back when it next needs Redis: a few
# more events; the reconnect is counted, and one redis-server never redirects.
"$JD_BIN" simulate "${COMMON[@]}" --accounts 2 --days 2 --seed 7 2>>"$JD_TMP/sim.log"
for _ in $(seq 1 150); do
  curl -sf "$URL/metrics" >"$JD_TMP/metrics"
  case "$(metric 'journeyd_redis_reconnects_total')" in none|0) sleep 0.2 ;; *) break ;; esac
done
nonzero 'journeyd_redis_reconnects_total'
for m in 'journeyd_redis_redirections_total{kind="moved"}' 'journeyd_redis_redirections_total{kind="ask"}' \
         'journeyd_redis_slot_map_refreshes_total'; do
  case "$(metric "$m")" in none|0) ;; *) fail "$m is $(metric "$m") on one redis-server, keyed input" ;; esac
done
grep -q '^# TYPE journeyd_redis_redirections_total counter' "$JD_TMP/metrics" || fail "no redirection counter"

# Readiness follows Kafka too: stop the broker process.
BROKER_PID="${JD_PIDS[1]}"
kill "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true
wait_status /readyz 503
grep -q kafka "$JD_TMP/body" || fail "/readyz does not name kafka: $(cat "$JD_TMP/body")"

kill -TERM "$RUN_PID"
for _ in $(seq 1 300); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.2; done
# Without brokers the close is bounded by session.timeout.ms (6 s here).
kill -0 "$RUN_PID" 2>/dev/null && fail "journeyd run did not stop within 60 s of SIGTERM"
wait "$RUN_PID" || true   # the final commit may fail with the broker gone
$PY - "$JD_TMP/run.log" <<'PYEOF' || fail "log lines are not JSON objects"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log lines"
for l in lines:
    o = json.loads(l)
    assert list(o) == ["ts", "level", "module", "msg"], o
    assert o["level"] in ("error", "warn", "info", "debug"), o
msgs = [json.loads(l)["msg"] for l in lines]
assert any(m.startswith("journeyd ") and " starting: " in m for m in msgs), "no start line"
assert any(m.startswith("assigned ") for m in msgs), "no assignment line"
assert any(m.startswith("stopped") for m in msgs), "no stop line"
assert any(m.startswith("kafka down") for m in msgs), "no kafka down line"
assert any("dead-letter" in json.loads(l)["msg"] for l in lines), "no dead-letter line"
print("   %d JSON log lines" % len(lines))
PYEOF
echo "ok   metrics, health, readiness across a Redis restart, JSON logs"
