#!/usr/bin/env bash
# Redis AUTH: a redis-server with requirepass and an ACL user. journeyd
# must refuse to start without credentials or with wrong ones (a clear
# error naming the keys, non-zero exit, no retry loop), work with the
# password from JOURNEYD_REDIS_PASSWORD and as the ACL user with
# redis.password_file, and never print a secret: not in logs, not in
# `config show` (Kafka secrets such as kafka.sasl.password included, the
# userinfo of schemas.registry.url masked). Secret files (redis, Kafka,
# registry) readable by group or others are refused, the message naming
# key, path and mode. /readyz authenticates its probe and answers within
# 1 s even while redis-server is frozen (SIGSTOP).
# Needs JD_BIN, JD_ROOT, JD_TMP (tests/run.sh sets them).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
PW="pw-$$-Default-secret"; UPW="pw-$$-User-secret"; KPW="pw-$$-Kafka-secret"
jd_start_redis "$JD_TMP/redis" "" --requirepass "$PW"
rcli() { redis-cli -p "$JD_REDIS_PORT" --no-auth-warning -a "$PW" "$@"; }
rcli ping | grep -q PONG || fail "redis-server with requirepass did not start"
rcli ACL SETUSER jduser on ">$UPW" '~*' '&*' +@all | grep -q OK || fail "ACL SETUSER"
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 2
COMMON=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=auth$$"
        --set kafka.sasl.password="$KPW" --set pipeline.retry_backoff_max_ms=200)
# librdkafka's configuration dump (debug=conf) is in the log and searched
# for secrets below: librdkafka redacts sensitive properties itself.
JOURNEYD_REDIS_PASSWORD="$PW" "$JD_BIN" simulate "${COMMON[@]}" --accounts 10 --days 5 \
  --log-level debug --set kafka.debug=conf 2>"$JD_TMP/sim.log"
grep -q "sasl.password = \[redacted\]" "$JD_TMP/sim.log" || fail "no redacted sasl.password in librdkafka's conf dump"
EVENTS=$(sed -n 's/^simulate: \([0-9]*\) events and.*/\1/p' "$JD_TMP/sim.log")

# refused: no credentials, wrong password, wrong ACL user password
refused() {
  local name="$1" pat="$2" rc=0; shift 2
  env "$@" timeout 60 "$JD_BIN" run "${COMMON[@]}" --exit-idle 5 >"$JD_TMP/$name.out" 2>"$JD_TMP/$name.log" || rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$name: exit $rc (expected a refusal, not success or a hang)"
  grep -qE "$pat" "$JD_TMP/$name.log" || { tail -5 "$JD_TMP/$name.log"; fail "$name: no '$pat' in the error"; }
  echo "ok   $name refused: $(grep -E "$pat" "$JD_TMP/$name.log" | head -n1 | cut -c1-160)"
}
refused no_password "NOAUTH.*redis.password"
refused wrong_password "AUTH as the default user refused" JOURNEYD_REDIS_PASSWORD=wrong-$$
echo "wrong-$$-user" >"$JD_TMP/badpw"; chmod 600 "$JD_TMP/badpw"
refused wrong_user_password "AUTH as user 'jduser' refused" JOURNEYD_REDIS_USER=jduser \
  JOURNEYD_REDIS_PASSWORD_FILE="$JD_TMP/badpw"

# refused: secret files that group or others can read, with the reason
echo "$UPW" >"$JD_TMP/openpw"; chmod 644 "$JD_TMP/openpw"
refused open_password_file "redis.password_file: .*/openpw is readable by group and others \(mode 0644\).*chmod 600" \
  JOURNEYD_REDIS_PASSWORD_FILE="$JD_TMP/openpw"
chmod 640 "$JD_TMP/openpw"
refused group_kafka_file "kafka.ssl.key.password_file: .*/openpw is readable by group \(mode 0640\)" \
  JOURNEYD_KAFKA_SSL_KEY_PASSWORD_FILE="$JD_TMP/openpw" JOURNEYD_REDIS_PASSWORD="$PW"
chmod 604 "$JD_TMP/openpw"
refused others_registry_file "schemas.registry.password_file: .*/openpw is readable by others \(mode 0604\)" \
  JOURNEYD_SCHEMAS_REGISTRY_PASSWORD_FILE="$JD_TMP/openpw" JOURNEYD_REDIS_PASSWORD="$PW"

# accepted: as the ACL user with a password file, then inspect with the env password
echo "$UPW" >"$JD_TMP/userpw"; chmod 600 "$JD_TMP/userpw"
timeout 120 "$JD_BIN" run "${COMMON[@]}" --set redis.user=jduser --set redis.password_file="$JD_TMP/userpw" \
  --max-events "$EVENTS" >"$JD_TMP/run.out" 2>"$JD_TMP/run.log" || { tail "$JD_TMP/run.log"; fail "run as jduser"; }
grep -q "^events consumed      $EVENTS " "$JD_TMP/run.out" || fail "run as jduser did not consume $EVENTS events"
JOURNEYD_REDIS_PASSWORD="$PW" "$JD_BIN" inspect --all --json "${COMMON[@]}" >"$JD_TMP/inspect.jsonl" \
  2>"$JD_TMP/inspect.log" || fail "inspect with JOURNEYD_REDIS_PASSWORD"
