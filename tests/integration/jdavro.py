#!/usr/bin/python3
"""Avro tooling for the end-to-end tests, written against python3-avro
(Debian's Apache Avro library), deliberately not journeyd's own codec:
what it encodes proves journeyd reads other producers' events, and what it
decodes proves journeyd's triggers follow schemas/trigger_event.avsc.

  jdavro.py encode SCHEMA OUTDIR [--id N] < events.jsonl
      one file per JSON line, Avro binary with Confluent framing
      (0x00 + big-endian id) unless --id is -1 (plain Avro).
  jdavro.py container SCHEMA FILE < events.jsonl
      an Avro object container file (journeyd replay reads these).
  jdavro.py decode SCHEMA < kcat-stream
      reads kcat -f '%S:%s' output (size, colon, payload, repeated),
      strips the 5-byte framing, prints one JSON object per message.
"""
import io
import json
import os
import struct
import sys

import datetime

import avro.io
import avro.schema

UTC = datetime.timezone.utc


def to_datetime(rec, field):
    """python3-avro wants datetime objects for timestamp-millis fields
    (records of other schemas may not have the field)."""
    if field not in rec:
        return
    ms = rec[field]
    rec[field] = datetime.datetime.fromtimestamp(ms // 1000, UTC) + \
        datetime.timedelta(milliseconds=ms % 1000)


def to_millis(value):
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000 + 0.5)
    return value


def load(path):
    with open(path) as f:
        return avro.schema.parse(f.read())


def encode(schema_path, outdir, schema_id):
    schema = load(schema_path)
    writer = avro.io.DatumWriter(schema)
    os.makedirs(outdir, exist_ok=True)
    n = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        to_datetime(rec, "occurred_at")
        buf = io.BytesIO()
        if schema_id >= 0:
            buf.write(b"\x00" + struct.pack(">i", schema_id))
        writer.write(rec, avro.io.BinaryEncoder(buf))
        n += 1
        with open(os.path.join(outdir, "%06d.bin" % n), "wb") as f:
            f.write(buf.getvalue())
    print(n)


def container(schema_path, path):
    import avro.datafile
    schema = load(schema_path)
    n = 0
    with open(path, "wb") as f:
        w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), schema)
        for line in sys.stdin:
            if line.strip():
                rec = json.loads(line)
                to_datetime(rec, "occurred_at")
                w.append(rec)
                n += 1
        w.close()
    print(n)


def kcat_records(data):
    """Payloads of kcat -f '%S:%s' output (size, colon, payload, repeated)."""
    pos = 0
    while pos < len(data):
        colon = data.index(b":", pos)
        size = int(data[pos:colon])
        yield data[colon + 1:colon + 1 + size]
        pos = colon + 1 + size


def decode(schema_path):
    schema = load(schema_path)
    reader = avro.io.DatumReader(schema)
    for payload in kcat_records(sys.stdin.buffer.read()):
        if payload[:1] != b"\x00" or len(payload) < 5:
            raise SystemExit("message without Confluent framing")
        schema_id = struct.unpack(">i", payload[1:5])[0]
        body = io.BytesIO(payload[5:])
        rec = reader.read(avro.io.BinaryDecoder(body))
        if body.tell() != len(payload) - 5:
            raise SystemExit("trailing bytes after the record")
        rec = {k: to_millis(v) for k, v in rec.items()}
        rec["_schema_id"] = schema_id
        print(json.dumps(rec, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "encode":
        sid = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--id" else 1
        encode(sys.argv[2], sys.argv[3], sid)
    elif len(sys.argv) == 4 and sys.argv[1] == "container":
        container(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "decode":
        decode(sys.argv[2])
    else:
        raise SystemExit(__doc__)
