#!/usr/bin/env bash
# Fault tests: one log of >= 100k simulated events, processed once without
# interruption (the baseline), then again under each fault, each time into
# its own Redis prefix, consumer group and trigger topics:
#   kill     SIGKILL at three random points (restarted each time), then a
#            SIGTERM mid-batch (must exit 0), then a run to the end;
#   outage   redis-server shut down mid-batch and SIGTERM sent while it is
#            down (must exit 0 within pipeline.shutdown_timeout_ms), then a
#            new run whose Redis is shut down for 15 s mid-run and
#            restarted with its data (appendonly);
#   broker   the embedded cluster's error injection (journeyd broker
#            --faults): Produce, Fetch and OffsetCommit errors, then the
#            broker down for 4 s;
#   rebalance a second instance joins the group (cooperative-sticky)
#            mid-run and leaves with SIGTERM.
#   fence    an instance is frozen (SIGSTOP) while the group gives its
#            partitions to a second one, then thawed (SIGCONT).
# After each (tests/integration/fault_compare.py): `inspect --all --json`
# of every account equals the baseline's; no trigger is lost: every
# episode the rule states in Redis record as fired was published, and
# nothing was published that they do not record; every duplicate trigger
# is a byte-identical copy; the published trigger_ids (and stage event
# ids) are exactly the baseline's: rules are decided after every event,
# in partition order (docs/reliability.md), never where a batch happened
# to end. Ends with one line of counts.
# Needs JD_BIN, JD_ROOT, JD_TMP (tests/run.sh sets them); starts its own
# redis-server and broker. JD_FAULTS="kill outage broker rebalance fence" (the
# default) chooses the scenarios.
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
. "$JD_ROOT/tests/integration/runs.sh"
PY=/usr/bin/python3
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
SCHEMA="$JD_ROOT/schemas/trigger_event.avsc"
TOPICS=(risk renewal expansion)
KILLS=0; FAULTS=0; LOST=0; DIFFS=0; DUPS=0; OTHER=0

jd_start_redis "$JD_TMP/redis" "" --appendonly yes --appendfsync always
RPORT=$JD_REDIS_PORT
jd_start_broker "$JD_BIN" "$JD_TMP/broker" --partitions 8 --faults "$JD_TMP/faults.ctl"
"$JD_BIN" simulate --brokers "$JD_BROKERS" --redis "127.0.0.1:$RPORT" --accounts 120 --days 45 \
  2>"$JD_TMP/sim.log"
EVENTS=$(sed -n 's/^simulate: \([0-9]*\) events and.*/\1/p' "$JD_TMP/sim.log")
[ "${EVENTS:-0}" -ge 100000 ] || fail "the log holds only ${EVENTS:-0} events"
echo "log: $EVENTS events"

# opts NAME: the flags of one scenario.
opts() {
  scenario_opts "$1"
  OPTS+=(--redis "127.0.0.1:$RPORT" --set pipeline.batch_size=200
         --set pipeline.retry_backoff_max_ms=1000)
}
# start NAME TAG [flags]: journeyd run in the background -> RUN_PID.
start() { opts "$1"; run_bg "$1" "$2" "${OPTS[@]}" --exit-idle 5 "${@:3}"; }
rand_ms() { $PY -c "import random; print('%.2f' % random.uniform($1, $2))"; }
# check NAME: compares with the baseline, adds up the counts.
check() {
  local d="$JD_TMP/$1" line
  opts "$1"
  "$JD_BIN" inspect --all --json "${OPTS[@]}" >"$d/state.jsonl"
  for t in "${TOPICS[@]}"; do kcat -C -b "$JD_BROKERS" -t "$1.$t" -e -q -f '%S:%s'; done >"$d/triggers.raw"
  # every account's rule states (episodes fired per rule): what was decided
  rules_tsv "$1" "$RPORT" >"$d/rules.tsv"
  [ -s "$d/rules.tsv" ] || fail "$1: no rule states in Redis"
  [ "$1" = base ] && return 0
  line=$($PY "$JD_ROOT/tests/integration/fault_compare.py" "$SCHEMA" "$JD_TMP/base" "$d") \
    || { echo "$line"; fail "$1 differs from the baseline"; }
  echo "$1: $line"
  LOST=$((LOST + $(sed -n 's/.*lost \([0-9]*\),.*/\1/p' <<<"$line")))
  OTHER=$((OTHER + $(sed -n 's/.*trigger ids not in both: \([0-9]*\).*/\1/p' <<<"$line")))
  DIFFS=$((DIFFS + $(sed -n 's/.*state differences \([0-9]*\).*/\1/p' <<<"$line")))
  DUPS=$((DUPS + $(sed -n 's/.*(\([0-9]*\) duplicate copies.*/\1/p' <<<"$line")))
}

# ---- baseline
start base run; finish $RUN_PID "$JD_TMP/base/run.log"
[ "$(consumed "$JD_TMP/base/run.out")" -eq "$EVENTS" ] || fail "baseline did not consume every event"
check base
echo "baseline: $(awk '/^triggers published/ {print $3}' "$JD_TMP/base/run.out") triggers"

want() { [[ " ${JD_FAULTS:-kill outage broker rebalance fence} " == *" $1 "* ]]; }

# ---- kill -9 at three random points, then SIGTERM, then to the end
if want kill; then
# each kill lands after a random number of stored batches (of ~600)
for k in 1 2 3; do
  start kill "run$k" --log-level debug
  kill_after_batches "$JD_TMP/kill/run$k.log" $RUN_PID "$($PY -c 'import random; print(random.randint(10, 120))')"
  KILLS=$((KILLS + 1))
