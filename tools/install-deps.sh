#!/usr/bin/env bash
# Installs the Debian 12 packages buyt needs to build, test and run the demo.
# Idempotent: installs only what is missing; does nothing (and needs no network) when all is there.
# Never starts, stops or configures a system service: the project runs its own servers.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang
  libuv1-dev libpq-dev libprotobuf-c-dev protobuf-c-compiler libmosquitto-dev
  libcriterion-dev libssl-dev libjansson-dev zlib1g-dev libzip-dev libh2o-dev libcsv-dev
  mosquitto mosquitto-clients postgresql-15 postgresql-client-15 openssl
)

# Node.js runs the official GTFS-Realtime bindings the tests decode our feeds with
# (tests/gtfsrt). Debian's nodejs and npm only when there is no npm at all: a NodeSource nodejs
# bundles its own npm, which Debian's npm package conflicts with.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

# The bindings, at the versions of tests/gtfsrt/package-lock.json; nothing to do (and no
# network) while node_modules is newer than the lock file. npm ci writes the hidden lock last.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gtfsrt_npm() {
  local d="$top/tests/gtfsrt"
  [ "$d/node_modules/.package-lock.json" -nt "$d/package-lock.json" ] && return 0
  echo "install-deps: npm ci in tests/gtfsrt" >&2
  npm ci --prefix "$d" --no-audit --no-fund --loglevel=error
}

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && { gtfsrt_npm; exit 0; }

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# policy-rc.d keeps Debian's maintainer scripts from starting the system mosquitto/postgresql.
prc=/usr/sbin/policy-rc.d
created_prc=0
if [ ! -e "$prc" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$prc"; chmod +x "$prc"; created_prc=1
fi
trap '[ $created_prc -eq 1 ] && rm -f "$prc"' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}"
gtfsrt_npm
