#!/usr/bin/env bash
# Project-owned PostgreSQL and mosquitto servers for tests and the demo. Never the system ones:
# each lives under DIR (initdb'd cluster on a unix socket + loopback port, broker on a loopback
# port with the project's own configuration) and is stopped by its PID.
#
#   servers.sh start DIR          start both (creates them on first use); writes DIR/env
#   servers.sh stop DIR           stop both (fast shutdown)
#   servers.sh pg-stop DIR [MODE] stop PostgreSQL (MODE fast|immediate; immediate = crash)
#   servers.sh pg-start DIR       start it again on the same port
#   servers.sh mqtt-stop DIR      stop the broker (SIGTERM: saves its persistence)
#   servers.sh mqtt-kill DIR      kill the broker (SIGKILL)
#   servers.sh mqtt-start DIR     start it again on the same port
#   servers.sh mqtt-account DIR NAME PASS   add a broker account and reload
#   servers.sh run [--keep] -- CMD [ARGS]   start both in a temp dir, run CMD with DIR/env
#                                 exported, stop both when CMD ends, fails or is killed
#
# DIR/env holds: BUYT_SERVERS_DIR, BUYT_PG (libpq conninfo), BUYT_PG_HOST, BUYT_PG_PORT,
# BUYT_MQTT_HOST, BUYT_MQTT_PORT, BUYT_MQTT_URL (engine account), BUYT_MQTT_TOOL_URL,
# BUYT_MQTT_SIGN_URL, and the account passwords; for the broker's TLS listener (127.0.0.1, its
# own port, same accounts and ACL, certificate from a CA made for this DIR): BUYT_MQTT_TLS_PORT,
# BUYT_MQTTS_URL, BUYT_MQTTS_TOOL_URL, BUYT_MQTTS_SIGN_URL, and BUYT_MQTT_CAFILE (that CA; the
# server certificate names IP:127.0.0.1 and DNS:localhost).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

die() { echo "servers.sh: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { # pick_port [EXCEPT]: a free loopback port other than EXCEPT (picked, not yet bound)
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    if [ "$p" != "${1:-}" ] && port_free "$p"; then echo "$p"; return 0; fi
  done
  die "no free port found"
}
rand_pass() { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20; }

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local t=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# ---------------------------------------------------------------- PostgreSQL
pg_init() {
  local dir=$1
  mkdir -p "$dir/pg/sock"
  is_root && chown -R postgres: "$dir/pg"
  as_pg "$PG_BIN/initdb" -D "$dir/pg/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/pg/initdb.log" 2>&1 || { cat "$dir/pg/initdb.log" >&2; die "initdb failed"; }
  cat >>"$dir/pg/data/postgresql.conf" <<EOF
# buyt throwaway cluster: unix socket under its own directory, loopback port, no system paths.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/pg/sock'
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
log_destination = 'stderr'
logging_collector = off
timezone = 'UTC'
EOF
  if [ "${BUYT_PG_DURABLE:-0}" != 1 ]; then
    # Throwaway test clusters don't need to survive an OS crash (a server crash is still
    # safe: the data is in the OS page cache). Not for the demo's persistent cluster.
    printf 'fsync = off\nfull_page_writes = off\n' >>"$dir/pg/data/postgresql.conf"
  fi
}

pg_start() {
  local dir=$1 attempt port
  [ -f "$dir/pg/port" ] || pick_port >"$dir/pg/port"
  # A free port can be taken between pick_port and the bind: on a bind failure, pick again.
  for attempt in 1 2 3 4 5; do
    port=$(cat "$dir/pg/port")
    : >"$dir/pg/server.log"
    is_root && chown postgres: "$dir/pg/server.log"
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -o "-p $port" -l "$dir/pg/server.log" -w -t 60 \
      start >/dev/null 2>>"$dir/pg/ctl.log"; then
      break
    fi
    if [ "$attempt" -lt 5 ] && grep -q "could not bind\|could not create any TCP/IP sockets" \
        "$dir/pg/server.log"; then
      pick_port >"$dir/pg/port"
      continue
    fi
    tail -20 "$dir/pg/server.log" >&2
    die "PostgreSQL did not start"
  done
  head -1 "$dir/pg/data/postmaster.pid" >"$dir/pg.pid"
  wait_for 30 postgres "$PG_BIN/pg_isready" -q -h "$dir/pg/sock" -p "$port" ||
    die "PostgreSQL does not answer"
}

