#!/usr/bin/env bash
# Direct-mode throughput of buyt-sim: how many vehicles at 1 Hz one process drives into a real
# local mosquitto at QoS 1, with the CPU both use. Figures go to docs/SIMULATOR.md.
#
#   bench/bench_sim.sh [BUILD_DIR] [DURATION_S]        (default build, 60 s per run)
#   SPEEDUPS="1 5 10 20" VEHICLES=2000 CONNECTIONS=1 bench/bench_sim.sh
#
# Starts throwaway servers (tools/servers.sh run), generates the full default city (150 routes,
# 4,000 stops, 2,000 buses), imports it, then runs buyt-sim --direct for each speedup: the
# offered load is ~VEHICLES x moving share x speedup messages/s. A run is sustained when the
# simulation kept up with the clock (lag_s stays ~0) and every publish was acknowledged.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$top/build}
dur=${2:-60}
if [ -z "${BUYT_SERVERS_DIR:-}" ]; then
  exec "$top/tools/servers.sh" run -- "$0" "$build" "$dur"
fi
bin=$build/bin
work=$(mktemp -d /tmp/buyt-bench-sim.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$bin/buyt-sim" --generate-city "$work/city" | sed 's/^/# /'
gen_kb=$(du -sk "$work/city" | cut -f1)
echo "# feed size ${gen_kb} KiB"
"$bin/buyt-migrate" --db "$BUYT_PG" >/dev/null
t0=$(date +%s.%N)
"$bin/buyt-gtfs" import --db "$BUYT_PG" --feed "$work/city" >"$work/import.log" 2>&1 || { tail -5 "$work/import.log"; exit 1; }
t1=$(date +%s.%N)
echo "# buyt-gtfs import: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s"
# Yesterday 08:00 in Hanoi: daytime service, safely in the past for any run length here.
start=$(TZ=Asia/Ho_Chi_Minh date -d 'yesterday 08:00' +%Y-%m-%dT%H:%M:%S%:z)
mqpid=$(cat "$BUYT_SERVERS_DIR/mqtt.pid")
ticks=$(getconf CLK_TCK)
vehicles=${VEHICLES:-2000}
conns=${CONNECTIONS:-1}
printf '%-8s %-8s %-10s %-10s %-8s %-9s %-9s %s\n' vehicles speedup msgs_per_s records lag_s \
  sim_cpu% broker_cpu% verdict
for sp in ${SPEEDUPS:-1 5 10 20 40}; do
  b0=$(awk '{print $14+$15}' "/proc/$mqpid/stat")
  out=$("$bin/buyt-sim" --db "$BUYT_PG" --mqtt "$BUYT_MQTT_TOOL_URL" --direct \
        --vehicles "$vehicles" --speedup "$sp" --duration "$dur" --start "$start" \
        --connections "$conns" --stats-interval 0 2>"$work/err.log" | tail -1)
  b1=$(awk '{print $14+$15}' "/proc/$mqpid/stat")
  get() { echo "$out" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  wall=$(get wall_s)
  bcpu=$(awk -v a="$b0" -v b="$b1" -v t="$ticks" -v w="$wall" 'BEGIN{printf "%.0f", 100 * (b - a) / t / w}')
  lag=$(get lag_s)
  verdict=sustained
  if awk -v l="$lag" 'BEGIN{exit !(l > 2)}'; then verdict="behind"; fi
  printf '%-8s %-8s %-10s %-10s %-8s %-9s %-9s %s\n' "$vehicles" "$sp" "$(get msgs_per_s)" \
    "$(get records)" "$lag" "$(get cpu_pct)" "$bcpu" "$verdict"
done
