#!/usr/bin/env bash
# Upstream schemas through the `mapping` section, end to end: Segment-style
# track events (schemas/examples/segment_track.avsc, written by python3-avro
# with Confluent id 77) are read with the shipped example configuration
# schemas/examples/segment_mapping.yaml, next to journeyd's own product
# events on the same topic. Checks the signals the mapped events produce
# (event names -> types and features, account from context.groupId or the
# properties fallback, ISO timestamps, properties as attributes, a score as
# value), that an unmapped event name is counted as an unknown type, and
# that a bad timestamp and a missing account are dead-lettered with their
# reasons.
# Needs JD_BIN, JD_ROOT, JD_TMP (JD_REDIS_PORT optional).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
PY=/usr/bin/python3
AVRO="$JD_ROOT/tests/integration/jdavro.py"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -n "${JD_REDIS_PORT:-}" ] || jd_start_redis "$JD_TMP/redis"
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 2
PREFIX="map$$"
COMMON=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=$PREFIX")

$PY - "$JD_TMP" <<'PYEOF'
import json, sys
out = sys.argv[1]
n = [0]
def track(event, at, group="globex", user=None, props=None, acct_prop=None):
    n[0] += 1
    p = dict(props or {})
    if acct_prop: p["accountId"] = acct_prop
    return {"messageId": "m-%d" % n[0], "type": "track", "event": event, "userId": user,
            "anonymousId": None, "timestamp": at, "properties": p,
            "context": {"groupId": group, "library": {"name": "analytics.js", "version": "4.1"},
                        "ip": None}}
seg = [
    track("Account Created", "2026-09-01T10:00:00.000Z"),
    track("Account Updated", "2026-09-01T10:00:01Z",
          props={"seats": "5", "segment": "smb", "renewal_at": "2027-03-01", "plan": "pro"}),
    track("Signed In", "2026-10-01T09:00:00Z", user="u1"),
    track("Signed In", "2026-10-02T09:00:00Z", user="u2"),
    track("Report Exported", "2026-10-03T12:30:00.250Z", user="u1", props={"format": "csv"}),
    track("Dashboard Viewed", "2026-10-04T08:00:00Z", user="u3", group=None, acct_prop="globex"),
    track("NPS Submitted", "2026-10-05T08:00:00Z", user="u2", props={"score": 8}),
    track("Page Viewed", "2026-10-05T09:00:00Z", user="u2"),                 # unmapped name
    track("Signed In", "yesterday", user="u9"),                                # bad timestamp
    track("Signed In", "2026-10-05T10:00:00Z", user="u9", group=None),        # no account
]
open(out + "/seg.jsonl", "w").write("\n".join(json.dumps(e) for e in seg) + "\n")
own = [{"event_id": "o-1", "account_id": "initech", "user_id": "u1", "type": "login", "feature": None,
        "occurred_at": 1790000000000, "value": None, "attributes": {}}]
open(out + "/own.jsonl", "w").write("\n".join(json.dumps(e) for e in own) + "\n")
PYEOF
$PY "$AVRO" encode "$JD_ROOT/schemas/examples/segment_track.avsc" "$JD_TMP/seg" --id 77 <"$JD_TMP/seg.jsonl" >/dev/null
$PY "$AVRO" encode "$JD_ROOT/schemas/product_event.avsc" "$JD_TMP/own" --id 1 <"$JD_TMP/own.jsonl" >/dev/null
kcat -P -b "$JD_BROKERS" -t product-events -k globex "$JD_TMP"/seg/*.bin
kcat -P -b "$JD_BROKERS" -t product-events -k initech "$JD_TMP"/own/*.bin
TOTAL=$(ls "$JD_TMP"/seg/*.bin "$JD_TMP"/own/*.bin | wc -l)

cd "$JD_ROOT"   # the example configuration names its schema file relative to the tree
timeout 120 "$JD_BIN" run --config schemas/examples/segment_mapping.yaml "${COMMON[@]}" \
  --max-events "$TOTAL" >"$JD_TMP/run.out" 2>"$JD_TMP/run.log" \
  || { tail -n 30 "$JD_TMP/run.log"; fail "journeyd run exited non-zero"; }
cat "$JD_TMP/run.out"
grep -q "events consumed      $TOTAL " "$JD_TMP/run.out" || fail "not every message consumed"
grep -qE "decoded +9 \(9 new, 0 duplicates, 1 of unknown type\)" "$JD_TMP/run.out" || fail "decoded counts"
grep -q "dead-lettered        2$" "$JD_TMP/run.out" || fail "expected 2 dead letters"
grep -q "timestamp_out_of_range 1" "$JD_TMP/run.out" || fail "bad timestamp not dead-lettered"
grep -q "missing_field        1" "$JD_TMP/run.out" || fail "missing account not dead-lettered"
grep -q "occurred_at ('timestamp'): 'yesterday'" "$JD_TMP/run.log" || fail "the DLQ reason does not name the field"

for a in globex initech; do
  "$JD_BIN" inspect "$a" --json "${COMMON[@]}" >"$JD_TMP/$a.json" || fail "inspect $a"
done
$PY - "$JD_TMP" <<'PYEOF'
import json, sys, datetime as dt
d = sys.argv[1]
def ms(s): return int(dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
g = json.load(open(d + "/globex.json"))["signals"]
i = json.load(open(d + "/initech.json"))["signals"]
checks = [
    ("Account Updated -> seats from properties", g["seats"] == 5),
    ("Account Updated -> segment", g["segment"] == "smb"),
    ("Account Created -> start_at (ISO with millis)", g["start_at"] == ms("2026-09-01T10:00:00Z")),
    ("Report Exported -> feature reports.export = first value",
     g["first_value_at"] == ms("2026-10-03T12:30:00.250Z")),
    ("Signed In + Report Exported + Dashboard Viewed (properties.accountId) -> 3 users",
     g["active_users_7d"] == 3),
    ("NPS Submitted -> properties.score as value", g["nps_last"] == 8),
    ("own product events still decode", i["active_users_28d"] == 1),
]
for n, ok in checks: print(("ok   " if ok else "FAIL ") + n)
if not all(ok for _, ok in checks): print(json.dumps(g, indent=1)); sys.exit(1)
PYEOF
echo "ok   Segment-style events mapped end to end"
