#!/usr/bin/env bash
# What an account weighs in Redis, on the simulator's accounts
# (bench/README.md, "Redis bytes per account").
#
#   bench/record_size.sh [--accounts N] [--days D] [--set KEY=VALUE ...]
#
# Starts a throwaway redis-server and the embedded Kafka cluster, has
# `journeyd simulate` write D days (default 60) of N accounts (default
# 500), runs `journeyd run` over it to the end, then prints, per account:
# the growth of Redis's used_memory, MEMORY USAGE summed over every key,
# and MEMORY USAGE by kind of key (the record, the signals hash, the sets
# shared by all accounts). --set flags go to the run (for example
# state.lateness_days=35). Uses the build in $BUILD_DIR (default build/).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/deploy/lib.sh"
ACC=500 DAYS=60 SETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --accounts) ACC="$2"; shift 2 ;;
    --days) DAYS="$2"; shift 2 ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    --help|-h) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/record_size.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
BIN="${BUILD_DIR:-$ROOT/build}/journeyd"
[ -x "$BIN" ] || { echo "bench/record_size.sh: $BIN not built (deploy/build.sh)" >&2; exit 1; }
RUN_DIR="$(mktemp -d /tmp/jd-recsize.XXXXXX)"
trap jd_cleanup EXIT
jd_start_redis "$RUN_DIR/redis"
jd_start_broker "$BIN" "$RUN_DIR" --partitions 8
R=(redis-cli -p "$JD_REDIS_PORT")
used() { "${R[@]}" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
M0=$(used)
echo "simulating $ACC accounts over $DAYS days" >&2
"$BIN" simulate --brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --accounts "$ACC" \
  --days "$DAYS" --set topics.embedded_partitions=8 2>"$RUN_DIR/simulate.log" \
  || { tail -5 "$RUN_DIR/simulate.log" >&2; exit 1; }
"${R[@]}" flushall >/dev/null   # the simulator's own run is not measured
M0=$(used)
echo "running journeyd over the log" >&2
"$BIN" run --brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --exit-idle 3 \
  --set kafka.group.id=recsize-$$ "${SETS[@]}" >"$RUN_DIR/run.out" 2>"$RUN_DIR/run.log" \
  || { tail -5 "$RUN_DIR/run.log" >&2; exit 1; }
grep -E "events consumed|accounts in state" "$RUN_DIR/run.out" || true
M1=$(used)
"${R[@]}" --scan >"$RUN_DIR/keys"
while read -r k; do printf 'MEMORY USAGE "%s" SAMPLES 0\n' "$k"; done <"$RUN_DIR/keys" \
  | "${R[@]}" >"$RUN_DIR/mem"
python3 - "$RUN_DIR/keys" "$RUN_DIR/mem" "$ACC" "$M0" "$M1" <<'PY'
import re, sys
keys = [l.rstrip("\n") for l in open(sys.argv[1])]
mem = [int(l) for l in open(sys.argv[2]) if l.strip()]
acc, m0, m1 = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
by = {}
for k, m in zip(keys, mem):
    kind = re.sub(r"\{[^}]*\}", "{T}", k)
    n, b = by.get(kind, (0, 0))
    by[kind] = (n + 1, b + m)
print("per account: used_memory +%.0f bytes; MEMORY USAGE %.0f bytes in %.1f keys"
      % ((m1 - m0) / acc, sum(mem) / acc, len(keys) / acc))
for kind, (n, b) in sorted(by.items(), key=lambda kv: -kv[1][1])[:8]:
    print("  %-44s %6d keys %7.0f bytes/account %8.0f bytes/key" % (kind, n, b / acc, b / n))
PY
