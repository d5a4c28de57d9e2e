#!/usr/bin/env bash
# The demo as a test: `journeyd simulate` (150 accounts, 60 days, 12
# malformed messages) then `journeyd run` over the backlog. Asserts that
# every message is consumed, exactly the 12 malformed ones are
# dead-lettered, triggers of all three kinds are published, each decodes
# with python3-avro, and trigger ids are unique.
# Needs JD_BIN, JD_ROOT, JD_TMP, JD_REDIS_PORT (tests/run.sh sets them).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
PY=/usr/bin/python3
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
[ -n "${JD_REDIS_PORT:-}" ] || jd_start_redis "$JD_TMP/redis"
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 8
COMMON=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=sim$$")
fail() { echo "FAIL: $*" >&2; exit 1; }

"$JD_BIN" simulate "${COMMON[@]}" --accounts 150 --days 60 --poison 12 2>"$JD_TMP/sim.log"
tail -n1 "$JD_TMP/sim.log"
SENT=$(sed -n 's/^simulate: \([0-9]*\) events and \([0-9]*\) malformed.*/\1 \2/p' "$JD_TMP/sim.log")
read -r EVENTS POISON <<<"$SENT"
[ "$POISON" -eq 12 ] || fail "simulator sent $POISON malformed messages"
TOTAL=$((EVENTS + POISON))

timeout 300 "$JD_BIN" run "${COMMON[@]}" --max-events "$TOTAL" >"$JD_TMP/run.out" 2>"$JD_TMP/run.log" \
  || { tail -n 30 "$JD_TMP/run.log"; fail "journeyd run exited non-zero"; }
cat "$JD_TMP/run.out"
grep -q "events consumed      $TOTAL " "$JD_TMP/run.out" || fail "not all $TOTAL messages consumed"
grep -q "dead-lettered        12$" "$JD_TMP/run.out" || fail "expected 12 dead letters"
for k in RISK RENEWAL_READINESS EXPANSION; do
  n=$(awk -v k="$k" '$1 == k {print $2}' "$JD_TMP/run.out")
  [ "${n:-0}" -gt 0 ] || fail "no $k trigger"
done

for t in cs.trigger.risk cs.trigger.renewal cs.trigger.expansion; do
  kcat -C -b "$JD_BROKERS" -t "$t" -e -q -f '%S:%s'
done | $PY "$JD_ROOT/tests/integration/jdavro.py" decode "$JD_ROOT/schemas/trigger_event.avsc" \
  >"$JD_TMP/triggers.jsonl" || fail "triggers do not decode with python3-avro"
PUBLISHED=$(awk '/^triggers published/ {print $3}' "$JD_TMP/run.out")
RESOLVED=$(awk '/^resolved published/ {print $3}' "$JD_TMP/run.out")
# The trigger topics hold the FIRED triggers and the RESOLVED ones.
read -r FIRED_N RESOLVED_N UNIQUE <<<"$($PY -c '
import json, sys
ts = [json.loads(l) for l in open(sys.argv[1])]
print(sum(t["status"] == "FIRED" for t in ts), sum(t["status"] == "RESOLVED" for t in ts),
      len({t["trigger_id"] for t in ts}))' "$JD_TMP/triggers.jsonl")"
[ "$FIRED_N" -eq "$PUBLISHED" ] || fail "topics hold $FIRED_N FIRED triggers, $PUBLISHED published"
[ "$RESOLVED_N" -eq "$RESOLVED" ] || fail "topics hold $RESOLVED_N RESOLVED triggers, $RESOLVED published"
[ "$UNIQUE" -eq "$((PUBLISHED + RESOLVED))" ] \
  || fail "duplicate trigger ids"
"$JD_BIN" inspect acct-00001 --json "${COMMON[@]}" | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["signals"]["seats"] > 0' \
  || fail "inspect acct-00001"
echo "ok   $TOTAL messages, $PUBLISHED triggers"
