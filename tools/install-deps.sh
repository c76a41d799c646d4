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

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
