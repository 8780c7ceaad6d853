#!/usr/bin/env bash
# Ceiling of planning-only levers for `Compact::defragment` (BENCHMARKS.md,
# "Session 9 — compact4"): builds `defrag` as it is and with each patch of
# this directory (walk 2 of `plan_batch` made twice; every batch planned
# twice), then runs the three alternately (RUNS rounds, default 100) and
# prints the `time / twin` ratios and the paired ratios to the unpatched
# build. Doubling a part adds what removing it could save at most.
# Needs a clean `flight-mem/src/compact/`; about 5 minutes for 100 rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
out="$target/defrag-ceiling"
mkdir -p "$out"
build() {
  cargo build -q --release -p flight-mem-benches --bin defrag
  cp "$target/release/defrag" "$out/$1"
}
build base
for patch in walk2-twice plan-twice; do
  git apply "benches/defrag-ceiling/$patch.patch"
  trap 'git apply -R "benches/defrag-ceiling/$patch.patch"' EXIT
  build "$patch"
  git apply -R "benches/defrag-ceiling/$patch.patch"
  trap - EXIT
done
python3 benches/defrag-ceiling/alternate.py "${RUNS:-100}" "$out/base" "$out/walk2-twice" "$out/plan-twice"
