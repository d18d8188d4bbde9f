#!/usr/bin/env bash
# Installs every Debian package Telos needs to build, test and benchmark. Idempotent: installs
# only what is missing.
set -euo pipefail
packages=(build-essential cmake pkg-config git clang-format
  libcaf-dev librocksdb-dev liblmdb-dev libcereal-dev libboost-test-dev libhnswlib-dev
  libcli11-dev nlohmann-json3-dev libxxhash-dev libbenchmark-dev libssl-dev gnuplot-nox openssl
  clang libfuzzer-14-dev libboost-dev libfaiss-dev fiu-utils libfiu0
  ccache) # ccache: development trees share objects (scripts/build.sh; CI builds without it)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
