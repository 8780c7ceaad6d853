#!/usr/bin/env bash
# Reproduces every table of BENCHMARKS.md:
#   1. the criterion benches (workloads 1, 2a, 2b, 3, 5; short measurement times),
#   2. the report tables (medians and spreads, worst single ops, utilisation, totals),
#   3. instructions per operation under callgrind for workloads 1, 2a and 3.
# Usage: bash benches/run.sh [--no-criterion]     (about 3-5 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

if [ "${1:-}" != "--no-criterion" ]; then
  echo "==== criterion (cargo bench -p flight-mem-benches --bench throughput) ===="
  cargo bench -p flight-mem-benches --bench throughput -- --noplot 2>&1 \
    | grep -E '^[a-z0-9_]+/|time:' || true
fi

echo
echo "==== report tables (cargo bench -p flight-mem-benches --bench report) ===="
cargo bench -p flight-mem-benches --bench report

echo
echo "==== instructions per operation (valgrind --tool=callgrind) ===="
source benches/callgrind.sh
cargo build --profile bench -p flight-mem-benches --bin icount 2>/dev/null
icount="$target/release/icount"

# Instructions callgrind counted for one run of `icount ARGS...`.
instructions() { callgrind_ir "$icount" "$@"; }

table() {
  local workload=$1 unit=$2 n1=$3 n2=$4
  echo
  echo "| $workload allocator | instructions/$unit | minus the harness loop |"
  echo "|---|---:|---:|"
  local harness=""
  while IFS= read -r name; do
    local low high per
    low=$(instructions "$workload" "$name" "$n1")
    high=$(instructions "$workload" "$name" "$n2")
    per=$(awk -v lo="$low" -v hi="$high" -v n="$((n2 - n1))" 'BEGIN { printf "%.2f", (hi - lo) / n }')
    [ -z "$harness" ] && harness=$per  # `icount list` names the harness first
    awk -v name="$name" -v per="$per" -v h="$harness" \
      'BEGIN { printf "| %s | %.2f | %.2f |\n", name, per, per - h }'
  done < <("$icount" list "$workload")
}

table w1 alloc 100000 1000000
table w2a pair 100000 1000000
table w3 op 20000 120000
