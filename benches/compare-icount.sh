#!/usr/bin/env bash
# Instructions per operation of the layout-accessor rows (and their
# hand-written `static` twins) at a base revision and at the working tree,
# under callgrind: a change that must not alter the generated accessors
# (issue 14's `#[track_caller]` wrapper without the `track` feature) shows
# equal columns.
# Usage: bash benches/compare-icount.sh BASE_REV      (about 4 minutes on 2 cores,
# plus one build of the dependencies into target/compare-icount-base the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:?usage: compare-icount.sh BASE_REV}
target="${CARGO_TARGET_DIR:-$PWD/target}"
source benches/callgrind.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive "$base_rev" | tar -x -C "$work"
# A target directory of its own for the base: cargo hashes workspace crates
# by their path relative to the workspace root, so in a shared directory the
# base build overwrites the working tree's libraries and a later build of
# the working tree finds them "fresh" (both columns then show the base).
(cd "$work" && CARGO_TARGET_DIR="$target/compare-icount-base" cargo build -q --profile bench -p flight-mem-benches --bin icount)
cp "$target/compare-icount-base/release/icount" "$work/icount-base"
cargo build -q --profile bench -p flight-mem-benches --bin icount
cp "$target/release/icount" "$work/icount-head"

per_op() {
  local bin=$1 workload=$2 name=$3 low high
  low=$(callgrind_ir "$bin" "$workload" "$name" 100000)
  high=$(callgrind_ir "$bin" "$workload" "$name" 1000000)
  awk -v lo="$low" -v hi="$high" 'BEGIN { printf "%.2f", (hi - lo) / 900000 }'
}

echo "| workload | contender | $base_rev | working tree |"
echo "|---|---|---:|---:|"
for row in "w1|flight-mem Frames, layout accessor" "w1|flight-mem Frames, static" \
           "w2a|flight-mem BlockPool, layout accessor" "w2a|flight-mem BlockPool, static" \
           "w2a|flight-mem Tlsf, layout accessor" "w2a|flight-mem Tlsf, static"; do
  IFS='|' read -r workload name <<<"$row"
  echo "| $workload | $name | $(per_op "$work/icount-base" "$workload" "$name") | $(per_op "$work/icount-head" "$workload" "$name") |"
done
