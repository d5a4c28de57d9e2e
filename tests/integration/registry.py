#!/usr/bin/python3
"""A small Confluent-compatible Schema Registry for the tests, speaking the
REST paths journeyd uses:

  GET  /schemas/ids/{id}             -> {"schema": "..."}   (404 code 40403)
  POST /subjects/{subject}/versions  {"schema": "..."} -> {"id": N}
  GET  /subjects                     -> ["subject", ...]
  GET  /subjects/{subject}/versions/{N|latest} -> {"subject", "version", "id", "schema"}

Identical schema text gets the same global id, as in the real registry.
With --user U:P every request needs HTTP basic auth, with --bearer TOKEN
`Authorization: Bearer TOKEN` (401 otherwise).

  registry.py PORTFILE [--user U:P | --bearer TOKEN] [--tls CERT KEY] [--preload ID=FILE ...]
              [--ids-unavailable] [--ids-hang SECS] [--port N]
--ids-unavailable answers every GET /schemas/ids/{id} with 503 (a registry
that registers but cannot serve schemas). --ids-hang SECS reads every
GET /schemas/ids/{id} of the SECS seconds from the first one on and never
answers it (the connection stays open until the client gives up and
closes it; logged as "registry: hang GET /schemas/ids/101"), then serves
them as usual.
writes the port it listens on (127.0.0.1, ephemeral unless --port: a
registry restarted where it was) to PORTFILE; with --tls it speaks HTTPS
with that certificate. Every request is logged to stderr, one line each
("registry: "GET /schemas/ids/101 HTTP/1.1" 200 -"), which the tests
count.
"""
import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMAS = {}    # id -> schema text
SUBJECTS = {}   # subject -> [id, ...]
LOCK = threading.Lock()
AUTH = None
IDS_UNAVAILABLE = False
HANG_FOR = 0.0     # --ids-hang SECS
HANG_UNTIL = None  # time.monotonic() before which schema ids get no answer


def canonical(text):
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def register(text, wanted=None):
    with LOCK:
        key = canonical(text)
        for i, s in SCHEMAS.items():
            if canonical(s) == key:
                return i
        i = wanted if wanted is not None else max(SCHEMAS, default=100) + 1
        SCHEMAS[i] = text
        return i


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("registry: " + (fmt % args) + "\n")

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if AUTH is None:
            return True
        want = AUTH if AUTH.startswith("Bearer ") else \
            "Basic " + base64.b64encode(AUTH.encode()).decode()
        if self.headers.get("Authorization") == want:
            return True
        self.reply(401, {"error_code": 401, "message": "Unauthorized"})
        return False

    def hanging(self):
        global HANG_UNTIL
        with LOCK:
            if HANG_UNTIL is None:   # the window opens on the first ask
                HANG_UNTIL = time.monotonic() + HANG_FOR
            return time.monotonic() < HANG_UNTIL

    def hang(self):
        sys.stderr.write("registry: hang GET %s\n" % self.path)
        sys.stderr.flush()
        try:
            while self.rfile.read(1):   # until the client closes the connection
                pass
        except OSError:
            pass
        self.close_connection = True

    def do_GET(self):
        if not self.authorized():
            return
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            if IDS_UNAVAILABLE:
                return self.reply(503, {"error_code": 50003, "message": "Unavailable"})
            if self.hanging():
                return self.hang()
            s = SCHEMAS.get(int(parts[2]))
            if s is None:
                return self.reply(404, {"error_code": 40403, "message": "Schema not found"})
            return self.reply(200, {"schema": s})
        if parts == ["subjects"]:
            return self.reply(200, sorted(SUBJECTS))
        if len(parts) == 4 and parts[0] == "subjects" and parts[2] == "versions":
            ids = SUBJECTS.get(parts[1])
            if not ids:
                return self.reply(404, {"error_code": 40401, "message": "Subject not found"})
            v = len(ids) if parts[3] == "latest" else int(parts[3]) if parts[3].isdigit() else 0
            if not 1 <= v <= len(ids):
                return self.reply(404, {"error_code": 40402, "message": "Version not found"})
            return self.reply(200, {"subject": parts[1], "version": v, "id": ids[v - 1],
                                    "schema": SCHEMAS[ids[v - 1]]})
        self.reply(404, {"error_code": 404, "message": "Not found"})

    def do_POST(self):
        if not self.authorized():
            return
        parts = self.path.strip("/").split("/")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            return self.reply(404, {"error_code": 404, "message": "Not found"})
        try:
            text = json.loads(body)["schema"]
            json.loads(text)
        except (ValueError, KeyError, TypeError):
            return self.reply(422, {"error_code": 42201, "message": "Invalid schema"})
        i = register(text)
        with LOCK:
            ids = SUBJECTS.setdefault(parts[1], [])
            if i not in ids:
                ids.append(i)
        self.reply(200, {"id": i})


def main():
    global AUTH, IDS_UNAVAILABLE, HANG_FOR
    args = sys.argv[1:]
    portfile = args.pop(0)
    tls = None
    port = 0
    while args:
        a = args.pop(0)
        if a == "--user":
            AUTH = args.pop(0)
        elif a == "--bearer":
            AUTH = "Bearer " + args.pop(0)
        elif a == "--tls":
            tls = (args.pop(0), args.pop(0))     # CERT KEY (PEM)
        elif a == "--ids-unavailable":
            IDS_UNAVAILABLE = True
        elif a == "--ids-hang":
            HANG_FOR = float(args.pop(0))
        elif a == "--port":
            port = int(args.pop(0))
        elif a == "--preload":
            i, path = args.pop(0).split("=", 1)
            register(open(path).read(), int(i))
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
