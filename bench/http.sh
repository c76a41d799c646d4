#!/usr/bin/env bash
# HTTP throughput and latency of buyt-ingest's API, with wrk, against a real engine (throwaway
# PostgreSQL and mosquitto from tools/servers.sh) loaded with the Hanoi network
# (../shared/data/gtfs/hanoi-2018-derived: 372 stops, 2,447 trips), its trips replicated N times
# (ids suffixed "_rK", same times: N times the arrivals at every stop) and its calendar moved to
# cover today, and V registered vehicles (not reporting: arrivals are schedule-only, but every
# request still scans the vehicle table).
#
# Endpoints: the arrivals of the busiest stop at 10:00 Hanoi time (the modelled service runs
# 09:48-16:48; the `time` parameter makes the board independent of when the bench runs), and
# at now; stops near a point, one route with its shapes (gzip), the vehicle list, /healthz and
# /metrics. One wrk thread (the engine is one loop; on a 2-core machine wrk and the engine each
# get a core), C connections (and 1, for the service time without queueing), D seconds each.
#
#   bench/http.sh [BUILD_DIR] [N] [V] [C] [D]     defaults: build 4 2000 32 10
#
# Figures go to docs/BENCHMARKS-HTTP.md with the date, the machine and the command.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
build=$(cd "${1:-$top/build}" && pwd)
factor=${2:-4}
vehicles=${3:-2000}
conns=${4:-32}
secs=${5:-10}
src=${BUYT_HTTP_BENCH_FEED:-$top/../shared/data/gtfs/hanoi-2018-derived}
for b in buyt-ingest buyt-gtfs buyt-migrate; do
  [ -x "$build/bin/$b" ] || { echo "bench/http.sh: build first ($build/bin/$b)" >&2; exit 1; }
