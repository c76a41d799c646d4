#!/usr/bin/env bash
# Import throughput of buyt-gtfs, in a throwaway PostgreSQL (tools/servers.sh):
#   hanoi    the Hanoi feed as it is (../shared/data/gtfs/hanoi-2018-derived)
#   xN       its trips, stop times and shapes replicated N times (ids suffixed "_rK"; same
#            stops and routes), so N times the rows
#   xN-new   the same with other trip and shape ids ("_qK"): replaces every row of xN
#   xN-noshp xN without shapes.txt and shape_id: shapes derived from the stop patterns
# Scenarios, RUNS times each: "first" = into an empty database; "same" = the same feed again
# (nothing changed); "replace" = xN-new over xN (every trip, stop time and shape replaced).
# rows = data lines of the feed's files; rows/s = rows / wall time of the import.
#
#   bench/bench_gtfs.sh [BUILD_DIR] [N] [RUNS]          defaults: build 20 3
#   BUYT_PG_DURABLE=1 bench/bench_gtfs.sh ...           with fsync on (default: off)
#
# Figures go to docs/GTFS.md with the date, the machine and the command.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
build=$(cd "${1:-$top/build}" && pwd)
factor=${2:-20}
runs=${3:-3}
src=${BUYT_GTFS_BENCH_FEED:-$top/../shared/data/gtfs/hanoi-2018-derived}
[ -x "$build/bin/buyt-gtfs" ] || { echo "bench_gtfs: build first ($build/bin/buyt-gtfs)" >&2; exit 1; }
[ -d "$src" ] || { echo "bench_gtfs: $src is absent" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-gtfs-XXXXXX")
chmod 755 "$work" # the servers may run as another user; they only need the script
trap 'rm -rf "$work"' EXIT

col() { head -1 "$1" | tr -d '\r\357\273\277' | tr , '\n' | grep -nx "$2" | cut -d: -f1; }
# replicate FILE TAG "FIELDS": each data row, then factor-1 copies with TAG<k> appended to the
# listed fields (1-based).
replicate() {
  awk -F, -v OFS=, -v n="$factor" -v tag="$2" -v fields="$3" '
    BEGIN { k = split(fields, f, " ") }
    NR == 1 { print; next }
    { line = $0
      for (r = 0; r < n; r++) {
        $0 = line
        if (r > 0 || tag != "_r") for (i = 1; i <= k; i++) $f[i] = $f[i] tag r
        print } }' "$1"
}
make_feed() { # make_feed DIR TAG
  mkdir -p "$1"
  cp "$src"/agency.txt "$src"/routes.txt "$src"/stops.txt "$src"/calendar.txt "$1"/
  replicate "$src/trips.txt" "$2" "$(col "$src/trips.txt" trip_id) $(col "$src/trips.txt" shape_id)" \
    >"$1/trips.txt"
  replicate "$src/stop_times.txt" "$2" "$(col "$src/stop_times.txt" trip_id)" >"$1/stop_times.txt"
  replicate "$src/shapes.txt" "$2" "$(col "$src/shapes.txt" shape_id)" >"$1/shapes.txt"
}
big=$work/x$factor
make_feed "$big" _r
make_feed "$work/x$factor-new" _q
noshp=$work/x$factor-noshp
mkdir -p "$noshp"
cp "$big"/*.txt "$noshp"/
rm "$noshp/shapes.txt"
awk -F, -v OFS=, -v c="$(col "$src/trips.txt" shape_id)" 'NR > 1 { $c = "" } { print }' \
  "$big/trips.txt" >"$noshp/trips.txt"
ln -s "$src" "$work/hanoi"

cat >"$work/run.sh" <<RUN
#!/usr/bin/env bash
set -euo pipefail
n=0
fresh() {
  n=\$((n + 1))
  db="host=\$BUYT_PG_HOST port=\$BUYT_PG_PORT user=postgres dbname=bench\$n"
  psql -q "\$BUYT_PG" -c "CREATE DATABASE bench\$n" >/dev/null
  "$build/bin/buyt-migrate" --db "\$db" >/dev/null
}
import() { # import SCENARIO FEED
  local out rows ms
  out=\$(BUYT_LOG_LEVEL=error "$build/bin/buyt-gtfs" import --db "\$db" --feed "$work/\$2" \
    --timezone Asia/Ho_Chi_Minh --agency hn | head -1)
  rows=\$(sed 's/.* rows=\([0-9]*\).*/\1/' <<<"\$out")
  ms=\$(sed 's/.* ms=\([0-9]*\).*/\1/' <<<"\$out")
  printf '%-8s %-14s %8s %7s %8s\n' "\$1" "\$2" "\$rows" "\$ms" "\$(( rows * 1000 / (ms > 0 ? ms : 1) ))"
}
printf '%-8s %-14s %8s %7s %8s\n' scenario feed rows ms rows/s
for i in \$(seq 1 $runs); do
  for feed in hanoi x$factor x$factor-noshp; do
    fresh; import first \$feed; import same \$feed
  done
  fresh; import first x$factor; import replace x$factor-new
done
RUN
chmod +x "$work/run.sh"
echo "bench_gtfs: $(date -u +%F), $(nproc) CPUs $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GB," \
  "PostgreSQL $(psql --version | awk '{print $3}'), fsync $([ "${BUYT_PG_DURABLE:-0}" = 1 ] && echo on || echo off)"
"$top/tools/servers.sh" run -- "$work/run.sh"
