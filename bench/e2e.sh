#!/usr/bin/env bash
# The ingest issue's end-to-end benchmark, in one run on throwaway servers:
#   1. the broker's own QoS 1 ceiling (publisher -> mosquitto -> plain subscriber)
#   2. the engine end to end (publisher -> mosquitto -> buyt-ingest -> PostgreSQL)
# and the ratio. Usage: bench/e2e.sh [MESSAGES] [VEHICLES]   (build first: tools/test.sh)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-200000}
v=${2:-2000}
export BENCH_N=$n BENCH_V=$v BIN=$top/build/bin
exec "$top/tools/servers.sh" run -- bash -c '
set -euo pipefail
$BIN/buyt-migrate --db "$BUYT_PG" >/dev/null
psql -q "$BUYT_PG" -c "INSERT INTO vehicles (agency, vehicle_id) SELECT '"'"'hn'"'"', '"'"'bus'"'"' || lpad(i::text, 4, '"'"'0'"'"') FROM generate_series(0, $BENCH_V - 1) i"
b=$($BIN/bench-e2e broker --url "$BUYT_MQTT_TOOL_URL" --messages $BENCH_N --vehicles $BENCH_V)
echo "$b"
spool=$(mktemp -d)
BUYT_LOG_LEVEL=warn $BIN/buyt-ingest --db "$BUYT_PG" --mqtt "$BUYT_MQTT_URL" --spool "$spool" &
pid=$!
sleep 1.5
e=$($BIN/bench-e2e engine --url "$BUYT_MQTT_TOOL_URL" --db "$BUYT_PG" --messages $BENCH_N --vehicles $BENCH_V)
echo "$e"
cpu() { awk "{ printf \"%.1f\", (\$14 + \$15) / 100 }" /proc/$1/stat; }
mq=$(cat "$BUYT_SERVERS_DIR/mqtt.pid"); pg=$(cat "$BUYT_SERVERS_DIR/pg.pid")
echo "cpu seconds: buyt-ingest $(cpu $pid), mosquitto $(cpu $mq) (both runs)"
kill -TERM $pid; wait $pid || true
rm -rf "$spool"
br=$(echo "$b" | sed -E "s/.*= ([0-9]+) msg\/s \(publisher.*/\1/")
er=$(echo "$e" | sed -E "s/.*= ([0-9]+) msg\/s \(publisher.*/\1/")
echo "ratio engine/broker: $(awk -v e=$er -v b=$br "BEGIN { printf \"%.2f\", e / b }")"
'
