#!/usr/bin/python3
"""Compares a fault-test run with the uninterrupted baseline over the same log.

  fault_compare.py [--episodes] [--max-cuts F | --ids-may-differ] SCHEMA BASE_DIR RUN_DIR
  fault_compare.py --episodes-only SCHEMA RUN_DIR

Each DIR holds state.jsonl (`journeyd inspect --all --json`),
triggers.raw (kcat -f '%S:%s' of the trigger topics) and rules.tsv (each
account's rule-state hash: KEY, then RULE and STATE fields, tab-separated).
Checks, exit status 1 on any failure:
- every account's state equals the baseline's;
- no trigger lost: per account and rule, the distinct FIRED trigger_ids
  published equal the episodes the rule state records as fired (the
  fourth field of jd_rule_state_format), no fewer (lost) and no more;
- every duplicate is a byte-identical copy;
- the set of published trigger_ids (triggers and stage events) equals the
  baseline's: rules are decided after every event, in partition order
  (docs/reliability.md), not at batch ends, so a crash, an outage or a
  rebalance must not change what is decided.
Prints one line of counts.

--episodes adds the per-episode check (episode_check, below) of RUN_DIR;
--episodes-only runs just that on one DIR. --max-cuts F allows that fraction of the
baseline's trigger_ids to differ (default 0: none) and leaves the stage
bookkeeping (stage_changed_at, previous_stage) out of the state compared;
only unkeyed input, whose decisions depend on how partitions interleave,
needs it. --ids-may-differ keeps every check but the trigger_id sets'
equality and the stage bookkeeping (both follow the order of an account's
events in the log) and prints the share of ids that differs (re-keyed
input: its repartitioned log interleaves the input partitions in another
order each run).
"""
import collections
import ctypes
import io
import json
import sys

import avro.io
import avro.schema

import jdavro


def triggers(path, reader, fired=None):
    out = collections.defaultdict(list)
    for payload in jdavro.kcat_records(open(path, "rb").read()):
        rec = reader.read(avro.io.BinaryDecoder(io.BytesIO(payload[5:])))
        out[rec["trigger_id"]].append(payload)
        if fired is not None and rec["status"] == "FIRED":
            fired[(rec["account_id"], rec["rule_id"])].add(rec["trigger_id"])
    return out


def episodes(path):
    """(account, rule) -> episodes fired, from the rule-state hashes."""
    out = {}
    for line in open(path):
        f = line.rstrip("\n").rstrip("\t").split("\t")
        key, fields = f[0], f[1:]
        account = key[key.index("{") + 1:key.rindex("}")]
        for rule, st in zip(fields[0::2], fields[1::2]):
            out[(account, rule)] = int(st.split("|")[3])
    return out


STAGE_TIMES = ("stage_changed_at", "stage_changed_at_iso", "previous_stage")


def state(path, loose):
    """account -> its `inspect --json` record (loose: without the stage
    bookkeeping, which depends on when an account was decided)"""
    accts = {}
    for line in open(path):
        d = json.loads(line)
        for sect in d.values():
            if loose and isinstance(sect, dict):
                for k in STAGE_TIMES:
                    sect.pop(k, None)
        accts[d["account_id"]] = d
    return accts


class _Xxh128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


def trigger_id_fn():
    """jd_trigger_make_id: XXH3-128 of account 0x1f rule 0x1f episode."""
    lib = ctypes.CDLL("libxxhash.so.0")
    lib.XXH3_128bits.restype = _Xxh128
    lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]

    def tid(account, rule, episode):
        b = b"\x1f".join((account.encode(), rule.encode(), str(episode).encode()))
        h = lib.XXH3_128bits(b, len(b))
        return "%016x%016x" % (h.high64, h.low64)
    return tid