[ "$(wc -l <"$JD_TMP/inspect.jsonl")" -eq 10 ] || fail "inspect did not list the 10 accounts"
echo "ok   run as ACL user (password file) consumed $EVENTS events; inspect with JOURNEYD_REDIS_PASSWORD read 10 accounts"

# /readyz authenticates its probe (ACL user, password file) and never waits
# for Redis: every request below has a 1 s budget, while Redis is frozen too.
HPORT=$(jd_free_port); URL="http://127.0.0.1:$HPORT"
"$JD_BIN" run "${COMMON[@]}" --set redis.user=jduser --set redis.password_file="$JD_TMP/userpw" \
  --set "http.port=$HPORT" --set kafka.statistics.interval.ms=500 --set redis.timeout_ms=5000 \
  >"$JD_TMP/ready.out" 2>"$JD_TMP/ready.log" &
READY_PID=$!; JD_PIDS+=("$READY_PID")
ready_is() { # ready_is CODE: polls /readyz (1 s per request) for up to ~30 s
  local code="" t0 t1
  for _ in $(seq 1 100); do
    t0=$(date +%s%N)
    code=$(curl -s -m 1 -o "$JD_TMP/ready.body" -w '%{http_code}' "$URL/readyz" || true)
    t1=$(date +%s%N)
    [ $(( (t1 - t0) / 1000000 )) -lt 1000 ] || fail "/readyz took $(( (t1 - t0) / 1000000 )) ms"
    [ "$code" = "$1" ] && return 0
    sleep 0.3
  done
  fail "/readyz: expected $1, last got '$code': $(cat "$JD_TMP/ready.body" 2>/dev/null)"
}
ready_is 200
curl -sf -m 1 "$URL/metrics" >"$JD_TMP/metrics.txt" || fail "/metrics"
grep -q '^journeyd_redis_up 1' "$JD_TMP/metrics.txt" || fail "journeyd_redis_up is not 1"
kill -STOP "$JD_REDIS_PID"
ready_is 503
grep -q "redis unreachable" "$JD_TMP/ready.body" || fail "/readyz does not name redis: $(cat "$JD_TMP/ready.body")"
kill -CONT "$JD_REDIS_PID"
ready_is 200
kill "$READY_PID"; wait "$READY_PID" 2>/dev/null || true; jd_forget_pids "$READY_PID"
echo "ok   /readyz 200 as ACL user with a password file; 503 within 1 s per request while redis is frozen; 200 again"

# secrets never printed
JOURNEYD_REDIS_PASSWORD="$PW" "$JD_BIN" config show "${COMMON[@]}" --set kafka.ssl.key.password="$KPW" \
  >"$JD_TMP/show.txt"
grep -q '^redis.password: "\*\*\*\*\*"' "$JD_TMP/show.txt" || fail "config show does not redact redis.password"
grep -q '^kafka.sasl.password: "\*\*\*\*\*"' "$JD_TMP/show.txt" || fail "config show does not redact kafka.sasl.password"
JOURNEYD_KAFKA_SASL_PASSWORD="$KPW" JOURNEYD_REDIS_PASSWORD_FILE="$JD_TMP/userpw" \
  "$JD_BIN" config show >"$JD_TMP/show-env.txt"
grep -q '^kafka.sasl.password: "\*\*\*\*\*"' "$JD_TMP/show-env.txt" || fail "JOURNEYD_KAFKA_SASL_PASSWORD not read or not redacted"
grep -q "^redis.password_file: \"$JD_TMP/userpw\"" "$JD_TMP/show-env.txt" || fail "redis.password_file path not shown"
echo "$KPW" >"$JD_TMP/kafkapw"; chmod 400 "$JD_TMP/kafkapw"
echo "$UPW" >"$JD_TMP/regpw"; chmod 600 "$JD_TMP/regpw"
JOURNEYD_KAFKA_SASL_PASSWORD_FILE="$JD_TMP/kafkapw" "$JD_BIN" config show \
  --set schemas.registry.password_file="$JD_TMP/regpw" \
  --set schemas.registry.url="https://reguser:$PW@registry.example:8081/" >"$JD_TMP/show-files.txt"
grep -q '^kafka.sasl.password: "\*\*\*\*\*"' "$JD_TMP/show-files.txt" || fail "JOURNEYD_KAFKA_SASL_PASSWORD_FILE not read"
grep -q '^schemas.registry.password: "\*\*\*\*\*"' "$JD_TMP/show-files.txt" || fail "schemas.registry.password_file not read"
grep -q '^schemas.registry.url: "https://\*\*\*\*\*@registry.example:8081/"' "$JD_TMP/show-files.txt" \
  || fail "userinfo of schemas.registry.url not masked"
LEAKS=$(grep -lF -e "$PW" -e "$UPW" -e "$KPW" "$JD_TMP"/*.log "$JD_TMP"/*.out "$JD_TMP"/*.txt 2>/dev/null || true)
[ -z "$LEAKS" ] || fail "a secret was printed in: $LEAKS"
echo "ok   no secret in any log, output, metric or config show"
