#!/usr/bin/env bash
# Installs what journeyd needs to build, test and demo on Debian bookworm.
# Safe to run any number of times: it only calls apt-get for packages that
# are missing. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  librdkafka-dev libavro-dev libhiredis-dev libcriterion-dev libyaml-dev libxxhash-dev
  redis-server redis-tools kcat python3 python3-avro
  clang libclang-rt-14-dev
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev curl python3-yaml
  stunnel4 openssl
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
