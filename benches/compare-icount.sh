#!/usr/bin/env bash
# Instructions per operation of the layout-accessor rows (and their
# hand-written `static` twins) at a base revision and at the working tree,
# under callgrind: a change that must not alter the generated accessors
# (issue 14's `#[track_caller]` wrapper without the `track` feature) shows
# equal columns.
# Usage: bash benches/compare-icount.sh BASE_REV      (about 4 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:?usage: compare-icount.sh BASE_REV}
target="${CARGO_TARGET_DIR:-$PWD/target}"
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive "$base_rev" | tar -x -C "$work"
# Same target directory: the dependencies are shared, only the crates differ.
(cd "$work" && CARGO_TARGET_DIR="$target" cargo build -q --profile bench -p flight-mem-benches --bin icount)
cp "$target/release/icount" "$work/icount-base"
# Cargo may find the working tree's build fresh and leave the base binary in
# place: touching the driver forces it to link the working tree's again.
touch benches/src/bin/icount.rs
cargo build -q --profile bench -p flight-mem-benches --bin icount
cp "$target/release/icount" "$work/icount-head"

norandom=()
if setarch "$(uname -m)" -R true 2>/dev/null; then norandom=(setarch "$(uname -m)" -R); fi
instructions() {
  "${norandom[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_op() {
  local bin=$1 workload=$2 name=$3 low high
  low=$(instructions "$bin" "$workload" "$name" 100000)
  high=$(instructions "$bin" "$workload" "$name" 1000000)
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
