#!/usr/bin/env bash
# Time-driven rules end to end (rules: tests/fixtures/rules/timers.yaml).
# Three accounts created 2026-05-01: a1 and a2 log in every day at 12:00
# until 05-20; s1 (segment smb) logs in on 05-01 and 05-02, then goes
# silent until one login on 05-15. The log is produced in event-time order
# on one partition, in two phases (to 05-14, then to 05-20), each consumed
# by `journeyd run`. Expected, derived by hand (the timer clock is the
# latest occurred_at minus 1 h; deadlines are UTC midnights):
#   s1 cool (days_since_last_usage > 1, cooldown 30d, resolve): FIRED at
#      05-04T00:00 (1.5 days), RESOLVED at the 05-15T12:00 login, silent
#      again from 05-17T00:00 but inside the cooldown: nothing more;
#   s1 drop_for (> 1 for 2d): holds from 05-04T00:00, FIRED at 05-06T00:00;
#      again from 05-17T00:00, FIRED at 05-19T00:00 (no resolve: no RESOLVED);
#   s1 quiet (> 3, resolve): FIRED 05-06T00:00 (3.5 days), RESOLVED
#      05-15T12:00, FIRED again 05-19T00:00;
#   s1 smb_flag: FIRED once (on its first events); grow (expansion,
#      suppressed_by risk) never fires for s1, fires once for a1 and a2
#      once days_since_start reaches 10 (05-11: by the midnight timer or
#      at the account's next decision point, both fixed by the log);
#   shadowy (mode: shadow) fires for all three, only on the shadow topic.
# a2's status turns churned on 05-20 (13:00), with its grow and shadowy
# episodes open. The outcome records (cs.rule.outcomes, published at the
# end of each run) count, per rule, fired episodes / resolved within 30
# days / open at churn: cool 1/1/0 (05-04 to 05-15); quiet 2/1/0; drop_for
# 2/1/0 (an episode ends whether or not the rule publishes RESOLVED);
# smb_flag 1/0/0; grow 2/0/1; shadowy 3/0/1.
# Then the same log is replayed under a new prefix and group with another
# batch size: the same triggers of s1, same ids, same event times.
# Needs JD_BIN, JD_ROOT, JD_TMP (JD_REDIS_PORT optional).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
PY=/usr/bin/python3
AVRO="$JD_ROOT/tests/integration/jdavro.py"
SCH="$JD_ROOT/schemas"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
[ -n "${JD_REDIS_PORT:-}" ] || jd_start_redis "$JD_TMP/redis"
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 1
RULES="$JD_ROOT/tests/fixtures/rules/timers.yaml"
fail() { echo "FAIL: $*" >&2; exit 1; }
common() { echo --brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --rules "$RULES" \
  --set "redis.prefix=$1" --set "kafka.group.id=$2" --set topics.shadow=cs.trigger.shadow; }

$PY - "$JD_TMP" <<'PYEOF'
import json, sys, datetime as dt
out = sys.argv[1]
def ms(s): return int(dt.datetime.fromisoformat(s + "+00:00").timestamp() * 1000)
evs = []
def ev(acct, typ, at, **kw):
    evs.append({"event_id": "%s-%d" % (acct, len(evs)), "account_id": acct, "user_id": kw.get("user"),
                "type": typ, "feature": None, "occurred_at": ms(at), "value": None,
                "attributes": kw.get("attrs", {})})
for a, seg in (("a1", "enterprise"), ("a2", "enterprise"), ("s1", "smb")):
    ev(a, "account_created", "2026-05-01T00:00:00")
    ev(a, "account_updated", "2026-05-01T00:00:01", attrs={"seats": "10", "segment": seg})
ev("a2", "account_updated", "2026-05-20T13:00:00", attrs={"status": "churned"})
for day in range(1, 21):
    for a in ("a1", "a2", "s1"):
        if a != "s1" or day in (1, 2, 15):
            ev(a, "login", "2026-05-%02dT12:00:00" % day, user=a + "-u1")
