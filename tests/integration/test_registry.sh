#!/usr/bin/env bash
# Schema Registry, end to end, against tests/integration/registry.py (a
# small registry speaking the Confluent REST paths, with basic auth):
#  - producers register three writer schemas of product events under
#    product-events-value: v1 = product_event.avsc, v2 = fields reordered,
#    two added with defaults, value promoted float -> double, v3 = v2 with
#    the optional `feature` field removed; events written with each decode
#    (journeyd fetches the schemas by id, with basic auth) and their
#    signals are the expected ones;
#  - journeyd registers trigger_event.avsc under <trigger topic>-value and
#    frames its triggers with the id the registry gave; python3-avro decodes
#    them with the schema fetched back from the registry under that id;
#  - registry outage (issue 15): the registry stopped for 10 s mid-run and
#    restarted where it was; events with an id already fetched keep flowing,
#    an id journeyd never saw waits (paused, logged) and is decoded once the
#    registry is back: no dead letter during the outage, none of a valid
#    message after it, and the accounts end as in a run that never saw the
#    outage (the TLS run below, compared with `journeyd inspect`); an id the
#    registry answers 404 to is dead-lettered as unknown_schema_id and asked
#    for once per schemas.registry.negative_ttl_ms, not once per message
#    (the registry's request log); a registry answering 503 dead-letters
#    nothing either, nor does one that takes the request and never answers
#    (a timeout: paused, then every valid message decoded); wrong credentials are refused at start-up;
#    credentials in schemas.registry.url are masked in logs and never reach
#    dead-letter headers;
#  - input subjects: plain (unframed) messages read with the writer schema
#    of schemas.registry.plain_subject (a subject@version), framed ones of
#    schemas.registry.input_subjects known at start-up without a fetch by
#    id; a subject the registry does not have is refused at start-up;
#  - replay --topic decodes those events the way run does (schemas fetched);
#  - TLS: against the registry over HTTPS with a self-signed certificate,
#    journeyd refuses to start without schemas.registry.ca_location and
#    fetches every writer schema with it.
# Needs JD_BIN, JD_ROOT, JD_TMP (JD_REDIS_PORT optional).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
PY=/usr/bin/python3
AVRO="$JD_ROOT/tests/integration/jdavro.py"
SCH="$JD_ROOT/schemas"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -n "${JD_REDIS_PORT:-}" ] || jd_start_redis "$JD_TMP/redis"
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 2

$PY "$JD_ROOT/tests/integration/registry.py" "$JD_TMP/registry.port" --user jd:s3cret \
  2>"$JD_TMP/registry.log" &
REG_PID=$!
JD_PIDS+=("$REG_PID")
for _ in $(seq 1 100); do [ -s "$JD_TMP/registry.port" ] && break; sleep 0.05; done
REG_PORT="$(cat "$JD_TMP/registry.port")"
REG="http://127.0.0.1:$REG_PORT"
AUTH=(-u jd:s3cret)

# ---- writer schemas, registered as a producer would ---------------------------
$PY - "$SCH/product_event.avsc" "$JD_ROOT/tests/fixtures/codec/product_event_v2.avsc" "$JD_TMP" <<'PYEOF'
import json, sys
v1, v2, out = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
v3 = dict(v2, fields=[f for f in v2["fields"] if f["name"] != "feature"])
v4 = dict(v2, fields=v2["fields"] + [{"name": "extra", "type": "string", "default": ""}])
for n, s in [("v1", v1), ("v2", v2), ("v3", v3), ("v4", v4)]:
    json.dump({"schema": json.dumps(s)}, open("%s/%s.req" % (out, n), "w"))
    json.dump(s, open("%s/%s.avsc" % (out, n), "w"))
PYEOF
declare -A ID
for v in v1 v2 v3 v4; do
  ID[$v]=$(curl -sf "${AUTH[@]}" -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data @"$JD_TMP/$v.req" "$REG/subjects/product-events-value/versions" \
    | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "registering $v"
done
echo "writer schema ids: v1=${ID[v1]} v2=${ID[v2]} v3=${ID[v3]} v4=${ID[v4]}"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$REG/schemas/ids/${ID[v1]}")" = 401 ] \
  || fail "the test registry must demand credentials"

