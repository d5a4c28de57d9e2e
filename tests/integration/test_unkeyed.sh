#!/usr/bin/env bash
# Unkeyed input, several instances: correct without any coordination but
# Redis's (issue 8). One simulated log whose messages are keyed by event_id
# (`journeyd simulate --key-by event`), so every account's events are
# spread over all 8 partitions, is processed
#   single  by one instance (the reference);
#   two     by two instances in one consumer group on the same
#           redis-server at the same time: each sees part of every
#           account's events, so both apply and decide the same accounts
#           concurrently and their commits race (state/commit.lua's claim:
#           the loser writes nothing, reads the account again, decides
#           again).
# Then (tests/integration/fault_compare.py --episodes):
#   - `inspect --all --json` of every account equals the reference's
#     (updates are idempotent and commutative);
#   - for every (account, rule) the FIRED trigger_ids published are exactly
#     the ids of episodes 1..n, n being what the rule state in Redis
#     records as fired: every fired episode was published, under the id of
#     its own episode, and no episode number was given to two decisions;
#   - every duplicate trigger_id is a byte-identical copy.
# Trigger_ids that differ from the reference's are counted: with unkeyed
# input an account's rules are decided at whatever mix of its events has
# arrived, so a condition that holds only between some of its events is
# seen in one run and not another. Lost claims (both instances' summaries)
# must be > 0, or the test proved nothing. Ends with one line of counts.
# Needs JD_BIN, JD_ROOT, JD_TMP (tests/run.sh sets them); starts its own
# redis-server and broker.
set -euo pipefail
# The in-memory engine gives each account one owner and needs input keyed
# by account (an internal repartition topic for unkeyed input is not built
# yet): this test runs the script engine, which claims episodes in Redis.
export JOURNEYD_STATE_ENGINE=lua
. "$JD_ROOT/deploy/lib.sh"
. "$JD_ROOT/tests/integration/runs.sh"
PY=/usr/bin/python3
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
SCHEMA="$JD_ROOT/schemas/trigger_event.avsc"
TOPICS=(risk renewal expansion)

jd_start_redis "$JD_TMP/redis"
RPORT=$JD_REDIS_PORT
jd_start_broker "$JD_BIN" "$JD_TMP/broker" --partitions 8
"$JD_BIN" simulate --brokers "$JD_BROKERS" --redis "127.0.0.1:$RPORT" --accounts 60 --days 40 \
  --key-by event 2>"$JD_TMP/sim.log"
EVENTS=$(sed -n 's/^simulate: \([0-9]*\) events and.*/\1/p' "$JD_TMP/sim.log")
[ "${EVENTS:-0}" -ge 20000 ] || fail "the log holds only ${EVENTS:-0} events"
echo "log: $EVENTS events on 8 partitions, keyed by event_id"

opts() {
  scenario_opts "$1"
  OPTS+=(--redis "127.0.0.1:$RPORT" --set pipeline.batch_size=100)
}
# start NAME TAG [flags]: journeyd run in the background -> RUN_PID.
start() { opts "$1"; run_bg "$1" "$2" "${OPTS[@]}" "${@:3}"; }
check() {
  local d="$JD_TMP/$1"
  opts "$1"
  "$JD_BIN" inspect --all --json "${OPTS[@]}" >"$d/state.jsonl"
  for t in "${TOPICS[@]}"; do kcat -C -b "$JD_BROKERS" -t "$1.$t" -e -q -f '%S:%s'; done >"$d/triggers.raw"
  rules_tsv "$1" "$RPORT" >"$d/rules.tsv"
  [ -s "$d/rules.tsv" ] || fail "$1: no rule states in Redis"
}

# ---- the reference: one instance
start single run --exit-idle 5; finish $RUN_PID "$JD_TMP/single/run.log"
[ "$(consumed "$JD_TMP/single/run.out")" -eq "$EVENTS" ] || fail "the reference did not consume every event"
check single
$PY "$JD_ROOT/tests/integration/fault_compare.py" --episodes-only "$SCHEMA" "$JD_TMP/single" \
  || fail "the reference's triggers do not match its episodes"
echo "reference: $(awk '/^triggers published/ {print $3}' "$JD_TMP/single/run.out") triggers"

# ---- two instances in one group, started together; they leave one at a
# time (two members leaving the embedded cluster's group at once can hang
# the second close)
start two a --exit-idle 8; PA=$RUN_PID
start two b --exit-idle 13; PB=$RUN_PID
finish $PA "$JD_TMP/two/a.log"; finish $PB "$JD_TMP/two/b.log"
[ "$(consumed "$JD_TMP/two/a.out" "$JD_TMP/two/b.out")" -ge "$EVENTS" ] || fail "the two runs missed events"
for k in a b; do
  grep -qE "assigned [1-9]" "$JD_TMP/two/$k.log" || fail "instance $k got no partitions"
done
check two
LOST=$(awk '/^claims lost/ {s += $3} END {print s + 0}' "$JD_TMP/two/a.out" "$JD_TMP/two/b.out")
GAVE=$(awk '/^claims lost/ {gsub(/\)/, "", $6); s += $6} END {print s + 0}' "$JD_TMP/two/a.out" "$JD_TMP/two/b.out")
line=$($PY "$JD_ROOT/tests/integration/fault_compare.py" --episodes --max-cuts 0.4 "$SCHEMA" \
         "$JD_TMP/single" "$JD_TMP/two") || { echo "$line"; fail "two instances differ from one"; }
echo "two: $line"
[ "$LOST" -gt 0 ] || fail "no claim was lost: the instances never raced on an account"

echo "ok   events $EVENTS unkeyed over 8 partitions, 2 instances on one redis-server: claims lost $LOST (given up $GAVE), $(sed -n 's/.*\(lost [0-9]*\),.*/triggers \1/p' <<<"$line"), $(sed -n 's/.*\(state differences [0-9]*\).*/\1/p' <<<"$line"), $(sed -n 's/.*(\([0-9]*\) duplicate copies.*/duplicates \1 (identical)/p' <<<"$line"), $(sed -n 's/.*\(trigger ids not in both: [0-9]*\).*/\1/p' <<<"$line")"
