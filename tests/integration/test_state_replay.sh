#!/usr/bin/env bash
# Journey state is exact, order-independent and replay-safe (issue 3).
#
# tests/integration/test_state_oracle.py generates a random log (500
# accounts, every event type, duplicates, out-of-order and too-late events,
# last-writer-wins ties) and journeyd processes it three times into three
# Redis prefixes:
#   (a) in order: keyed by account, in log order;
#   (b) shuffled across partitions: random order, no key (an account's
#       events are spread over every partition);
#   (c) another shuffle, keyed, with journeyd SIGKILLed twice midway and
#       restarted (same consumer group: it resumes from the committed
#       offsets, replaying what was not committed).
# Then `inspect --all --json` must be identical for every account in the
# three runs (but for the log-order fields: healthy_adoption_at and the
# stage history), and every signal must equal the oracle's plain Python
# computation over the JSON log. The log-order fields of the keyed runs (a)
# and (c) must equal the oracle's own decisions after every event, in the
# order of a.bin and c.bin (run (b) is unkeyed: its order is unknown). The
# stage events of (a) and (c) must decode with python3-avro and form, per
# account, exactly the oracle's chain of stage changes. The generated
# config sets state.lateness_days to the retention (35), as the shuffled
# runs need; run (d) takes the log in order again with
# state.lateness_days=7, and its signals must be the oracle's with L = 7
# (the usage events more than 6 days older than their account's newest
# one at their arrival count in no window).
# Also prints the Redis cost of run (a): commands per event and bytes per
# account (docs/state.md quotes these numbers).
# Needs JD_BIN, JD_ROOT, JD_TMP (tests/run.sh sets them); starts its own
# redis-server so the measurements see nothing else.
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
PY=/usr/bin/python3
ORACLE="$JD_ROOT/tests/integration/test_state_oracle.py"
AVRO="$JD_ROOT/tests/integration/jdavro.py"
ACCOUNTS="${JD_STATE_ACCOUNTS:-500}"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

jd_start_redis "$JD_TMP/redis"
R=(redis-cli -p "$JD_REDIS_PORT")
TOPICS=ta,tb,tc,stage_a,stage_b,stage_c,stage_d
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 4 --set "topics.input=$TOPICS"
RUN=$$
K='\xfe\xfd\x03JK\x04\xfc\x7f'
D='\xfe\xfd\x01JD\x02\xfc\x7f'

$PY "$ORACLE" gen "$JD_TMP" --accounts "$ACCOUNTS" --seed "${JD_STATE_SEED:-7}"
TOTAL=$(cat "$JD_TMP/total.txt")
kcat -P -b "$JD_BROKERS" -t ta -K "$K" -D "$D" -l "$JD_TMP/a.bin"
# Unkeyed: per-message random partitions. The default sticky partitioner
# fills one partition per linger window, and a partition that gets ~25%
# more than its share passes the embedded broker's 5 MiB log and loses its
# oldest messages (seen: 163566 of 167724 kept).
kcat -P -b "$JD_BROKERS" -t tb -D "$D" -X sticky.partitioning.linger.ms=0 -l "$JD_TMP/b.bin"
kcat -P -b "$JD_BROKERS" -t tc -K "$K" -D "$D" -l "$JD_TMP/c.bin"
for t in ta tb tc; do
  n=$(kcat -C -b "$JD_BROKERS" -t "$t" -e -q -f 'x\n' | wc -l)
  [ "$n" -eq "$TOTAL" ] || fail "topic $t holds $n messages, want $TOTAL"
done
echo "produced $TOTAL messages to each of ta, tb, tc"

# common flags of a run on topic $1 with prefix $2 and stage topic $3
common() {
  echo --brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --config "$JD_TMP/config.yaml" \
    --set "topics.input=$1" --set "redis.prefix=$2" --set "topics.journey_stage=$3" \
    --set "kafka.group.id=g-$2" --set kafka.session.timeout.ms=6000 \
    --set kafka.heartbeat.interval.ms=500
}