# ---- events ------------------------------------------------------------------------
$PY - "$JD_TMP" <<'PYEOF'
import json, sys, datetime as dt
out = sys.argv[1]
def ms(s): return int(dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
def ev(i, acct, typ, at, user=None, feature=None, value=None, attrs=None, v=1):
    e = {"event_id": "%s-%d" % (acct, i), "account_id": acct, "user_id": user, "type": typ,
         "feature": feature, "occurred_at": ms(at), "value": value, "attributes": attrs or {}}
    if v >= 2: e.update(source="mobile", tags=["t"])
    if v == 3: del e["feature"]
    return e
files = {
  "a-v1": [ev(1, "reg-a", "account_created", "2026-09-01T10:00:00Z"),
           ev(2, "reg-a", "account_updated", "2026-09-01T10:00:01Z", attrs={
               "seats": "4", "segment": "smb", "renewal_at": "2026-11-20"}),
           ev(3, "reg-a", "login", "2026-10-01T09:00:00Z", "u1")],
  "a-v2": [ev(4, "reg-a", "nps_response", "2026-10-02T09:00:00Z", "u1", value=9.5, v=2),
           ev(5, "reg-a", "feature_used", "2026-10-02T10:00:00Z", "u2", "reports", v=2)],
  "a-v3": [ev(6, "reg-a", "login", "2026-10-03T09:00:00Z", "u3", v=3)],
  "b-v2": [ev(1, "reg-b", "account_created", "2026-10-01T00:00:00Z", v=2),
           ev(2, "reg-b", "login", "2026-10-02T00:00:00Z", "u1", v=2)],
  "b-v4": [ev(3, "reg-b", "login", "2026-10-03T00:00:00Z", "u2", v=2) | {"extra": "x"}],
  "c-404": [ev(i, "reg-c", "login", "2026-10-04T00:00:00Z", "u%d" % i) for i in range(1, 5)],
}
for name, evs in files.items():
    open("%s/%s.jsonl" % (out, name), "w").write("\n".join(json.dumps(e) for e in evs) + "\n")
PYEOF
enc() { $PY "$AVRO" encode "$JD_TMP/$2.avsc" "$JD_TMP/$1" --id "${ID[$2]}" <"$JD_TMP/$1.jsonl" >/dev/null; }
enc a-v1 v1; enc a-v2 v2; enc a-v3 v3; enc b-v2 v2; enc b-v4 v4
NOID=999   # never registered: the registry answers 404
$PY "$AVRO" encode "$JD_TMP/v1.avsc" "$JD_TMP/c-404" --id "$NOID" <"$JD_TMP/c-404.jsonl" >/dev/null
N404=$(ls "$JD_TMP"/c-404/*.bin | wc -l)
produce() { kcat -P -b "$JD_BROKERS" -t product-events -k "$1" "${@:2}"; }

# ---- wrong credentials: refused at start-up, naming the registry -------------------------
PREFIX="reg$$"
BASE=(--brokers "$JD_BROKERS" --redis "127.0.0.1:${JD_REDIS_PORT}" --set "redis.prefix=$PREFIX"
      --set "schemas.registry.url=$REG" --set schemas.registry.username=jd)
if timeout 60 "$JD_BIN" run "${BASE[@]}" --set schemas.registry.password=wrong --exit-idle 1 \
     >"$JD_TMP/badauth.out" 2>"$JD_TMP/badauth.log"; then
  fail "journeyd started with wrong registry credentials"
fi
grep -q "HTTP 401" "$JD_TMP/badauth.log" || { cat "$JD_TMP/badauth.log"; fail "no 401 in the error"; }

# ---- phase 1: registry up ---------------------------------------------------------------
produce reg-a "$JD_TMP"/a-v1/*.bin "$JD_TMP"/a-v2/*.bin "$JD_TMP"/a-v3/*.bin
N1=$(ls "$JD_TMP"/a-v*/*.bin | wc -l)
HPORT="$(jd_free_port)"
JOURNEYD_SCHEMAS_REGISTRY_PASSWORD=s3cret "$JD_BIN" run "${BASE[@]}" \
  --set "http.port=$HPORT" --set "kafka.group.id=reg$$" --print-triggers \
  >"$JD_TMP/run.out" 2>"$JD_TMP/run.log" &
RUN_PID=$!
JD_PIDS+=("$RUN_PID")
consumed() { curl -sf "http://127.0.0.1:$HPORT/metrics" \
  | awk '/^journeyd_events_consumed_total/ { s += $NF } END { print s + 0 }'; }
dead() { curl -sf "http://127.0.0.1:$HPORT/metrics" \
  | awk '/^journeyd_dead_letters_total/ { s += $NF } END { print s + 0 }'; }
wait_consumed() {
  for _ in $(seq 1 300); do [ "$(consumed 2>/dev/null || echo 0)" -ge "$1" ] && return 0; sleep 0.2; done
  tail -n 20 "$JD_TMP/run.log"; fail "journeyd did not consume $1 messages"
}
wait_consumed "$N1"
sleep 1   # the last batch's triggers are published before its offsets are stored

curl -sf "${AUTH[@]}" "$REG/subjects" >"$JD_TMP/subjects.json"
for s in cs.trigger.risk-value cs.trigger.renewal-value cs.trigger.expansion-value cs.journey.stage-value; do
  grep -q "\"$s\"" "$JD_TMP/subjects.json" || fail "journeyd did not register $s: $(cat "$JD_TMP/subjects.json")"
done
TID=$(curl -sf "${AUTH[@]}" "$REG/subjects/cs.trigger.renewal-value/versions/latest" \
  | $PY -c 'import json,sys; d=json.load(sys.stdin); open(sys.argv[1],"w").write(d["schema"]); print(d["id"])' \
    "$JD_TMP/trigger_from_registry.avsc")
echo "trigger schema id in the registry: $TID"

# ---- subject name strategies: RecordNameStrategy and TopicRecordNameStrategy ----------------
for st in record topic_record; do
  JOURNEYD_SCHEMAS_REGISTRY_PASSWORD=s3cret timeout 60 "$JD_BIN" run "${BASE[@]}" \
    --set "redis.prefix=${PREFIX}st$st" --set "kafka.group.id=reg$$-$st" \
    --set "schemas.registry.subject_strategy=$st" --exit-idle 1 \
    >"$JD_TMP/st-$st.out" 2>"$JD_TMP/st-$st.log" || { tail "$JD_TMP/st-$st.log"; fail "run with $st"; }
done
curl -sf "${AUTH[@]}" "$REG/subjects" >"$JD_TMP/subjects.json"
for s in journeyd.TriggerEvent journeyd.JourneyStageEvent cs.trigger.risk-journeyd.TriggerEvent \
         cs.trigger.expansion-journeyd.TriggerEvent cs.journey.stage-journeyd.JourneyStageEvent; do
  grep -q "\"$s\"" "$JD_TMP/subjects.json" || fail "subject $s not registered: $(cat "$JD_TMP/subjects.json")"
done
echo "ok   subject strategies record and topic_record register under their subjects"

# ---- bearer auth: a token from a 0600 file; a wrong token is refused at start-up ---------
TOKEN="tok-$$-bearer"
BPRE=()   # it knows the writer schemas, so the run dead-letters nothing
for v in v1 v2 v3 v4; do BPRE+=(--preload "${ID[$v]}=$JD_TMP/$v.avsc"); done
$PY "$JD_ROOT/tests/integration/registry.py" "$JD_TMP/registry-b.port" --bearer "$TOKEN" \
  "${BPRE[@]}" 2>"$JD_TMP/registry-b.log" &
JD_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$JD_TMP/registry-b.port" ] && break; sleep 0.05; done
BREG="http://127.0.0.1:$(cat "$JD_TMP/registry-b.port")"
BRUN=(--brokers "$JD_BROKERS" --redis "127.0.0.1:${JD_REDIS_PORT}" --set "redis.prefix=${PREFIX}b"
      --set "schemas.registry.url=$BREG" --set "kafka.group.id=reg$$-bearer" --exit-idle 1)
printf '%s\n' "$TOKEN" >"$JD_TMP/token"; chmod 600 "$JD_TMP/token"
printf 'wrong\n' >"$JD_TMP/token.bad"; chmod 600 "$JD_TMP/token.bad"
if timeout 60 "$JD_BIN" run "${BRUN[@]}" --set "schemas.registry.bearer_token_file=$JD_TMP/token.bad" \
     >"$JD_TMP/b-bad.out" 2>"$JD_TMP/b-bad.log"; then
  fail "journeyd started with a wrong registry bearer token"
fi
grep -q "HTTP 401" "$JD_TMP/b-bad.log" || { cat "$JD_TMP/b-bad.log"; fail "no 401 for a wrong token"; }
timeout 60 "$JD_BIN" run "${BRUN[@]}" --set "schemas.registry.bearer_token_file=$JD_TMP/token" \
  >"$JD_TMP/b.out" 2>"$JD_TMP/b.log" || { tail "$JD_TMP/b.log"; fail "run with a bearer token"; }
curl -sf -H "Authorization: Bearer $TOKEN" "$BREG/subjects" | grep -q '"cs.trigger.risk-value"' \
  || fail "journeyd did not register with the bearer token"
grep -q "0 dead letters" "$JD_TMP/b.log" || { tail -3 "$JD_TMP/b.log"; fail "the bearer run dead-lettered"; }
grep -lF "$TOKEN" "$JD_TMP"/b.out "$JD_TMP"/b.log "$JD_TMP"/b-bad.log && fail "the bearer token was printed"
chmod 644 "$JD_TMP/token"
if timeout 60 "$JD_BIN" run "${BRUN[@]}" --set "schemas.registry.bearer_token_file=$JD_TMP/token" \
     >"$JD_TMP/b-mode.out" 2>"$JD_TMP/b-mode.log"; then
  fail "journeyd read a bearer token file readable by others"
fi
grep -q "schemas.registry.bearer_token_file" "$JD_TMP/b-mode.log" || fail "the mode refusal does not name the key"
echo "ok   bearer auth: token from a 0600 file, wrong token refused (401), 0644 file refused"

# ---- input subjects: writer schemas looked up by subject and version at start-up -----------
# Plain (unframed) v2 messages read with plain_subject's schema (version 2
# of product-events-value), and a framed v4 message whose id journeyd
# knows from input_subjects (latest = v4) without a fetch by id.
$PY - "$JD_TMP" <<'PYEOF'
import json, sys
out = sys.argv[1]
evs = [{"event_id": "p-%d" % i, "account_id": "reg-p", "user_id": "u%d" % i, "type": "login",
        "feature": None, "occurred_at": 1790000000000 + i, "value": None, "attributes": {},
        "source": "web", "tags": []} for i in range(1, 4)]
open(out + "/p-v2.jsonl", "w").write("\n".join(json.dumps(e) for e in evs) + "\n")
open(out + "/p-v4.jsonl", "w").write(json.dumps(dict(evs[0], event_id="p-9", extra="y")) + "\n")
PYEOF
$PY "$AVRO" encode "$JD_TMP/v2.avsc" "$JD_TMP/p-v2" --id -1 <"$JD_TMP/p-v2.jsonl" >/dev/null
$PY "$AVRO" encode "$JD_TMP/v4.avsc" "$JD_TMP/p-v4" --id "${ID[v4]}" <"$JD_TMP/p-v4.jsonl" >/dev/null
kcat -P -b "$JD_BROKERS" -t plain-events -k reg-p "$JD_TMP"/p-v2/*.bin "$JD_TMP"/p-v4/*.bin
ids_asked() { grep -c "\"GET /schemas/ids/$1 " "$JD_TMP/registry.log" || true; }
V4_BEFORE=$(ids_asked "${ID[v4]}")
SUBJ=(--set topics.input=plain-events --set "redis.prefix=${PREFIX}p" --set "kafka.group.id=reg$$-p"
      --set schemas.registry.input_subjects=product-events-value
      --set schemas.registry.plain_subject=product-events-value@2 --exit-idle 1)
JOURNEYD_SCHEMAS_REGISTRY_PASSWORD=s3cret timeout 60 "$JD_BIN" run "${BASE[@]}" "${SUBJ[@]}" \
  >"$JD_TMP/p.out" 2>"$JD_TMP/p.log" || { tail "$JD_TMP/p.log"; fail "run with input subjects"; }
grep -q "plain_subject: subject product-events-value version 2 is schema id ${ID[v2]} (fast path)" \
  "$JD_TMP/p.log" || { grep registry "$JD_TMP/p.log"; fail "plain_subject not looked up"; }
grep -q "input_subjects: subject product-events-value version latest is schema id ${ID[v4]}" \
  "$JD_TMP/p.log" || { grep registry "$JD_TMP/p.log"; fail "input_subjects not looked up"; }
grep -q "^decoded              4 " "$JD_TMP/p.out" || { cat "$JD_TMP/p.out"; fail "not every message decoded"; }
grep -q "0 dead letters" "$JD_TMP/p.log" || { tail -3 "$JD_TMP/p.log"; fail "the subject run dead-lettered"; }
[ "$(ids_asked "${ID[v4]}")" = "$V4_BEFORE" ] || fail "id ${ID[v4]} fetched by id though input_subjects named it"
if JOURNEYD_SCHEMAS_REGISTRY_PASSWORD=s3cret timeout 60 "$JD_BIN" run "${BASE[@]}" "${SUBJ[@]}" \
     --set schemas.registry.plain_subject=no-such-value@3 >"$JD_TMP/p-bad.out" 2>"$JD_TMP/p-bad.log"; then
  fail "journeyd started with a plain_subject the registry does not have"
fi
grep -q "schemas.registry.plain_subject: subject no-such-value: .*HTTP 404" "$JD_TMP/p-bad.log" \
  || { cat "$JD_TMP/p-bad.log"; fail "the unknown subject is not named"; }
echo "ok   input subjects: plain messages read with version 2, v4 known by subject (no fetch by id), unknown subject refused"

# ---- replay --topic decodes as run does: writer schemas fetched from the registry ----------
JOURNEYD_SCHEMAS_REGISTRY_PASSWORD=s3cret timeout 120 "$JD_BIN" replay --topic product-events \
  "${BASE[@]}" --rules "$JD_ROOT/rules/default.yaml" --baseline "$JD_ROOT/rules/default.yaml" \
  --counts-only >"$JD_TMP/replay.out" 2>"$JD_TMP/replay.log" \
  || { cat "$JD_TMP/replay.log"; fail "replay --topic with the registry"; }
grep -q "^replay product-events: $N1 event(s), 1 account(s)$" "$JD_TMP/replay.out" \
  || { cat "$JD_TMP/replay.out"; fail "replay --topic did not decode every writer version"; }
echo "ok   replay --topic fetches writer schemas from the registry"

# ---- phase 2: registry outage, 10 s mid-run -------------------------------------------------
kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true
DOWN_AT=$SECONDS
produce reg-b "$JD_TMP"/b-v2/*.bin "$JD_TMP"/b-v4/*.bin
produce reg-c "$JD_TMP"/c-404/*.bin
for _ in $(seq 1 150); do
  [ "$(dead)" = 0 ] || fail "$(dead) dead letter(s) while the registry is down"
  grep -q "schema registry outage" "$JD_TMP/run.log" && break; sleep 0.2
done
grep -q "schema registry outage" "$JD_TMP/run.log" || { tail "$JD_TMP/run.log"; fail "no outage warning"; }
while [ $((SECONDS - DOWN_AT)) -lt 10 ]; do
  [ "$(dead)" = 0 ] || fail "$(dead) dead letter(s) while the registry is down"
  sleep 0.5
done
[ "$(dead)" = 0 ] || fail "$(dead) dead letter(s) while the registry is down"
PRE=()
for v in v1 v2 v3 v4; do PRE+=(--preload "${ID[$v]}=$JD_TMP/$v.avsc"); done
$PY "$JD_ROOT/tests/integration/registry.py" "$JD_TMP/registry-up.port" --port "$REG_PORT" \
  --user jd:s3cret "${PRE[@]}" 2>"$JD_TMP/registry-up.log" &
JD_PIDS+=($!)
wait_consumed $((N1 + 3 + N404))
for _ in $(seq 1 100); do [ "$(dead)" -ge "$N404" ] && break; sleep 0.2; done
sleep 1
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "journeyd run did not stop cleanly"
cat "$JD_TMP/run.out"
grep -q "schema registry answers again" "$JD_TMP/run.log" || fail "the end of the outage is not logged"
grep -q "dead-lettered        $N404$" "$JD_TMP/run.out" || fail "expected exactly $N404 dead letters (the 404 id)"
grep -q "unknown_schema_id    $N404" "$JD_TMP/run.out" || fail "the dead letters are not unknown_schema_id"

kcat -C -b "$JD_BROKERS" -t product-events.dlq -e -q -f '%h\n' >"$JD_TMP/dlq.txt"
[ "$(grep -c "schema id $NOID" "$JD_TMP/dlq.txt")" = "$N404" ] || fail "DLQ: $(cat "$JD_TMP/dlq.txt")"
[ "$(wc -l <"$JD_TMP/dlq.txt")" = "$N404" ] || fail "valid messages dead-lettered: $(cat "$JD_TMP/dlq.txt")"
asked() { grep -c "\"GET /schemas/ids/$1 " "$JD_TMP/registry-up.log" || true; }
[ "$(asked "$NOID")" = 1 ] || fail "404 id $NOID asked $(asked "$NOID") times, not once per negative TTL"
[ "$(asked "${ID[v4]}")" = 1 ] || fail "id ${ID[v4]} asked $(asked "${ID[v4]}") times after the outage"
echo "ok   registry outage: $((N1 + 3)) valid messages, 0 dead-lettered; 404 id asked once for $N404 messages"

# ---- credentials in the registry URL never leak: not in logs, not in DLQ headers ----------
# A registry that takes registrations but answers 503 for every schema id,
# its credentials in the URL: every message of a new consumer group waits
# for its schema (an outage: nothing is dead-lettered), the registry's error
# is logged with the URL masked, and a stop abandons the batch.
URLPW="urlpw-$$-secret"
$PY "$JD_ROOT/tests/integration/registry.py" "$JD_TMP/registry2.port" --user "jd:$URLPW" \
  --ids-unavailable 2>"$JD_TMP/registry2.log" &
JD_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$JD_TMP/registry2.port" ] && break; sleep 0.05; done
LEAK_URL="http://jd:$URLPW@127.0.0.1:$(cat "$JD_TMP/registry2.port")"
timeout 120 "$JD_BIN" run --brokers "$JD_BROKERS" --redis "127.0.0.1:${JD_REDIS_PORT}" \
  --set "redis.prefix=leak$$" --set "schemas.registry.url=$LEAK_URL" --set "kafka.group.id=leak$$" \
  --set schemas.registry.retry_ms=100 --set pipeline.shutdown_timeout_ms=1000 \
  >"$JD_TMP/leak.out" 2>"$JD_TMP/leak.log" &
LEAK_PID=$!
JD_PIDS+=("$LEAK_PID")
for _ in $(seq 1 150); do grep -q "retrying in" "$JD_TMP/leak.log" && break; sleep 0.2; done
kill -TERM "$LEAK_PID"
wait "$LEAK_PID" || { tail "$JD_TMP/leak.log"; fail "run with a registry URL holding credentials"; }
kcat -C -b "$JD_BROKERS" -t product-events.dlq -e -q -f '%h %s\n' >"$JD_TMP/dlq-leak.txt"
grep -q "HTTP 503" "$JD_TMP/leak.log" || fail "the registry error is not logged: $(tail -3 "$JD_TMP/leak.log")"
grep -q "schema registry outage" "$JD_TMP/leak.log" || fail "503 is not handled as an outage"
[ "$(grep -c "jd.reason=" "$JD_TMP/dlq-leak.txt")" = "$N404" ] || fail "a 503 registry dead-lettered messages"
grep -qF "http://*****@127.0.0.1:" "$JD_TMP/leak.log" || fail "the logged registry URL is not masked"
if grep -lF "$URLPW" "$JD_TMP/leak.log" "$JD_TMP/leak.out" "$JD_TMP/dlq-leak.txt"; then
  fail "the registry URL's password was printed (files above)"
fi
echo "ok   registry 503: nothing dead-lettered; URL credentials masked in logs ($(grep -cF '*****@' "$JD_TMP/leak.log") lines)"

# ---- a registry that takes the connection and never answers: a timeout is an outage -------
# For 4 s from the first GET /schemas/ids/{id} it is sent, the registry reads
# every such request and answers none (registrations are answered);
# journeyd's requests time out after timeout_ms. A new consumer group reads every message of the topic: it
# pauses (no dead letter while the registry hangs), backs off, and once the
# registry answers decodes every valid message and dead-letters the 404 id's.
$PY "$JD_ROOT/tests/integration/registry.py" "$JD_TMP/registry3.port" --ids-hang 4 "${PRE[@]}" \
  2>"$JD_TMP/registry3.log" &
JD_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$JD_TMP/registry3.port" ] && break; sleep 0.05; done
timeout 90 "$JD_BIN" run --brokers "$JD_BROKERS" --redis "127.0.0.1:${JD_REDIS_PORT}" \
  --set "redis.prefix=hang$$" --set "schemas.registry.url=http://127.0.0.1:$(cat "$JD_TMP/registry3.port")" \
  --set "kafka.group.id=hang$$" --set schemas.registry.timeout_ms=500 --set schemas.registry.retry_ms=100 \
  --set pipeline.retry_backoff_max_ms=1000 --max-events $((N1 + 3 + N404)) \
  >"$JD_TMP/hang.out" 2>"$JD_TMP/hang.log" || { tail "$JD_TMP/hang.log"; fail "run against a hanging registry"; }
HUNG=$(grep -c "hang GET /schemas/ids/" "$JD_TMP/registry3.log" || true)
[ "$HUNG" -ge 2 ] || fail "the hanging registry was asked $HUNG time(s)"
grep -q "schema registry outage: .*Timeout" "$JD_TMP/hang.log" \
  || fail "a registry timeout is not handled as an outage: $(grep registry "$JD_TMP/hang.log" | head -3)"
grep -q "schema registry answers again" "$JD_TMP/hang.log" || fail "no resumption after the hang"
grep -q "dead-lettered        $N404$" "$JD_TMP/hang.out" \
  || { cat "$JD_TMP/hang.out"; fail "a hanging registry dead-lettered valid messages"; }
kcat -C -b "$JD_BROKERS" -t product-events.dlq -e -q -f '%h\n' >"$JD_TMP/dlq-hang.txt"
[ "$(grep -c "schema id $NOID" "$JD_TMP/dlq-hang.txt")" = $((2 * N404)) ] \
  && [ "$(wc -l <"$JD_TMP/dlq-hang.txt")" = $((2 * N404)) ] \
  || fail "DLQ after the hang phase: $(cat "$JD_TMP/dlq-hang.txt")"
echo "ok   registry hang: $HUNG requests timed out, consumption paused; $((N1 + 3)) valid messages, 0 dead-lettered"

# ---- signals: every writer version decoded -------------------------------------------------
for a in reg-a reg-b; do
  "$JD_BIN" inspect "$a" --json --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=$PREFIX" \
    >"$JD_TMP/$a.json" || fail "inspect $a"
done
$PY - "$JD_TMP" <<'PYEOF'
import json, sys
d = sys.argv[1]
a = json.load(open(d + "/reg-a.json"))["signals"]
b = json.load(open(d + "/reg-b.json"))["signals"]
checks = [
    ("v1: seats", a["seats"] == 4),
    ("v2: nps promoted float -> double", a["nps_last"] == 9.5),
    ("v1+v2+v3: three active users", a["active_users_7d"] == 3),
    ("v2 during the outage (cached id), v4 after it: reg-b active", b["active_users_7d"] == 2),
]
for n, ok in checks: print(("ok   " if ok else "FAIL ") + n)
if not all(ok for _, ok in checks): print(json.dumps([a, b], indent=1)); sys.exit(1)
PYEOF

# ---- triggers framed with the registry's id -----------------------------------------------
kcat -C -b "$JD_BROKERS" -t cs.trigger.renewal -e -q -f '%S:%s' \
  | $PY "$AVRO" decode "$JD_TMP/trigger_from_registry.avsc" >"$JD_TMP/triggers.jsonl" \
  || fail "triggers do not decode with the registry's schema"
[ -s "$JD_TMP/triggers.jsonl" ] || fail "no renewal trigger"
$PY - "$JD_TMP/triggers.jsonl" "$TID" <<'PYEOF'
import json, sys
trs = [json.loads(l) for l in open(sys.argv[1])]
assert all(t["_schema_id"] == int(sys.argv[2]) for t in trs), [t["_schema_id"] for t in trs]
# reg-a renews 47.6 days after its latest event: the 60-day readiness rule
assert ("reg-a", "renewal_60d") in [(t["account_id"], t["rule_id"]) for t in trs], trs
print("ok   %d renewal trigger(s) framed with registry id %s" % (len(trs), sys.argv[2]))
PYEOF
# ---- TLS: a registry speaking HTTPS with a self-signed certificate --------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$JD_TMP/tls.key" -out "$JD_TMP/tls.pem" \
  >/dev/null 2>&1 || fail "openssl could not make a certificate"
$PY "$JD_ROOT/tests/integration/registry.py" "$JD_TMP/tls.port" --tls "$JD_TMP/tls.pem" "$JD_TMP/tls.key" \
  2>"$JD_TMP/tls-registry.log" &
JD_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$JD_TMP/tls.port" ] && break; sleep 0.05; done
TLS="https://127.0.0.1:$(cat "$JD_TMP/tls.port")"
for v in v1 v2 v3 v4; do   # same schemas, same order: the same ids as above
  id=$(curl -sf --cacert "$JD_TMP/tls.pem" -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data @"$JD_TMP/$v.req" "$TLS/subjects/product-events-value/versions" \
    | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "TLS registry: $v"
  [ "$id" = "${ID[$v]}" ] || fail "TLS registry gave $v id $id, not ${ID[$v]}"
done
TLSRUN=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=tls$$"
        --set "schemas.registry.url=$TLS" --set "kafka.group.id=tls$$")
if timeout 60 "$JD_BIN" run "${TLSRUN[@]}" --exit-idle 1 >/dev/null 2>"$JD_TMP/tls-bad.log"; then
  fail "journeyd accepted a registry certificate it cannot verify"
fi
grep -q "schemas.registry" "$JD_TMP/tls-bad.log" || { cat "$JD_TMP/tls-bad.log"; fail "TLS error does not name the keys"; }
timeout 120 "$JD_BIN" run "${TLSRUN[@]}" --set "schemas.registry.ca_location=$JD_TMP/tls.pem" \
  --max-events $((N1 + 3 + N404)) >"$JD_TMP/tls.out" 2>"$JD_TMP/tls.log" \
  || { tail -n 20 "$JD_TMP/tls.log"; fail "journeyd run over TLS"; }
grep -q "dead-lettered        $N404$" "$JD_TMP/tls.out" || fail "over TLS every writer schema must be fetched"
curl -sf --cacert "$JD_TMP/tls.pem" "$TLS/subjects" | grep -q '"cs.trigger.risk-value"' \
  || fail "journeyd did not register its schemas over TLS"
echo "ok   TLS: unverifiable certificate refused, ca_location accepted, schemas fetched over HTTPS"

# ---- the outage changed nothing: accounts as in the TLS run, which never saw one -----------
for a in reg-a reg-b; do
  for p in "$PREFIX" "tls$$"; do
    "$JD_BIN" inspect "$a" --json --as-of 2026-10-10T00:00:00Z --redis "127.0.0.1:$JD_REDIS_PORT" \
      --set "redis.prefix=$p" >"$JD_TMP/$a.$p.json" || fail "inspect $a ($p)"
  done
  cmp -s "$JD_TMP/$a.$PREFIX.json" "$JD_TMP/$a.tls$$.json" \
    || { diff "$JD_TMP/$a.$PREFIX.json" "$JD_TMP/$a.tls$$.json"; fail "$a differs from the uninterrupted run"; }
done
echo "ok   after the outage reg-a and reg-b are as in an uninterrupted run"
echo "ok   schema registry: fetch with auth, evolution, registration, outage, TLS"