evs.sort(key=lambda e: e["occurred_at"])
cut = ms("2026-05-15T00:00:00")
for name, part in (("phase1", [e for e in evs if e["occurred_at"] < cut]),
                   ("phase2", [e for e in evs if e["occurred_at"] >= cut])):
    open("%s/%s.jsonl" % (out, name), "w").write("\n".join(json.dumps(e) for e in part) + "\n")
PYEOF
for p in phase1 phase2; do
  $PY "$AVRO" encode "$SCH/product_event.avsc" "$JD_TMP/$p" --id 1 <"$JD_TMP/$p.jsonl" >/dev/null
done
N1=$(ls "$JD_TMP"/phase1/*.bin | wc -l); N2=$(ls "$JD_TMP"/phase2/*.bin | wc -l)
produce() { ls "$JD_TMP/$1"/*.bin | sort -V | xargs kcat -P -b "$JD_BROKERS" -t product-events; }

produce phase1
timeout 120 "$JD_BIN" run $(common "tm$$" "g1-$$") --max-events "$N1" >"$JD_TMP/run1.out" 2>"$JD_TMP/run1.log" \
  || { tail -20 "$JD_TMP/run1.log"; fail "phase 1 run"; }
produce phase2
timeout 120 "$JD_BIN" run $(common "tm$$" "g1-$$") --max-events "$N2" >"$JD_TMP/run2.out" 2>"$JD_TMP/run2.log" \
  || { tail -20 "$JD_TMP/run2.log"; fail "phase 2 run"; }
cat "$JD_TMP/run1.out" "$JD_TMP/run2.out"
grep -q "shadow triggers      3 " "$JD_TMP/run1.out" || fail "expected 3 shadow triggers in phase 1"

read_topics() {
  for t in cs.trigger.risk cs.trigger.renewal cs.trigger.expansion; do
    kcat -C -b "$JD_BROKERS" -t "$t" -e -q -f '%S:%s'
  done | $PY "$AVRO" decode "$SCH/trigger_event.avsc"
}
read_topics >"$JD_TMP/triggers.jsonl" || fail "triggers do not decode"
kcat -C -b "$JD_BROKERS" -t cs.trigger.shadow -e -q -f '%S:%s' \
  | $PY "$AVRO" decode "$SCH/trigger_event.avsc" >"$JD_TMP/shadow.jsonl" || fail "shadow topic"

$PY - "$JD_TMP/triggers.jsonl" "$JD_TMP/shadow.jsonl" <<'PYEOF'
import json, sys, datetime as dt
def ms(s): return int(dt.datetime.fromisoformat(s + "+00:00").timestamp() * 1000)
trs = [json.loads(l) for l in open(sys.argv[1])]
sh = [json.loads(l) for l in open(sys.argv[2])]
for t in trs: print(t["account_id"], t["rule_id"], t["status"], t["fired_at"], t["source_offset"])
s1 = sorted((t["rule_id"], t["status"], t["fired_at"]) for t in trs
            if t["account_id"] == "s1" and t["rule_id"] != "smb_flag")
want = sorted([("cool", "FIRED", ms("2026-05-04T00:00:00")),
               ("cool", "RESOLVED", ms("2026-05-15T12:00:00")),
               ("drop_for", "FIRED", ms("2026-05-06T00:00:00")),
               ("drop_for", "FIRED", ms("2026-05-19T00:00:00")),
               ("quiet", "FIRED", ms("2026-05-06T00:00:00")),
               ("quiet", "RESOLVED", ms("2026-05-15T12:00:00")),
               ("quiet", "FIRED", ms("2026-05-19T00:00:00"))])
assert s1 == want, "s1 %s != %s" % (s1, want)
# silence is seen by the timer clock: no event of s1 made these fire
assert all(t["source_offset"] == -1 for t in trs
           if t["account_id"] == "s1" and t["status"] == "FIRED" and t["rule_id"] != "smb_flag")
flag = [t for t in trs if t["rule_id"] == "smb_flag"]
assert [t["account_id"] for t in flag] == ["s1"] and flag[0]["fired_at"] <= ms("2026-05-02T12:00:00"), flag
grow = sorted((t["account_id"], t["status"]) for t in trs if t["rule_id"] == "grow")
assert grow == [("a1", "FIRED"), ("a2", "FIRED")], grow  # never s1: suppressed by its risks
for t in trs:  # an active account is decided at its batch's latest event:
    if t["rule_id"] == "grow":  # from 05-11, by the end of phase 1
        assert ms("2026-05-11T00:00:00") <= t["fired_at"] <= ms("2026-05-14T12:00:00"), t
assert not [t for t in trs if t["account_id"] in ("a1", "a2") and t["kind"] == "RISK"], trs
assert not [t for t in trs if t["rule_id"] == "shadowy" or t["shadow"]], "shadow on trigger topics"
assert len(trs) == 10, len(trs)
assert sorted(t["account_id"] for t in sh) == ["a1", "a2", "s1"], sh
assert all(t["shadow"] and t["rule_id"] == "shadowy" for t in sh), sh
assert len({t["trigger_id"] for t in trs}) == len(trs)
print("ok   silence, for, cooldown, suppression, shadow and resolve as derived")
PYEOF

kcat -C -b "$JD_BROKERS" -t cs.rule.outcomes -e -q -f '%S:%s' \
  | $PY "$AVRO" decode "$SCH/rule_outcome.avsc" >"$JD_TMP/outcomes.jsonl" || fail "outcome records"
$PY - "$JD_TMP/outcomes.jsonl" <<'PYEOF'
import json, sys
last = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    assert r["_schema_id"] == 4, r
    if r["rule_id"] not in last or r["published_at"] >= last[r["rule_id"]]["published_at"]:
        last[r["rule_id"]] = r
got = {k: (v["fired"], v["resolved_30d"], v["churned"]) for k, v in last.items()}
want = {"cool": (1, 1, 0), "quiet": (2, 1, 0), "drop_for": (2, 1, 0), "smb_flag": (1, 0, 0),
        "grow": (2, 0, 1), "shadowy": (3, 0, 1)}
assert got == want, "outcomes %s != %s" % (got, want)
assert last["shadowy"]["mode"] == "shadow" and last["grow"]["kind"] == "expansion", last
print("ok   rule outcomes: fired, resolved within 30 days, churned")
PYEOF

# ---- the same log again: new prefix and group, batches of 5 -------------------
timeout 120 "$JD_BIN" run $(common "tm2$$" "g2-$$") --set pipeline.batch_size=5 --set topics.shadow= \
  --max-events $((N1 + N2)) >"$JD_TMP/run3.out" 2>"$JD_TMP/run3.log" \
  || { tail -20 "$JD_TMP/run3.log"; fail "replay run"; }
read_topics >"$JD_TMP/all.jsonl"
$PY - "$JD_TMP/triggers.jsonl" "$JD_TMP/all.jsonl" <<'PYEOF'
import json, sys
first = [json.loads(l) for l in open(sys.argv[1])]
both = [json.loads(l) for l in open(sys.argv[2])]
key = lambda t: (t["account_id"], t["rule_id"], t["status"], t["fired_at"], t["trigger_id"])
# s1's silence triggers and their resolutions (smb_flag fires at the latest
# event of s1's first batch, which the batch size moves)
pick = lambda ts: sorted(key(t) for t in ts if t["account_id"] == "s1" and t["rule_id"] != "smb_flag")
a = pick(first)
# the topics now hold both runs: each of these triggers twice
b = pick(both)
assert b == sorted(a + a), "replay differs:\n%s\n%s" % (a, b)
print("ok   replay with other batches: the same s1 triggers, ids and event times")
PYEOF
grep -q "shadow triggers      3 " "$JD_TMP/run3.out" || fail "replay: 3 shadow triggers, counted"
