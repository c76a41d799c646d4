#!/usr/bin/env bash
# The ingest issue's end-to-end benchmark, in one run on throwaway servers:
#   1. the broker's own QoS 1 ceiling (publisher -> mosquitto -> plain subscriber)
#   2. the engine end to end (publisher -> mosquitto -> buyt-ingest -> PostgreSQL)
# and the ratio, with the CPU seconds each process used in each phase.
# Usage: bench/e2e.sh [MESSAGES] [VEHICLES]   (build first: tools/test.sh)
#   E2E_BROKER_NICE=N  run mosquitto at nice N in both phases (e.g. -10: the broker first, as
#                      on a host where it has a core of its own; default: no change)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-200000}
v=${2:-2000}
export BENCH_N=$n BENCH_V=$v BIN=${BIN:-$top/build/bin} E2E_BROKER_NICE=${E2E_BROKER_NICE:-}
exec "$top/tools/servers.sh" run -- bash -c '
set -euo pipefail
$BIN/buyt-migrate --db "$BUYT_PG" >/dev/null
psql -q "$BUYT_PG" -c "INSERT INTO vehicles (agency, vehicle_id) SELECT '"'"'hn'"'"', '"'"'bus'"'"' || lpad(i::text, 4, '"'"'0'"'"') FROM generate_series(0, $BENCH_V - 1) i"
mq=$(cat "$BUYT_SERVERS_DIR/mqtt.pid"); pg=$(cat "$BUYT_SERVERS_DIR/pg.pid")
[ -n "$E2E_BROKER_NICE" ] && renice -n "$E2E_BROKER_NICE" -p "$mq" >/dev/null
# CPU seconds (user + system) of a process, or of a process and its children (PostgreSQL:
# the postmaster, its backends and background workers).
cpu() { awk "{ printf \"%.2f\", (\$14 + \$15) / 100 }" /proc/$1/stat; }
cpu_pg() { for p in $pg $(pgrep -P $pg); do awk "{ print \$14 + \$15 }" /proc/$p/stat 2>/dev/null; done |
  awk "{ t += \$1 } END { printf \"%.2f\", t / 100 }"; }
d() { awk -v a=$1 -v b=$2 "BEGIN { printf \"%.2f\", b - a }"; }
m0=$(cpu $mq)
b=$(/usr/bin/time -f "%U %S" -o "$BUYT_SERVERS_DIR/time.b" $BIN/bench-e2e broker --url "$BUYT_MQTT_TOOL_URL" --messages $BENCH_N --vehicles $BENCH_V)
m1=$(cpu $mq)
echo "$b"
echo "  cpu s: mosquitto $(d $m0 $m1), publisher + subscriber $(awk "{ printf \"%.2f\", \$1 + \$2 }" "$BUYT_SERVERS_DIR/time.b")"
spool=$(mktemp -d)
BUYT_LOG_LEVEL=warn $BIN/buyt-ingest --db "$BUYT_PG" --mqtt "$BUYT_MQTT_URL" --spool "$spool" &
pid=$!
sleep 1.5
m1=$(cpu $mq); i1=$(cpu $pid); p1=$(cpu_pg)
e=$(/usr/bin/time -f "%U %S" -o "$BUYT_SERVERS_DIR/time.e" $BIN/bench-e2e engine --url "$BUYT_MQTT_TOOL_URL" --db "$BUYT_PG" --messages $BENCH_N --vehicles $BENCH_V)
m2=$(cpu $mq); i2=$(cpu $pid); p2=$(cpu_pg)
echo "$e"
echo "  cpu s: mosquitto $(d $m1 $m2), publisher $(awk "{ printf \"%.2f\", \$1 + \$2 }" "$BUYT_SERVERS_DIR/time.e"), buyt-ingest $(d $i1 $i2), PostgreSQL $(d $p1 $p2) (its count(*) polls included)"
kill -TERM $pid; wait $pid || true
rm -rf "$spool"
br=$(echo "$b" | sed -E "s/.*= ([0-9]+) msg\/s \(publisher.*/\1/")
er=$(echo "$e" | sed -E "s/.*= ([0-9]+) msg\/s \(publisher.*/\1/")
echo "ratio engine/broker: $(awk -v e=$er -v b=$br "BEGIN { printf \"%.2f\", e / b }")${E2E_BROKER_NICE:+ (mosquitto at nice $E2E_BROKER_NICE)}"
'
