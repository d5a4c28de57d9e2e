#!/usr/bin/env bash
# Scale-out test: several journeyd instances in one consumer group over a
# three-master Redis Cluster give the same result as one instance on one
# redis-server. One simulated log on a 12-partition embedded broker is
# processed
#   base     by one instance on a single redis-server (the reference);
#   cluster  by three instances in one group over the cluster
#            (redis.cluster=on), one of them killed (SIGKILL) mid-run: the
#            group rebalances its partitions to the other two; then 2000
#            slots move between masters while they write (ASK, MOVED);
#   restart  by three instances over the cluster while one master is shut
#            down and restarted with its data (appendonly) mid-run: the
#            clients reconnect and read the slot map again.
# After each, with the criterion of the fault tests
# (tests/integration/fault_compare.py): `inspect --all --json` of every
# account equals the reference's, no trigger is lost (per account and rule
# the FIRED trigger_ids published equal the episodes Redis records), every
# duplicate is a byte-identical copy, and the published trigger_ids are
# exactly the reference's (decisions are made at points of each
# partition's log, whichever instance reads it). The cluster's keys are
# spread over all three masters. Ends with one line of counts.
# Needs JD_BIN, JD_ROOT, JD_TMP (tests/run.sh sets them).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
. "$JD_ROOT/tests/integration/runs.sh"
PY=/usr/bin/python3
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
SCHEMA="$JD_ROOT/schemas/trigger_event.avsc"
TOPICS=(risk renewal expansion)
# ---- a three-master Redis Cluster (deploy/lib.sh; appendonly, so a
# restarted master keeps its data) and a single redis-server
jd_start_cluster "$JD_TMP/cluster-nodes" --appendonly yes --appendfsync always \
  || fail "the Redis Cluster did not start"
PORTS=("${JD_CLUSTER_PORTS[@]}")
# the slot function agrees with the server's (CLUSTER KEYSLOT)
[ "$(redis-cli -p "${PORTS[0]}" cluster keyslot 'jd:{acct-7}:meta')" = \
  "$(redis-cli -p "${PORTS[0]}" cluster keyslot acct-7)" ] || fail "hash tags do not share a slot"
jd_start_redis "$JD_TMP/single" ""
SPORT=$JD_REDIS_PORT
SEEDS="$JD_CLUSTER_SEEDS"

jd_start_broker "$JD_BIN" "$JD_TMP/broker" --partitions 12
"$JD_BIN" simulate --brokers "$JD_BROKERS" --redis "127.0.0.1:$SPORT" --accounts 90 --days 40 \
  --set topics.embedded_partitions=12 2>"$JD_TMP/sim.log"
EVENTS=$(sed -n 's/^simulate: \([0-9]*\) events and.*/\1/p' "$JD_TMP/sim.log")
[ "${EVENTS:-0}" -ge 50000 ] || fail "the log holds only ${EVENTS:-0} events"
echo "log: $EVENTS events on 12 partitions"

# opts NAME [cluster]: the flags of one scenario (own prefix, group, topics).
opts() {
  scenario_opts "$1"
  OPTS+=(--set pipeline.batch_size=200 --set pipeline.retry_backoff_max_ms=1000)
  if [ "${2:-}" = cluster ]; then
    OPTS+=(--redis "127.0.0.1:${PORTS[0]}" --set redis.cluster=on --set "redis.nodes=$SEEDS")
  else
    OPTS+=(--redis "127.0.0.1:$SPORT" --set redis.cluster=off)
  fi
}
# start NAME TAG MODE [flags]: journeyd run in the background -> RUN_PID.
start() { opts "$1" "$3"; run_bg "$1" "$2" "${OPTS[@]}" "${@:4}"; }
LOST=0; DIFFS=0; DUPS=0; OTHER=0
check() {
  local d="$JD_TMP/$1" line
  opts "$1" "$2"
  "$JD_BIN" inspect --all --json "${OPTS[@]}" >"$d/state.jsonl"
  for t in "${TOPICS[@]}"; do kcat -C -b "$JD_BROKERS" -t "$1.$t" -e -q -f '%S:%s'; done >"$d/triggers.raw"
  if [ "$2" = cluster ]; then rules_tsv "$1" "${PORTS[@]}"; else rules_tsv "$1" "$SPORT"; fi >"$d/rules.tsv"
  [ -s "$d/rules.tsv" ] || fail "$1: no rule states in Redis"
  [ "$1" = base ] && return 0
  line=$($PY "$JD_ROOT/tests/integration/fault_compare.py" "$SCHEMA" "$JD_TMP/base" "$d") \
    || { echo "$line"; fail "$1 differs from the single-instance run"; }
  echo "$1: $line"
  LOST=$((LOST + $(sed -n 's/.*lost \([0-9]*\),.*/\1/p' <<<"$line")))
  OTHER=$((OTHER + $(sed -n 's/.*trigger ids not in both: \([0-9]*\).*/\1/p' <<<"$line")))
  DIFFS=$((DIFFS + $(sed -n 's/.*state differences \([0-9]*\).*/\1/p' <<<"$line")))
  DUPS=$((DUPS + $(sed -n 's/.*(\([0-9]*\) duplicate copies.*/\1/p' <<<"$line")))
}
# three NAME IDLE: three instances in one group -> PIDS[0..2]; they stop
# after IDLE, IDLE+5 and IDLE+10 s without messages (one at a time: each
# leave is a rebalance, which the mock cluster takes ~3 s to settle)
three() {
  local idle="$2"
  PIDS=()
  for k in a b c; do
    start "$1" "$k" cluster --exit-idle "$idle"; PIDS+=("$RUN_PID"); idle=$((idle + 5))
  done
  for k in a b c; do wait_for "$JD_TMP/$1/$k.log" "assigned [1-9]"; done
}

