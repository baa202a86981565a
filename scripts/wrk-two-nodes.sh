#!/usr/bin/env bash
# One node against two nodes sharing one PostgreSQL database, under the same total load: wrk on
# node 1 alone with C connections, then one wrk per node at once with C/2 connections each (one
# thread each), for distinct paper pages or distinct searches (docs/benchmarks.md, "Two nodes on
# one PostgreSQL"). Prints requests/s (the sum for two nodes), each wrk's p50 and p99, and the
# CPU seconds the nodes and the PostgreSQL server used during the run (from /proc: the nodes' PIDs,
# and the server's postmaster (PGDATA/postmaster.pid) with its children, counting the children it
# has reaped, so that backends which exit during the run still count).
#
#   scripts/wrk-two-nodes.sh one|two pages|searches URL1 PID1 URL2 PID2
#   PGDATA=… (the server's data folder) IDS=ids.txt QUERIES=queries.txt CONNECTIONS=32 DURATION=20s
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=$1 target=$2 url1=$3 pid1=$4 url2=$5 pid2=$6
postmaster=$(head -n 1 "${PGDATA:?set PGDATA to the PostgreSQL data folder}/postmaster.pid")
connections=${CONNECTIONS:-32} duration=${DURATION:-20s}
case $target in
  pages) script=wrk-distinct-pages.lua ;;
  searches) script=wrk-distinct-searches.lua ;;
esac
ticks() { awk '{ s += $14 + $15 } END { print s + 0 }' "$@" 2>/dev/null; }
postgres_ticks() {
  awk '{ s += $14 + $15 + $16 + $17 } END { print s + 0 }' \
    $(for p in "$postmaster" $(pgrep -P "$postmaster"); do echo /proc/$p/stat; done) 2>/dev/null
}
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pg0=$(postgres_ticks) n0=$(ticks /proc/"$pid1"/stat /proc/"$pid2"/stat)
if [ "$mode" = one ]; then
  THREADS=2 wrk -t2 -c"$connections" -d"$duration" --latency -s "$here/$script" "$url1" >"$work/1" &
else
  THREADS=1 wrk -t1 -c$((connections / 2)) -d"$duration" --latency -s "$here/$script" "$url1" >"$work/1" &
  THREADS=1 wrk -t1 -c$((connections / 2)) -d"$duration" --latency -s "$here/$script" "$url2" >"$work/2" &
fi
wait
pg=$(($(postgres_ticks) - pg0)) nodes=$(($(ticks /proc/"$pid1"/stat /proc/"$pid2"/stat) - n0))
awk -v mode="$mode" -v target="$target" -v pg="$pg" -v nodes="$nodes" -v hz="$hz" '
  /^ +50%/ { p50 = p50 sep $2 } /^ +99%/ { p99 = p99 sep $2; sep = " / " }
  /^Requests\/sec/ { rps += $2 } /Non-2xx/ { errors += $NF }
  END { printf "%-4s %-9s %9.1f  p50 %-19s p99 %-21s errors %d  cpu-s nodes %.1f postgres %.1f\n",
        mode, target, rps, p50, p99, errors, nodes / hz, pg / hz }
' "$work"/*
