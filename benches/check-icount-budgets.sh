#!/usr/bin/env bash
# Instruction budgets of the per-thread handles and pool paths (issue 12),
# by hand: `bash benches/check-icount-budgets.sh` (about 2-3 minutes; needs
# valgrind). Not a CI step: building the benches crate with its peers in
# the bench profile would push CI past its time limit.
# - instruction budgets of the hot paths under callgrind: deterministic for
#   one binary, so a change that adds work to an allocation path fails here
#   instead of showing up later as a slower benchmark. The budgets include
#   the harness loop (4 instructions) and leave about 10 % headroom over the
#   figures in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/callgrind.sh
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build -q --profile bench -p flight-mem-benches --bin icount
icount="$target/release/icount"
instructions() { callgrind_ir "$icount" "$@"; }
# check WORKLOAD NAME BUDGET [N1 N2]: instructions per operation between
# runs of N1 and N2 operations (default 1e5 and 1e6; w3's plan holds
# fewer steps, so its rows pass 2e4 and 1.2e5).
check() {
  local workload=$1 name=$2 budget=$3 n1=${4:-100000} n2=${5:-1000000} low high per
  low=$(instructions "$workload" "$name" "$n1")
  high=$(instructions "$workload" "$name" "$n2")
  per=$(awk -v lo="$low" -v hi="$high" -v n="$((n2 - n1))" 'BEGIN { printf "%.2f", (hi - lo) / n }')
  echo "$workload | $name | $per instructions per operation (budget $budget)"
  awk -v per="$per" -v budget="$budget" 'BEGIN { exit !(per <= budget) }' \
    || { echo "over budget: $name"; exit 1; }
}
check w1 "flight-mem Linear::local" 16
check w1 "flight-mem Linear, static" 30
check w2a "flight-mem BlockPool::local" 78
check w2a "flight-mem Pool<T>::local" 86
check w2a "flight-mem BlockPool, static" 140
# Pool churn (free + allocate of a random live block, harness 26
# included), from its own driver (see icount_w2b.rs): 187 per pair for
# BlockPool, 143 for Pool<T> at the commit BENCHMARKS.md's session 9
# (tlsf4) measures.
cargo build -q --profile bench -p flight-mem-benches --bin icount_w2b
icount_w2b="$target/release/icount_w2b"
check_w2b() {
  local name=$1 budget=$2 low high per
  low=$(callgrind_ir "$icount_w2b" "$name" 100000)
  high=$(callgrind_ir "$icount_w2b" "$name" 600000)
  per=$(awk -v lo="$low" -v hi="$high" 'BEGIN { printf "%.2f", (hi - lo) / 500000 }')
  echo "w2b | $name | $per instructions per pair (budget $budget)"
  awk -v per="$per" -v budget="$budget" 'BEGIN { exit !(per <= budget) }' \
    || { echo "over budget: $name"; exit 1; }
}
check_w2b "flight-mem BlockPool" 206
check_w2b "flight-mem Pool<T>" 158
# Tlsf general churn (free + allocate, harness 13 included): 103.98 at the
# commit BENCHMARKS.md's Tlsf section measures (session 11, tlsf6; 108.3
# in session 8, 105.04 in session 10, 104.43 before 0a071f7).
check w3 "flight-mem Tlsf" 108 20000 120000
