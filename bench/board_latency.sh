#!/usr/bin/env bash
# Fix-to-board latency of the engine under a whole simulated fleet at 1 Hz: the time from a
# telemetry message's arrival at buyt-ingest to the stop boards it changed being handed to the
# broker (the engine's own histogram, buyt_board_update_latency_seconds on /metrics), with the
# throughput, CPU and loop lag of the same run. Figures go to docs/BENCHMARKS.md.
#
#   bench/board_latency.sh [VEHICLES] [DURATION_S] [BUILD_DIR]     (default 2000 180 build)
#   WRK=30 bench/board_latency.sh 2000 180     also load the passenger API meanwhile: wrk (one
#       thread, 32 connections) on the arrivals of the busiest stop for WRK seconds in the
#       middle of the run, and the engine's message rate in the WRK seconds before vs during
#
# Starts throwaway servers (tools/servers.sh run), generates a city sized for the fleet (the
# default city is 2,000 buses on 150 routes and 4,000 stops; larger fleets scale routes and
# stops with it), imports it with a time zone in which it is 10:00 now (so that whatever the
# hour here, the whole fleet is in service and the boards are live), runs buyt-ingest and
# buyt-sim --direct for DURATION_S, and reads /metrics at the end.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vehicles=${1:-2000}
dur=${2:-180}
build=${3:-$top/build}
if [ -z "${BUYT_SERVERS_DIR:-}" ]; then
  exec "$top/tools/servers.sh" run -- "$0" "$vehicles" "$dur" "$build"
