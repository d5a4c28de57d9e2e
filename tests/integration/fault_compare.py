#!/usr/bin/python3
"""Compares a fault-test run with the uninterrupted baseline over the same log.

  fault_compare.py SCHEMA BASE_DIR RUN_DIR

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
  baseline's: rules are decided at points of the log (decision segments,
  docs/reliability.md), not of the batching, so a crash, an outage or a
  rebalance must not change what is decided.
Prints one line of counts.
"""
import collections
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


def state(path):
    """account -> its `inspect --json` record"""
    accts = {}
    for line in open(path):
        d = json.loads(line)
        accts[d["account_id"]] = d
    return accts


def main():
    schema = avro.schema.parse(open(sys.argv[1]).read())
    reader = avro.io.DatumReader(schema)
    base_dir, run_dir = sys.argv[2], sys.argv[3]
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
    bs, rs = state(base_dir + "/state.jsonl"), state(run_dir + "/state.jsonl")
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
    return 1 if lost or extra or unequal or diffs or differ else 0


if __name__ == "__main__":
    sys.exit(main())