done
[ -d "$src" ] || { echo "bench/http.sh: $src is absent" >&2; exit 1; }
for tool in wrk curl; do
  command -v $tool >/dev/null && continue
  # Bench tools, not build or test dependencies: installed here, not by tools/install-deps.sh.
  [ "$(id -u)" -eq 0 ] || { echo "bench/http.sh: install $tool (apt-get install $tool)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $tool >/dev/null
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-http-XXXXXX")
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# The feed: calendar from a week ago to a year ahead; trips x factor.
feed=$work/feed
mkdir -p "$feed"
cp "$src"/agency.txt "$src"/routes.txt "$src"/stops.txt "$src"/shapes.txt "$feed"/
col() { head -1 "$1" | tr -d '\r\357\273\277' | tr , '\n' | grep -nx "$2" | cut -d: -f1; }
from=$(date -u -d '7 days ago' +%Y%m%d)
to=$(date -u -d '365 days' +%Y%m%d)
awk -F, -v OFS=, -v a="$(col "$src/calendar.txt" start_date)" -v b="$(col "$src/calendar.txt" end_date)" \
  -v f="$from" -v t="$to" 'NR > 1 { $a = f; $b = t } { print }' "$src/calendar.txt" >"$feed/calendar.txt"
replicate() { # FILE FIELD: every row factor times, FIELD suffixed _rK on copies K >= 1
  awk -F, -v OFS=, -v n="$factor" -v c="$(col "$1" "$2")" '
    NR == 1 { print; next }
    { line = $0; for (r = 0; r < n; r++) { $0 = line; if (r) $c = $c "_r" r; print } }' "$1"
}
replicate "$src/trips.txt" trip_id >"$feed/trips.txt"
replicate "$src/stop_times.txt" trip_id >"$feed/stop_times.txt"

port=$((20000 + RANDOM % 20000))
cat >"$work/run.sh" <<RUN
#!/usr/bin/env bash
set -euo pipefail
db="host=\$BUYT_PG_HOST port=\$BUYT_PG_PORT user=postgres dbname=benchhttp"
psql -q "\$BUYT_PG" -c "CREATE DATABASE benchhttp" >/dev/null
"$build/bin/buyt-migrate" --db "\$db" >/dev/null
BUYT_LOG_LEVEL=error "$build/bin/buyt-gtfs" import --db "\$db" --feed "$feed" \
  --timezone Asia/Ho_Chi_Minh --agency hn >/dev/null
psql -q "\$db" -c "INSERT INTO vehicles (agency, vehicle_id)
  SELECT 'hn', 'bus' || i FROM generate_series(1, $vehicles) i" >/dev/null
stop=\$(psql -qAt "\$db" -c "SELECT stop_id FROM gtfs_stop_times GROUP BY stop_id
  ORDER BY count(*) DESC, stop_id LIMIT 1" 2>/dev/null || true)
BUYT_LOG_LEVEL=warn "$build/bin/buyt-ingest" --db "\$db" --mqtt "\$BUYT_MQTT_URL" \
  --http 127.0.0.1:$port --spool "$work/spool" --agency hn 2>"$work/ingest.log" &
pid=\$!
trap 'kill -TERM \$pid 2>/dev/null; wait \$pid 2>/dev/null || true' EXIT
for _ in \$(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" || { cat "$work/ingest.log" >&2; exit 1; }
[ -n "\$stop" ] || stop=\$(curl -s "http://127.0.0.1:$port/api/v1/stops?lat=21.03&lon=105.85&limit=1" |
  sed 's/.*"stops":\[{"id":"\([^"]*\)".*/\1/')
ll=\$(curl -s "http://127.0.0.1:$port/api/v1/stops/\$stop" |
  sed 's/.*"lat":\([0-9.]*\),"lon":\([0-9.]*\).*/lat=\1\&lon=\2/')
day=\$(TZ=Asia/Ho_Chi_Minh date +%Y-%m-%d)
at="\${day}T10:00:00%2B07:00"
route=\$(curl -s "http://127.0.0.1:$port/api/v1/routes" | sed 's/.*"routes":\[{"id":"\([^"]*\)".*/\1/')
n=\$(curl -s "http://127.0.0.1:$port/api/v1/stops/\$stop/arrivals?time=\$at&limit=100" | grep -o '"trip_id"' | wc -l || true)
echo "network: \$(curl -s "http://127.0.0.1:$port/healthz" | sed 's/.*"network":\({[^}]*}\).*/\1/')"
near=\$(curl -s "http://127.0.0.1:$port/api/v1/stops?\$ll&radius=500" | sed 's/^{"count":\([0-9]*\).*/\1/')
echo "busiest stop \$stop: \$n arrivals in 10:00-11:00 (20 returned), \$near stops within 500 m"
echo "vehicles registered: $vehicles (not reporting)"
printf '%-44s %10s %9s %9s %9s %8s\n' endpoint req/s p50 p99 max bytes
bench() { # NAME PATH [HEADER] [CONNECTIONS]
  local url="http://127.0.0.1:$port\$2" out
  local size; size=\$(curl -s \${3:+-H "\$3"} "\$url" | wc -c)
  out=\$(wrk -t1 -c\${4:-$conns} -d${secs}s --latency \${3:+-H "\$3"} "\$url")
  printf '%-44s %10s %9s %9s %9s %8s\n' "\$1" \
    "\$(awk '/Requests\/sec/ { print \$2 }' <<<"\$out")" \
    "\$(awk '\$1 == "50%" { print \$2 }' <<<"\$out")" \
    "\$(awk '\$1 == "99%" { print \$2 }' <<<"\$out")" \
    "\$(awk '\$1 == "Latency" { print \$4 }' <<<"\$out")" "\$size"
  if grep -q "Non-2xx" <<<"\$out"; then grep "Non-2xx" <<<"\$out" >&2; fi
}
bench "/api/v1/stops/{id}/arrivals (10:00)" "/api/v1/stops/\$stop/arrivals?time=\$at"
bench "/api/v1/stops/{id}/arrivals (10:00), 1 conn" "/api/v1/stops/\$stop/arrivals?time=\$at" "" 1
bench "/api/v1/stops/{id}/arrivals (now)" "/api/v1/stops/\$stop/arrivals"
bench "/api/v1/stops?lat&lon&radius=500" "/api/v1/stops?\$ll&radius=500"
bench "/api/v1/routes/{id} gzip" "/api/v1/routes/\$route" "Accept-Encoding: gzip"
bench "/api/v1/vehicles ($vehicles, gzip)" "/api/v1/vehicles" "Accept-Encoding: gzip"
bench "/healthz" "/healthz"
bench "/metrics" "/metrics"
RUN
chmod +x "$work/run.sh"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "command: bench/http.sh $build $factor $vehicles $conns $secs ($(date -u +%Y-%m-%d))"
"$top/tools/servers.sh" run -- ${BENCH_TRACE:+bash -x} "$work/run.sh"