def episode_check(run_dir, reader):
    """Per (account, rule), the FIRED trigger_ids published are exactly the
    ids of episodes 1..n (n: fired episodes the rule state in Redis
    records) and every RESOLVED one is the id of one of those episodes:
    every fired episode was published under its own id, and no episode
    number went to two decisions (their copies would differ: see the
    byte-identical check). Returns (problems, one line of counts)."""
    tid = trigger_id_fn()
    recs = collections.defaultdict(set)
    for payload in jdavro.kcat_records(open(run_dir + "/triggers.raw", "rb").read()):
        rec = reader.read(avro.io.BinaryDecoder(io.BytesIO(payload[5:])))
        recs[(rec["account_id"], rec["rule_id"], rec["status"])].add(rec["trigger_id"])
    eps = episodes(run_dir + "/rules.tsv")
    bad = []
    for (a, r), n in sorted(eps.items()):
        want = {tid(a, r, e) for e in range(1, n + 1)}
        got = recs.pop((a, r, "FIRED"), set())
        if got != want:
            bad.append("%s/%s: episodes 1..%d, %d published, %d not of them"
                       % (a, r, n, len(got & want), len(got - want)))
        res = recs.pop((a, r, "RESOLVED"), set())
        if res - {tid(a, r + "/resolved", e) for e in range(1, n + 1)}:
            bad.append("%s/%s: a RESOLVED id of no fired episode" % (a, r))
    bad += ["%s/%s: %s published, no rule state" % k for k in sorted(recs)]
    return bad, "episodes: %d recorded fired, %s" % (
        sum(eps.values()), "%d problems" % len(bad) if bad else
        "each published once under its own id")


def episodes_only(argv):
    reader = avro.io.DatumReader(avro.schema.parse(open(argv[0]).read()))
    bad, line = episode_check(argv[1], reader)
    print(line)
    for b in bad[:10]:
        print("  " + b)
    return 1 if bad else 0


def main():
    args = sys.argv[1:]
    if args and args[0] == "--episodes-only":
        return episodes_only(args[1:])
    with_episodes = "--episodes" in args
    max_cuts = 0.0
    ids_may_differ = "--ids-may-differ" in args
    if ids_may_differ:
        args.remove("--ids-may-differ")
    if with_episodes:
        args.remove("--episodes")
    if "--max-cuts" in args:
        i = args.index("--max-cuts")
        max_cuts = float(args[i + 1])
        del args[i:i + 2]
    schema = avro.schema.parse(open(args[0]).read())
    reader = avro.io.DatumReader(schema)
    base_dir, run_dir = args[1], args[2]
    bt = triggers(base_dir + "/triggers.raw", reader)
    fired = collections.defaultdict(set)
    rt = triggers(run_dir + "/triggers.raw", reader, fired)
    eps = episodes(run_dir + "/rules.tsv")
    lost = sorted("%s/%s (%d of %d)" % (a, r, len(fired.get((a, r), ())), n)
                  for (a, r), n in eps.items() if len(fired.get((a, r), ())) < n)
    extra = sorted("%s/%s (%d of %d)" % (a, r, len(ids), eps.get((a, r), 0))
                   for (a, r), ids in fired.items() if len(ids) > eps.get((a, r), 0))
    differ = len(set(bt) ^ set(rt))
    dups = sum(len(v) - 1 for v in rt.values())
    unequal = sorted(t for t, v in rt.items() if len(set(v)) > 1)
    loose = max_cuts > 0 or ids_may_differ
    bs, rs = state(base_dir + "/state.jsonl", loose), state(run_dir + "/state.jsonl", loose)
    diffs = sorted(a for a in set(bs) | set(rs) if bs.get(a) != rs.get(a))
    print("triggers: baseline %d, published %d (%d duplicate copies, %d not identical), "
          "lost %d, unrecorded %d; accounts %d, state differences %d; "
          "trigger ids not in both: %d"
          % (len(bt), sum(len(v) for v in rt.values()), dups, len(unequal), len(lost),
             len(extra), len(bs), len(diffs), differ))
    for what, ids in (("lost", lost), ("unrecorded", extra), ("not identical", unequal),
                      ("only in the baseline", sorted(set(bt) - set(rt))),
                      ("only in this run", sorted(set(rt) - set(bt))),
                      ("state differs", diffs)):
        if ids:
            print("  %s: %s" % (what, " ".join(ids[:10])))
    if len(bt) == 0 or any(len(v) > 1 for v in bt.values()):
        print("  baseline is unusable (no triggers, or duplicates)")
        return 1
    too_many = differ > max_cuts * len(bt) and not ids_may_differ
    if ids_may_differ:
        print("  trigger ids that differ from the baseline's: %d of %d (%.1f%%)"
              % (differ, len(set(bt) | set(rt)), 100.0 * differ / max(1, len(set(bt) | set(rt)))))
    if too_many:
        print("  %d trigger ids differ from the baseline's (allowed: %g%%)"
              % (differ, 100 * max_cuts))
    bad = []
    if with_episodes:
        bad, line = episode_check(run_dir, reader)
        print("  " + line)
        for b in bad[:10]:
            print("    " + b)
    return 1 if lost or extra or unequal or diffs or too_many or bad else 0


if __name__ == "__main__":
    sys.exit(main())