# ---- the reference: one instance, one redis-server
start base run single --exit-idle 5; finish $RUN_PID "$JD_TMP/base/run.log"
[ "$(consumed "$JD_TMP/base/run.out")" -eq "$EVENTS" ] || fail "the reference did not consume every event"
check base single
echo "reference: $(awk '/^triggers published/ {print $3}' "$JD_TMP/base/run.out") triggers"

# ---- three instances over the cluster; c is killed mid-run, then slots
# are resharded while a and b keep writing. The others
# wait long enough when idle to get c's partitions after the session
# timeout (6 s) and the rebalance.
three cluster 15
sleep 1
kill -0 "${PIDS[2]}" 2>/dev/null || fail "instance c ended before its SIGKILL"
kill -9 "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null || true
# move 2000 slots from the first master to the third while a and b write:
# the clients get ASK during the migration and MOVED after it
redis-cli --cluster reshard "127.0.0.1:${PORTS[0]}" --cluster-from "$(redis-cli -p "${PORTS[0]}" cluster myid)" \
  --cluster-to "$(redis-cli -p "${PORTS[2]}" cluster myid)" --cluster-slots 2000 --cluster-yes \
  >"$JD_TMP/reshard.log" 2>&1 || { tail -n 20 "$JD_TMP/reshard.log"; fail "reshard"; }
grep -q '^Moving slot' "$JD_TMP/reshard.log" || fail "the reshard moved no slot"
finish "${PIDS[0]}" "$JD_TMP/cluster/a.log"; finish "${PIDS[1]}" "$JD_TMP/cluster/b.log"
grep -qE "assigned [1-9]" "$JD_TMP/cluster/a.log" || fail "instance a got no partitions"
[ "$(grep -c 'assigned [1-9]' "$JD_TMP/cluster/a.log" "$JD_TMP/cluster/b.log" | awk -F: '{s+=$2} END {print s}')" -ge 3 ] \
  || fail "no rebalance after the kill"
[ "$(consumed "$JD_TMP/cluster/a.out" "$JD_TMP/cluster/b.out")" -gt 0 ] || fail "nothing consumed"
for p in "${PORTS[@]}"; do
  n=$(redis-cli -p "$p" dbsize); [ "$n" -gt 0 ] || fail "master $p holds no keys"
  echo "master $p: $n keys"
done
check cluster cluster

# ---- three instances over the cluster; the second master restarts
three restart 10
sleep 0.5
jd_stop_redis "${PORTS[1]}"; sleep 2
jd_start_cluster_node 2 || fail "master 2 did not start again"
jd_cluster_ok || fail "the cluster did not recover after the restart"
K=0; for k in a b c; do finish "${PIDS[$K]}" "$JD_TMP/restart/$k.log"; K=$((K + 1)); done
grep -q "127.0.0.1:${PORTS[1]}" "$JD_TMP"/restart/[abc].log || fail "no instance saw the master go"
check restart cluster

# ---- one instance with three pipeline threads (three members of the
# group in one process, each its own share of the cache) over the cluster
start threads run cluster --exit-idle 5 --set pipeline.threads=3 --set state.cache_mb=3
finish $RUN_PID "$JD_TMP/threads/run.log"
# every event consumed; more than once only after a second join round
# (the threads join together, so that is rare: the count is printed)
N=$(consumed "$JD_TMP/threads/run.out")
[ "$N" -ge "$EVENTS" ] || fail "three threads consumed $N of $EVENTS events"
[ "$(grep -c 'assigned [1-9]' "$JD_TMP/threads/run.log")" -ge 3 ] || fail "not every thread got partitions"
echo "three threads: $N messages consumed for $EVENTS events, $(grep -c 'revoked [1-9]' "$JD_TMP/threads/run.log") revocations"
grep -q "3 pipeline threads, 1 MiB of account cache each" "$JD_TMP/threads/run.log" || fail "no cache share line"
! grep -E " ERROR " "$JD_TMP/threads/run.log" || fail "three threads: errors"
check threads cluster
# --max-events is the whole process's: three threads from a new group stop
# at exactly that many messages, without waiting to be idle
start maxev run cluster --max-events 1000 --set pipeline.threads=3
finish $RUN_PID "$JD_TMP/maxev/run.log"
[ "$(consumed "$JD_TMP/maxev/run.out")" -eq 1000 ] \
  || fail "--max-events 1000 with three threads consumed $(consumed "$JD_TMP/maxev/run.out")"

echo "ok   events $EVENTS, 3 instances x 2 runs over 3 masters (1 instance killed, 2000 slots resharded mid-run, 1 master restarted) and 1 instance of 3 threads, duplicates $DUPS (identical), triggers lost $LOST, state differences $DIFFS, trigger ids other than the reference's $OTHER"
