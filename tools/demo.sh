#!/usr/bin/env bash
# README command 1: the whole system on one machine. Installs what is missing, builds, starts
# a project-owned PostgreSQL cluster and mosquitto broker under var/demo/ (loopback only),
# applies migrations, then starts whatever components exist, and stops everything on Ctrl-C.
#   tools/demo.sh [--gtfs PATH] [--fresh]
#     --gtfs PATH   import this GTFS feed instead of the generated city
#     --fresh       wipe var/demo first
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

gtfs=""
fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --gtfs) gtfs=${2:?--gtfs needs a path}; shift ;;
    --fresh) fresh=1 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

step "installing missing Debian packages (if any)"
tools/install-deps.sh
step "building"
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
bin=$top/build/bin

run=$top/var/demo
if [ "$fresh" = 1 ]; then tools/servers.sh stop "$run" 2>/dev/null || true; rm -rf "$run"; fi
mkdir -p "$run"
pids=()
cleanup() {
  trap - EXIT INT TERM
  step "stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  tools/servers.sh stop "$run"
  echo "stopped; data kept in $run (--fresh wipes it)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "starting PostgreSQL and mosquitto under $run"
BUYT_PG_DURABLE=1 tools/servers.sh start "$run"
set -a; . "$run/env"; set +a
step "migrating"
"$bin/buyt-migrate" --db "$BUYT_PG"

# Later stages (GTFS import, engine, simulator, dashboard) start here as they exist.
if [ -n "$gtfs" ] && [ -x "$bin/buyt-gtfs" ]; then
  step "importing GTFS $gtfs"
  "$bin/buyt-gtfs" import --db "$BUYT_PG" --feed "$gtfs"
fi

printf '\nbuyt demo is running.\n'
printf '  PostgreSQL  psql "%s"\n' "$BUYT_PG"
printf "  broker      mosquitto_sub -L '%s/buyt/v1/#' -v\n" "$BUYT_MQTT_TOOL_URL"
printf 'Press Ctrl-C to stop.\n'
while :; do sleep 1; done
