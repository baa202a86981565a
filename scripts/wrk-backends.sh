#!/usr/bin/env bash
# Two running servers under the same wrk load, one after the other, alternating, ROUNDS times:
# distinct paper pages, distinct API paper lookups (scripts/wrk-distinct-pages.lua) and distinct
# searches (scripts/wrk-distinct-searches.lua). Made to compare a node on SQLite with a node on
# PostgreSQL serving the same papers (docs/benchmarks.md, "PostgreSQL and SQLite under wrk");
# prints one line per run: requests/s, p50, p99, errors, and the response cache's hits and misses
# during the run (from /metrics).
#
#   scripts/wrk-backends.sh IDS QUERIES ROUNDS NAME=URL NAME=URL...
#   WRK_ARGS="-t2 -c32 -d20s" (the default) sets the load.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ids=$1 queries=$2 rounds=$3
shift 3
wrk_args=${WRK_ARGS:--t2 -c32 -d20s}
threads=$(sed -n 's/.*-t\([0-9]*\).*/\1/p' <<<"$wrk_args")

counter() { curl -s "$1/metrics" | awk -v name="paperboy_response_cache_$2_total" '$1 == name { print $2 }'; }

run() { # target name url
  local target=$1 name=$2 url=$3 script env=()
  case $target in
    pages) script=wrk-distinct-pages.lua env=(IDS="$ids" PREFIX=/papers/) ;;
    api) script=wrk-distinct-pages.lua env=(IDS="$ids" PREFIX=/api/papers/) ;;
    searches) script=wrk-distinct-searches.lua env=(QUERIES="$queries") ;;
  esac
  local hits misses out
  hits=$(counter "$url" hits) misses=$(counter "$url" misses)
  # shellcheck disable=SC2086
  out=$(env "${env[@]}" THREADS="$threads" wrk $wrk_args --latency -s "$here/$script" "$url")
  hits=$(($(counter "$url" hits) - hits)) misses=$(($(counter "$url" misses) - misses))
  awk -v target="$target" -v name="$name" -v hits="$hits" -v misses="$misses" '
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /^Requests\/sec/ { rps = $2 }
    /Non-2xx/ { errors += $NF } /Socket errors/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    END { printf "%-9s %-11s %10s %10s %10s %6d %9d %9d\n", target, name, rps, p50, p99, errors, hits, misses }
  ' <<<"$out"
}

echo "# wrk $wrk_args --latency"
echo "target    backend       req/s        p50        p99 errors cache-hit cache-miss"
for round in $(seq 1 "$rounds"); do
  for target in pages api searches; do
    for server in "$@"; do
      run "$target" "${server%%=*}" "${server#*=}"
    done
  done
  # the next round starts with the other backend
  set -- "${@:2}" "$1"
done
