#!/usr/bin/env bash
# The whole journeyd test suite: installs what it needs, builds (plain and
# ASan+UBSan), starts a throwaway redis-server on a free loopback port, runs
# the Criterion unit and Redis tests (ctest) in both builds, the
# end-to-end tests against the embedded Kafka cluster, and a short run of
# each libFuzzer target; gcc Release and clang builds are compiled (only).
# Ends with one line
# "N passed, N failed". Safe to run again.
#
#   tests/run.sh                  everything (~5 min on 2 cores)
#   JD_SKIP_ASAN=1 tests/run.sh   skip the sanitizer build
#   JD_FUZZ_SECS=0 tests/run.sh   skip the fuzz smoke run (default 20 s per target)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/deploy/lib.sh"
RUN_DIR="$ROOT/.jd-run/tests"
PASSED=0
FAILED=0
FAILURES=()

"$ROOT/deploy/install-deps.sh"
echo "== build (RelWithDebInfo, -Werror)"
"$ROOT/deploy/build.sh"
if [ "${JD_SKIP_ASAN:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  BUILD_DIR="$ROOT/build-asan" BUILD_TYPE=Debug "$ROOT/deploy/build.sh" -DJD_SANITIZE=ON
fi

rm -rf "$RUN_DIR"; mkdir -p "$RUN_DIR"
trap jd_cleanup EXIT
jd_start_redis "$RUN_DIR/redis"
echo "== redis-server on 127.0.0.1:$JD_REDIS_PORT and $JD_REDIS_SOCKET"

# run_ctest NAME BUILD_DIR: every ctest test counts once.
run_ctest() {
  local name="$1" dir="$2" log="$RUN_DIR/ctest-$1.log" rc=0
  echo "== unit and Redis tests ($name)"
  (cd "$dir" && ctest --output-on-failure -j 2 --timeout 600) >"$log" 2>&1 || rc=$?
  grep -E '^ *[0-9]+/[0-9]+ Test' "$log" | sed 's/^/   /'
  local ok bad
  ok=$(grep -cE '^ *[0-9]+/[0-9]+ Test .* Passed' "$log" || true)
  bad=$(grep -cE '^ *[0-9]+/[0-9]+ Test .*(Failed|Timeout|Exception|Not Run)' "$log" || true)
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  PASSED=$((PASSED + ok)); FAILED=$((FAILED + bad))
  if [ "$bad" -ne 0 ]; then
    FAILURES+=("ctest ($name): see $log")
    sed -n '/The following tests FAILED/,$p;/Failure\|FAIL\|ERROR/p' "$log" | head -60
  fi
}

# run_script FILE BIN: an end-to-end script; exit 0 = pass.
run_script() {
  local t="$1" bin="$2" tag="$3" name log rc=0
  name="$(basename "$t" .sh)"
  log="$RUN_DIR/$name-$tag.log"
  printf '== %-40s ' "$name ($tag)"
  local start=$SECONDS
  JD_BIN="$bin" JD_ROOT="$ROOT" JD_TMP="$RUN_DIR/$name-$tag" timeout 900 bash "$t" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "passed ($((SECONDS - start)) s)"; PASSED=$((PASSED + 1))
  else
    echo "FAILED (exit $rc; log $log)"; FAILED=$((FAILED + 1))
    FAILURES+=("$name ($tag)"); tail -n 40 "$log" | sed 's/^/   | /'
  fi
}

# run_compile NAME DIR [VAR=VALUE...]: a compile-only build (-Werror, unit
# tests not built, nothing run) of a configuration users and packagers
# build but the suite does not test; it counts as one test.
run_compile() {
  local name="$1" dir="$2" log="$RUN_DIR/compile-$1.log" start=$SECONDS
  shift 2
  printf '== %-40s ' "compile $name"
  if env "$@" BUILD_DIR="$dir" JOBS=2 "$ROOT/deploy/build.sh" -DJD_TESTS=OFF >"$log" 2>&1; then
    echo "passed ($((SECONDS - start)) s)"; PASSED=$((PASSED + 1))
  else
    echo "FAILED (log $log)"; FAILED=$((FAILED + 1))
    FAILURES+=("compile $name"); grep -E 'error|warning|failed' "$log" | head -20 | sed 's/^/   | /'
  fi
}

run_compile gcc-release "$ROOT/build-release" BUILD_TYPE=Release
run_compile clang "$ROOT/build-clang" CC=clang

run_ctest default "$ROOT/build"
[ "${JD_SKIP_ASAN:-0}" = 1 ] || run_ctest asan "$ROOT/build-asan"

echo "== end-to-end tests"
for t in "$ROOT"/tests/integration/test_*.sh; do
  run_script "$t" "$ROOT/build/journeyd" default
done
if [ "${JD_SKIP_ASAN:-0}" != 1 ]; then
  for t in "$ROOT"/tests/integration/test_e2e*.sh; do
    run_script "$t" "$ROOT/build-asan/journeyd" asan
  done
fi

# Fuzz smoke: each libFuzzer target for JD_FUZZ_SECS seconds (long runs:
# tests/fuzz/run.sh 600). A target counts as one test.
FUZZ_SECS="${JD_FUZZ_SECS:-20}"
if [ "$FUZZ_SECS" != 0 ]; then
  for t in decode prog registry mapping rules record config; do
    printf '== %-40s ' "fuzz_$t smoke (${FUZZ_SECS} s)"
    if "$ROOT/tests/fuzz/run.sh" "$FUZZ_SECS" "$t" >"$RUN_DIR/fuzz-$t.log" 2>&1; then
      echo passed; PASSED=$((PASSED + 1))
    else
      echo "FAILED (log $RUN_DIR/fuzz-$t.log)"; FAILED=$((FAILED + 1))
      FAILURES+=("fuzz_$t"); tail -n 20 "$RUN_DIR/fuzz-$t.log" | sed 's/^/   | /'
    fi
  done
fi

echo
for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do echo "failed: $f"; done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
