#!/usr/bin/env bash
# Import benchmark, PostgreSQL next to SQLite: the 46,006-paper arXiv sample imported with
# --no-index into a fresh PostgreSQL database and into a fresh SQLite data folder, the two
# backends alternating run by run (the machine is shared, so only runs taken together compare),
# then one re-import of the same file into each (every record unchanged). Prints the rate
# `paperboy import` reports, wall time and peak RSS of the command. Numbers go to
# docs/benchmarks.md ("PostgreSQL: import").
#
#   scripts/bench-postgres.sh BINARY SERVER_URL [RUNS] [FILE]
#
# SERVER_URL names a database on the server that may create databases (a superuser's
# `postgres://user:pass@host:port/postgres`); each run drops and creates `pb_bench_import`.
# Needs psql and /usr/bin/time.
set -euo pipefail
binary=${1:?usage: $0 BINARY SERVER_URL [RUNS] [FILE]}
server=${2:?usage: $0 BINARY SERVER_URL [RUNS] [FILE]}
runs=${3:-3}
file=${4:-$(cd "$(dirname "$0")/.." && pwd)/../shared/data/arxiv-metadata-cs-2019/papers.jsonl.gz}
database=pb_bench_import
pg_url="${server%/*}/$database"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

measure() { # backend run data-dir [--database-url URL]
  local backend=$1 run=$2 dir=$3
  shift 3
  /usr/bin/time -f "%e %M" -o "$work/time" \
    "$binary" --data-dir "$dir" "$@" import --no-index "$file" >"$work/out" 2>"$work/log"
  read -r wall rss <"$work/time"
  local rate summary
  rate=$(grep -ho '([0-9]* records/s)' "$work/out" "$work/log" | tr -d '()' | head -n 1)
  summary=$(grep -hiE 'new|unchanged' "$work/out" "$work/log" | tail -n 1)
  printf '%-10s %-5s %-20s %-7s %-6s %s\n' "$backend" "$run" "$rate" "$wall" \
    "$((rss / 1024))" "$summary"
}

echo "backend    run   import-rate          wall-s  rss-MB summary"
for run in $(seq 1 "$runs"); do
  psql -q "$server" -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
  measure postgresql "$run" "$work/pg-data" --database-url "$pg_url"
  rm -rf "$work/sqlite-data"
  measure sqlite "$run" "$work/sqlite-data"
done
measure postgresql again "$work/pg-data" --database-url "$pg_url"
measure sqlite again "$work/sqlite-data"
