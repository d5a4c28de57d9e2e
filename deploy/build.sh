#!/usr/bin/env bash
# Configures and builds journeyd into BUILD_DIR (default: build/).
#   deploy/build.sh                    RelWithDebInfo build in build/
#   BUILD_DIR=build-asan deploy/build.sh -DJD_SANITIZE=ON
# Extra arguments go to cmake's configure step.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-$(nproc)}"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" 2>&1 | grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built)|^Consolidate' || true
test -x "$BUILD_DIR/journeyd" || { echo "build failed" >&2; exit 1; }
