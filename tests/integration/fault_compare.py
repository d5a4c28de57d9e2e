#!/usr/bin/python3
"""Compares a fault-test run with the uninterrupted baseline over the same log.

  fault_compare.py SCHEMA BASE_DIR RUN_DIR

Each DIR holds state.jsonl (`journeyd inspect --all --json`) and
triggers.raw (kcat -f '%S:%s' of the trigger topics). Checks: the set of
trigger_ids is the same (none lost, none unexpected), every duplicate is a
byte-identical copy, and every account's state equals the baseline's.
Prints one line of counts; exit status 1 on any difference.

The journey stage bookkeeping (stage_changed_at, previous_stage) is left
out of the state comparison and only counted: a stage change is observed
once per batch and stamped with the batch's latest event time, so it
depends on where batches are cut (docs/reliability.md, "Known limits").
The stage itself is compared.
"""
import collections
import io
import json
import sys

import avro.io
import avro.schema

import jdavro

IGNORED = ("stage_changed_at", "stage_changed_at_iso", "previous_stage")


def triggers(path, reader):
    out = collections.defaultdict(list)
    for payload in jdavro.kcat_records(open(path, "rb").read()):
        rec = reader.read(avro.io.BinaryDecoder(io.BytesIO(payload[5:])))
        out[rec["trigger_id"]].append(payload)
    return out


def state(path):
    """account -> (state without the stage bookkeeping, the bookkeeping)"""
    accts = {}
    for line in open(path):
        d = json.loads(line)
        book = {}
        for name, sect in d.items():
            if isinstance(sect, dict):
                for k in IGNORED:
                    if k in sect:
                        book[name + "." + k] = sect.pop(k)
        accts[d["account_id"]] = (d, book)
    return accts


def main():
    schema = avro.schema.parse(open(sys.argv[1]).read())
    reader = avro.io.DatumReader(schema)
    base_dir, run_dir = sys.argv[2], sys.argv[3]
    bt = triggers(base_dir + "/triggers.raw", reader)
    rt = triggers(run_dir + "/triggers.raw", reader)
    lost = sorted(set(bt) - set(rt))
    extra = sorted(set(rt) - set(bt))
    dups = sum(len(v) - 1 for v in rt.values())
    unequal = sorted(t for t, v in rt.items() if len(set(v)) > 1)
    bs, rs = state(base_dir + "/state.jsonl"), state(run_dir + "/state.jsonl")
    none = (None, None)
    diffs = sorted(a for a in set(bs) | set(rs) if bs.get(a, none)[0] != rs.get(a, none)[0])
    books = sum(1 for a in set(bs) & set(rs) if bs[a][1] != rs[a][1])
    print("triggers: baseline %d, published %d (%d duplicate copies, %d not identical), "
          "lost %d, unexpected %d; accounts %d, state differences %d "
          "(stage bookkeeping differs in %d, not compared)"
          % (len(bt), sum(len(v) for v in rt.values()), dups, len(unequal), len(lost),
             len(extra), len(bs), len(diffs), books))
    for what, ids in (("lost", lost), ("unexpected", extra), ("not identical", unequal),
                      ("state differs", diffs)):
        if ids:
            print("  %s: %s" % (what, " ".join(ids[:10])))
    if len(bt) == 0 or any(len(v) > 1 for v in bt.values()):
        print("  baseline is unusable (no triggers, or duplicates)")
        return 1
    return 1 if lost or extra or unequal or diffs else 0


if __name__ == "__main__":
    sys.exit(main())
