#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and
# runs each for N seconds on its corpus. New interesting inputs are kept in
# .jd-run/fuzz/<target>/ (not in git); a crash stops with the reproducer's
# path and a non-zero exit.
#
#   tests/fuzz/run.sh            60 s per target
#   tests/fuzz/run.sh 600        10 minutes per target
#   tests/fuzz/run.sh 15 decode  one target (decode, prog, registry, mapping, rules, record, config)
# Reproduce a crash: build-fuzz/fuzz_decode path/to/crash-file
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SECS="${1:-60}"
TARGETS="${2:-decode prog registry mapping rules record config}"
BUILD="$ROOT/build-fuzz"
WORK="$ROOT/.jd-run/fuzz"

"$ROOT/deploy/install-deps.sh" >/dev/null   # clang and its libFuzzer runtime
CC=clang cmake -S "$ROOT" -B "$BUILD" -DJD_FUZZ=ON -DJD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
mkdir -p "$WORK"
cmake --build "$BUILD" -j "$(nproc)" --target fuzz_decode fuzz_prog fuzz_registry fuzz_mapping fuzz_rules fuzz_record fuzz_config >"$WORK/build.log" 2>&1 \
  || { grep -E "error" "$WORK/build.log" | head -20; echo "fuzz: build failed ($WORK/build.log)"; exit 1; }

status=0
for t in $TARGETS; do
  mkdir -p "$WORK/$t" "$WORK/$t-crashes"
  echo "fuzz: $t for $SECS s"
  # avro-c keeps internal caches that LeakSanitizer cannot see as reachable
  # (a few hundred bytes, constant: RSS stays flat over millions of
  # decodes), so leak checking is off for the decoder targets (decode, prog).
  leaks=1; [ "$t" = decode ] || [ "$t" = prog ] && leaks=0
  if ! (cd "$WORK/$t-crashes" && ASAN_OPTIONS=detect_leaks=$leaks LSAN_OPTIONS=suppressions="$ROOT/tests/fuzz/lsan.supp" UBSAN_OPTIONS=halt_on_error=1 \
        "$BUILD/fuzz_$t" -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -detect_leaks=$leaks \
        -print_final_stats=1 "$WORK/$t" "$ROOT/tests/fuzz/corpus/$t" 2>"$WORK/$t.log"); then
    echo "fuzz: $t FAILED; reproducer(s) in $WORK/$t-crashes:"; ls "$WORK/$t-crashes"
    grep -E "ERROR|SUMMARY|runtime error" "$WORK/$t.log" | head -5
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$WORK/$t.log" | tail -2 | sed 's/^/    /'
  fi
done
exit $status
