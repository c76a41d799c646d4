#!/usr/bin/env bash
# Creates or updates broker accounts in a mosquitto password file.
#   tools/mqtt-accounts.sh PASSWD_FILE NAME:PASSWORD [NAME:PASSWORD...]
# Device accounts are named by vehicle id (the ACL lets each write only its own topics);
# service accounts: buyt-ingest, buyt-sign, buyt-tool.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 PASSWD_FILE NAME:PASSWORD..." >&2; exit 2; }
file=$1; shift
[ -e "$file" ] || : >"$file"
for acct in "$@"; do
  name=${acct%%:*}; pass=${acct#*:}
  [ -n "$name" ] && [ -n "$pass" ] && [ "$name" != "$acct" ] ||
    { echo "$0: bad account '$acct' (want NAME:PASSWORD)" >&2; exit 2; }
  mosquitto_passwd -b "$file" "$name" "$pass"
done
