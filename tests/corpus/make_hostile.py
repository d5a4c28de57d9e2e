#!/usr/bin/python3
"""Writes the hostile-input corpus: tests/corpus/hostile/*.bin and MANIFEST.

Each .bin is one Kafka message value that journeyd must dead-letter; the
MANIFEST line "NAME REASON  description" gives the dead-letter reason
(header jd.reason) it must get. A field of the wrong type is not visible
as such in Avro binary (no type tags): the bytes are read as the schema
says and fail there, so those cases expect malformed_avro. The encoding is done by hand (no Avro
library) so the bytes can be wrong in exactly one way. The test that uses
them (tests/integration/test_hostile.sh) runs with
schemas.wire_format=confluent and limits.max_message_bytes=8192.

Run it again after changing a case: python3 tests/corpus/make_hostile.py
"""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")
T0 = 1790000000000  # 2026-09-21, inside [2000, 2100)


def zz(n):
    """Avro long: zigzag varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s(v):
    v = v if isinstance(v, bytes) else v.encode()
    return zz(len(v)) + v


def event(event_id="e-1", account=b"acct-hostile", user=None, typ="login", feature=None,
          at=T0, value=None, attrs=None, raw_attrs=None):
    out = s(event_id) + s(account)
    out += zz(0) if user is None else zz(1) + s(user)
    out += s(typ)
    out += zz(0) if feature is None else zz(1) + s(feature)
    out += zz(at)
    out += zz(0) if value is None else zz(1) + struct.pack("<d", value)
    if raw_attrs is not None:
        out += raw_attrs
    elif attrs:
        out += zz(len(attrs)) + b"".join(s(k) + s(v) for k, v in attrs.items()) + zz(0)
    else:
        out += zz(0)
    return out


def framed(body, schema_id=1, magic=0):
    return bytes([magic]) + struct.pack(">i", schema_id) + body


CASES = [
    ("empty", "empty_message", "zero-length value", b""),
    ("framing_only", "malformed_avro", "Confluent framing and nothing else", framed(b"")),
    ("truncated", "malformed_avro", "a valid event cut in the middle of occurred_at",
     framed(event())[:-6]),
    ("truncated_string", "malformed_avro", "event_id claims 40 bytes, 3 follow",
     framed(zz(40) + b"abc")),
    ("bad_magic", "bad_magic_byte", "framing byte 7 instead of 0", framed(event(), magic=7)),
    ("unknown_schema", "unknown_schema_id", "Confluent schema id 999 (not configured)",
     framed(event(), schema_id=999)),
    ("negative_length", "malformed_avro", "event_id with length -5",
     framed(zz(-5) + event()[2:])),
    ("huge_length", "malformed_avro", "event_id with length 2^40",
     framed(zz(1 << 40) + b"x" * 16)),
    ("negative_map_count", "malformed_avro", "attributes block count -1000000 with no entries",
     framed(event(raw_attrs=zz(-1000000) + zz(10)))),
    ("huge_map_count", "malformed_avro", "attributes block count 2^31 in a 37-byte message",
     framed(event(raw_attrs=zz(1 << 31)))),
    ("invalid_utf8_account", "invalid_utf8", "account_id with bytes ff fe",
     framed(event(account=b"acct-\xff\xfe"))),
    ("invalid_utf8_attr", "invalid_utf8", "an attribute value with an overlong encoding",
     framed(event(typ="account_updated", attrs={"plan": "x"},
                  raw_attrs=zz(1) + s("plan") + s(b"\xc0\xaf") + zz(0)))),
    ("oversize_feature", "oversize_field", "feature of 2000 bytes (limit 1024)",
     framed(event(typ="feature_used", user="u1", feature="f" * 2000))),
    ("oversize_map", "too_many_attributes", "100 attributes (limit 64)",
     framed(event(typ="account_updated", attrs={"k%03d" % i: "v" for i in range(100)}))),
    ("timestamp_1970", "timestamp_out_of_range", "occurred_at 0 (before 2000-01-01)",
     framed(event(at=0))),
    ("timestamp_negative", "timestamp_out_of_range", "occurred_at -1",
     framed(event(at=-1))),
    ("timestamp_2200", "timestamp_out_of_range", "occurred_at in 2200 (after 2100-01-01)",
     framed(event(at=7258118400000))),
    ("missing_account", "missing_field", "empty account_id", framed(event(account=b""))),
    ("missing_event_id", "missing_field", "empty event_id", framed(event(event_id=""))),
    ("missing_type", "missing_field", "empty type", framed(event(typ=""))),
    ("wrong_union_branch", "malformed_avro", "user_id union branch 5 of [null, string]",
     framed(s("e-1") + s("acct-hostile") + zz(5) + s("u1") + s("login"))),
    ("wrong_type_occurred_at", "malformed_avro", "occurred_at written as a string",
     framed(s("e-1") + s("acct-hostile") + zz(0) + s("login") + zz(0) +
            s("2026-09-21T00:00:00Z") + zz(0) + zz(0))),
    ("wrong_type_account", "malformed_avro", "account_id written as a long (42)",
     framed(s("e-1") + zz(42) + zz(0) + s("login") + zz(0) + zz(T0) + zz(0) + zz(0))),
    ("trailing_bytes", "trailing_bytes", "a valid event followed by 3 bytes",
     framed(event() + b"\x01\x02\x03")),
    ("too_large", "message_too_large", "9000 bytes (limit 8192 in the test)",
     framed(event(typ="feature_used", feature="f" * 1000)) + b"\x00" * 8000),
]


def main():
    os.makedirs(HERE, exist_ok=True)
    with open(os.path.join(HERE, "MANIFEST"), "w") as m:
        m.write("# name reason description (tests/corpus/make_hostile.py writes this)\n")
        for name, reason, desc, data in CASES:
            with open(os.path.join(HERE, name + ".bin"), "wb") as f:
                f.write(data)
            m.write("%-24s %-24s %s\n" % (name, reason, desc))
    print(len(CASES), "cases in", HERE)


if __name__ == "__main__":
    main()
