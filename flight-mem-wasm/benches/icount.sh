#!/usr/bin/env bash
# Run-time cost of isolation in instructions, immune to the machine's load:
# callgrind counts the instructions wasmi executes per iteration of the
# hash-count kernel (one load + one store + one 8-byte store) for the
# original module, Binaryen's multi-memory-lowering (npm binaryen, pinned)
# and flight-rebase's modes (checkedgrow: a memory without a maximum): the difference of two runs (100k and 300k
# iterations) over 200k, so start-up and the checksum pass cancel out.
# wasmi is an interpreter: a memarg offset of 64 KiB or more takes its long
# form (trusted's 5 %), an i32.rem_u costs ~19 host instructions against an
# and's 5. benches/v8.sh runs the same bytes in V8 (TurboFan and Liftoff).
# A hand-written form of a kernel runs the same way: the bench binary takes
# FLIGHT_BENCH_ICOUNT=FILE.wat:N (or .wasm; it imports env.memory if it
# imports anything), and FLIGHT_BENCH_EMIT=DIR writes every variant's bytes.
# Usage: bash flight-mem-wasm/benches/icount.sh   (about 3 minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp/npm" binaryen@132.0.0 >/dev/null
export FLIGHT_BENCH_BINARYEN_JS="$tmp/npm/node_modules/.bin/wasm-opt"
bin=$(cargo bench -p flight-mem-wasm --bench rebase --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*rebase-[^"]*\)".*/\1/p' | tail -1)
count() {
  FLIGHT_BENCH_ICOUNT="$1:$2" valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out" "$bin" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
base=""
for v in original binaryen trusted masked masked8 checked checkedgrow; do
  lo=$(count "$v" 100000)
  hi=$(count "$v" 300000)
  # Two decimals: an integer division turned 134.999 into 134.
  per=$(echo "scale=2; ($hi - $lo) / 200000" | bc)
  [ -z "$base" ] && base=$per
  printf '  %-10s %8s instructions per iteration  %s x\n' "$v" "$per" "$(echo "scale=2; $per / $base" | bc)"
done
