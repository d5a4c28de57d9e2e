#!/usr/bin/python3
"""Checks docs/asyncapi.yaml, AsyncAPI 3.0, and what journeyd publishes
against it (no AsyncAPI validator is packaged for Debian; this checks the
parts of the specification the document uses, and the records themselves).

  asyncapi_check.py DOC
      the document: version 3.0.x; every $ref resolves (JSON pointers
      inside it, files next to it; .avsc files parse with python3-avro);
      every channel has an address and messages and is used by an
      operation; every operation sends or receives on a channel of the
      document, with messages of that channel.
  asyncapi_check.py DOC --records DIR [--allow-empty ADDRESS ...]
      also the records of DIR/<address>.rec, written by
      kcat -C -t ADDRESS -e -q -f '%h\\n%S\\n%s\\n': every file is a
      channel's; every header of every record is declared for the
      channel's message (its headers and its traits'), every required one
      is there and a `const` matches; content-type equals the message's
      contentType; an Avro payload (Confluent framing stripped) decodes with
      the message's schema using every byte, into the schema's fields. Every
      channel journeyd sends on must have records, but those allowed empty.
"""
import io
import json
import os
import sys

import avro.io
import avro.schema
import yaml


def fail(msg):
    print("FAIL asyncapi: " + msg)
    sys.exit(1)


