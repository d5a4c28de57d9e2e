#!/usr/bin/env bash
# Configures and builds journeyd into BUILD_DIR (default: build/).
#   deploy/build.sh                    RelWithDebInfo build in build/
#   BUILD_DIR=build-asan deploy/build.sh -DJD_SANITIZE=ON
#   BUILD_TYPE=Release JD_WERROR=OFF deploy/build.sh   (packagers)
# Extra arguments go to cmake's configure step. Warnings are errors unless
# JD_WERROR=OFF. A failed build fails the script (with cmake's exit status),
# never leaves an older binary to be tested.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-$(nproc)}"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
      -DJD_WERROR="${JD_WERROR:-ON}" "$@" >/dev/null
# The filter only hides progress lines; with pipefail the pipeline's status
# is cmake's (grep finding nothing to print is not a failure).
rc=0
cmake --build "$BUILD_DIR" -j "$JOBS" 2>&1 \
  | { grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built)|^Consolidate' || true; } || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "build failed (cmake --build exit $rc) in $BUILD_DIR" >&2
  exit "$rc"
fi
test -x "$BUILD_DIR/journeyd" || { echo "build failed: no $BUILD_DIR/journeyd" >&2; exit 1; }
