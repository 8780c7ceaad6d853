#!/usr/bin/env bash
# Instructions per operation of workload 3 (general churn, 16..4096 B) for the
# small-object front end beside the TLSF it is built on, rlsf and mimalloc,
# under callgrind: (Ir(n=400k) - Ir(n=100k)) / 300k, so start-up, the fill and
# the drain cancel out. The harness row is the loop alone.
# Usage: bash benches/small-icount.sh        (about 3 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind"; exit 1; }
cargo build -q --profile bench -p flight-mem-benches --bin icount
icount="$target/release/icount"
norandom=()
if setarch "$(uname -m)" -R true 2>/dev/null; then norandom=(setarch "$(uname -m)" -R); fi
instructions() {
  "${norandom[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$icount" "$@" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "| contender | instructions/op |"
echo "|---|---:|"
for name in "harness only (no allocator)" mimalloc rlsf "flight-mem Tlsf" \
            "flight-mem SmallFront<Tlsf>" "flight-mem SmallFront<Tlsf>::local"; do
  low=$(instructions w3 "$name" 100000)
  high=$(instructions w3 "$name" 400000)
  echo "| $name | $(awk -v lo="$low" -v hi="$high" 'BEGIN { printf "%.1f", (hi - lo) / 300000 }') |"
done
