#!/usr/bin/env bash
# journeyd replay: two rule sets over one Avro object container file.
# Three mid-market accounts (start 2026-04-01, first value 04-02) log in
# daily in May 2026 (and once on 04-30, so that the 28-day active users
# are complete before the rules' days_since_start >= 30 begins: every
# event is decided, and May 1's first logins would otherwise be decided on
# a partial day): acme 3 of 10 seats (utilization 0.30), beta 2 of 10
# (0.20), gamma 4 of 4 (1.0). The new rules differ from rules/default.yaml
# in three places, so the report must list exactly:
#   low_utilization  utilization < 0.35 (was 0.3): ADDED acme (0.30);
#   expansion_high_utilization >= 1.1 (was 0.9): REMOVED gamma (1.0);
#   the mid_touch risk play renamed: CHANGED beta's low_utilization;
#   and a knock-on effect: acme's 3 users are power users from 05-07 (8
#   active days with 04-30) with weekly users up on April's near-empty weeks, so
#   expansion_power_users fires for acme (and gamma) under the baseline;
#   with its new low_utilization risk open, acme's is suppressed: REMOVED.
# The replay computes in memory: Redis must hold no key of its prefix
# afterwards, and the same replay twice gives the same report.
# Needs JD_BIN, JD_ROOT, JD_TMP (JD_REDIS_PORT optional).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
PY=/usr/bin/python3
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
[ -n "${JD_REDIS_PORT:-}" ] || jd_start_redis "$JD_TMP/redis"
fail() { echo "FAIL: $*" >&2; exit 1; }
PREFIX="rp$$"

$PY - "$JD_TMP/ev.jsonl" <<'PYEOF'
import json, sys, datetime as dt
def ms(s): return int(dt.datetime.fromisoformat(s + "+00:00").timestamp() * 1000)
evs = []
def ev(acct, typ, at, user=None, attrs=None):
    evs.append({"event_id": "%s-%d" % (acct, len(evs)), "account_id": acct, "user_id": user,
                "type": typ, "feature": None, "occurred_at": ms(at), "value": None,
                "attributes": attrs or {}})
for a, seats in (("acme", "10"), ("beta", "10"), ("gamma", "4")):
    ev(a, "account_created", "2026-04-01T00:00:00")
    ev(a, "account_updated", "2026-04-01T00:00:01", attrs={"seats": seats, "segment": "mid-market"})
    ev(a, "first_value", "2026-04-02T00:00:00")
for a, users in (("acme", 3), ("beta", 2), ("gamma", 4)):
    for u in range(users):
        ev(a, "login", "2026-04-30T10:00:00", "%s-u%d" % (a, u))
for d in range(1, 31):
    for a, users in (("acme", 3), ("beta", 2), ("gamma", 4)):
        for u in range(users):
            ev(a, "login", "2026-05-%02dT10:00:00" % d, "%s-u%d" % (a, u))
evs.sort(key=lambda e: e["occurred_at"])
open(sys.argv[1], "w").write("\n".join(json.dumps(e) for e in evs) + "\n")
PYEOF
$PY "$JD_ROOT/tests/integration/jdavro.py" container "$JD_ROOT/schemas/product_event.avsc" \
  "$JD_TMP/ev.avro" <"$JD_TMP/ev.jsonl" >/dev/null
sed -e 's/when: utilization < 0.3 and days_since_start >= 30/when: utilization < 0.35 and days_since_start >= 30/' \
    -e 's/when: utilization >= 0.9$/when: utilization >= 1.1/' \
    -e 's/play: scaled_outreach, owner: scaled_cs/play: scaled_outreach_v2, owner: scaled_cs/' \
    "$JD_ROOT/rules/default.yaml" >"$JD_TMP/new.yaml"
[ "$(diff "$JD_ROOT/rules/default.yaml" "$JD_TMP/new.yaml" | grep -c '^>')" -eq 3 ] || fail "sed edits"

replay() {
  "$JD_BIN" replay "$JD_TMP/ev.avro" --rules "$JD_TMP/new.yaml" --baseline "$JD_ROOT/rules/default.yaml" \
    --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=$PREFIX" "$@"
}
replay --batch 25 >"$JD_TMP/out1.txt" 2>"$JD_TMP/err1.txt" || { cat "$JD_TMP/err1.txt"; fail "replay"; }
cat "$JD_TMP/out1.txt"
grep -E '^  (ADDED|REMOVED|CHANGED) ' "$JD_TMP/out1.txt" | awk '{print $1, $2, $3, $4}' | sort >"$JD_TMP/diff.txt"
printf '%s\n' "ADDED acme low_utilization FIRED" "CHANGED beta low_utilization FIRED" \
  "REMOVED acme expansion_power_users FIRED" "REMOVED gamma expansion_high_utilization FIRED" \
  | sort >"$JD_TMP/want.txt"
