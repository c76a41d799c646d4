#!/usr/bin/env bash
# README command 1: the whole system on one machine. Installs what is missing, builds, starts
# a project-owned PostgreSQL cluster and mosquitto broker under var/demo/ (loopback only),
# applies migrations, then starts whatever components exist, and stops everything on Ctrl-C.
#   tools/demo.sh [--gtfs PATH] [--fresh] [--agents N] [--buses N]
#     --gtfs PATH   import this GTFS feed instead of the generated city
#     --fresh       wipe var/demo first
#     --agents N    buses driven through real buyt-onboard agents via pseudo-terminals (5)
#     --buses N     buses in all; the others publish Telemetry directly (300)
#     --hanoi-time  at night, keep Hanoi's clock (replay yesterday) instead of running the
#                   generated city in a time zone where it is day
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

gtfs=""
fresh=0
agents=5
buses=300
hanoi_time=0
while [ $# -gt 0 ]; do
  case "$1" in
    --gtfs) gtfs=${2:?--gtfs needs a path}; shift ;;
    --fresh) fresh=1 ;;
    --agents) agents=${2:?--agents needs a number}; shift ;;
    --buses) buses=${2:?--buses needs a number}; shift ;;
    --hanoi-time) hanoi_time=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

# The network: --gtfs PATH, else the generated city (buyt-sim --generate-city) once the
# simulator provides it, else the small fixture feed that always has service.
if [ -n "$gtfs" ]; then
  feed=$gtfs
elif "$bin/buyt-sim" --help 2>/dev/null | grep -q -- --generate-city; then
  feed=$run/city
  [ -d "$feed" ] || { step "generating the demo city"; "$bin/buyt-sim" --generate-city "$feed"; }
else
  feed=$top/tests/fixtures/gtfs/always
fi
# Hanoi's buses sleep from about 23:00 to 05:00. At night the generated city is imported in a
# time zone where it is 10:00 now (Etc/GMT-N is UTC+N), so the whole fleet is in service and
# every fix, board and prediction is live; --hanoi-time keeps Hanoi's clock (the fleet then
# replays yesterday from 08:00, hours old: the map shows it stale and the boards are empty).
tz=Asia/Ho_Chi_Minh
start=now
hour=$(TZ=Asia/Ho_Chi_Minh date +%H)
night=0
{ [ "$hour" -ge 22 ] || [ "$hour" -lt 5 ]; } && night=1
if [ -n "$gtfs" ]; then
  : # a real feed runs on its own clock
elif [ "$night" = 1 ] && [ "$hanoi_time" = 0 ]; then
  off=$(( (10 - 10#$(date -u +%H) + 36) % 24 - 12 ))
  if [ "$off" -ge 0 ]; then tz="Etc/GMT-$off"; else tz="Etc/GMT+$(( -off ))"; fi
  echo "(night in Hanoi: the generated city runs on $tz time, where it is $(TZ=$tz date +%H:%M); --hanoi-time keeps Hanoi's clock)"
elif [ "$night" = 1 ]; then
  start=$(TZ=Asia/Ho_Chi_Minh date -d 'yesterday 08:00' --iso-8601=seconds)
  echo "(night in Hanoi: the fleet replays yesterday from $start)"
fi
step "importing GTFS $feed"
if [ -n "$gtfs" ]; then
  "$bin/buyt-gtfs" import --db "$BUYT_PG" --feed "$feed" --agency hn
else
  "$bin/buyt-gtfs" import --db "$BUYT_PG" --feed "$feed" --agency hn --timezone "$tz"
fi

step "starting buyt-ingest (log: $run/ingest.log)"
"$bin/buyt-ingest" --db "$BUYT_PG" --mqtt "$BUYT_MQTT_URL" --agency hn --spool "$run/spool" \
  --http 127.0.0.1:8080 2>>"$run/ingest.log" &
pids+=($!)
for _ in $(seq 1 50); do grep -q "msg=started" "$run/ingest.log" 2>/dev/null && break; sleep 0.2; done
grep -q "msg=started" "$run/ingest.log" || { tail -5 "$run/ingest.log"; exit 1; }

# The fleet: a few buses through real onboard agents (NMEA + RFID bytes through pseudo-terminals,
# journal, MQTT with a per-bus account), the rest published directly by the simulator.
if "$bin/buyt-sim" --help 2>/dev/null | grep -q -- --skip-blocks; then
  step "starting the fleet: $agents buses through buyt-onboard, $((buses - agents)) direct"
  accounts=$run/sim-accounts
  rm -f "$accounts" # new passwords each run (the passwd file is rewritten below)
  "$bin/buyt-sim" --make-accounts "$accounts" --vehicles "$agents" >/dev/null
  # shellcheck disable=SC2046
  tools/mqtt-accounts.sh "$run/mqtt/passwd" $(cat "$accounts") >/dev/null
  [ "$(id -u)" -eq 0 ] && chown mosquitto: "$run/mqtt/passwd"
  kill -HUP "$(cat "$run/mqtt.pid")"
  "$bin/buyt-sim" --db "$BUYT_PG" --mqtt "mqtt://127.0.0.1:$BUYT_MQTT_PORT" \
    --vehicles "$agents" --accounts-file "$accounts" --workdir "$run/agents" --start "$start" \
    --stats-interval 30 2>>"$run/sim-agents.log" &
  pids+=($!)
  if [ "$buses" -gt "$agents" ]; then
    "$bin/buyt-sim" --db "$BUYT_PG" --mqtt "$BUYT_MQTT_TOOL_URL" --direct \
      --vehicles $((buses - agents)) --skip-blocks "$agents" \
      --first-number $((10001 + agents)) --start "$start" --stats-interval 30 \
      2>>"$run/sim-direct.log" &
    pids+=($!)
  fi
fi

printf '\nbuyt demo is running.\n'
printf '  \033[1mdashboard   http://127.0.0.1:8080/dashboard/\033[0m   (open it in a browser; docs/DASHBOARD.md)\n'
[ "$start" = now ] || printf '              (replaying yesterday: its fixes are hours old, so the map shows them stale)\n'
printf '  API         curl -s http://127.0.0.1:8080/api/v1/vehicles | head -c 600   (docs/openapi.yaml)\n'
busiest=$(psql -Atq "$BUYT_PG" -c "SELECT stop_id FROM gtfs_stop_times GROUP BY stop_id ORDER BY count(*) DESC LIMIT 1" 2>/dev/null || true)
printf '  a stop sign %s/buyt-sign --mqtt %s --agency hn --stop %s\n' "$bin" "$BUYT_MQTT_SIGN_URL" "${busiest:-STOP_ID}"
printf '  arrivals    curl -s http://127.0.0.1:8080/api/v1/stops/%s/arrivals\n' "${busiest:-STOP_ID}"
printf '  GTFS-RT     curl -s http://127.0.0.1:8080/gtfs-rt/vehicle-positions?format=json | head -c 600\n'
printf '  health      curl -s http://127.0.0.1:8080/healthz\n'
printf '  metrics     curl -s http://127.0.0.1:8080/metrics | grep ^buyt_ | head\n'
printf '  engine log  tail -f %s\n' "$run/ingest.log"
printf '  PostgreSQL  psql "%s"\n' "$BUYT_PG"
printf "  broker      mosquitto_sub -L '%s/buyt/v1/#' -v\n" "$BUYT_MQTT_TOOL_URL"
printf 'Press Ctrl-C to stop.\n'
while :; do
  sleep 1
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "demo: a component exited; see $run/*.log" >&2; exit 1; }
  done
done