pg_stop() {
  local dir=$1 mode=${2:-fast}
  [ -f "$dir/pg.pid" ] || return 0
  local pid; pid=$(cat "$dir/pg.pid")
  if kill -0 "$pid" 2>/dev/null; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 ||
      kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/pg.pid"
}

# ---------------------------------------------------------------- mosquitto
mqtt_init() {
  local dir=$1 m=$1/mqtt
  mkdir -p "$m/data"
  [ -f "$m/port" ] || pick_port >"$m/port"
  local port; port=$(cat "$m/port")
  sed -e "s|@PORT@|$port|; s|@BIND@|${BUYT_MQTT_BIND:-127.0.0.1}|; s|@DIR@|$m|g" \
    "$top/deploy/mosquitto/mosquitto.conf.in" >"$m/mosquitto.conf"
  cp "$top/deploy/mosquitto/acl.in" "$m/acl"
  local pi pt ps
  pi=$(rand_pass); pt=$(rand_pass); ps=$(rand_pass)
  : >"$m/passwd"
  "$here/mqtt-accounts.sh" "$m/passwd" "buyt-ingest:$pi" "buyt-tool:$pt" "buyt-sign:$ps" \
    >/dev/null
  printf 'BUYT_MQTT_INGEST_PASS=%s\nBUYT_MQTT_TOOL_PASS=%s\nBUYT_MQTT_SIGN_PASS=%s\n' \
    "$pi" "$pt" "$ps" >"$m/secrets"
  chmod 600 "$m/secrets"
  # As root the broker drops to user mosquitto, which must own what it writes and reads.
  is_root && chown -R mosquitto: "$m/data" "$m/passwd" "$m/acl" && chown mosquitto: "$m"
  mqtt_tls_init "$dir"
}

# A CA made for this DIR alone, a server certificate it signs, and a second listener (TLS,
# 127.0.0.1, its own port) appended to the configuration. per_listener_settings is false, so the
# accounts, the ACL and allow_anonymous apply to it as to the plain one. The CA key is deleted
# once the server certificate is signed: nothing else will ever be signed by this CA.
mqtt_tls_init() {
  local dir=$1 m=$1/mqtt t=$1/mqtt/tls
  command -v openssl >/dev/null || die "openssl not found: run tools/install-deps.sh"
  rm -rf "$t"
  mkdir -p "$t"
  local log=$t/openssl.log
  { openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
      -days 3650 -subj "/CN=buyt throwaway test CA $(basename "$dir")" \
      -keyout "$t/ca.key" -out "$t/ca.crt" &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
      -subj "/CN=buyt throwaway broker" -keyout "$t/server.key" -out "$t/server.csr" &&
    printf '%s\n' 'basicConstraints = critical, CA:FALSE' \
      'keyUsage = critical, digitalSignature, keyEncipherment' \
      'extendedKeyUsage = serverAuth' 'subjectAltName = IP:127.0.0.1, DNS:localhost' \
      >"$t/server.ext" &&
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -sha256 \
      -CAcreateserial -CAserial "$t/ca.srl" -days 3650 -extfile "$t/server.ext" \
      -out "$t/server.crt"; } >"$log" 2>&1 || { cat "$log" >&2; die "TLS certificates failed"; }
  rm -f "$t/ca.key" "$t/ca.srl" "$t/server.csr" "$t/server.ext"
  chmod 644 "$t/ca.crt" "$t/server.crt"
  chmod 600 "$t/server.key"
  # Read again as user mosquitto on every SIGHUP (mqtt-account).
  is_root && chown mosquitto: "$t/server.key" "$t/server.crt"
  local tport; tport=$(pick_port "$(cat "$m/port")")
  echo "$tport" >"$m/tls_port"
  cat >>"$m/mosquitto.conf" <<EOF

# Added by tools/servers.sh: a TLS listener, certificate from a CA made for this directory.
listener $tport 127.0.0.1
certfile $t/server.crt
keyfile $t/server.key
EOF
}

