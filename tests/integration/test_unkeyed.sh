#!/usr/bin/env bash
# Unkeyed input, re-keyed through topics.repartition. One simulated log
# whose messages are keyed by event_id (`journeyd simulate --key-by
# event`), so every account's events are spread over all 8 partitions, and
# the same events keyed by account (the keyed reference) are processed:
#   keyed   the keyed log, by one instance (no repartition topic);
#   single  the unkeyed log by one instance, re-keyed through
#           single.repartition;
#   two     the unkeyed log by two instances in one consumer group at the
#           same time, re-keyed through two.repartition: each forwards part
#           of every account's events, and each account is owned by the
#           instance that owns its repartition partition.
# Then (tests/integration/fault_compare.py):
#   - `inspect --all --json` of every account equals the keyed reference's
#     for both runs, all but the stage bookkeeping (stage_changed_at,
#     previous_stage: the instant the stage was seen to change, which
#     follows the order of the account's events in the log, docs/signals.md);
#     the stage itself and healthy_adoption_at are compared;
#   - for every (account, rule) the FIRED trigger_ids published are exactly
#     the ids of episodes 1..n, n being what the rule state records as
#     fired: no episode lost, none published twice under two ids;
#   - every duplicate trigger_id is a byte-identical copy.
# The share of trigger ids that differ from the keyed run is printed: the
# repartitioned log interleaves the input partitions in an order of its own,
# so a condition that holds only between some of an account's events can
# be seen in one run and not another. Ends with one line of counts.
# Needs JD_BIN, JD_ROOT, JD_TMP (tests/run.sh sets them); starts its own
# redis-server and broker.
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
. "$JD_ROOT/tests/integration/runs.sh"
PY=/usr/bin/python3
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
SCHEMA="$JD_ROOT/schemas/trigger_event.avsc"
TOPICS=(risk renewal expansion)

jd_start_redis "$JD_TMP/redis"
RPORT=$JD_REDIS_PORT
# every topic read gets 8 partitions (the embedded cluster creates the
# input topics with --partitions; the repartition topics must have as many)
jd_start_broker "$JD_BIN" "$JD_TMP/broker" --partitions 8 \
  --set topics.input=product-events,keyed-events,single.repartition,two.repartition
for k in event account; do
  t=product-events; [ $k = account ] && t=keyed-events
  "$JD_BIN" simulate --brokers "$JD_BROKERS" --redis "127.0.0.1:$RPORT" --accounts 60 --days 40 \
    --key-by $k --topic $t 2>"$JD_TMP/sim-$k.log"
done
EVENTS=$(sed -n 's/^simulate: \([0-9]*\) events and.*/\1/p' "$JD_TMP/sim-event.log")
[ "${EVENTS:-0}" -ge 20000 ] || fail "the log holds only ${EVENTS:-0} events"
[ "$(sed -n 's/^simulate: \([0-9]*\) events and.*/\1/p' "$JD_TMP/sim-account.log")" = "$EVENTS" ] \
  || fail "the keyed log does not hold the same events"
echo "log: $EVENTS events on 8 partitions, keyed by event_id (and by account for the reference)"

opts() {
  scenario_opts "$1"
  # The repartitioned runs read an account's events in an order of their
  # own (the input partitions interleaved), days apart from the keyed
  # order: the states compare equal only when no event is too late in one
  # run and on time in another, i.e. with the allowed lateness equal to
  # the retention (35 days, more than the 40-day log's events lag).
  OPTS+=(--redis "127.0.0.1:$RPORT" --set pipeline.batch_size=100 --set state.lateness_days=35)
  if [ "$1" = keyed ]; then OPTS+=(--set topics.input=keyed-events)
  else OPTS+=(--set "topics.repartition=$1.repartition"); fi
}
forwarded() { awk '/^forwarded/ {s += $2} END {print s + 0}' "$@"; }
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

# ---- the keyed reference, then one instance re-keying the unkeyed log
start keyed run --exit-idle 5; finish $RUN_PID "$JD_TMP/keyed/run.log"
[ "$(consumed "$JD_TMP/keyed/run.out")" -eq "$EVENTS" ] || fail "the keyed run did not consume every event"
check keyed
echo "keyed reference: $(awk '/^triggers published/ {print $3}' "$JD_TMP/keyed/run.out") triggers"

start single run --exit-idle 5; finish $RUN_PID "$JD_TMP/single/run.log"
[ "$(forwarded "$JD_TMP/single/run.out")" -eq "$EVENTS" ] || fail "single did not forward every event"
[ "$(consumed "$JD_TMP/single/run.out")" -eq $((2 * EVENTS)) ] \
  || fail "single did not consume every event twice (input, then re-keyed)"
check single
one=$($PY "$JD_ROOT/tests/integration/fault_compare.py" --episodes --ids-may-differ "$SCHEMA" \
        "$JD_TMP/keyed" "$JD_TMP/single") || { echo "$one"; fail "the re-keyed run differs from the keyed one"; }
echo "single: $one"

# ---- two instances in one group, started together; they leave one at a
# time (two members leaving the embedded cluster's group at once can hang
# the second close)
start two a --exit-idle 8; PA=$RUN_PID
start two b --exit-idle 13; PB=$RUN_PID
finish $PA "$JD_TMP/two/a.log"; finish $PB "$JD_TMP/two/b.log"
[ "$(forwarded "$JD_TMP/two/a.out" "$JD_TMP/two/b.out")" -ge "$EVENTS" ] || fail "the two runs missed events"
for k in a b; do
  grep -qE "assigned [1-9]" "$JD_TMP/two/$k.log" || fail "instance $k got no partitions"
  [ "$(forwarded "$JD_TMP/two/$k.out")" -gt 0 ] || fail "instance $k forwarded nothing"
done
check two
line=$($PY "$JD_ROOT/tests/integration/fault_compare.py" --episodes --ids-may-differ "$SCHEMA" \
         "$JD_TMP/keyed" "$JD_TMP/two") || { echo "$line"; fail "two instances differ from the keyed run"; }
echo "two: $line"

share() { sed -n 's/.*differ from the baseline.s: \([0-9]* of [0-9]* ([0-9.]*%)\).*/\1/p' <<<"$1"; }
echo "ok   events $EVENTS unkeyed over 8 partitions, re-keyed by 1 and by 2 instances: state equal to the keyed run, $(sed -n 's/.*\(lost [0-9]*\),.*/triggers \1/p' <<<"$line"), $(sed -n 's/.*(\([0-9]*\) duplicate copies.*/duplicates \1 (identical)/p' <<<"$line"); trigger ids differing from the keyed run: 1 instance $(share "$one"), 2 instances $(share "$line")"