diff "$JD_TMP/want.txt" "$JD_TMP/diff.txt" || fail "the differing triggers"
grep -Eq '^low_utilization +1 +2 +1 +0 +1$' "$JD_TMP/out1.txt" || fail "low_utilization counts"
grep -Eq '^expansion_high_utilization +1 +0 +0 +1 +0$' "$JD_TMP/out1.txt" || fail "expansion counts"
grep -Eq '^expansion_power_users +2 +1 +0 +1 +0$' "$JD_TMP/out1.txt" || fail "power users counts"
grep -Eq '^total +4 +3 +1 +2 +1$' "$JD_TMP/out1.txt" || fail "totals"
grep -q "play scaled_outreach_v2" "$JD_TMP/out1.txt" || fail "the changed play is shown"
[ "$(redis-cli -p "$JD_REDIS_PORT" --scan --pattern "$PREFIX*" | wc -l)" -eq 0 ] || fail "scratch keys left in Redis"
replay --batch 25 >"$JD_TMP/out2.txt" 2>/dev/null || fail "second replay"
cmp -s "$JD_TMP/out1.txt" "$JD_TMP/out2.txt" || fail "the same replay gave another report"
replay --batch 1 >"$JD_TMP/out5.txt" 2>/dev/null || fail "replay --batch 1"
cmp -s "$JD_TMP/out1.txt" "$JD_TMP/out5.txt" || fail "--batch changed the report"
echo "ok   replay diff: exactly the changed triggers, counts per rule, no state left"

# a rules file with an error is refused with its position
printf 'rules:\n  - {id: a, kind: risk, severity: low, play: p, when: seatz > 1}\n' >"$JD_TMP/bad.yaml"
if "$JD_BIN" replay "$JD_TMP/ev.avro" --rules "$JD_TMP/bad.yaml" --baseline "$JD_ROOT/rules/default.yaml" \
     --redis "127.0.0.1:$JD_REDIS_PORT" 2>"$JD_TMP/bad.err"; then fail "bad rules accepted"; fi
grep -q "bad.yaml:2:55: rule 'a': unknown signal 'seatz'" "$JD_TMP/bad.err" || { cat "$JD_TMP/bad.err"; fail "error position"; }
echo "ok   bad rules refused with FILE:LINE:COLUMN"
"$JD_BIN" rules check "$JD_TMP/bad.yaml" >/dev/null 2>"$JD_TMP/check.err" && fail "rules check accepted bad rules"
if timeout 30 "$JD_BIN" run --rules "$JD_TMP/bad.yaml" --redis "127.0.0.1:$JD_REDIS_PORT" \
     >/dev/null 2>"$JD_TMP/run.err"; then fail "run started with bad rules"; fi
grep -qF "$(cat "$JD_TMP/check.err")" "$JD_TMP/run.err" || { cat "$JD_TMP/run.err"; fail "run: not the same message"; }
echo "ok   journeyd run refuses to start with the message of rules check"

# ---- a topic range: the same events in a topic give the same report ----------
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 1
$PY "$JD_ROOT/tests/integration/jdavro.py" encode "$JD_ROOT/schemas/product_event.avsc" \
  "$JD_TMP/bins" --id 1 <"$JD_TMP/ev.jsonl" >/dev/null
ls "$JD_TMP"/bins/*.bin | sort | xargs kcat -P -b "$JD_BROKERS" -t product-events
replay_topic() {
  "$JD_BIN" replay --topic product-events --brokers "$JD_BROKERS" --rules "$JD_TMP/new.yaml" \
    --baseline "$JD_ROOT/rules/default.yaml" --redis "127.0.0.1:$JD_REDIS_PORT" \
    --set "redis.prefix=$PREFIX" "$@"
}
replay_topic --batch 25 >"$JD_TMP/out3.txt" 2>"$JD_TMP/err3.txt" \
  || { cat "$JD_TMP/err3.txt"; fail "replay --topic"; }
head -n1 "$JD_TMP/out3.txt"
grep -q "^replay product-events: 288 event(s), 3 account(s)$" "$JD_TMP/out3.txt" || fail "topic: events read"
cmp -s <(tail -n +2 "$JD_TMP/out1.txt") <(tail -n +2 "$JD_TMP/out3.txt") || fail "topic report differs from the file's"
# every message was produced just now: a range that ends in 2000 is empty
replay_topic --to 2000-01-01 >"$JD_TMP/out4.txt" 2>/dev/null \
  || fail "replay --to"
grep -q "^replay product-events: 0 event(s), 0 account(s)$" "$JD_TMP/out4.txt" || fail "--to range"
echo "ok   replay of a topic range: the same report as the file"
