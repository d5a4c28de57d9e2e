#!/usr/bin/env bash
# Hostile input: every message of tests/corpus/hostile (see its MANIFEST)
# interleaved with valid simulated events (journeyd simulate --corpus); journeyd must
# dead-letter each with the reason the MANIFEST gives (header jd.reason,
# original key kept), count it under that reason, and process every valid
# event. Runs with schemas.wire_format=confluent and
# limits.max_message_bytes=8192 (the corpus is written for those).
# Needs JD_BIN, JD_ROOT, JD_TMP (tests/run.sh sets them).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
CORPUS="$JD_ROOT/tests/corpus/hostile"
[ -n "${JD_REDIS_PORT:-}" ] || jd_start_redis "$JD_TMP/redis"
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 4
COMMON=(--brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=hostile$$"
        --set schemas.wire_format=confluent --set limits.max_message_bytes=8192)

"$JD_BIN" simulate "${COMMON[@]}" --accounts 20 --days 20 --corpus "$CORPUS" 2>"$JD_TMP/sim.log"
read -r VALID BAD <<<"$(sed -n 's/^simulate: \([0-9]*\) events and \([0-9]*\) malformed.*/\1 \2/p' "$JD_TMP/sim.log")"
[ "$BAD" -eq "$(grep -cv '^#' "$CORPUS/MANIFEST")" ] || fail "simulate sent $BAD corpus messages"
TOTAL=$((VALID + BAD))

# limits.max_batch_bytes=16384 cuts the batches (~80 bytes an event) well
# below pipeline.batch_size: nothing may be lost at the cuts.
timeout 300 "$JD_BIN" run "${COMMON[@]}" --set limits.max_batch_bytes=16384 \
  --max-events "$TOTAL" --exit-idle 10 >"$JD_TMP/run.out" 2>"$JD_TMP/run.log" \
  || { tail -n 30 "$JD_TMP/run.log"; fail "journeyd run exited non-zero"; }
cat "$JD_TMP/run.out"
grep -q "^events consumed      $TOTAL " "$JD_TMP/run.out" || fail "not all $TOTAL messages consumed"
grep -q "^decoded              $VALID " "$JD_TMP/run.out" || fail "not all $VALID valid events decoded"
grep -q "^dead-lettered        $BAD$" "$JD_TMP/run.out" || fail "expected $BAD dead letters"
BATCHES=$(awk '/^batches/ {print $2}' "$JD_TMP/run.out")
[ "$BATCHES" -ge 20 ] || fail "only $BATCHES batches: limits.max_batch_bytes did not cut them"

kcat -C -b "$JD_BROKERS" -t product-events.dlq -e -q -f '%k\t%h\n' >"$JD_TMP/dlq.txt"
[ "$(wc -l <"$JD_TMP/dlq.txt")" -eq "$BAD" ] || fail "the dead-letter topic holds $(wc -l <"$JD_TMP/dlq.txt") records, not $BAD"
BADREASON=0
while read -r name reason _; do
  case "$name" in ''|'#'*) continue ;; esac
  got=$(awk -F'\t' -v k="$name" '$1 == k {print $2}' "$JD_TMP/dlq.txt" | grep -o 'jd\.reason=[a-z_0-9]*' | cut -d= -f2)
  if [ "$got" = "$reason" ]; then echo "ok   $name: $reason"
  else echo "BAD  $name: expected $reason, got '${got:-no record}'"; BADREASON=$((BADREASON + 1)); fi
done <"$CORPUS/MANIFEST"
[ "$BADREASON" -eq 0 ] || fail "$BADREASON dead letters with the wrong reason"
# the summary counts each reason as the MANIFEST does
awk '!/^#/ && NF {print $2}' "$CORPUS/MANIFEST" | sort | uniq -c | while read -r n reason; do
  grep -qE "^  $reason +$n$" "$JD_TMP/run.out" || fail "summary does not count $n $reason"
done
REASONS=$(awk '!/^#/ && NF {print $2}' "$CORPUS/MANIFEST" | sort -u | wc -l)
echo "ok   $BATCHES batches of at most 16384 message bytes"
echo "ok   bad inputs tried $BAD ($REASONS distinct reasons), all dead-lettered with their reason; valid events $VALID, all decoded"
