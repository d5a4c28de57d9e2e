#!/usr/bin/env bash
# Redis over TLS through a stunnel sidecar (hiredis 0.14 has no TLS): a
# redis-server that listens on a TLS port only (--port 0 --tls-port, with
# requirepass), stunnel in client mode from deploy/stunnel/redis-client.conf
# (certificate chain and host checked), and journeyd pointed at stunnel's
# plain loopback side. Checks that the server refuses plain RESP (so what
# reached it was TLS), that journeyd consumes every event and inspect reads
# every account through the tunnel, that /readyz is 200 through it, and
# that a tunnel whose CA does not match the server fails with a clear Redis
# error instead of hanging. Needs JD_BIN, JD_ROOT, JD_TMP, stunnel4, openssl.
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v stunnel >/dev/null || fail "stunnel not installed (deploy/install-deps.sh installs stunnel4)"
cd "$JD_TMP"

# A CA and a server certificate for 127.0.0.1; a second, unrelated CA.
certs() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=journeyd test CA $1" \
    -keyout "$1-ca.key" -out "$1-ca.pem" 2>/dev/null
}
certs good; certs other
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
openssl x509 -req -in server.csr -CA good-ca.pem -CAkey good-ca.key -CAcreateserial -days 2 \
  -extfile san.ext -out server.pem 2>/dev/null
chmod 600 ./*.key

PW="pw-$$-tls-secret"
TPORT=$(jd_free_port)
mkdir -p redis
redis-server --port 0 --tls-port "$TPORT" --bind 127.0.0.1 --tls-cert-file "$JD_TMP/server.pem" \
  --tls-key-file "$JD_TMP/server.key" --tls-ca-cert-file "$JD_TMP/good-ca.pem" --tls-auth-clients no \
  --requirepass "$PW" --save '' --appendonly no --dir "$JD_TMP/redis" >redis/redis.log 2>&1 &
JD_PIDS+=($!)
tcli() { redis-cli --tls --cacert good-ca.pem -p "$TPORT" --no-auth-warning -a "$PW" "$@"; }
for _ in $(seq 1 100); do tcli ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
tcli ping | grep -q PONG || fail "TLS redis-server did not start: $(cat redis/redis.log)"
PLAIN=$(timeout 5 redis-cli -p "$TPORT" --no-auth-warning -a "$PW" ping 2>&1 | tr -s "\n" " " || true)
[ "$PLAIN" != PONG ] || fail "redis-server answered plain RESP on its TLS port"
echo "ok   redis-server speaks TLS only on :$TPORT (plain client got: ${PLAIN:-nothing})"

# stunnel from the shipped sidecar configuration.
tunnel() { # tunnel NAME CAFILE -> sets TUN_PORT
  TUN_PORT=$(jd_free_port)
  sed -e "s|^accept = .*|accept = 127.0.0.1:$TUN_PORT|" -e "s|^connect = .*|connect = 127.0.0.1:$TPORT|" \
      -e "s|^CAfile = .*|CAfile = $JD_TMP/$2|" -e "s|^checkHost = .*|checkIP = 127.0.0.1|" \
      "$JD_ROOT/deploy/stunnel/redis-client.conf" >"$1.conf"
  stunnel "$1.conf" >"$1.log" 2>&1 &
  JD_PIDS+=($!)
  for _ in $(seq 1 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$TUN_PORT),1)" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "stunnel $1 did not start: $(cat "$1.log")"
}
tunnel good good-ca.pem; GOOD_PORT=$TUN_PORT
tunnel other other-ca.pem; BAD_PORT=$TUN_PORT
redis-cli -p "$GOOD_PORT" --no-auth-warning -a "$PW" ping | grep -q PONG || fail "no PONG through stunnel"

jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 2
export JOURNEYD_REDIS_PASSWORD="$PW"
COMMON=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$GOOD_PORT" --set "redis.prefix=tls$$"
        --set pipeline.retry_backoff_max_ms=200)
"$JD_BIN" simulate "${COMMON[@]}" --accounts 12 --days 5 2>sim.log
EVENTS=$(sed -n 's/^simulate: \([0-9]*\) events and.*/\1/p' sim.log)
HPORT=$(jd_free_port)
timeout 120 "$JD_BIN" run "${COMMON[@]}" --max-events "$EVENTS" --set "http.port=$HPORT" \
  --set kafka.statistics.interval.ms=300 >run.out 2>run.log &
RUN_PID=$!; JD_PIDS+=("$RUN_PID")
code=""
for _ in $(seq 1 100); do
  code=$(curl -s -m 1 -o ready.body -w '%{http_code}' "http://127.0.0.1:$HPORT/readyz" || true)
  [ "$code" = 200 ] && break
  kill -0 "$RUN_PID" 2>/dev/null || break
  sleep 0.1
done
wait "$RUN_PID" || { tail run.log; fail "run through stunnel"; }
jd_forget_pids "$RUN_PID"
grep -q "^events consumed      $EVENTS " run.out || fail "run through stunnel did not consume $EVENTS events"
[ "$code" = 200 ] || fail "/readyz through stunnel: '$code' $(cat ready.body 2>/dev/null)"
"$JD_BIN" inspect --all --json "${COMMON[@]}" >inspect.jsonl 2>inspect.log || fail "inspect through stunnel"
[ "$(wc -l <inspect.jsonl)" -eq 12 ] || fail "inspect did not read the 12 accounts"
[ "$(tcli --scan --pattern "tls$$*" | wc -l)" -gt 0 ] || fail "no state in the TLS redis-server"
echo "ok   run through stunnel consumed $EVENTS events (/readyz 200); inspect read 12 accounts over TLS"

# A tunnel that cannot verify the server: a clear error, no hang, no success.
rc=0
timeout 60 "$JD_BIN" inspect --all --json --brokers "$JD_BROKERS" --redis "127.0.0.1:$BAD_PORT" \
  --set "redis.prefix=tls$$" >bad.out 2>bad.log || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "inspect through an unverified tunnel: exit $rc"
grep -qi "redis" bad.log || fail "no redis error: $(cat bad.log)"
grep -qiE "certificate verify failed|CERTIFICATE_VERIFY_FAILED" other.log || fail "stunnel did not log the verification failure"
echo "ok   unverified server refused: $(head -n1 bad.log | cut -c1-140)"
LEAKS=$(grep -lF "$PW" ./*.log ./*.out 2>/dev/null || true)
[ -z "$LEAKS" ] || fail "the Redis password was printed in: $LEAKS"
echo "ok   no secret in any log"
