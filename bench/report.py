#!/usr/bin/env python3
"""bench/report.py: turns the JSON lines of one bench/run.sh into the table
printed on the terminal, bench/results/bench-<stamp>.json (+ latest.json)
and, when gnuplot is available, the PNG plot (bench/plot.gp).

Every figure comes from the same run: medians over the interleaved rounds
for raw / decode / full, the ratio full/raw of those medians, and the
latency of journeyd next to the raw produce->consume latency at the same
offered rate. Nothing here measures; it only summarises. Standard library
only (python3 is already a journeyd dependency).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

TARGETS = {
    "full_eps": 100000.0,    # full events/s
    "ratio_decode": 0.5,     # full / decode
    "redis_us": 5.0,         # Redis CPU per event
    "journeyd_us": 8.0,      # journeyd CPU per event
    "client_cmds": 0.1,      # Redis commands sent per event, 10k accounts, warm
    "p99_ms_at_50k": 50.0,
    "p50_ms_at_50k": 10.0,
    "rss_over_cache_mib": 64.0,  # 1M accounts: peak RSS - state.cache_mb
    "decode_eps": 3e6,
}
CACHE_MB = 256  # state.cache_mb's default (the bench runs with it unless --set)


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    print("report: skipping a line that is not JSON: " + line[:80], file=sys.stderr)
    return rows


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def pick(rows, mode, prefix=None, label=None):
    out = []
    for r in rows:
        if r.get("mode") != mode:
            continue
        lab = r.get("label", "")
        if label is not None and lab != label:
            continue
        if prefix is not None and not lab.startswith(prefix):
            continue
        out.append(r)
    return out


def fmt(v, spec="{:,.0f}", none="-"):
    return none if v is None else spec.format(v)


def throughput(rows):
    s = {}
    for m in ("raw", "decode", "full"):
        rs = pick(rows, m, prefix="thr/")
        s[m] = {
            "runs": len(rs),
            "events": rs[0]["events"] if rs else None,
            "events_per_s": med(rs, "events_per_s"),
            "events_per_s_all": [round(r["events_per_s"]) for r in rs],
            "cpu_s_per_m": med(rs, "cpu_s_per_m"),
            "broker_cpu_s_per_m": med(rs, "broker_cpu_s_per_m"),
            "peak_rss_mib": max([r["peak_rss_mib"] for r in rs], default=None),
        }
        if m == "full":
            for k in ("redis_cpu_s_per_m", "evalsha_per_event", "redis_cmds_per_event_incl_script",
                      "events_per_batch", "triggers"):
                s[m][k] = med(rs, k)
            stages = {}
            for r in rs:
                for k, v in time_stages(r.get("stages")).items():
                    stages.setdefault(k, []).append(v[0] / r["seconds"] if r["seconds"] else 0)
            s[m]["stage_share"] = {k: statistics.median(v) for k, v in stages.items()}
    raw = s["raw"]["events_per_s"]
    s["ratio_full_raw"] = s["full"]["events_per_s"] / raw if raw and s["full"]["events_per_s"] else None
    s["ratio_decode_raw"] = s["decode"]["events_per_s"] / raw if raw and s["decode"]["events_per_s"] else None
    return s


# jd_bench full's stages that are not shares of the wall time: the
# distributions (input lag, batch time: [p50, p99, n]) and the waits that
# contain calls timed in other stages (jd_bench_stages.c).
NOT_SHARES = ("writer_wait", "settle", "idle_ends")


def time_stages(stages):
    return {k: v for k, v in (stages or {}).items()
            if not k.endswith("_ms") and not k.endswith("_per_message") and k not in NOT_SHARES}


def redis_cost(rows):
    cl = pick(rows, "redis_client", label="cost")
    full = pick(rows, "full", label="cost")
    out = {}
    if cl:
        out.update({k: cl[0].get(k) for k in ("client_cmds_per_event", "script_cmds_per_event",
                                               "client_cmds_per_batch", "client_cmds", "events")})
    if full:
        out["incl_script_per_event"] = full[0].get("redis_cmds_per_event_incl_script")
        out["evalsha_per_event"] = full[0].get("evalsha_per_event")
    return out


def latency(rows):
    rates = {}
    for r in rows:
        lab = r.get("label", "")
        if not lab.startswith("lat/"):
            continue
        rate = int(lab.split("/")[1])
        e = rates.setdefault(rate, {"offered": rate})
        if r["mode"] == "latency":
            e["journeyd"] = {k: r.get(k) for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
                                                   "samples", "triggers", "created_p50_ms",
                                                   "created_p99_ms", "delivery_p50_ms",
                                                   "delivery_p99_ms", "by_second_ms")}
        elif r["mode"] == "latency_raw":
            e["raw"] = {k: r.get(k) for k in ("p50_ms", "p99_ms", "p999_ms", "samples")}
        elif r["mode"] == "full":
            e["achieved_events_per_s"] = r.get("events_per_s")
            st = r.get("stages") or {}
            e["stage_share"] = {k: v[0] / r["seconds"] for k, v in time_stages(st).items()
                                if r.get("seconds")}
            e["hops"] = {k: st.get(k) for k in ("input_lag_ms", "batch_ms_per_message",
                                                "writer_wait", "settle")}
    for e in rates.values():
        ach = e.get("achieved_events_per_s")
        e["sustained"] = bool(ach and ach >= 0.98 * e["offered"])
    return [rates[k] for k in sorted(rates)]


def micro(rows):
    out = {}
    for m in ("micro_decode", "micro_rules", "micro_engine"):
        rs = pick(rows, m)
        if rs:
            out[m[6:]] = {k: v for k, v in rs[0].items() if k not in ("mode", "label")}
    return out


def accounts(rows):
    rs = [r for r in pick(rows, "full") if r.get("label", "").startswith("accounts/")]
    if not rs:
        return None
    r = rs[0]
    return {k: r.get(k) for k in ("events", "accounts", "events_per_s", "peak_rss_mib",
                                  "redis_used_memory_mib", "cpu_s_per_m", "redis_cpu_s_per_m")}


def knobs(rows):
    out = []
    inst = [r for r in pick(rows, "full") if r.get("label") == "knob/instances=2"]
    for r in rows:
        lab = r.get("label", "")
        if not lab.startswith("knob/") or lab == "knob/instances=2":
            continue
        name = lab[5:]
        e = next((k for k in out if k["knob"] == name), None)
        if not e:
            e = {"knob": name}
            out.append(e)
        if r["mode"] == "full":
            e["events_per_s"] = r.get("events_per_s")
            e["events_per_batch"] = r.get("events_per_batch")
            e["evalsha_per_batch"] = (r.get("evalsha_per_event") or 0) * (r.get("events_per_batch") or 0)
            e["evalsha_per_event"] = r.get("evalsha_per_event")
        elif r["mode"] == "latency":
            e["p50_ms"], e["p99_ms"] = r.get("p50_ms"), r.get("p99_ms")
    if inst:
        span = max(r["t_end"] for r in inst) - min(r["t_first"] for r in inst)
        out.append({"knob": "instances=2", "events_per_s": sum(r["events"] for r in inst) / span
                    if span > 0 else None, "events_per_batch": med(inst, "events_per_batch")})
    return out


def targets(s, rc, lat, mic, acc):
    t = []

    def add(name, value, goal, ok, unit=""):
        t.append({"target": name, "value": value, "goal": goal,
                  "met": None if value is None else bool(ok), "unit": unit})

    f = s["full"]["events_per_s"]
    add("full >= 100k events/s", f, TARGETS["full_eps"], f is not None and f >= 1e5)
    dec = s["decode"]["events_per_s"]
    r = f / dec if f and dec else None
    add("full >= 0.5 x decode", r, TARGETS["ratio_decode"], r is not None and r >= 0.5)
    ru = s["full"].get("redis_cpu_s_per_m")
    add("Redis CPU <= 5 us per event", ru, TARGETS["redis_us"], ru is not None and ru <= 5, "us")
    ju = s["full"].get("cpu_s_per_m")
    add("journeyd CPU <= 8 us per event", ju, TARGETS["journeyd_us"], ju is not None and ju <= 8,
        "us")
    c = rc.get("client_cmds_per_event")
    add("<= 0.1 Redis command sent per event (10k accounts)", c, TARGETS["client_cmds"],
        c is not None and c <= 0.1)
    l50 = next((e for e in lat if e["offered"] == 50000), None)
    p = l50["journeyd"]["p99_ms"] if l50 and "journeyd" in l50 else None
    add("p99 event-to-trigger <= 50 ms at 50k events/s offered", p, TARGETS["p99_ms_at_50k"],
        p is not None and p <= 50 and l50.get("sustained"), "ms")
    p5 = l50["journeyd"]["p50_ms"] if l50 and "journeyd" in l50 else None
    add("p50 event-to-trigger <= 10 ms at 50k events/s offered", p5, TARGETS["p50_ms_at_50k"],
        p5 is not None and p5 <= 10 and l50.get("sustained"), "ms")
    if p is None and l50 and l50.get("achieved_events_per_s") and not l50.get("sustained"):
        # no trigger got through inside the run's time bound: the backlog
        # grew from the start, which fails the target whatever the p99
        t[-1]["met"] = False
        t[-1]["note"] = "not sustained: %.0f events/s achieved" % l50["achieved_events_per_s"]
    rss = acc["peak_rss_mib"] if acc else None
    add("peak RSS <= state.cache_mb + 64 MiB with 1M accounts", rss,
        CACHE_MB + TARGETS["rss_over_cache_mib"],
        rss is not None and rss <= CACHE_MB + TARGETS["rss_over_cache_mib"], "MiB")
    d = mic.get("decode", {}).get("events_per_s_one_core")
    add("decode >= 3M events/s on one core, no per-event malloc", d, TARGETS["decode_eps"],
        d is not None and d >= 3e6 and mic["decode"].get("mallocs_per_event", 1) < 0.01)
    return t


def table(res):
    s, rc, lat, mic, acc = (res["throughput"], res["redis"], res["latency"], res["micro"],
                            res["accounts"])
    m = res["meta"]
    L = []
    L.append("journeyd bench (%s) rev %s, %s, %d CPUs, %s" % (
        m["mode"], m["rev"], m["cpu"], m["cpus"], m["stamp"]))
    if m.get("sets"):
        L.append("settings: " + m["sets"])
    L.append("")
    L.append("%-26s %12s %10s %10s %9s %8s" % ("same %s events" % fmt(s["raw"]["events"]),
                                              "events/s", "CPU s/M", "+broker", "RSS MiB", "vs raw"))
    names = {"raw": "raw (bare consumer)", "decode": "decode", "full": "full (journeyd)"}
    for k in ("raw", "decode", "full"):
        e = s[k]
        ratio = e["events_per_s"] / s["raw"]["events_per_s"] if e["events_per_s"] and s["raw"]["events_per_s"] else None
        L.append("%-26s %12s %10s %10s %9s %8s" % (
            names[k], fmt(e["events_per_s"]), fmt(e["cpu_s_per_m"], "{:.2f}"),
            fmt(e["broker_cpu_s_per_m"], "{:.2f}"), fmt(e["peak_rss_mib"], "{:.0f}"),
            fmt(ratio, "{:.3f}")))
    f = s["full"]
    L.append("  median of %d interleaved rounds; full runs: %s events/s" % (
        f["runs"], ", ".join(fmt(v) for v in f["events_per_s_all"])))
    L.append("  full: Redis CPU %s s per M events (journeyd %s), %s events/batch" % (
        fmt(f.get("redis_cpu_s_per_m"), "{:.1f}"), fmt(f["cpu_s_per_m"], "{:.1f}"),
        fmt(f.get("events_per_batch"))))
    if f.get("stage_share"):
        parts = sorted(f["stage_share"].items(), key=lambda kv: -kv[1])
        L.append("  full wall time: " + ", ".join("%s %.0f%%" % (k, 100 * v) for k, v in parts if v >= 0.005))
    L.append("")
    L.append("Redis per event (10k accounts, warm state): client commands %s (EVALSHA %s), "
             "incl. in-script %s" % (fmt(rc.get("client_cmds_per_event"), "{:.3f}"),
                                     fmt(rc.get("evalsha_per_event"), "{:.3f}"),
                                     fmt(rc.get("incl_script_per_event"), "{:.2f}")))
    L.append("  from empty state (throughput runs): EVALSHA %s, incl. in-script %s" % (
        fmt(f.get("evalsha_per_event"), "{:.3f}"),
        fmt(f.get("redis_cmds_per_event_incl_script"), "{:.2f}")))
    if rc.get("client_cmds"):
        L.append("  client commands by name: " + json.dumps(rc["client_cmds"]))
    L.append("")
    L.append("latency, ms     %-28s  %-38s %s" % ("raw produce->consume", "journeyd event->trigger",
                                                 "journeyd"))
    L.append("offered ev/s    %8s %8s %8s    %8s %8s %8s %8s  %s" % (
        "p50", "p99", "p999", "p50", "p99", "p999", "samples", "achieved ev/s"))
    for e in lat:
        r, j = e.get("raw", {}), e.get("journeyd", {})
        L.append("%-14s  %8s %8s %8s    %8s %8s %8s %8s  %s%s" % (
            fmt(e["offered"]), fmt(r.get("p50_ms"), "{:.1f}"), fmt(r.get("p99_ms"), "{:.1f}"),
            fmt(r.get("p999_ms"), "{:.1f}"), fmt(j.get("p50_ms"), "{:.1f}"),
            fmt(j.get("p99_ms"), "{:.1f}"), fmt(j.get("p999_ms"), "{:.1f}"), fmt(j.get("samples")),
            fmt(e.get("achieved_events_per_s")), "" if e["sustained"] else "  (not sustained)"))
    L.append("")
    L.append("journeyd's path by hop, ms p50/p99: in = produce to journeyd's poll (input lag), "
             "batch = the time of the batch each")
    L.append("event was in, created = produce to the trigger's produce, out = the trigger's "
             "delivery to the observer; waits s")
    L.append("offered ev/s    %13s %13s %13s %13s  %s" % ("in", "batch", "created", "out",
                                                       "writer_wait"))
    for e in lat:
        j, h = e.get("journeyd", {}), e.get("hops") or {}

        def pair(a, b):
            return "%s/%s" % (fmt(a, "{:.1f}"), fmt(b, "{:.1f}"))

        il, bm, ww = h.get("input_lag_ms") or [None, None], h.get("batch_ms_per_message") or [
            None, None], h.get("writer_wait") or [None]
        L.append("%-14s  %13s %13s %13s %13s  %s" % (
            fmt(e["offered"]), pair(il[0], il[1]), pair(bm[0], bm[1]),
            pair(j.get("created_p50_ms"), j.get("created_p99_ms")),
            pair(j.get("delivery_p50_ms"), j.get("delivery_p99_ms")), fmt(ww[0], "{:.2f}")))
    L.append("")
    d, ru = mic.get("decode"), mic.get("rules")
    if d:
        L.append("micro: decode %.0f ns/event = %s events/s on one core, %s mallocs/event" % (
            d["ns_per_event"], fmt(d["events_per_s_one_core"]), fmt(d.get("mallocs_per_event"), "{:.1f}")))
    if ru:
        L.append("micro: rules %.0f ns/account steady, %.0f ns/account on a firing pass (%d rules)" % (
            ru["steady_ns_per_account"], ru["firing_pass_ns_per_account"], ru["rules"]))
    en = mic.get("engine")
    if en:
        L.append("micro: engine step %.0f ns/event = %s events/s on one core, %s mallocs/event, "
                 "%s heap bytes per account (%d accounts)" % (
                     en["ns_per_event"], fmt(en.get("events_per_s")),
                     fmt(en.get("mallocs_per_event"), "{:.2f}"),
                     fmt(en.get("heap_bytes_per_account")), en.get("accounts", 0)))
    if acc:
        L.append("1M accounts: peak RSS %.0f MiB (journeyd), Redis used_memory %.0f MiB, %s events/s" % (
            acc["peak_rss_mib"], acc["redis_used_memory_mib"] or 0, fmt(acc["events_per_s"])))
    if res["knobs"]:
        L.append("")
        L.append("%-58s %10s %9s %9s %8s %8s" % ("knob", "events/s", "ev/batch", "EVALSHA/b",
                                                 "p50 ms", "p99 ms"))
        for k in res["knobs"]:
            L.append("%-58s %10s %9s %9s %8s %8s" % (
                k["knob"][:58], fmt(k.get("events_per_s")), fmt(k.get("events_per_batch")),
                fmt(k.get("evalsha_per_batch")), fmt(k.get("p50_ms"), "{:.1f}"),
                fmt(k.get("p99_ms"), "{:.1f}")))
    L.append("")
    L.append("targets")
    for t in res["targets"]:
        v = t["value"]
        shown = t.get("note") or "not measured" if v is None else (
            "{:,.3f}".format(v) if v < 10 else "{:,.0f}".format(v)) + (" " + t["unit"] if t["unit"] else "")
        mark = "n/a" if t["met"] is None else ("MET" if t["met"] else "NOT MET")
        L.append("  [%-7s] %-58s %s" % (mark, t["target"], shown))
    return "\n".join(L)


SCALE_NAMES = {
    "single/1": "(a) 1 instance, 1 redis-server",
    "single/2": "(b) 2 instances, 1 redis-server",
    "cluster/1": "(c) 1 instance, 3-master cluster",
    "cluster/2": "(d) 2 instances, 3-master cluster",
}


def scale_round(rows, scen, rnd, produced):
    """One run of a scale-out scenario: its instances' full lines and the
    redis_node snapshots before/after, combined."""
    label = "scale/%s/%d" % (scen, rnd)
    inst = [r for r in pick(rows, "full") if r.get("label", "").startswith(label + "/")]
    if not inst:
        return None
    events = sum(r["events"] for r in inst)
    span = max(r["t_end"] for r in inst) - min(r["t_first"] for r in inst)
    snap = {}
    for r in pick(rows, "redis_node", label=label):
        snap.setdefault(r["port"], {})[r["phase"]] = r
    ev = events or 1
    nodes = []
    for port in sorted(snap):
        a, b = snap[port].get("before"), snap[port].get("after")
        if not a or not b:
            continue
        nodes.append({"port": port,
                      "cpu_us_per_event": (b["cpu_s"] - a["cpu_s"]) * 1e6 / ev,
                      "cmdstat_us_per_event": (b["usec"] - a["usec"]) / ev,
                      "calls_per_event": (b["calls"] - a["calls"]) / ev,
                      "evalsha_per_event": (b["evalsha_calls"] - a["evalsha_calls"]) / ev})
    run = next((r for r in pick(rows, "scale_run", label=label)), {})
    busy, total = (run.get("machine_jiffies") or [0, 0])[:2]
    jd_us = sum(r["cpu_s_per_m"] * r["events"] for r in inst) / ev   # s per M = us per event
    redis_us = sum(n["cpu_us_per_event"] for n in nodes)
    broker_us = run.get("broker_cpu_s", 0) * 1e6 / ev
    cpus = os.cpu_count() or 1
    return {"round": rnd, "events": events, "complete": events == produced,
            "events_per_s": events / span if span > 0 else None,
            "journeyd_cpu_us_per_event": jd_us,
            "broker_cpu_us_per_event": broker_us,
            "cpu_us_per_event": jd_us + redis_us + broker_us,
            # events/s if every CPU of the machine ran only these processes
            "cpu_ceiling_events_per_s": cpus * 1e6 / (jd_us + redis_us + broker_us) if jd_us else None,
            "machine_busy": busy / total if total else None,
            "events_per_batch": med(inst, "events_per_batch"),
            "instances": [{k: r.get(k) for k in ("events", "events_per_s", "cpu_s_per_m",
                                                 "events_per_batch", "peak_rss_mib")} for r in inst],
            "assignments": run.get("assignments"), "exit_codes": run.get("exit_codes"),
            "redis_nodes": nodes, "redis_cpu_us_per_event": redis_us}


def scale(rows):
    prod = pick(rows, "produce", label="bench-scale")
    produced = prod[0]["events"] if prod else None
    rounds = sorted({int(r["label"].split("/")[3]) for r in pick(rows, "scale_run")})
    out = {"events": produced, "scenarios": {}}
    for scen in SCALE_NAMES:
        rs = [x for x in (scale_round(rows, scen, i, produced) for i in rounds) if x]
        if not rs:
            continue
        for x in rs:
            x["clean"] = x["complete"] and all(a == 1 for a in x["assignments"] or [0]) \
                and not any(x["exit_codes"] or [1])
        all_rs, rs = rs, [x for x in rs if x["clean"]] or rs
        nn = max(len(x["redis_nodes"]) for x in rs)
        out["scenarios"][scen] = {
            "name": SCALE_NAMES[scen], "runs": all_rs,
            "left_out": sum(1 for x in all_rs if not x["clean"]) if rs is not all_rs else 0,
            "events_per_s": med(rs, "events_per_s"),
            "events_per_s_all": [round(x["events_per_s"] or 0) for x in all_rs],
            "incomplete_runs": sum(1 for x in all_rs if not x["complete"]),
            "rebalanced_runs": sum(1 for x in all_rs if any(a != 1 for a in x["assignments"] or [])),
            "journeyd_cpu_us_per_event": med(rs, "journeyd_cpu_us_per_event"),
            "broker_cpu_us_per_event": med(rs, "broker_cpu_us_per_event"),
            "cpu_us_per_event": med(rs, "cpu_us_per_event"),
            "cpu_ceiling_events_per_s": med(rs, "cpu_ceiling_events_per_s"),
            "machine_busy": med(rs, "machine_busy"),
            "events_per_batch": med(rs, "events_per_batch"),
            "redis_cpu_us_per_event": med(rs, "redis_cpu_us_per_event"),
            "redis_cpu_us_per_event_by_node": [
                statistics.median([x["redis_nodes"][i]["cpu_us_per_event"] for x in rs
                                   if len(x["redis_nodes"]) > i]) for i in range(nn)],
            "evalsha_per_event": statistics.median(
                [sum(n["evalsha_per_event"] for n in x["redis_nodes"]) for x in rs]),
        }
    base = out["scenarios"].get("single/1", {})
    for scen, e in out["scenarios"].items():
        b = base.get("events_per_s")
        e["ratio"] = e["events_per_s"] / b if b and e["events_per_s"] else None
        # paired: this scenario over (a) of the same round
        pairs = [x["events_per_s"] / y["events_per_s"] for x in e["runs"] for y in base.get("runs", [])
                 if x["round"] == y["round"] and x["clean"] and y["clean"]]
        e["ratio_paired"] = statistics.median(pairs) if pairs else None
    return out


def scale_table(res):
    m, sc = res["meta"], res["scale"]
    L = ["journeyd bench (%s) rev %s, %s, %d CPUs, %s" % (
        m["mode"], m["rev"], m["cpu"], m["cpus"], m["stamp"])]
    if m.get("sets"):
        L.append("settings: " + m["sets"])
    first = next(iter(sc["scenarios"].values()), {"runs": []})
    L.append("same %s events (jd_sim, 10k accounts), 12 partitions, from empty state; "
             "median of %d interleaved rounds" % (fmt(sc["events"]), len(first["runs"])))
    L.append("")
    hdr = "%-34s %9s %6s %6s | %6s %-20s %6s %6s %6s | %8s %5s %7s"
    L.append(hdr % ("", "", "", "", "CPU us", "per event:", "", "", "", "CPU", "busy", "EVALSHA"))
    L.append(hdr % ("scale-out", "events/s", "vs (a)", "paired", "jd", "Redis by node", "Redis",
                    "broker", "sum", "ceiling", "CPUs", "/event"))
    for e in sc["scenarios"].values():
        L.append(hdr % (
            e["name"], fmt(e["events_per_s"]), fmt(e["ratio"], "{:.2f}"),
            fmt(e["ratio_paired"], "{:.2f}"), fmt(e["journeyd_cpu_us_per_event"], "{:.1f}"),
            " / ".join("%.1f" % v for v in e["redis_cpu_us_per_event_by_node"]),
            fmt(e["redis_cpu_us_per_event"], "{:.1f}"), fmt(e["broker_cpu_us_per_event"], "{:.1f}"),
            fmt(e["cpu_us_per_event"], "{:.1f}"), fmt(e["cpu_ceiling_events_per_s"]),
            fmt(e["machine_busy"], "{:.0%}"), fmt(e["evalsha_per_event"], "{:.3f}")))
    L.append("")
    for e in sc["scenarios"].values():
        notes = []
        if e["incomplete_runs"]:
            notes.append("%d run(s) did not process every event" % e["incomplete_runs"])
        if e["rebalanced_runs"]:
            notes.append("%d run(s) with a rebalance" % e["rebalanced_runs"])
        if e["left_out"]:
            notes.append("%d left out of the median" % e["left_out"])
        elif e["incomplete_runs"] or e["rebalanced_runs"]:
            notes.append("no clean run: median of all")
        L.append("  %s runs: %s events/s%s" % (e["name"][:3], ", ".join(fmt(v) for v in e["events_per_s_all"]),
                                               ("  (" + "; ".join(notes) + ")") if notes else ""))
    L.append("  medians of the clean runs (every event once, one assignment per instance, exit 0)")
    L.append("  vs (a): ratio of the medians; paired: median of each round's ratio to (a)'s run")
    L.append("  CPU us per event: jd = every instance from its first message; Redis = INFO used_cpu of each")
    L.append("  redis-server, broker = the journeyd broker process, both over the whole run (join included)")
    L.append("  CPU ceiling = %d CPUs / (CPU per event): the rate if the machine ran only these processes;"
             % m["cpus"])
    L.append("  busy = the machine's CPUs in use from the first message to the end (other users included)."
             " See bench/README.md")
    return "\n".join(L)


def plot(res, out, stamp, script):
    lat = [e for e in res["latency"] if "journeyd" in e]
    if not lat:
        return None
    data = os.path.join(out, "bench-%s.dat" % stamp)
    with open(data, "w") as f:
        f.write("# offered achieved raw_p50 raw_p99 j_p50 j_p99 j_p999\n")
        for e in lat:
            r, j = e.get("raw", {}), e["journeyd"]
            f.write("%d %s %s %s %s %s %s\n" % (
                e["offered"], e.get("achieved_events_per_s") or "NaN", r.get("p50_ms") or "NaN",
                r.get("p99_ms") or "NaN", j.get("p50_ms") or "NaN", j.get("p99_ms") or "NaN",
                j.get("p999_ms") or "NaN"))
    png = os.path.join(out, "bench-%s.png" % stamp)
    raw = res["throughput"]["raw"]["events_per_s"] or 0
    full = res["throughput"]["full"]["events_per_s"] or 0
    cmd = ["gnuplot", "-e", "datafile='%s'; outfile='%s'; raw=%f; full=%f; rev='%s'" % (
        data, png, raw, full, res["meta"]["rev"]), script]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print("report: gnuplot failed: " + r.stderr.strip(), file=sys.stderr)
        return None
    return png


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write(out, base, latest, res, text):
    """base.json, latest (a copy) and base.txt in out; prints the table."""
    path = os.path.join(out, base + ".json")
    os.makedirs(out, exist_ok=True)
    for p in (path, os.path.join(out, latest)):
        with open(p, "w") as f:
            json.dump(res, f, indent=1)
    with open(os.path.join(out, base + ".txt"), "w") as f:
        f.write(text + "\n")
    print(text)
    print("")
    print("results: %s" % path)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stamp", default=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    ap.add_argument("--mode", default="full")
    ap.add_argument("--rev", default="unknown")
    ap.add_argument("--gnuplot", default="0")
    ap.add_argument("--plot-script", default="")
    ap.add_argument("--sets", default="")
    a = ap.parse_args()
    rows = load(a.results)
    res = {"meta": {"stamp": a.stamp, "mode": a.mode, "rev": a.rev, "cpu": cpu_name(),
                    "cpus": os.cpu_count(), "sets": a.sets.strip()}}
    if a.mode.startswith("scale"):
        res["scale"] = scale(rows)
        res["raw_results"] = rows
        write(a.out, "bench-scale-%s" % a.stamp, "latest-scale.json", res, scale_table(res))
        return
    res["throughput"] = throughput(rows)
    res["redis"] = redis_cost(rows)
    res["latency"] = latency(rows)
    res["micro"] = micro(rows)
    res["accounts"] = accounts(rows)
    res["knobs"] = knobs(rows)
    res["targets"] = targets(res["throughput"], res["redis"], res["latency"], res["micro"],
                             res["accounts"])
    res["raw_results"] = rows
    text = table(res)
    os.makedirs(a.out, exist_ok=True)
    png = plot(res, a.out, a.stamp, a.plot_script) if a.gnuplot == "1" else None
    res["plot"] = png
    path = write(a.out, "bench-%s" % a.stamp, "latest.json", res, text)
    if png:
        print("plot:    %s" % png)
    elif a.gnuplot != "1":
        print("plot:    none (gnuplot not available; install gnuplot-nox for the PNG)")


if __name__ == "__main__":
    main()