class Doc:
    def __init__(self, path):
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        self.a = yaml.safe_load(open(path))
        self.files = {}

    def pointer(self, ref):
        node = self.a
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                fail("$ref %s does not resolve" % ref)
            node = node[part]
        return node

    def file(self, ref):
        f = os.path.normpath(os.path.join(self.dir, ref))
        if f not in self.files:
            if not os.path.exists(f):
                fail("$ref %s: %s does not exist" % (ref, f))
            text = open(f).read()
            if f.endswith(".avsc"):
                try:
                    self.files[f] = avro.schema.parse(text)
                except Exception as e:  # the library's own exception types vary
                    fail("$ref %s: not an Avro schema: %s" % (ref, e))
            else:
                self.files[f] = json.loads(text)
        return self.files[f]

    def resolve(self, node):
        """node, or what its $ref names."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            node = self.pointer(ref) if ref.startswith("#/") else self.file(ref)
        return node

    def walk(self, node):
        """Resolves every $ref of the document once (fails on a broken one)."""
        if isinstance(node, dict):
            if "$ref" in node:
                self.resolve(node)
            for v in node.values():
                self.walk(v)
        elif isinstance(node, list):
            for v in node:
                self.walk(v)


def check_structure(d):
    a = d.a
    if not str(a.get("asyncapi", "")).startswith("3.0."):
        fail("asyncapi is %r, not 3.0.x" % a.get("asyncapi"))
    for k in ("title", "version"):
        if not a.get("info", {}).get(k):
            fail("info.%s missing" % k)
    d.walk(a)
    channels = a.get("channels") or fail("no channels")
    for name, ch in channels.items():
        if not ch.get("address") or not ch.get("messages"):
            fail("channel %s without address or messages" % name)
    used = set()
    for name, op in (a.get("operations") or fail("no operations")).items():
        if op.get("action") not in ("send", "receive"):
            fail("operation %s: action %r" % (name, op.get("action")))
        ref = op.get("channel", {}).get("$ref", "")
        if not ref.startswith("#/channels/") or ref[11:] not in channels:
            fail("operation %s: channel %r is not one of the document's" % (name, ref))
        used.add(ref[11:])
        for m in op.get("messages", []):
            if not m.get("$ref", "").startswith(ref + "/messages/"):
                fail("operation %s: message %r is not its channel's" % (name, m))
    unused = set(channels) - used
    if unused:
        fail("channels no operation uses: %s" % sorted(unused))


def message_of(d, channel):
    msgs = list(channel["messages"].values())
    if len(msgs) != 1:
        fail("channel %s: one message expected" % channel["address"])
    return d.resolve(msgs[0])


def headers_of(d, msg):
    """(declared properties, required names) of msg with its traits."""
    props, req = {}, set()
    for part in [msg] + [d.resolve(t) for t in msg.get("traits", [])]:
        h = d.resolve(part.get("headers", {}))
        props.update(h.get("properties", {}))
        req.update(h.get("required", []))
    return props, req


def read_records(path):
    data, out, i = open(path, "rb").read(), [], 0
    while i < len(data):
        j = data.index(b"\n", i)
        hdr = data[i:j].decode()
        k = data.index(b"\n", j + 1)
        size = int(data[j + 1:k])
        out.append((hdr, data[k + 1:k + 1 + size]))
        i = k + 1 + size + 1
    return out


def parse_headers(text):
    """kcat's %h: name=value,name=value (values with commas: the rest up to
    the next known-looking name is kept whole)."""
    h, name = {}, None
    for part in text.split(",") if text else []:
        if "=" in part and not part.startswith(" "):
            name, value = part.split("=", 1)
            h[name] = value
        elif name is not None:
            h[name] += "," + part
    return h


def check_record(d, addr, msg, hdr_text, payload, schema):
    props, req = headers_of(d, msg)
    h = parse_headers(hdr_text)
    for k in h:
        if k not in props:
            fail("%s: header %s is not in the document" % (addr, k))
    for k in req:
        if k not in h:
            fail("%s: required header %s missing in %r" % (addr, k, hdr_text))
    for k, p in props.items():
        if "const" in p and k in h and h[k] != str(p["const"]):
            fail("%s: header %s is %r, the document says %r" % (addr, k, h[k], p["const"]))
    if "content-type" in h and h["content-type"] != msg.get("contentType"):
        fail("%s: content-type %s, the document says %s" % (addr, h["content-type"],
                                                            msg.get("contentType")))
    if schema is None:
        return
    body = payload[5:] if payload[:1] == b"\0" and len(payload) >= 5 else payload
    buf = io.BytesIO(body)
    try:
        rec = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(buf))
    except Exception as e:  # python3-avro raises several unrelated types
        fail("%s: payload does not decode with %s: %s" % (addr, schema.fullname,
                                                         str(e).splitlines()[0]))
    if buf.tell() != len(body):
        fail("%s: %d payload bytes left after the schema's fields" % (addr, len(body) - buf.tell()))
    if sorted(rec) != sorted(f.name for f in schema.fields):
        fail("%s: decoded fields %s differ from the schema's" % (addr, sorted(rec)))


def check_records(d, rdir, allow_empty):
    by_addr = {ch["address"]: ch for ch in d.a["channels"].values()}
    counts = {}
    for f in sorted(os.listdir(rdir)):
        if not f.endswith(".rec"):
            continue
        addr = f[:-4]
        if addr not in by_addr:
            fail("records on %s, which the document has no channel for" % addr)
        msg = message_of(d, by_addr[addr])
        pl = msg.get("payload", {})
        schema = d.resolve(pl["schema"]) if isinstance(pl, dict) and "schemaFormat" in pl \
            and "avro" in pl["schemaFormat"] else None
        recs = read_records(os.path.join(rdir, f))
        for hdr, payload in recs:
            check_record(d, addr, msg, hdr, payload, schema)
        counts[addr] = len(recs)
    for op in d.a["operations"].values():
        addr = d.resolve(op["channel"])["address"]
        if op["action"] == "send" and not counts.get(addr) and addr not in allow_empty:
            fail("journeyd sends on %s but no record of it was checked" % addr)
    return counts


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    d = Doc(argv[1])
    check_structure(d)
    print("ok   asyncapi %s: %d channels, %d operations, every $ref resolves"
          % (d.a["asyncapi"], len(d.a["channels"]), len(d.a["operations"])))
    if len(argv) > 3 and argv[2] == "--records":
        allow = argv[argv.index("--allow-empty") + 1:] if "--allow-empty" in argv else []
        counts = check_records(d, argv[3], allow)
        print("ok   asyncapi matches the published records: " +
              ", ".join("%s %d" % kv for kv in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