done
start kill term --log-level debug
wait_for "$JD_TMP/kill/term.log" "batch [0-9]* done"
kill -TERM $RUN_PID; finish $RUN_PID "$JD_TMP/kill/term.log"
start kill last; finish $RUN_PID "$JD_TMP/kill/last.log"
[ "$(consumed "$JD_TMP/kill/last.out")" -gt 0 ] || fail "the kills left nothing to the last run"
check kill
fi

# ---- Redis outage: SIGTERM while Redis is down, then a 15 s outage
if want outage; then
start outage stop --set pipeline.shutdown_timeout_ms=2000
wait_for "$JD_TMP/outage/stop.log" "assigned"; sleep 0.5
jd_stop_redis "$RPORT"; sleep 2
kill -TERM $RUN_PID; finish $RUN_PID "$JD_TMP/outage/stop.log"
grep -q "paused" "$JD_TMP/outage/stop.log" || fail "partitions were not paused during the outage"
jd_start_redis "$JD_TMP/redis" "$RPORT" --appendonly yes --appendfsync always
start outage run; wait_for "$JD_TMP/outage/run.log" "assigned"; sleep "$(rand_ms 0.5 1.5)"
kill -0 $RUN_PID 2>/dev/null || fail "outage run ended before the outage"
jd_stop_redis "$RPORT"; sleep 15
jd_start_redis "$JD_TMP/redis" "$RPORT" --appendonly yes --appendfsync always
finish $RUN_PID "$JD_TMP/outage/run.log"
grep -q "resumed" "$JD_TMP/outage/run.log" || fail "partitions were not resumed after the outage"
check outage
fi

# ---- broker faults
if want broker; then
start broker run; wait_for "$JD_TMP/broker/run.log" "assigned"; sleep 0.5
printf 'errors produce 5\nerrors fetch 5\nerrors offsetcommit 5\n' >"$JD_TMP/faults.tmp"
mv "$JD_TMP/faults.tmp" "$JD_TMP/faults.ctl"; sleep 2
echo 'down 1 4' >"$JD_TMP/faults.tmp"; mv "$JD_TMP/faults.tmp" "$JD_TMP/faults.ctl"
finish $RUN_PID "$JD_TMP/broker/run.log"
FAULTS=$(grep -cE 'faults: (next|broker [0-9]+ is down)' "$JD_TMP/broker/broker.log" || true)
[ "$FAULTS" -eq 4 ] || fail "expected 4 faults applied by the broker, saw $FAULTS"
check broker
fi

# ---- rebalance: a second instance joins mid-run and leaves. The first
# waits longer when idle: it gets the partitions back only after the
# second has left (cooperative-sticky moves partitions in two rebalances).
# Small batches and a rate limit make the run last long enough for the
# join (~12 s).
if want rebalance; then
COOP=(--set kafka.partition.assignment.strategy=cooperative-sticky --set pipeline.batch_size=40
      --set pipeline.max_rate=10000)
start rebalance a "${COOP[@]}" --exit-idle 12; A=$RUN_PID
wait_for "$JD_TMP/rebalance/a.log" "assigned [1-9]"; sleep 0.5
start rebalance b "${COOP[@]}"; B=$RUN_PID
wait_for "$JD_TMP/rebalance/b.log" "assigned [1-9]"; sleep 1
kill -TERM $B; finish $B "$JD_TMP/rebalance/b.log"
finish $A "$JD_TMP/rebalance/a.log"
grep -q "revoked [1-9]" "$JD_TMP/rebalance/a.log" || fail "the first instance gave nothing up"
echo "rebalance: first instance consumed $(consumed "$JD_TMP/rebalance/a.out"), second $(consumed "$JD_TMP/rebalance/b.out")"
[ "$(consumed "$JD_TMP/rebalance/b.out")" -gt 0 ] || fail "the second instance consumed nothing"
check rebalance
fi

# ---- fence: an instance frozen (SIGSTOP) while the group hands its
# partitions to another, then thawed (SIGCONT) while the other works on
# them: its stale writes must be refused (the partition epoch in Redis),
# the state must equal the baseline's and it must publish no trigger id
# outside the baseline's (fault_compare checks both).
if want fence; then
SLOW=(--set pipeline.max_rate=10000 --log-level debug)
start fence a "${SLOW[@]}" --exit-idle 8; A=$RUN_PID
wait_for "$JD_TMP/fence/a.log" "batch [0-9]* done"; sleep 1
kill -STOP $A
start fence b "${SLOW[@]}" --exit-idle 8; B=$RUN_PID
wait_for "$JD_TMP/fence/b.log" "batch [0-9]* done"; sleep 2
kill -CONT $A
finish $B "$JD_TMP/fence/b.log"
finish $A "$JD_TMP/fence/a.log"
FENCED=$(grep -c "took it over" "$JD_TMP/fence/a.log" || true)
# (a write refused by the fence shows only when the freeze caught it inside
# a batch; between batches the revoke drops the partitions first)
echo "fence: writes of the thawed instance refused for $FENCED partition(s)"
# the thawed instance may have stopped early; the last run finishes the log
start fence last; finish $RUN_PID "$JD_TMP/fence/last.log"
check fence
fi

echo "ok   events $EVENTS, kills survived $KILLS, faults injected $FAULTS (+1 Redis outage, 2 SIGTERM), duplicates $DUPS (identical), triggers lost $LOST, state differences $DIFFS, trigger ids other than the baseline's $OTHER"