mqtt_start() {
  local dir=$1 m=$1/mqtt attempt port tport pid
  for attempt in 1 2 3 4 5; do
    port=$(cat "$m/port")
    tport=$(cat "$m/tls_port" 2>/dev/null || true)
    # Its own session: a Ctrl-C at the terminal (tools/demo.sh) must not kill the broker before
    # the components have drained through it; it is stopped by PID.
    setsid mosquitto -c "$m/mosquitto.conf" >>"$m/stdout.log" 2>&1 &
    pid=$!
    echo $pid >"$dir/mqtt.pid"
    # Up = our process still alive after both ports answer (another program may hold a port,
    # in which case mosquitto exits at once with "Address already in use": stop waiting then).
    local up=1 deadline=$(( $(date +%s) + 20 ))
    until bash -c "exec 3<>/dev/tcp/127.0.0.1/$port &&
        { [ -z '$tport' ] || exec 4<>/dev/tcp/127.0.0.1/$tport; }" 2>/dev/null; do
      if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then up=0; break; fi
      sleep 0.1
    done
    if [ "$up" = 1 ] && sleep 0.3 && kill -0 "$pid" 2>/dev/null; then
      return 0
    fi
    # A port taken between pick_port and the bind: move that listener (the plain one when
    # neither is seen taken any more) to a new port and retry.
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local newport moved=0
    if [ -n "$tport" ] && ! port_free "$tport"; then
      newport=$(pick_port "$port")
      sed -i "s/^listener $tport /listener $newport /" "$m/mosquitto.conf"
      echo "$newport" >"$m/tls_port"
      tport=$newport moved=1
    fi
    if [ "$moved" = 0 ] || ! port_free "$port"; then
      newport=$(pick_port "$tport")
      sed -i "s/^listener $port /listener $newport /" "$m/mosquitto.conf"
      echo "$newport" >"$m/port"
    fi
  done
  tail -20 "$m/mosquitto.log" "$m/stdout.log" >&2 || true
  die "mosquitto did not start"
}

mqtt_stop() {
  local dir=$1 sig=${2:-TERM}
  [ -f "$dir/mqtt.pid" ] || return 0
  local pid; pid=$(cat "$dir/mqtt.pid")
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/mqtt.pid"
}