fi
bin=$build/bin
work=$(mktemp -d /tmp/buyt-bench-lat.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

routes=$(( vehicles * 150 / 2000 )); [ "$routes" -lt 150 ] && routes=150; [ "$routes" -gt 1000 ] && routes=1000
stops=$(( vehicles * 2 )); [ "$stops" -lt 4000 ] && stops=4000
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$bin/buyt-sim" --generate-city "$work/city" --buses "$vehicles" --routes "$routes" --stops "$stops" \
  | sed 's/^/# /'
# The zone where it is 10:00 now (Etc/GMT-N is UTC+N).
off=$(( (10 - 10#$(date -u +%H) + 36) % 24 - 12 ))
if [ "$off" -ge 0 ]; then tz="Etc/GMT-$off"; else tz="Etc/GMT+$(( -off ))"; fi
"$bin/buyt-migrate" --db "$BUYT_PG" >/dev/null
t0=$(date +%s.%N)
"$bin/buyt-gtfs" import --db "$BUYT_PG" --feed "$work/city" --agency hn --timezone "$tz" \
  >"$work/import.log" 2>&1 || { tail -5 "$work/import.log"; exit 1; }
echo "# import $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b - a}') s, feed time zone $tz"
rm -rf "$work/city"

# The fleet registered before the engine starts (buyt-sim would register it too, but the
# engine would reject the first seconds as unknown vehicles until its registry reload).
psql -q "$BUYT_PG" -c "INSERT INTO vehicles (agency, vehicle_id, label) SELECT 'hn', '29B-' || (10001 + i), 'buyt-sim' FROM generate_series(0, $vehicles - 1) i ON CONFLICT DO NOTHING"
port=$(( 20000 + $$ % 20000 ))
BUYT_LOG_LEVEL=warn "$bin/buyt-ingest" --db "$BUYT_PG" --mqtt "$BUYT_MQTT_URL" --agency hn \
  --spool "$work/spool" --http "127.0.0.1:$port" 2>"$work/ingest.log" &
ing=$!
pids+=($ing)
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { tail -5 "$work/ingest.log"; exit 1; }
echo "# engine up, RSS $(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' /proc/$ing/status)"

tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { awk -v n="$1" '$1 == n { print $2 }' "$work/m"; }
c0=$(cpu $ing)
"$bin/buyt-sim" --db "$BUYT_PG" --mqtt "$BUYT_MQTT_TOOL_URL" --direct --vehicles "$vehicles" \
  --duration "$dur" --stats-interval 0 2>"$work/sim.log" &
sim=$!
pids+=($sim)
if [ -n "${WRK:-}" ]; then
  busiest=$(psql -Atq "$BUYT_PG" -c "SELECT stop_id FROM gtfs_stop_times GROUP BY stop_id ORDER BY count(*) DESC LIMIT 1")
  msgs() { curl -sf "http://127.0.0.1:$port/metrics" | awk '$1 == "buyt_ingest_messages_total" { print $2 }'; }
  sleep $(( dur / 2 - WRK ))
  m0=$(msgs); sleep "$WRK"; m1=$(msgs)
  wrk -t1 -c32 -d"${WRK}s" --latency "http://127.0.0.1:$port/api/v1/stops/$busiest/arrivals" >"$work/wrk.txt"
  m2=$(msgs)
  echo "wrk on /api/v1/stops/$busiest/arrivals:"
  grep -E "Requests/sec|^ +(50|99)%|Latency|Non-2xx" "$work/wrk.txt" | sed 's/^/  /'
  curl -sf "http://127.0.0.1:$port/api/v1/stops/$busiest/arrivals" | python3 -c 'import json,sys; d=json.load(sys.stdin); a=d["arrivals"]; print("  arrivals in a response: %d, real-time %d" % (len(a), sum(1 for x in a if x.get("realtime"))))' || true
  awk -v a="$m0" -v b="$m1" -v c="$m2" -v w="$WRK" 'BEGIN { printf "engine messages/s: %.0f before wrk, %.0f during wrk\n", (b - a) / w, (c - b) / w }'
fi
wait $sim || { tail -5 "$work/sim.log"; exit 1; }
c1=$(cpu $ing)
sleep 2
curl -sf "http://127.0.0.1:$port/metrics" >"$work/m"
q() { metric "buyt_board_update_latency_seconds{quantile=\"$1\"}" | awk '{printf "%.1f", $1 * 1000}'; }
rej=$(awk '/^buyt_ingest_(messages|records)_rejected_total/ { s += $2 } END { print s + 0 }' "$work/m")
printf 'vehicles %s, %s s: messages %s, records accepted %s, rows committed %s, rejected %s\n' \
  "$vehicles" "$dur" "$(metric buyt_ingest_messages_total)" "$(metric buyt_ingest_records_accepted_total)" \
  "$(metric buyt_ingest_rows_committed_total)" "$rej"
awk '/^buyt_ingest_(messages|records)_rejected_total/ && $2 > 0 { print "  rejected: " $0 }' "$work/m"
printf 'matched fixes %s, prediction updates %s, boards published %s (on change %s), stops touched %s\n' \
  "$(metric 'buyt_match_fixes_total{outcome="matched"}')" "$(metric buyt_predict_updates_total)" \
  "$(metric buyt_boards_published_total)" "$(metric buyt_boards_published_on_change_total)" \
  "$(metric buyt_boards_touched_total)"
printf 'acks published %s, coalesced %s\n' "$(metric buyt_ingest_acks_published_total)" \
  "$(metric buyt_ingest_acks_coalesced_total)"
printf 'fix-to-board latency: p50 %s ms, p90 %s ms, p99 %s ms, max %s ms (n=%s)\n' \
  "$(q 0.5)" "$(q 0.9)" "$(q 0.99)" "$(q 1)" "$(metric buyt_board_update_latency_seconds_count)"
printf 'engine CPU %.0f %% of a core; loop lag max %s s; RSS %s\n' \
  "$(awk -v a="$c0" -v b="$c1" -v t="$tick" -v d="$dur" 'BEGIN{print (b - a) / t / d * 100}')" \
  "$(metric buyt_loop_lag_max_seconds)" "$(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' /proc/$ing/status)"
