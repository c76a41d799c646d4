#!/usr/bin/env bash
# Import throughput of buyt-gtfs: the Hanoi feed as it is, then a synthetic feed made of its
# trips, stop times and shapes replicated FACTOR times (ids suffixed "_rN"; same stops and
# routes), each imported RUNS times into a throwaway PostgreSQL (tools/servers.sh) as
# re-imports, i.e. each run also deletes the previous copy. Prints one line per import.
#
#   bench/bench_gtfs.sh [BUILD_DIR] [FACTOR] [RUNS]     defaults: build 20 3
#   BUYT_PG_DURABLE=1 bench/bench_gtfs.sh ...           with fsync on (default: off)
#
# Needs ../shared/data/gtfs/hanoi-2018-derived. Figures go to docs/GTFS.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
build=${1:-$top/build}
factor=${2:-20}
runs=${3:-3}
src=${BUYT_GTFS_BENCH_FEED:-$top/../shared/data/gtfs/hanoi-2018-derived}
[ -x "$build/bin/buyt-gtfs" ] || { echo "bench_gtfs: build first ($build/bin/buyt-gtfs)" >&2; exit 1; }
[ -d "$src" ] || { echo "bench_gtfs: $src is absent" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-gtfs-XXXXXX")
trap 'rm -rf "$work"' EXIT

# Replicates rows: for copy r in 1..factor-1, append "_r<r>" to the fields listed (1-based).
replicate() { # replicate FILE "FIELDS" > OUT
  awk -F, -v OFS=, -v n="$factor" -v fields="$2" '
    BEGIN { k = split(fields, f, " ") }
    NR == 1 { print; next }
    { print; line = $0
      for (r = 1; r < n; r++) { $0 = line; for (i = 1; i <= k; i++) $f[i] = $f[i] "_r" r; print } }' "$1"
}
col() { head -1 "$1" | tr -d '\r\357\273\277' | tr , '\n' | grep -nx "$2" | cut -d: -f1; }

big=$work/hanoi-x$factor
mkdir -p "$big"
cp "$src"/agency.txt "$src"/routes.txt "$src"/stops.txt "$src"/calendar.txt "$big"/
replicate "$src/trips.txt" "$(col "$src/trips.txt" trip_id) $(col "$src/trips.txt" shape_id)" \
  >"$big/trips.txt"
replicate "$src/stop_times.txt" "$(col "$src/stop_times.txt" trip_id)" >"$big/stop_times.txt"
replicate "$src/shapes.txt" "$(col "$src/shapes.txt" shape_id)" >"$big/shapes.txt"
noshape=$work/hanoi-x$factor-noshapes # shapes derived from stop patterns instead
mkdir -p "$noshape"
cp "$big"/*.txt "$noshape"/
rm "$noshape/shapes.txt"
awk -F, -v OFS=, -v c="$(col "$src/trips.txt" shape_id)" 'NR > 1 { $c = "" } { print }' \
  "$big/trips.txt" >"$noshape/trips.txt"

cat >"$work/run.sh" <<RUN
#!/usr/bin/env bash
set -euo pipefail
db="host=\$BUYT_PG_HOST port=\$BUYT_PG_PORT user=postgres dbname=bench"
psql -q "\$BUYT_PG" -c "CREATE DATABASE bench" >/dev/null
"$build/bin/buyt-migrate" --db "\$db" >/dev/null
for feed in "$src" "$big" "$noshape"; do
  rows=\$(cat "\$feed"/*.txt | wc -l)
  for i in \$(seq 1 $runs); do
    printf '%-24s ' "\$(basename "\$feed")"
    BUYT_LOG_LEVEL=warn "$build/bin/buyt-gtfs" import --db "\$db" --feed "\$feed" \
      --timezone Asia/Ho_Chi_Minh --agency hn | head -1 | sed 's/^feed *//'
  done
done
"$build/bin/buyt-gtfs" summary --db "\$db"
RUN
chmod +x "$work/run.sh"
echo "bench_gtfs: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
  "PostgreSQL $(psql --version | awk '{print $3}'), fsync $([ "${BUYT_PG_DURABLE:-0}" = 1 ] && echo on || echo off)"
"$top/tools/servers.sh" run -- "$work/run.sh"
