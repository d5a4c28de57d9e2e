#!/usr/bin/python3
"""The independent side of tests/integration/test_state_replay.sh.

Generates a random product-event log (many accounts, every event type,
duplicates, out-of-order and too-late events, last-writer-wins ties), writes
it as Avro for kcat in three orders, and computes every signal of
docs/signals.md from the JSON log with plain Python: no journeyd code, its
own Avro encoder, the definitions read off docs/signals.md.

  test_state_oracle.py gen DIR [--accounts N] [--seed S]
      DIR/log.jsonl        the log, in "in order" order (with the late,
                           out-of-order and duplicate events where they
                           arrive)
      DIR/a.bin  b.bin  c.bin   kcat -l input: key KDELIM value DELIM
      DIR/config.yaml      the journeyd configuration the oracle assumes
      DIR/total.txt        number of messages per file
  test_state_oracle.py check DIR A.jsonl B.jsonl C.jsonl
      A/B/C are `journeyd inspect --all --json` of the three runs: they
      must be identical but for the log-order fields, and every signal
      must equal the oracle's. The log-order fields (healthy_adoption_at,
      stage, previous_stage, stage_changed_at) are recomputed event by
      event in the order of DIR/a.bin and DIR/c.bin (keyed: an account's
      events are one partition, in file order); run b is unkeyed (an
      account's events are spread over the partitions, consumed in no
      known interleaving), so its log-order fields are only checked to be
      possible ones.
  test_state_oracle.py check-lateness DIR L D.jsonl
      D is `journeyd inspect --all --json` of a run of DIR/a.bin with
      state.lateness_days = L: every signal, the log-order fields
      included, must equal the oracle's in the order of DIR/a.bin, where
      a usage event more than L-1 days before the account's newest day
      at its arrival is too late for the windows.
  test_state_oracle.py stages DIR STAGES.jsonl A.jsonl [RUN.bin]
      the decoded stage events of a run: ids unique (after dropping exact
      re-sends), each account's chain previous -> stage consistent and
      ending at the stage `inspect` shows; with the run's kcat input (a
      keyed run), each account's chain (previous, stage, changed_at) must
      be the oracle's event-by-event stage changes in that order.
"""
import datetime
import json
import math
import random
import struct
import sys

DAY = 86400000
END = int(datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc).timestamp() * 1000)
KDELIM = b"\xfe\xfd\x03JK\x04\xfc\x7f"
DELIM = b"\xfe\xfd\x01JD\x02\xfc\x7f"
FEATURES = ["dashboards", "reports", "alerts", "workflows", "api",
            "reports.export", "search", "admin"]
CORE = ["dashboards", "reports", "alerts", "workflows", "api"]
VALUE_FEATURES = ["reports.export"]
USAGE = {"feature_used", "login"}
POWER_DAYS = 8
# state.lateness_days of the generated config: the retention (35). Runs b
# and c are shuffles that must give the signals of run a; with L below the
# log's spread an event shuffled after a newer one by L days or more is too
# late in one run and counts in another. L < R is checked by
# check-lateness (run d of test_state_replay.sh, in order, L = 7).
LATENESS = 35
RENEWAL_WINDOW = 120
TTFV_TARGET = 30
HEALTHY_UTIL, HEALTHY_BREADTH = 0.7, 0.7
SEGMENTS = ["enterprise", "mid-market", "smb"]
# health profiles: default (built in) and the enterprise override the
# generated config sets; measure -> (weight, bad, good)
HEALTH = {
    "default": {"utilization": (30, 0.2, 0.8), "usage_change_7d": (20, -0.5, 0.0),
                "nps": (20, 4, 9), "cases_open": (15, 5, 0), "milestones": (15, 0, 1)},
}
HEALTH["enterprise"] = dict(HEALTH["default"])
HEALTH["enterprise"]["utilization"] = (40, 0.3, 0.9)
HEALTH["enterprise"]["nps"] = (10, 4, 9)
CONFIG = """state:
  lateness_days: %d
  core_features: [%s]
  value_features: [%s]
health:
  enterprise:
    utilization: {weight: 40, bad: 0.3, good: 0.9}
    nps: {weight: 10}
""" % (LATENESS, ", ".join(CORE), ", ".join(VALUE_FEATURES))


# ---- Avro (product_event.avsc), written by hand ---------------------------

