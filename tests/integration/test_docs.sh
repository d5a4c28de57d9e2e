#!/usr/bin/env bash
# Documentation and installation that can drift from the code:
#  - docs/configuration.md is exactly `journeyd config docs` (generated from
#    the key table), and every table key appears in it;
#  - docs/journeyd.1 is valid man(7) (man -l renders it without warnings)
#    and names every command of `journeyd --help` and every common flag;
#  - README.md lists every fuzz target of tests/fuzz/ (each has a corpus);
#  - every command answers --help with exit 0;
#  - `journeyd config check` refuses a bad file naming the key;
#  - `cmake --install` puts the binary, schemas (with the examples),
#    default rules, example config, man page and docs under a prefix, and
#    the installed binary runs and validates the installed example config.
# Needs JD_BIN, JD_ROOT, JD_TMP.
set -euo pipefail
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$JD_BIN" config docs >"$JD_TMP/configuration.md"
diff -u "$JD_ROOT/docs/configuration.md" "$JD_TMP/configuration.md" \
  || fail "docs/configuration.md is stale: run \`journeyd config docs > docs/configuration.md\`"
"$JD_BIN" config keys | sed -n 's/^| `\([a-z_.]*\)` .*/\1/p' >"$JD_TMP/keys"
[ "$(wc -l <"$JD_TMP/keys")" -gt 40 ] || fail "config keys lists too few keys"
while read -r k; do
  grep -qF "\`$k\`" "$JD_ROOT/docs/configuration.md" || fail "key $k missing from docs/configuration.md"
done <"$JD_TMP/keys"
echo "ok   docs/configuration.md current ($(wc -l <"$JD_TMP/keys") keys)"

MANWARN=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$JD_ROOT/docs/journeyd.1" 2>&1 >/dev/null || true)
[ -z "$MANWARN" ] || fail "man page warnings: $MANWARN"
MANTXT=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$JD_ROOT/docs/journeyd.1" 2>/dev/null | col -b)
for c in $("$JD_BIN" --help | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
  grep -qE "^ +$c( |$)" <<<"$MANTXT" || fail "man page does not document command '$c'"
  [ "$c" = version ] && continue
  "$JD_BIN" "$c" --help >/dev/null || fail "journeyd $c --help exits non-zero"
done
for f in --config --brokers --redis --rules --set --log-level --help; do
  grep -qF -- "$f" <<<"$MANTXT" || fail "man page does not document $f"
done
echo "ok   man page documents every command and common flag"

# README names every fuzz target that tests/fuzz/ has, each with a seed corpus.
for f in "$JD_ROOT"/tests/fuzz/fuzz_*.c; do
  t=$(basename "$f" .c)
  grep -qF -- "- \`$t\`: " "$JD_ROOT/README.md" || fail "README.md does not list fuzz target $t"
  [ -d "$JD_ROOT/tests/fuzz/corpus/${t#fuzz_}" ] || fail "fuzz target $t has no tests/fuzz/corpus/${t#fuzz_}/"
done
echo "ok   README lists the $(ls "$JD_ROOT"/tests/fuzz/fuzz_*.c | wc -l) fuzz targets"

# `config check` refuses a bad file naming the key and its position.
printf 'redis:\n  port: 6379\nhttp:\n  port: 99999\n' >"$JD_TMP/bad.yaml"
if "$JD_BIN" config check "$JD_TMP/bad.yaml" >"$JD_TMP/check.out" 2>&1; then fail "config check accepted http.port 99999"; fi
grep -q "bad.yaml:4:9: http.port: 99999 is out of range" "$JD_TMP/check.out" || fail "config check: $(cat "$JD_TMP/check.out")"
printf 'mapping:\n  fields:\n    colour: x\n' >"$JD_TMP/bad2.yaml"
if "$JD_BIN" config check "$JD_TMP/bad2.yaml" >"$JD_TMP/check2.out" 2>&1; then fail "config check accepted mapping.fields.colour"; fi
grep -q "mapping.fields.colour" "$JD_TMP/check2.out" || fail "config check: $(cat "$JD_TMP/check2.out")"
echo "ok   config check names the bad key: $(head -n1 "$JD_TMP/check.out")"

BUILD_DIR="$(dirname "$JD_BIN")"
[ -f "$BUILD_DIR/CMakeCache.txt" ] || fail "no CMake build next to $JD_BIN"
PREFIX="$JD_TMP/prefix"
cmake --install "$BUILD_DIR" --prefix "$PREFIX" >"$JD_TMP/install.log" || fail "cmake --install"
for f in bin/journeyd share/journeyd/schemas/product_event.avsc share/journeyd/schemas/trigger_event.avsc \
         share/journeyd/schemas/journey_stage.avsc share/journeyd/schemas/examples/segment_track.avsc \
         share/journeyd/schemas/examples/segment_mapping.yaml share/journeyd/rules/default.yaml \
         share/journeyd/journeyd.example.yaml share/man/man1/journeyd.1 \
         share/doc/journeyd/configuration.md share/doc/journeyd/security.md \
         share/journeyd/stunnel/redis-client.conf; do
  [ -s "$PREFIX/$f" ] || fail "cmake --install did not install $f"
done
"$PREFIX/bin/journeyd" version | grep -q "^journeyd [0-9]" || fail "installed binary does not run"
"$PREFIX/bin/journeyd" config check "$PREFIX/share/journeyd/journeyd.example.yaml" >/dev/null \
  || fail "installed example config does not validate"
"$PREFIX/bin/journeyd" rules check "$PREFIX/share/journeyd/rules/default.yaml" >/dev/null \
  || fail "installed default rules do not compile"
echo "ok   cmake --install: $(find "$PREFIX" -type f | wc -l) files"
