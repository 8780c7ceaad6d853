#!/usr/bin/env bash
# Instructions per operation of workload 3 (general churn, 16..4096 B) for the
# small-object front end beside the TLSF it is built on, rlsf and mimalloc,
# under callgrind: (Ir(n=400k) - Ir(n=100k)) / 300k, so start-up, the fill and
# the drain cancel out. The harness row is the loop alone.
# Usage: bash benches/small-icount.sh        (about 3 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
source benches/callgrind.sh
cargo build -q --profile bench -p flight-mem-benches --bin icount
icount="$target/release/icount"
instructions() { callgrind_ir "$icount" "$@"; }
echo "| contender | instructions/op |"
echo "|---|---:|"
for name in "harness only (no allocator)" mimalloc rlsf "flight-mem Tlsf" \
            "flight-mem SmallFront<Tlsf>" "flight-mem SmallFront<Tlsf>::local"; do
  low=$(instructions w3 "$name" 100000)
  high=$(instructions w3 "$name" 400000)
  echo "| $name | $(awk -v lo="$low" -v hi="$high" 'BEGIN { printf "%.1f", (hi - lo) / 300000 }') |"
done
