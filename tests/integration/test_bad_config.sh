#!/usr/bin/env bash
# Bad configuration and bad rules files: `journeyd run` must exit non-zero
# with a message naming the key (or FILE:LINE), before anything starts:
# no Redis key written, no consumer group joined, no topic created.
# Needs JD_BIN, JD_ROOT, JD_TMP (tests/run.sh sets them).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -n "${JD_REDIS_PORT:-}" ] || jd_start_redis "$JD_TMP/redis"
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 2
PREFIX="badcfg$$"
COMMON=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=$PREFIX"
        --set "kafka.group.id=badcfg-$$")
TOPICS_BEFORE=$(kcat -L -b "$JD_BROKERS" | grep -c 'topic "' || true)
N=0

# expect NAME PATTERN [journeyd run args...]: exit 2 and stderr matching PATTERN.
expect() {
  local name="$1" pat="$2" rc=0; shift 2
  timeout 60 "$JD_BIN" run "${COMMON[@]}" "$@" >"$JD_TMP/$name.out" 2>"$JD_TMP/$name.err" || rc=$?
  [ "$rc" -eq 2 ] || { cat "$JD_TMP/$name.err"; fail "$name: exit $rc, expected 2"; }
  grep -qE "$pat" "$JD_TMP/$name.err" || { cat "$JD_TMP/$name.err"; fail "$name: message does not match '$pat'"; }
  echo "ok   $name: $(grep -E "$pat" "$JD_TMP/$name.err" | head -n1)"
  N=$((N + 1))
}
y() { printf "$2" >"$JD_TMP/$1.yaml"; echo "$JD_TMP/$1.yaml"; }

expect unknown_key      "unknown_key.yaml:2:[0-9]+: unknown key 'pipeline.batch_sise'" \
  --config "$(y unknown_key 'pipeline:\n  batch_sise: 10\n')"
expect not_integer      "not_integer.yaml:2:[0-9]+: pipeline.batch_size: 'abc' is not an integer" \
  --config "$(y not_integer 'pipeline:\n  batch_size: abc\n')"
expect out_of_range     "out_of_range.yaml:2:[0-9]+: pipeline.batch_size: 0 is out of range" \
  --config "$(y out_of_range 'pipeline:\n  batch_size: 0\n')"
expect bad_choice       "schemas.wire_format" \
  --config "$(y bad_choice 'schemas:\n  wire_format: xml\n')"
expect repartition_is_input "topics.repartition: 'product-events' is already an input or output topic" \
  --set topics.repartition=product-events
expect repartition_is_dlq "topics.repartition: 'x.dlq' is already an input or output topic" \
  --set topics.dead_letter=x.dlq --set topics.repartition=x.dlq
expect bad_yaml         "bad_yaml.yaml:[0-9]+:[0-9]+:" \
  --config "$(y bad_yaml 'pipeline:\n  batch_size: [1\n')"
expect missing_schema   "schemas.ids.7: cannot read" \
  --config "$(y missing_schema 'schemas:\n  ids:\n    7: /nonexistent.avsc\n')"
expect missing_config   "nonexistent.yaml" --config /nonexistent.yaml
expect bad_ce_source    "cloudevents.source has a space, control or non-ASCII byte at offset 4" \
  --set "cloudevents.source=urn: spaced"
expect subject_no_registry "schemas.registry.input_subjects: needs schemas.registry.url" \
  --set schemas.registry.input_subjects=product-events-value
expect bad_subject_version "schemas.registry.plain_subject: 'up-value@v2' is not SUBJECT or SUBJECT@VERSION" \
  --set schemas.registry.url=http://127.0.0.1:9 --set schemas.registry.plain_subject=up-value@v2

expect bad_flag_key     "unknown key 'nope.key'" --set nope.key=1
expect bad_kafka_prop   "kafka.bogus.property" --set kafka.bogus.property=1
JOURNEYD_PIPELINE_BATCH_SIZE=-1 expect bad_env_value \
  "JOURNEYD_PIPELINE_BATCH_SIZE: pipeline.batch_size: -1 is out of range"
# hostile files and command lines (issue 16 B): refused with a position,
# never a crash
expect alias_cycle      "alias_cycle.yaml:3:5: kafka.a.b: alias cycle" \
  --config "$(y alias_cycle 'kafka: &x\n  a:\n    b: *x\n')"
BOMB='kafka:\n  l0: &l0 {p: 1, q: 1, r: 1, s: 1, t: 1, u: 1, v: 1, w: 1, x: 1, y: 1}\n'
for i in 1 2 3 4 5 6 7 8; do
  BOMB+="  l$i: &l$i {"
  for c in p q r s t u v w x; do BOMB+="$c: *l$((i - 1)), "; done
  BOMB+="y: *l$((i - 1))}\\n"
done
expect alias_bomb       "alias_bomb.yaml:4:[0-9]+: .*aliases repeat more than 1000 values" \
  --config "$(y alias_bomb "$BOMB")"
SETS=()
for i in $(seq 1 60); do SETS+=(--set "kafka.p$i=v"); done
expect too_many_sets    "more than 64 settings on the command line" "${SETS[@]}"
# a value with a line break is quoted on one line, escaped
expect newline_value    "forged.yaml:2:[0-9]+: pipeline.batch_size: '1\\\\n[0-9T:.-]+Z ERROR x: forged' is not an integer" \
  --config "$(y forged 'pipeline:\n  batch_size: "1\\n2026-01-01T00:00:00.000Z ERROR x: forged"\n')"
if grep -q '^2026-01-01T00:00:00.000Z ERROR x: forged' "$JD_TMP/newline_value.err"; then
  fail "newline_value: the value started a line of its own"
fi
expect rules_unknown_signal "unknown_signal.yaml:7:[0-9]+: rule 'low_utilization': unknown signal 'utilisation'" \
  --rules "$JD_ROOT/tests/fixtures/rules/unknown_signal.yaml"
expect rules_bad_yaml   "rules_bad_yaml.yaml:[0-9]+:[0-9]+: invalid YAML" \
  --rules "$(y rules_bad_yaml 'rules:\n  - id: x\n    kind: RISK\n  bad indent\n')"
expect rules_bad_expr   "rules_bad_expr.yaml:4:[0-9]+: rule .x.:" \
  --rules "$(y rules_bad_expr "rules:\n  - id: x\n    kind: RISK\n    when: \"utilization < \"\n    severity: HIGH\n    play: p\n")"
expect rules_missing    "rules.file: cannot read /nonexistent-rules.yaml" --rules /nonexistent-rules.yaml

# nothing half-started
KEYS=$(redis-cli -p "$JD_REDIS_PORT" --scan --pattern "$PREFIX*" | wc -l)
[ "$KEYS" -eq 0 ] || fail "$KEYS Redis keys written under $PREFIX"
TOPICS_AFTER=$(kcat -L -b "$JD_BROKERS" | grep -c 'topic "' || true)
[ "$TOPICS_AFTER" -eq "$TOPICS_BEFORE" ] || fail "topics were created ($TOPICS_BEFORE -> $TOPICS_AFTER)"
echo "ok   $N bad configurations and rules files refused with exit 2; no Redis key, no topic created"