write_env() {
  local dir=$1
  # shellcheck disable=SC1091
  . "$dir/mqtt/secrets"
  local pgp mp
  pgp=$(cat "$dir/pg/port"); mp=$(cat "$dir/mqtt/port")
  cat >"$dir/env" <<EOF
BUYT_SERVERS_DIR=$dir
BUYT_PG_HOST=$dir/pg/sock
BUYT_PG_PORT=$pgp
BUYT_PG='host=$dir/pg/sock port=$pgp user=postgres dbname=postgres'
BUYT_MQTT_HOST=127.0.0.1
BUYT_MQTT_PORT=$mp
BUYT_MQTT_INGEST_PASS=$BUYT_MQTT_INGEST_PASS
BUYT_MQTT_TOOL_PASS=$BUYT_MQTT_TOOL_PASS
BUYT_MQTT_SIGN_PASS=$BUYT_MQTT_SIGN_PASS
BUYT_MQTT_URL=mqtt://buyt-ingest:$BUYT_MQTT_INGEST_PASS@127.0.0.1:$mp
BUYT_MQTT_TOOL_URL=mqtt://buyt-tool:$BUYT_MQTT_TOOL_PASS@127.0.0.1:$mp
BUYT_MQTT_SIGN_URL=mqtt://buyt-sign:$BUYT_MQTT_SIGN_PASS@127.0.0.1:$mp
EOF
  [ -f "$dir/mqtt/tls_port" ] || return 0
  local tp; tp=$(cat "$dir/mqtt/tls_port")
  cat >>"$dir/env" <<EOF
BUYT_MQTT_TLS_PORT=$tp
BUYT_MQTT_CAFILE=$dir/mqtt/tls/ca.crt
BUYT_MQTTS_URL=mqtts://buyt-ingest:$BUYT_MQTT_INGEST_PASS@127.0.0.1:$tp
BUYT_MQTTS_TOOL_URL=mqtts://buyt-tool:$BUYT_MQTT_TOOL_PASS@127.0.0.1:$tp
BUYT_MQTTS_SIGN_URL=mqtts://buyt-sign:$BUYT_MQTT_SIGN_PASS@127.0.0.1:$tp
EOF
}

start_all() {
  local dir=$1
  mkdir -p "$dir"
  [ -d "$dir/pg/data" ] || pg_init "$dir"
  [ -f "$dir/mqtt/mosquitto.conf" ] || mqtt_init "$dir"
  [ -f "$dir/mqtt/tls_port" ] || mqtt_tls_init "$dir" # a DIR made before the TLS listener
  pg_start "$dir"
  mqtt_start "$dir"
  write_env "$dir"
}

stop_all() { mqtt_stop "$1"; pg_stop "$1" fast; }

cmd=${1:-}; shift || true
case "$cmd" in
  start) [ $# -ge 1 ] || die "usage: start DIR"; start_all "$1" ;;
  stop) [ $# -ge 1 ] || die "usage: stop DIR"; stop_all "$1" ;;
  pg-stop) pg_stop "$1" "${2:-fast}" ;;
  pg-start) pg_start "$1" ;;
  mqtt-stop) mqtt_stop "$1" TERM ;;
  mqtt-kill) mqtt_stop "$1" KILL ;;
  mqtt-start) mqtt_start "$1" ;;
  mqtt-account)
    [ $# -eq 3 ] || die "usage: mqtt-account DIR NAME PASS"
    "$here/mqtt-accounts.sh" "$1/mqtt/passwd" "$2:$3" >/dev/null
    is_root && chown mosquitto: "$1/mqtt/passwd"
    [ -f "$1/mqtt.pid" ] && kill -HUP "$(cat "$1/mqtt.pid")"
    ;;
  run)
    keep=0
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
      case "$1" in --keep) keep=1 ;; *) die "run: unknown option $1" ;; esac; shift
    done
    [ "${1:-}" = "--" ] && shift
    [ $# -ge 1 ] || die "usage: run [--keep] -- CMD [ARGS]"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/buyt-servers.XXXXXX")
    chmod 755 "$dir"
    cleanup() {
      stop_all "$dir"
      [ -n "${watchdog:-}" ] && kill "$watchdog" 2>/dev/null
      [ "$keep" = 1 ] || rm -rf "$dir"
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    start_all "$dir"
    # Watchdog: if this script is killed with SIGKILL (no trap runs), stop the servers anyway.
    me=$$
    ( trap '' INT TERM
      while kill -0 "$me" 2>/dev/null; do sleep 1; done
      stop_all "$dir" 2>/dev/null; [ "$keep" = 1 ] || rm -rf "$dir" ) </dev/null >/dev/null 2>&1 &
    watchdog=$!
    set -a; . "$dir/env"; set +a
    set +e
    "$@"
    rc=$?
    set -e
    exit $rc
    ;;
  *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
