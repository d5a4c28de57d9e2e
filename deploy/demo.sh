#!/usr/bin/env bash
# The journeyd demo: installs what it needs, builds, starts a throwaway
# redis-server and the embedded Kafka cluster, runs journeyd and the
# telemetry simulator, prints each trigger as it is published and ends with
# a summary. Safe to run again; everything it starts is stopped at the end.
#
#   deploy/demo.sh                      150 accounts, 60 days of history
#   ACCOUNTS=1000 DAYS=60 deploy/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/deploy/lib.sh"
ACCOUNTS="${ACCOUNTS:-150}"
DAYS="${DAYS:-60}"
POISON="${POISON:-12}"
RUN_DIR="$ROOT/.jd-run/demo"

"$ROOT/deploy/install-deps.sh"
echo "== building"
"$ROOT/deploy/build.sh"
BIN="$ROOT/build/journeyd"

rm -rf "$RUN_DIR"; mkdir -p "$RUN_DIR"
trap jd_cleanup EXIT
jd_start_redis "$RUN_DIR"
jd_start_broker "$BIN" "$RUN_DIR" --partitions 8
echo "== redis-server on 127.0.0.1:$JD_REDIS_PORT, embedded Kafka at $JD_BROKERS"
echo "   (while it runs: kcat -C -b $JD_BROKERS -t cs.trigger.risk)"

echo "== simulating $ACCOUNTS accounts over $DAYS days (+$POISON malformed messages)"
"$BIN" simulate --brokers "$JD_BROKERS" --accounts "$ACCOUNTS" --days "$DAYS" \
  --poison "$POISON" 2>&1 | tail -n 1

HTTP_PORT="$(jd_free_port)"
echo "== journeyd run (log: $RUN_DIR/journeyd.log); triggers as they are published,"
echo "   a status line every second (while it runs: curl 127.0.0.1:$HTTP_PORT/metrics):"
"$BIN" run --brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" \
  --set "http.port=$HTTP_PORT" --set kafka.statistics.interval.ms=1000 \
  --print-triggers --exit-idle 3 2>"$RUN_DIR/journeyd.log" &
RUN_PID=$!
"$ROOT/deploy/status.sh" "http://127.0.0.1:$HTTP_PORT" "$RUN_PID" &
STATUS_PID=$!
wait "$RUN_PID"
wait "$STATUS_PID" 2>/dev/null || true

echo
echo "== one account, as journeyd sees it (journeyd inspect acct-00000):"
"$BIN" inspect acct-00000 --redis "127.0.0.1:$JD_REDIS_PORT"
echo
echo "== dead-letter topic (product-events.dlq), reasons:"
kcat -C -b "$JD_BROKERS" -t product-events.dlq -e -q -f '%h\n' 2>/dev/null \
  | tr ',' '\n' | sed -n 's/^jd.reason=//p' | sort | uniq -c || true
