#!/usr/bin/env bash
# Import benchmark: the 46,006-paper arXiv sample into a fresh SQLite store, several runs, with
# the import rate and the peak memory (RSS) of each. Numbers go to docs/benchmarks.md.
#
#   scripts/bench-import.sh [RUNS] [FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
file=${2:-../shared/data/arxiv-metadata-cs-2019/papers.jsonl.gz}
cargo build --release --quiet
binary=target/release/paperboy
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
have_time=$([ -x /usr/bin/time ] && echo yes || echo no)
echo "run  import-rate  wall-s  peak-rss-MB   (fresh store each run; then one re-import)"
for run in $(seq 1 "$runs") again; do
  [ "$run" = again ] || rm -rf "$work/data"
  if [ "$have_time" = yes ]; then
    /usr/bin/time -f "%e %M" -o "$work/time" "$binary" --data-dir "$work/data" import "$file" 2>"$work/log" >/dev/null
    read -r wall rss <"$work/time"
    rss=$((rss / 1024))
  else
    "$binary" --data-dir "$work/data" import "$file" 2>"$work/log" >/dev/null
    wall=? rss=?
  fi
  rate=$(grep -o '([0-9]* records/s)' "$work/log" | tr -d '()')
  printf '%-4s %-20s %-7s %s\n' "$run" "$rate" "$wall" "$rss"
done