def zz(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro_str(s):
    b = s.encode()
    return zz(len(b)) + b


def avro_event(e):
    out = b"\x00" + struct.pack(">i", 1)                    # Confluent, id 1
    out += avro_str(e["event_id"]) + avro_str(e["account_id"])
    out += zz(0) if e.get("user_id") is None else zz(1) + avro_str(e["user_id"])
    out += avro_str(e["type"])
    out += zz(0) if e.get("feature") is None else zz(1) + avro_str(e["feature"])
    out += zz(e["occurred_at"])
    out += zz(0) if e.get("value") is None else zz(1) + struct.pack("<d", e["value"])
    attrs = e.get("attributes") or {}
    if attrs:
        out += zz(len(attrs))
        for k, v in sorted(attrs.items()):
            out += avro_str(k) + avro_str(v)
    out += zz(0)
    return out


# ---- generation -------------------------------------------------------------

def iso_date(ms):
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%d")


class Gen:
    def __init__(self, rng, acct):
        self.rng, self.acct, self.n, self.events = rng, acct, 0, []

    def ev(self, typ, at, user=None, feature=None, value=None, attrs=None, eid=None):
        self.n += 1
        e = {"event_id": eid or "%s-%05d" % (self.acct, self.n), "account_id": self.acct,
             "user_id": user, "type": typ, "feature": feature, "occurred_at": int(at),
             "value": value, "attributes": attrs or {}}
        self.events.append(e)
        return e


def gen_account(rng, i):
    g = Gen(rng, "acct-%04d" % i)
    r = rng
    start = END - r.randint(25, 110) * DAY + r.randint(0, DAY - 1)
    last_day_end = END - r.randint(0, 12) * DAY
    seats = r.randint(3, 25)
    pool = max(1, int(seats * r.uniform(0.3, 1.4)))
    p = r.uniform(0.05, 0.35)
    seg = r.choice(SEGMENTS)
    g.ev("account_created", start)
    if r.random() < 0.5:
        g.ev("contract_signed", start + r.randint(-5, 5) * DAY)
    g.ev("account_updated", start + 1000, attrs={
        "segment": seg, "seats": str(seats), "plan": r.choice(["starter", "pro", "ent"]),
        "arr": "%d.%02d" % (seats * 900, r.randint(0, 99)), "status": "active",
        "renewal_at": iso_date(END + r.randint(-30, 300) * DAY)})
    span = last_day_end - start
    for _ in range(r.randint(0, 3)):
        at = start + r.randint(1, span)
        attrs = r.choice([{"seats": str(r.randint(2, 30))},
                          {"status": "churned" if r.random() < 0.4 else "active"},
                          {"renewal_at": iso_date(END + r.randint(-20, 200) * DAY) + "T10:00:00Z"},
                          {"seats": r.choice(["abc", "-5", ""])},
                          {"renewal_at": "2025-02-30"},
                          {"segment": r.choice(SEGMENTS), "plan": "pro"}])
        g.ev("account_updated", at, attrs=attrs)
    if r.random() < 0.3:                              # last-writer-wins tie
        at = start + r.randint(1, span)
        g.ev("account_updated", at, attrs={"seats": str(r.randint(2, 30))})
        g.ev("account_updated", at, attrs={"seats": str(r.randint(2, 30))})
    for typ, prob, lo, hi in [("kickoff", 0.7, 1, 10), ("go_live", 0.6, 3, 30),
                              ("first_value", 0.5, 2, 40), ("value_realized", 0.3, 10, 60)]:
        if r.random() < prob:
            g.ev(typ, start + r.randint(lo, hi) * DAY + r.randint(0, DAY))
            if r.random() < 0.2:                      # a second, later one
                g.ev(typ, start + r.randint(hi, hi + 20) * DAY)
    day = start // DAY
    while day * DAY < last_day_end:
        for u in range(pool):
            if r.random() < p:
                at = max(start, day * DAY + r.randint(6, 20) * 3600000 + r.randint(0, 3599999))
                if at >= last_day_end:
                    continue
                g.ev("login", at, user="u%d" % u)
                for _ in range(r.randint(0, 2)):
                    at += r.randint(1000, 900000)
                    g.ev("feature_used", at, user="u%d" % u, feature=r.choice(FEATURES))
        day += 1
    if r.random() < 0.05:
        g.ev("login", start + r.randint(0, span))      # usage without a user
    for _ in range(r.randint(0, 3)):
        v = r.choice([float(r.randint(0, 10)), 7.5, 11.0, -1.0])
        g.ev("nps_response", start + r.randint(0, span), user="u0", value=v)
    for _ in range(r.randint(0, 2)):
        g.ev("csat_response", start + r.randint(0, span), value=float(r.choice([1, 2, 3, 4, 5, 0, 6])))
    for c in range(r.randint(0, 4)):
        cid = "CASE-%d-%d" % (i, c)
        t = start + r.randint(0, span)
        sev = r.choice(["sev1", "SEV1", "sev3", "critical", "2"])
        if r.random() < 0.9:
            g.ev("case_opened", t, attrs={"case_id": cid, "severity": sev})
        if r.random() < 0.6:
            t2 = t + r.randint(0, 10 * DAY)
            g.ev("case_closed", t2, attrs={"case_id": cid})
            if r.random() < 0.3:
                g.ev("case_opened", t2 + r.randint(0, 5 * DAY), attrs={"case_id": cid, "severity": sev})
    if r.random() < 0.1:
        g.ev("case_opened", start + r.randint(0, span), attrs={"severity": "sev1"})  # no case_id
    for _ in range(r.randint(0, 2)):
        g.ev("sponsor_changed", start + r.randint(0, span))
    for _ in range(r.randint(0, 2)):
        g.ev("page_viewed", start + r.randint(0, span), user="u1")
    events = sorted(g.events, key=lambda e: (e["occurred_at"], e["event_id"]))
    events = [e for e in events if e["occurred_at"] < END + 400 * DAY]
    # too late: usage (and a value feature use, an NPS answer) 40-70 days
    # before the newest event, arriving after everything else of the account
    newest = max(e["occurred_at"] for e in events)
    late = []
    if r.random() < 0.5:
        for _ in range(r.randint(1, 4)):
            t = newest - r.randint(40, 70) * DAY
            late.append(g.ev(r.choice(["login", "feature_used"]), t, user="u%d" % r.randint(0, pool),
                             feature=r.choice(FEATURES + VALUE_FEATURES)))
        if r.random() < 0.3:
            late.append(g.ev("nps_response", newest - 50 * DAY, user="u0", value=3.0))
    # lagging: usage 8-30 days before the newest event, arriving after the
    # rest of the account: on time with L = 35, too late with L = 7
    if r.random() < 0.5:
        for _ in range(r.randint(1, 4)):
            late.append(g.ev(r.choice(["login", "feature_used"]), newest - r.randint(8, 30) * DAY
                             + r.randint(0, DAY - 1), user="u%d" % r.randint(0, pool),
                             feature=r.choice(FEATURES)))
    # out of order inside the horizon: some events move later in the log
    for _ in range(r.randint(0, 6)):
        if len(events) > 2:
            e = events.pop(r.randrange(len(events)))
            events.insert(min(len(events), r.randrange(len(events)) + r.randint(1, 40)), e)
    return events, late


def gen(outdir, accounts, seed):
    rng = random.Random(seed)
    per, late = [], []
    for i in range(accounts):
        ev, lt = gen_account(rng, i)
        per.append(ev)
        late.extend(lt)
    # interleave accounts in time order (each account's internal order kept)
    log = []
    heads = [0] * accounts
    import heapq
    heap = [(per[a][0]["occurred_at"], a) for a in range(accounts) if per[a]]
    heapq.heapify(heap)
    while heap:
        _, a = heapq.heappop(heap)
        log.append(per[a][heads[a]])
        heads[a] += 1
        if heads[a] < len(per[a]):
            heapq.heappush(heap, (per[a][heads[a]]["occurred_at"], a))
    log.extend(late)
    # duplicates: exact re-sends, a little later in the log
    for _ in range(len(log) // 20):
        k = rng.randrange(len(log))
        log.insert(min(len(log), k + rng.randint(1, 2000)), dict(log[k]))
    with open(outdir + "/log.jsonl", "w") as f:
        for e in log:
            f.write(json.dumps(e, sort_keys=True) + "\n")
    enc = [avro_event(e) for e in log]
    for b in enc:
        assert DELIM not in b and KDELIM not in b
    keyed = [e["account_id"].encode() + KDELIM + b for e, b in zip(log, enc)]
    with open(outdir + "/a.bin", "wb") as f:          # in order, keyed
        f.write(b"".join(m + DELIM for m in keyed))
    order = list(range(len(log)))
    rng.shuffle(order)
    with open(outdir + "/b.bin", "wb") as f:          # shuffled, unkeyed
        f.write(b"".join(enc[k] + DELIM for k in order))
    rng.shuffle(order)
    with open(outdir + "/c.bin", "wb") as f:          # another shuffle, keyed
        f.write(b"".join(keyed[k] + DELIM for k in order))
    with open(outdir + "/config.yaml", "w") as f:
        f.write(CONFIG)
    with open(outdir + "/total.txt", "w") as f:
        f.write("%d\n" % len(log))
    print("generated %d messages for %d accounts (%d too late, %d duplicates)"
          % (len(log), accounts, len(late), len(log) // 20))


# ---- the oracle -----------------------------------------------------------------

def day_of(ms):
    return ms // DAY


def number(s, allow_empty=False):
    """account_updated seats/arr: a finite decimal >= 0, else None."""
    try:
        if not s or s[0] not in "0123456789.+" or any(c in s for c in "xXpP"):
            return None
        v = float(s)
        return v if math.isfinite(v) and v >= 0 else None
    except ValueError:
        return None


def date_ms(s):
    """renewal_at: YYYY-MM-DD[THH:MM:SS[.f]Z] -> ms of UTC midnight."""
    try:
        d = datetime.datetime.strptime(s[:10], "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    if len(s) > 10:
        rest = s[10:]
        try:
            datetime.datetime.strptime(rest.rstrip("Z").split(".")[0], "T%H:%M:%S")
        except ValueError:
            return None
        if not rest.endswith("Z"):
            return None
    return int(d.timestamp() * 1000)


def lww(items):
    """items: (occurred_at, event_id, value); the latest by (at, id)."""
    best = None
    for at, eid, v in items:
        key = (at, eid.encode())
        if best is None or key > best[0]:
            best = (key, v)
    return None if best is None else best[1]


def on_time(events, lateness):
    """The events without duplicates (the first of each event_id), and the
    ids of the usage events too late for the windows: in the given order,
    a usage event whose day is before D-L+1, D the day of the newest
    occurred_at so far (this event included)."""
    ev, late, T = {}, set(), None
    for e in events:
        if e["event_id"] in ev:
            continue                                       # duplicates: same content
        ev[e["event_id"]] = e
        T = e["occurred_at"] if T is None else max(T, e["occurred_at"])
        if e["type"] in USAGE and day_of(e["occurred_at"]) < day_of(T) - lateness + 1:
            late.add(e["event_id"])
    return list(ev.values()), late


def expected(events, lateness=LATENESS):
    """events in arrival order (with LATENESS the order does not matter)."""
    ev, late = on_time(events, lateness)
    T = max(e["occurred_at"] for e in ev)
    D = day_of(T)
    usage_all = [e for e in ev if e["type"] in USAGE]
    usage = [e for e in usage_all if e["event_id"] not in late]

    def in_win(e, first, last):
        return D - last <= day_of(e["occurred_at"]) <= D - first

    def users(first, last):
        return len({e["user_id"] for e in usage if e["user_id"] and in_win(e, first, last)})

    s = {}
    s["active_users_1d"], s["active_users_7d"], s["active_users_28d"] = users(0, 0), users(0, 6), users(0, 27)
    wau = sum(users(7 * k, 7 * k + 6) for k in range(1, 5)) / 4.0
    s["wau_prev4_avg"] = wau
    s["usage_change_7d"] = s["active_users_7d"] / wau - 1 if wau > 0 else None
    s["events_7d"] = sum(1 for e in usage if in_win(e, 0, 6))
    s["events_28d"] = sum(1 for e in usage if in_win(e, 0, 27))
    s["days_active_28d"] = len({day_of(e["occurred_at"]) for e in usage if in_win(e, 0, 27)})
    per_user = {}
    for e in usage:
        if e["user_id"] and in_win(e, 0, 27):
            per_user.setdefault(e["user_id"], set()).add(day_of(e["occurred_at"]))
    s["power_users_28d"] = sum(1 for d in per_user.values() if len(d) >= POWER_DAYS)
    used = {e["feature"] for e in usage if e["feature"] in CORE and in_win(e, 0, 27)}
    s["core_features_used_28d"] = len(used)
    s["feature_breadth_28d"] = len(used) / len(CORE)
    lu = max((e["occurred_at"] for e in usage_all), default=None)
    s["last_usage_at"] = lu
    s["days_since_last_usage"] = None if lu is None else (T - lu) / DAY

    attrs = {}
    for e in ev:
        if e["type"] != "account_updated":
            continue
        for k, v in e["attributes"].items():
            if k in ("seats", "arr"):
                val = number(v)
            elif k == "renewal_at":
                val = date_ms(v)
            elif k in ("segment", "plan", "status"):
                val = v
            else:
                continue
            if val is not None:
                attrs.setdefault(k, []).append((e["occurred_at"], e["event_id"], val))
    for k in ("segment", "plan", "seats", "arr", "status", "renewal_at"):
        s[k] = lww(attrs.get(k, []))
    seats = s["seats"]
    s["utilization"] = s["active_users_28d"] / seats if seats else None
    s["days_to_renewal"] = None if s["renewal_at"] is None else (s["renewal_at"] - T) / DAY

    def first(types, extra=lambda e: False):
        return min((e["occurred_at"] for e in ev if e["type"] in types or extra(e)), default=None)
    s["start_at"] = first({"account_created", "contract_signed"})
    s["kickoff_at"] = first({"kickoff"})
    s["go_live_at"] = first({"go_live"})
    s["first_value_at"] = first({"first_value"}, lambda e: e["type"] == "feature_used"
                                and e["feature"] in VALUE_FEATURES)
    s["value_realized_at"] = first({"value_realized"})
    s["ttfv_days"] = (s["first_value_at"] - s["start_at"]) / DAY \
        if s["first_value_at"] is not None and s["start_at"] is not None else None
    s["days_since_start"] = None if s["start_at"] is None else (T - s["start_at"]) / DAY

    nps = [e for e in ev if e["type"] == "nps_response" and e["value"] is not None
           and 0 <= e["value"] <= 10]
    s["nps_last"] = lww([(e["occurred_at"], e["event_id"], e["value"]) for e in nps])
    v = s["nps_last"]
    s["nps_category"] = None if v is None else "promoter" if v >= 9 else "passive" if v >= 7 else "detractor"
    recent = [e["value"] for e in nps if day_of(e["occurred_at"]) >= D - 89]
    s["nps_avg_90d"] = sum(recent) / len(recent) if recent else None
    csat = [e for e in ev if e["type"] == "csat_response" and e["value"] is not None
            and 1 <= e["value"] <= 5]
    s["csat_last"] = lww([(e["occurred_at"], e["event_id"], e["value"]) for e in csat])

    cases = {}
    for e in ev:
        cid = e["attributes"].get("case_id")
        if e["type"] in ("case_opened", "case_closed") and cid is not None:
            sev = e["attributes"].get("severity", "")
            sev1 = e["type"] == "case_opened" and (sev.lower() in ("sev1", "critical") or sev == "1")
            cases.setdefault(cid, []).append((e["occurred_at"], e["event_id"],
                                              (e["type"] == "case_opened", sev1)))
    states = [lww(v) for v in cases.values()]
    s["cases_open"] = sum(1 for o, _ in states if o)
    s["sev1_open"] = sum(1 for o, s1 in states if o and s1)

    def opened(first_, last_):
        return len({e["attributes"]["case_id"] for e in ev if e["type"] == "case_opened"
                    and "case_id" in e["attributes"] and in_win(e, first_, last_)})
    s["cases_opened_7d"], s["cases_opened_28d"] = opened(0, 6), opened(0, 27)
    sp = max((e["occurred_at"] for e in ev if e["type"] == "sponsor_changed"), default=None)
    s["sponsor_changed_at"] = sp
    s["days_since_sponsor_change"] = None if sp is None else (T - sp) / DAY
    s["last_event_at"] = T
    s["as_of"] = T

    # health, with the segment's profile
    prof = HEALTH.get(s["segment"], HEALTH["default"])
    if s["first_value_at"] is not None:
        ms = 1
    elif s["start_at"] is not None:
        ms = 1 if s["days_since_start"] <= TTFV_TARGET else 0
    else:
        ms = None
    vals = {"utilization": s["utilization"], "usage_change_7d": s["usage_change_7d"],
            "nps": s["nps_avg_90d"], "cases_open": s["cases_open"], "milestones": ms}
    wsum, parts = 0.0, {}
    for m, (w, bad, good) in prof.items():
        if vals[m] is None:
            parts[m] = (w, None, None)
            continue
        x = (vals[m] - bad) / (good - bad)
        parts[m] = (w, vals[m], 0.0 if not x > 0 else 100.0 if x >= 1 else 100.0 * x)
        wsum += w
    contrib = {m: {"weight": w, "value": v, "score": sc,
                   "points": None if sc is None else w * sc / wsum}
               for m, (w, v, sc) in parts.items()}
    s["health_score"] = sum(c["points"] for c in contrib.values() if c["points"] is not None) \
        if wsum > 0 else None
    occurred = {e["occurred_at"] for e in ev}
    return s, contrib, occurred, T


def stage_of(s, ha):
    if s["status"] == "churned":
        return "churned"
    if s["days_to_renewal"] is not None and s["days_to_renewal"] <= RENEWAL_WINDOW:
        return "renewal"
    if ha is not None:
        return "value_realization"
    if s["first_value_at"] is not None:
        return "adoption"
    if s["go_live_at"] is not None:
        return "activation"
    return "onboarding"


# ---- log order ------------------------------------------------------------------

def run_order(path):
    """The event_ids of a kcat -l file (DIR/a.bin, c.bin), in file order."""
    with open(path, "rb") as f:
        msgs = f.read().split(DELIM)
    ids = []
    for m in msgs:
        if not m:
            continue
        v = m.split(KDELIM, 1)[1] if KDELIM in m else m
        n, shift, i = 0, 0, 5                      # after magic byte + schema id
        while True:
            b = v[i]
            n |= (b & 0x7F) << shift
            shift += 7
            i += 1
            if not b & 0x80:
                break
        n = (n >> 1) ^ -(n & 1)
        ids.append(v[i:i + n].decode())
    return ids


def log_order(events, lateness=LATENESS):
    """The log-order fields of docs/signals.md ("The exceptions: log
    order"), deciding after every event of the account in the given order:
    a duplicate (an event_id seen before) changes nothing and is not
    decided; every other event, late or too late, is applied and the
    account is decided at the as-of instant of that moment (the latest
    occurred_at so far). Keeps just what healthy adoption and the stage
    need, incrementally: for each user and each core feature the latest
    day of a usage event (the 28-day windows are [D-27, D], and no event
    is after D), the LWW seats, status and renewal_at, the first go_live
    and first value. Returns (healthy_adoption_at, stage, previous_stage,
    stage_changed_at, the changes as (previous, stage, changed_at))."""
    seen = set()
    T = None
    user_day, feat_day = {}, {}
    lw = {}                                        # attr -> ((at, id bytes), value)
    go_live = first_value = ha = None
    stage = prev = changed_at = None
    changes = []
    for e in events:
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        at = e["occurred_at"]
        T = at if T is None else max(T, at)
        typ = e["type"]
        if typ in USAGE and day_of(at) >= day_of(T) - lateness + 1:
            d = day_of(at)
            if e["user_id"]:
                user_day[e["user_id"]] = max(user_day.get(e["user_id"], d), d)
            if e["feature"] in CORE:
                feat_day[e["feature"]] = max(feat_day.get(e["feature"], d), d)
        if typ == "go_live":
            go_live = at if go_live is None else min(go_live, at)
        if typ == "first_value" or (typ == "feature_used" and e["feature"] in VALUE_FEATURES):
            first_value = at if first_value is None else min(first_value, at)
        if typ == "account_updated":
            for k, v in e["attributes"].items():
                if k == "seats":
                    val = number(v)
                elif k == "renewal_at":
                    val = date_ms(v)
                elif k == "status":
                    val = v
                else:
                    continue
                key = (at, e["event_id"].encode())
                if val is not None and (k not in lw or key > lw[k][0]):
                    lw[k] = (key, val)
        D = day_of(T)
        seats = lw["seats"][1] if "seats" in lw else None
        au28 = sum(1 for d in user_day.values() if d >= D - 27)
        util = au28 / seats if seats else None
        breadth = sum(1 for d in feat_day.values() if d >= D - 27) / len(CORE)
        if ha is None and util is not None and util >= HEALTHY_UTIL and breadth >= HEALTHY_BREADTH:
            ha = T
        renewal = lw["renewal_at"][1] if "renewal_at" in lw else None
        now = stage_of({"status": lw["status"][1] if "status" in lw else None,
                        "days_to_renewal": None if renewal is None else (renewal - T) / DAY,
                        "first_value_at": first_value, "go_live_at": go_live}, ha)
        if now != stage:
            prev, stage, changed_at = stage, now, T
            changes.append((prev, stage, changed_at))
    return ha, stage, prev, changed_at, changes


# ---- checks ---------------------------------------------------------------------

ARRIVAL = {"healthy_adoption_at", "healthy_adoption_at_iso", "stage", "previous_stage",
           "stage_changed_at", "stage_changed_at_iso"}


def normalized(d):
    d = json.loads(json.dumps(d))
    for k in ARRIVAL:
        d["signals"].pop(k, None)
    d.pop("journey")                    # stage, cause, previous, changed_at, milestones
    return json.dumps(d, sort_keys=True)


def load_dump(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out[d["account_id"]] = d
    return out


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check(outdir, paths):
    events = {}
    with open(outdir + "/log.jsonl") as f:
        for line in f:
            e = json.loads(line)
            events.setdefault(e["account_id"], []).append(e)
    runs = [load_dump(p) for p in paths]
    by_id = {e["event_id"]: e for evs in events.values() for e in evs}
    order = {}                          # run -> account -> its events, in that run's order
    for name in "ac":
        ids = run_order("%s/%s.bin" % (outdir, name))
        per = order[name] = {}
        for i in ids:
            per.setdefault(by_id[i]["account_id"], []).append(by_id[i])
    bad = []
    exact = {"a": 0, "c": 0}
    for name, run in zip("abc", runs):
        if set(run) != set(events):
            bad.append("run %s: accounts %d, log has %d" % (name, len(run), len(events)))
    ref = runs[0]
    identical = 0
    for acct in sorted(events):
        outs = [r.get(acct) for r in runs]
        if any(o is None for o in outs):
            continue
        norm = [normalized(o) for o in outs]
        if norm[0] == norm[1] == norm[2]:
            identical += 1
        else:
            for name, n in zip("bc", norm[1:]):
                if n != norm[0]:
                    a, b = json.loads(norm[0]), json.loads(n)
                    diff = {k: (a["signals"][k], b["signals"].get(k)) for k in a["signals"]
                            if a["signals"][k] != b["signals"].get(k)}
                    bad.append("%s: run %s differs from run a: %s %s" % (
                        acct, name, diff, "" if diff else (a["health"], b["health"])))
        want, contrib, occurred, T = expected(events[acct])
        for o, name in zip(outs, "abc"):
            got = o["signals"]
            for k, v in want.items():
                if not close(got.get(k), v):
                    bad.append("%s run %s: %s = %r, oracle %r" % (acct, name, k, got.get(k), v))
            for m, c in contrib.items():
                g = o["health"]["contributions"][m]
                for f in ("weight", "value", "score", "points"):
                    if not close(g[f], c[f]):
                        bad.append("%s run %s: health %s.%s = %r, oracle %r"
                                   % (acct, name, m, f, g[f], c[f]))
            ha = got["healthy_adoption_at"]
            if ha is not None and (ha not in occurred or ha > T):
                bad.append("%s run %s: healthy_adoption_at %r is not an as-of instant" % (acct, name, ha))
            if got["stage"] != stage_of(want, ha):
                bad.append("%s run %s: stage %s, oracle %s (healthy_adoption_at %r)"
                           % (acct, name, got["stage"], stage_of(want, ha), ha))
            sc = got["stage_changed_at"]
            if sc is None or sc not in occurred:
                bad.append("%s run %s: stage_changed_at %r" % (acct, name, sc))
            if name not in order:
                continue
            # the log-order fields, exactly, from this run's order of the account's events
            lo = log_order(order[name][acct])
            mine = {"healthy_adoption_at": lo[0], "stage": lo[1], "previous_stage": lo[2],
                    "stage_changed_at": lo[3]}
            j = o["journey"]
            theirs = {"healthy_adoption_at": (got["healthy_adoption_at"],
                                              j["milestones"]["healthy_adoption"]["at"]),
                      "stage": (got["stage"], j["stage"]),
                      "previous_stage": (got["previous_stage"], j["previous_stage"]),
                      "stage_changed_at": (got["stage_changed_at"], j["stage_changed_at"])}
            ok = True
            for k, v in mine.items():
                for where, g in zip(("signals", "journey"), theirs[k]):
                    if g != v:
                        ok = False
                        bad.append("%s run %s: %s.%s = %r, oracle (log order) %r"
                                   % (acct, name, where, k, g, v))
            if lo[1] != stage_of(want, lo[0]):
                ok = False
                bad.append("%s run %s: oracle's last log-order stage %s, final signals give %s"
                           % (acct, name, lo[1], stage_of(want, lo[0])))
            exact[name] += ok
    for b in bad[:40]:
        print("FAIL " + b)
    checked = len(events) * len(want)
    print("%d accounts, %d signals each: %d identical across the 3 runs (log-order "
          "fields aside), %d problems" % (len(events), len(want), identical, len(bad)))
    print("log order: healthy_adoption_at, stage, previous_stage, stage_changed_at equal to "
          "the oracle's event-by-event decisions for %d accounts of run a, %d of run c "
          "(run b unkeyed: no known order)" % (exact["a"], exact["c"]))
    for name, run in zip("abc", runs):
        ha = sum(1 for o in run.values() if o["signals"]["healthy_adoption_at"] is not None)
        st = {}
        for o in run.values():
            st[o["signals"]["stage"]] = st.get(o["signals"]["stage"], 0) + 1
        print("run %s: healthy adoption reached by %d accounts; stages %s" % (name, ha, st))
    return 1 if bad or checked == 0 else 0


def check_lateness(outdir, lateness, path):
    by_id, order = {}, {}
    with open(outdir + "/log.jsonl") as f:
        for line in f:
            e = json.loads(line)
            by_id[e["event_id"]] = e
    for i in run_order(outdir + "/a.bin"):
        order.setdefault(by_id[i]["account_id"], []).append(by_id[i])
    run = load_dump(path)
    bad, late = [], 0
    if set(run) != set(order):
        bad.append("accounts %d, log has %d" % (len(run), len(order)))
    for acct in sorted(set(run) & set(order)):
        late += len(on_time(order[acct], lateness)[1])
        want = expected(order[acct], lateness)[0]
        ha, st, prev, changed, _ = log_order(order[acct], lateness)
        want.update({"healthy_adoption_at": ha, "stage": st, "previous_stage": prev,
                     "stage_changed_at": changed})
        got = run[acct]["signals"]
        for k, v in want.items():
            if not close(got.get(k), v):
                bad.append("%s: %s = %r, oracle (L = %d) %r" % (acct, k, got.get(k), lateness, v))
    for b in bad[:40]:
        print("FAIL " + b)
    print("lateness %d: %d accounts in log order, %d usage events too late for the windows, "
          "%d problems" % (lateness, len(run), late, len(bad)))
    return 1 if bad or not late else 0


def stages(outdir, stage_path, dump_path, bin_path=None):
    run = load_dump(dump_path)
    order = {}
    if bin_path:
        by_id = {}
        with open(outdir + "/log.jsonl") as f:
            for line in f:
                e = json.loads(line)
                by_id[e["event_id"]] = e
        for i in run_order(bin_path):
            order.setdefault(by_id[i]["account_id"], []).append(by_id[i])
    seen, per, bad, exact = {}, {}, [], 0
    with open(stage_path) as f:
        for line in f:
            e = json.loads(line)
            key = e["event_id"]
            if key in seen:
                if seen[key] != {k: v for k, v in e.items() if not k.startswith("source_")}:
                    bad.append("event_id %s re-used with other content" % key)
                continue
            seen[key] = {k: v for k, v in e.items() if not k.startswith("source_")}
            per.setdefault(e["account_id"], []).append(e)
    for acct, evs in per.items():
        prev = None
        evs.sort(key=lambda e: e["sequence"])
        if [e["sequence"] for e in evs] != list(range(1, len(evs) + 1)):
            bad.append("%s: sequences %s" % (acct, [e["sequence"] for e in evs]))
        for e in evs:
            if e["previous_stage"] != prev:
                bad.append("%s: %s -> %s after %s" % (acct, e["previous_stage"], e["stage"], prev))
            prev = e["stage"]
        if acct in run and prev != run[acct]["signals"]["stage"]:
            bad.append("%s: last stage event %s, inspect %s" % (acct, prev, run[acct]["signals"]["stage"]))
        if bin_path:
            chain = [(e["previous_stage"], e["stage"], e["changed_at"]) for e in evs]
            want = log_order(order.get(acct, []))[4]
            if chain != want:
                bad.append("%s: stage events %s, oracle (log order) %s" % (acct, chain, want))
            else:
                exact += 1
    missing = set(run) - set(per)
    if missing:
        bad.append("%d accounts without a stage event" % len(missing))
    for b in bad[:20]:
        print("FAIL " + b)
    print("%d stage events (%d distinct) for %d accounts, %d problems%s"
          % (sum(len(v) for v in per.values()), len(seen), len(per), len(bad),
             ", %d chains equal to the oracle's log-order changes" % exact if bin_path else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "gen":
        opts = dict(zip(a[2::2], a[3::2]))
        gen(a[1], int(opts.get("--accounts", 500)), int(opts.get("--seed", 7)))
    elif a and a[0] == "check" and len(a) == 5:
        sys.exit(check(a[1], a[2:5]))
    elif a and a[0] == "check-lateness" and len(a) == 4:
        sys.exit(check_lateness(a[1], int(a[2]), a[3]))
    elif a and a[0] == "stages" and len(a) in (4, 5):
        sys.exit(stages(*a[1:]))
    else:
        raise SystemExit(__doc__)