# ---- (a) in order, measured ---------------------------------------------------
"${R[@]}" CONFIG RESETSTAT >/dev/null
MEM0=$("${R[@]}" INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
start=$SECONDS
# shellcheck disable=SC2046
timeout 300 "$JD_BIN" run $(common ta "sa$RUN" stage_a) --max-events "$TOTAL" \
  >"$JD_TMP/a.out" 2>"$JD_TMP/a.log" || { tail "$JD_TMP/a.log"; fail "run a"; }
cat "$JD_TMP/a.out"
echo "run a: $((SECONDS - start)) s"
MEM1=$("${R[@]}" INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
"${R[@]}" INFO commandstats >"$JD_TMP/a.cmdstats"
$PY - "$JD_TMP/a.cmdstats" "$TOTAL" "$ACCOUNTS" "$MEM0" "$MEM1" <<'PYEOF'
import sys
stats, total, accounts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
calls = {}
for line in open(stats):
    if line.startswith("cmdstat_"):
        name, rest = line.strip()[8:].split(":", 1)
        calls[name] = int(rest.split("calls=")[1].split(",")[0])
evalsha = calls.get("evalsha", 0)
inside = sum(v for k, v in calls.items() if k not in ("evalsha", "info", "config|resetstat"))
print("redis cost of run a: %d messages, %d EVALSHA (%.3f per event), %d commands run "
      "inside the scripts or as index/outbox updates (%.2f per event); used_memory grew "
      "%.0f bytes per account" % (total, evalsha, evalsha / total, inside, inside / total,
                                  (int(sys.argv[5]) - int(sys.argv[4])) / accounts))
for k in sorted(calls, key=lambda k: -calls[k])[:12]:
    print("  %-22s %8d  %.3f per event" % (k, calls[k], calls[k] / total))
PYEOF
# bytes per account, key by key (MEMORY USAGE, every key of the prefix)
"${R[@]}" --scan --pattern "sa$RUN:{*" >"$JD_TMP/a.keys"
while read -r k; do echo "MEMORY USAGE \"$k\" SAMPLES 0"; done <"$JD_TMP/a.keys" \
  | "${R[@]}" >"$JD_TMP/a.mem"
$PY - "$JD_TMP/a.keys" "$JD_TMP/a.mem" "$ACCOUNTS" <<'PYEOF'
import sys, re
keys = [l.rstrip("\n") for l in open(sys.argv[1])]
mem = [int(l) for l in open(sys.argv[2]) if l.strip()]
assert len(keys) == len(mem), (len(keys), len(mem))
by = {}
for k, m in zip(keys, mem):
    kind = re.sub(r":\d+$", ":<day>", k.split("}:", 1)[1])
    n, b = by.get(kind, (0, 0))
    by[kind] = (n + 1, b + m)
acc = int(sys.argv[3])
print("memory per account (MEMORY USAGE): %.0f bytes in %.1f keys" % (sum(mem) / acc, len(keys) / acc))
for kind, (n, b) in sorted(by.items(), key=lambda kv: -kv[1][1]):
    print("  %-10s %6.2f keys  %7.0f bytes/account  %6.0f bytes/key" % (kind, n / acc, b / acc, b / n))
PYEOF

# ---- (b) shuffled across partitions, unkeyed ------------------------------------
# shellcheck disable=SC2046
timeout 300 "$JD_BIN" run $(common tb "sb$RUN" stage_b) --max-events "$TOTAL" \
  >"$JD_TMP/b.out" 2>"$JD_TMP/b.log" || { tail "$JD_TMP/b.log"; fail "run b"; }
grep -E "events consumed|decoded|too late" "$JD_TMP/b.out"

# ---- (c) killed twice midway ---------------------------------------------------------
# Small batches and a short commit interval so that there is a middle to
# kill in; a kill lands after at least $1 groups of batches were stored
# (written to Redis, offsets stored) by that run.
kill_after() {
  local want="$1" log="$2" pid="$3" have=0
  for _ in $(seq 1 600); do
    have=$(grep -c "group .* stored" "$log" || true)
    [ "$have" -ge "$want" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "killed journeyd (pid $pid) after $have stored groups"
}
# journeyd itself is the background job (not a function or subshell), so
# $! is its pid; it is registered with jd_cleanup in case the test aborts.
read -r -a C_ARGS <<<"$(common tc "sc$RUN" stage_c)"
C_ARGS+=(--set pipeline.batch_size=300 --set pipeline.commit_interval_ms=20
         --set kafka.auto.commit.interval.ms=200 --log-level debug)
"$JD_BIN" run "${C_ARGS[@]}" >"$JD_TMP/c1.out" 2>"$JD_TMP/c1.log" & PID=$!
JD_PIDS+=("$PID")
kill_after 4 "$JD_TMP/c1.log" "$PID"
"$JD_BIN" run "${C_ARGS[@]}" >"$JD_TMP/c2.out" 2>"$JD_TMP/c2.log" & PID=$!
JD_PIDS+=("$PID")
kill_after 4 "$JD_TMP/c2.log" "$PID"
# shellcheck disable=SC2046
timeout 300 "$JD_BIN" run $(common tc "sc$RUN" stage_c) --exit-idle 4 \
  >"$JD_TMP/c3.out" 2>"$JD_TMP/c3.log" || { tail "$JD_TMP/c3.log"; fail "run c, third start"; }
grep -E "events consumed|decoded|re-published" "$JD_TMP/c3.out" || true
N1=$(grep -c "group .* stored" "$JD_TMP/c1.log" || true)
N2=$(grep -c "group .* stored" "$JD_TMP/c2.log" || true)
[ "$N1" -gt 0 ] && [ "$N2" -gt 0 ] || fail "a killed run stored no batch ($N1, $N2): not midway"
C3=$(sed -n 's/^events consumed *\([0-9]*\).*/\1/p' "$JD_TMP/c3.out")
[ "${C3:-0}" -gt 0 ] && [ "$C3" -lt "$TOTAL" ] || fail "third start consumed $C3 of $TOTAL: not midway"

# ---- (d) in order, with an allowed lateness below the retention ------------------------------
# shellcheck disable=SC2046
timeout 300 "$JD_BIN" run $(common ta "sd$RUN" stage_d) --set state.lateness_days=7 \
  --max-events "$TOTAL" >"$JD_TMP/d.out" 2>"$JD_TMP/d.log" || { tail "$JD_TMP/d.log"; fail "run d"; }
grep -E "events consumed|too late" "$JD_TMP/d.out"

# ---- compare ------------------------------------------------------------------------------
for r in a b c; do
  "$JD_BIN" inspect --all --json --redis "127.0.0.1:$JD_REDIS_PORT" --config "$JD_TMP/config.yaml" \
    --set "redis.prefix=s$r$RUN" >"$JD_TMP/$r.jsonl" || fail "inspect --all ($r)"
done
$PY "$ORACLE" check "$JD_TMP" "$JD_TMP/a.jsonl" "$JD_TMP/b.jsonl" "$JD_TMP/c.jsonl" \
  || fail "signals differ between runs or from the oracle"
"$JD_BIN" inspect --all --json --redis "127.0.0.1:$JD_REDIS_PORT" --config "$JD_TMP/config.yaml" \
  --set "redis.prefix=sd$RUN" --set state.lateness_days=7 >"$JD_TMP/d.jsonl" || fail "inspect --all (d)"
$PY "$ORACLE" check-lateness "$JD_TMP" 7 "$JD_TMP/d.jsonl" \
  || fail "signals of run d (state.lateness_days=7) differ from the oracle's"
for r in a c; do
  kcat -C -b "$JD_BROKERS" -t "stage_$r" -e -q -f '%S:%s' \
    | $PY "$AVRO" decode "$JD_ROOT/schemas/journey_stage.avsc" >"$JD_TMP/stages_$r.jsonl" \
    || fail "stage events of run $r do not decode with python3-avro"
  $PY "$ORACLE" stages "$JD_TMP" "$JD_TMP/stages_$r.jsonl" "$JD_TMP/$r.jsonl" "$JD_TMP/$r.bin" \
    || fail "stage events of run $r"
done
"$JD_BIN" inspect acct-0000 --redis "127.0.0.1:$JD_REDIS_PORT" --config "$JD_TMP/config.yaml" \
  --set "redis.prefix=sa$RUN" | head -n 20
echo "ok   3 runs identical and equal to the oracle; run d equal to the oracle with L = 7"
