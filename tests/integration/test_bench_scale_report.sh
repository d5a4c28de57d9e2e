#!/usr/bin/env bash
# bench/report.py's scale-out summary (bench/run.sh --scale) on made-up
# measurements with known answers: combined rate of two instances over
# their joint span, ratios to (a) (of the medians and paired per round),
# Redis CPU per event per node from INFO snapshots, a run with a rebalance
# left out of the median, the files written. No timing is measured.
# Needs JD_ROOT, JD_TMP.
set -euo pipefail
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }
/usr/bin/python3 - "$JD_TMP/results.jsonl" <<'PY'
import json, sys
rows = [{"mode": "produce", "label": "bench-scale", "events": 1000}]
def run(scen, rnd, spans, cpu_deltas, assignments=None, events=None):
    label = "scale/%s/%d" % (scen, rnd)
    n = len(spans)
    for port, d in cpu_deltas.items():
        for phase, cpu, calls in (("before", 10.0, 100), ("after", 10.0 + d, 100 + 500)):
            rows.append({"mode": "redis_node", "label": label, "phase": phase, "port": port,
                         "cpu_s": cpu, "calls": calls, "usec": calls, "evalsha_calls": calls // 10,
                         "evalsha_usec": 0})
    for k, (t0, t1) in enumerate(spans):
        ev = (events or 1000) // n
        rows.append({"mode": "full", "label": "%s/%d" % (label, k + 1), "events": ev,
                     "t_first": t0, "t_end": t1, "cpu_s_per_m": 20.0, "events_per_batch": 500,
                     "events_per_s": ev / (t1 - t0), "peak_rss_mib": 40})
    rows.append({"mode": "scale_run", "label": label, "instances": n, "exit_codes": [0] * n,
                 "assignments": assignments or [1] * n, "machine_jiffies": [150, 200],
                 "broker_cpu_s": 0.002})
for r in (1, 2):
    run("single/1", r, [(100.0, 100.2 if r == 1 else 100.25)], {6379: 0.05})
    # two instances: 500 events each over 100.0-100.1 and 100.02-100.125
    run("single/2", r, [(100.0, 100.1), (100.02, 100.125)], {6379: 0.04})
    run("cluster/1", r, [(100.0, 100.16)], {7001: 0.02, 7002: 0.02, 7003: 0.02})
    run("cluster/2", r, [(100.0, 100.1)] * 2, {7001: 0.015, 7002: 0.016, 7003: 0.017})
# a third round of (b) with a rebalance and an event read twice: left out
run("single/2", 3, [(100.0, 110.0), (100.0, 110.0)], {6379: 0.04}, [2, 1], 1002)
with open(sys.argv[1], "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
PY
python3 "$JD_ROOT/bench/report.py" --results "$JD_TMP/results.jsonl" --out "$JD_TMP/out" \
  --stamp T --mode scale-quick --rev test >"$JD_TMP/table.txt" || fail "report.py failed"
for f in bench-scale-T.json bench-scale-T.txt latest-scale.json; do
  [ -s "$JD_TMP/out/$f" ] || fail "$f not written"
done
/usr/bin/python3 - "$JD_TMP/out/latest-scale.json" <<'PY' || fail "wrong summary"
import json, sys
sc = json.load(open(sys.argv[1]))["scale"]
s = sc["scenarios"]
def near(a, b, what):
    assert abs(a - b) < 1e-6 * max(1, abs(b)), "%s: %r != %r" % (what, a, b)
assert sc["events"] == 1000
# (a): 1000 events over 0.2 s and 0.25 s -> median of 5000 and 4000
near(s["single/1"]["events_per_s"], 4500, "(a) median")
# (b): 1000 events over 100.0 .. 100.125 = 8000/s in rounds 1-2; round 3 left out
near(s["single/2"]["events_per_s"], 8000, "(b) combined rate")
assert s["single/2"]["left_out"] == 1 and s["single/2"]["rebalanced_runs"] == 1
assert s["single/2"]["incomplete_runs"] == 1
assert [r["clean"] for r in s["single/2"]["runs"]] == [True, True, False]
near(s["single/2"]["ratio"], 8000 / 4500, "(b) ratio of medians")
near(s["single/2"]["ratio_paired"], (8000 / 5000 + 8000 / 4000) / 2, "(b) paired")
near(s["cluster/2"]["ratio"], 10000 / 4500, "(d) ratio")
# Redis CPU per event per node: 0.02 s / 1000 events = 20 us
near(s["cluster/1"]["redis_cpu_us_per_event_by_node"][0], 20, "(c) node CPU")
near(s["cluster/1"]["redis_cpu_us_per_event"], 60, "(c) Redis total")
near(s["cluster/2"]["redis_cpu_us_per_event_by_node"][2], 17, "(d) third node")
near(s["single/1"]["redis_cpu_us_per_event"], 50, "(a) Redis")
# EVALSHA: 50 per node per 1000 events
near(s["cluster/1"]["evalsha_per_event"], 0.15, "(c) EVALSHA")
# sum = jd 20 + Redis 50 + broker 2 us; ceiling = CPUs / sum; busy 150/200
near(s["single/1"]["cpu_us_per_event"], 72, "(a) CPU sum")
near(s["single/1"]["machine_busy"], 0.75, "busy")
PY
grep -q '^(b) 2 instances, 1 redis-server' "$JD_TMP/table.txt" || fail "table row missing"
grep -q '1 left out of the median' "$JD_TMP/table.txt" || fail "left-out run not shown"
echo "ok   scale-out summary: rates, ratios, Redis CPU per node, a rebalanced run left out"
