#!/usr/bin/env bash
# Storage benchmark on a throwaway PostgreSQL: bench/storage.sh [ROWS] [VEHICLES]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROWS=${1:-2000000} VEH=${2:-2000} BIN=$top/build/bin
exec "$top/tools/servers.sh" run -- bash -c '
  $BIN/buyt-migrate --db "$BUYT_PG" >/dev/null
  BUYT_LOG_LEVEL=warn $BIN/bench-storage --db "$BUYT_PG" --rows $ROWS --vehicles $VEH'
