#!/usr/bin/env bash
# The ingest issue's end-to-end benchmark, in one run on throwaway servers:
#   1. the broker's own QoS 1 ceiling (publisher -> mosquitto -> plain subscriber, each in a
#      process of its own as the engine is: a publisher and subscriber sharing one process
#      share its event loop's wake-ups, which the engine phase cannot)
#   2. the engine end to end (publisher -> mosquitto -> buyt-ingest -> PostgreSQL)
# and the ratio, with the CPU seconds each process used in each phase. The two phases alternate
# ROUNDS times (default 3) and the ratio is of the medians: on this shared two-core VM the
# ceiling alone moves by +-20 % from one minute to the next. The engine runs throughout (idle
# in the ceiling phases, which use another agency's topics).
# Usage: bench/e2e.sh [MESSAGES] [VEHICLES]   (build first: tools/test.sh)
#   ROUNDS=N           rounds of (ceiling, engine)
#   E2E_BROKER_NICE=N  run mosquitto at nice N in both phases (e.g. -10: the broker first, as
#                      on a host where it has a core of its own; default: unchanged)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BENCH_N=${1:-200000} BENCH_V=${2:-2000} BIN=${BIN:-$top/build/bin}
export ROUNDS=${ROUNDS:-3} E2E_BROKER_NICE=${E2E_BROKER_NICE:-}
exec "$top/tools/servers.sh" run -- bash -c '
set -euo pipefail
$BIN/buyt-migrate --db "$BUYT_PG" >/dev/null
psql -q "$BUYT_PG" -c "INSERT INTO vehicles (agency, vehicle_id) SELECT '"'"'hn'"'"', '"'"'bus'"'"' || lpad(i::text, greatest(4, length(i::text)), '"'"'0'"'"') FROM generate_series(0, $BENCH_V - 1) i"
mq=$(cat "$BUYT_SERVERS_DIR/mqtt.pid"); pg=$(cat "$BUYT_SERVERS_DIR/pg.pid")
[ -n "$E2E_BROKER_NICE" ] && renice -n "$E2E_BROKER_NICE" -p "$mq" >/dev/null
# CPU seconds (user + system) of a process, or of PostgreSQL: the postmaster, its backends and
# background workers.
cpu() { awk "{ printf \"%.2f\", (\$14 + \$15) / 100 }" /proc/$1/stat; }
cpu_pg() { for p in $pg $(pgrep -P $pg); do awk "{ print \$14 + \$15 }" /proc/$p/stat 2>/dev/null; done |
  awk "{ t += \$1 } END { printf \"%.2f\", t / 100 }"; }
d() { awk -v a=$1 -v b=$2 "BEGIN { printf \"%.2f\", b - a }"; }
rate() { echo "$1" | sed -E "s/.*= ([0-9]+) msg\/s \(publisher.*/\1/"; }
median() { tr " " "\n" | grep . | sort -n | awk "{ a[NR] = \$1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }"; }
spool=$(mktemp -d)
BUYT_LOG_LEVEL=warn $BIN/buyt-ingest --db "$BUYT_PG" --mqtt "$BUYT_MQTT_URL" --spool "$spool" &
pid=$!
trap "kill -TERM $pid 2>/dev/null; wait $pid; rm -rf $spool" EXIT
sleep 1.5
brs= ers= fail=0
for r in $(seq 1 $ROUNDS); do
  m0=$(cpu $mq)
  so="$BUYT_SERVERS_DIR/sub.out"; : >"$so"
  /usr/bin/time -f "%U %S" -o "$BUYT_SERVERS_DIR/time.s" $BIN/bench-e2e sub --url "$BUYT_MQTT_TOOL_URL" --messages $BENCH_N >"$so" &
  sp=$!
  for i in $(seq 100); do grep -q ready "$so" && break; sleep 0.1; done
  po=$(/usr/bin/time -f "%U %S" -o "$BUYT_SERVERS_DIR/time.p" $BIN/bench-e2e pub --url "$BUYT_MQTT_TOOL_URL" --messages $BENCH_N --vehicles $BENCH_V) || fail=1
  wait $sp || fail=1
  m1=$(cpu $mq); i1=$(cpu $pid); p1=$(cpu_pg)
  t0=$(echo "$po" | sed -E "s/.*started at ([0-9]+) ns.*/\1/")
  got=$(sed -nE "s/^sub: received ([0-9]+) of.*/\1/p" "$so"); t1=$(sed -nE "s/.*last at ([0-9]+) ns.*/\1/p" "$so")
  pa=$(echo "$po" | sed -E "s/.*acked in ([0-9.]+) s.*/\1/")
  b=$(awk -v n=$BENCH_N -v g=${got:-0} -v a=$t0 -v z=${t1:-0} -v v=$BENCH_V -v pa=$pa "BEGIN { s = (z - a) / 1e9; printf \"broker: %d messages, %d vehicles: delivered %d in %.2f s = %.0f msg/s (publisher acked in %.2f s = %.0f msg/s), loss %d\", n, v, g, s, g / s, pa, n / pa, n - g }")
  echo "round $r $b"
  echo "  cpu s: mosquitto $(d $m0 $m1), publisher $(tail -1 "$BUYT_SERVERS_DIR/time.p" | awk "{ printf \"%.2f\", \$1 + \$2 }"), subscriber $(tail -1 "$BUYT_SERVERS_DIR/time.s" | awk "{ printf \"%.2f\", \$1 + \$2 }")"
  # Each round sends new seqs (the engine would drop repeats as duplicates) into an empty table.
  psql -q "$BUYT_PG" -c "TRUNCATE fixes"
  e=$(/usr/bin/time -f "%U %S" -o "$BUYT_SERVERS_DIR/time.e" $BIN/bench-e2e engine --url "$BUYT_MQTT_TOOL_URL" --db "$BUYT_PG" --messages $BENCH_N --vehicles $BENCH_V --seq-base $(( (r - 1) * (BENCH_N / BENCH_V + 1) ))) || fail=1
  m2=$(cpu $mq); i2=$(cpu $pid); p2=$(cpu_pg)
  echo "round $r $e"
  echo "  cpu s: mosquitto $(d $m1 $m2), publisher $(tail -1 "$BUYT_SERVERS_DIR/time.e" | awk "{ printf \"%.2f\", \$1 + \$2 }"), buyt-ingest $(d $i1 $i2), PostgreSQL $(d $p1 $p2) (with the count(*) polls)"
  brs="$brs $(rate "$b")"; ers="$ers $(rate "$e")"
done
echo "buyt-ingest RSS after the run: $(awk "/VmRSS/ { printf \"%.1f MiB\", \$2 / 1024 }" /proc/$pid/status) ($BENCH_V vehicles)"
bm=$(echo $brs | median); em=$(echo $ers | median)
echo "median of $ROUNDS: broker $bm msg/s, engine $em msg/s"
echo "ratio engine/broker: $(awk -v e=$em -v b=$bm "BEGIN { printf \"%.2f\", e / b }")${E2E_BROKER_NICE:+ (mosquitto at nice $E2E_BROKER_NICE)}"
exit $fail
'
