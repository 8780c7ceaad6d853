#!/usr/bin/env bash
# Run-time cost of isolation in V8 (node's WebAssembly), an optimizing
# engine, next to wasmi's figures from icount.sh: the same kernel bytes
# (original, Binaryen's multi-memory-lowering, flight-rebase's trusted,
# masked 4 MiB, masked 8 MiB, checked, checkedgrow), written by the rebase
# bench (FLIGHT_BENCH_EMIT) and run by benches/v8.js with the unified
# memory imported (256 MiB, as in wasmi).
# 1. Exact: callgrind counts the x86 instructions node executes per kernel
#    iteration, the difference of two runs (1M and 3M iterations) over 2M,
#    so start-up and compilation cancel out. `--predictable` makes node
#    deterministic (run-to-run spread ~1e4 instructions, 0.005 per
#    iteration); `--smc-check=all` lets valgrind follow JIT code. Tiers:
#    TurboFan alone (`--no-liftoff --no-wasm-tier-up`: what a hot loop runs
#    by default) and Liftoff alone (`--liftoff-only`, the baseline compiler).
# 2. Wall clock: V8's default tiering, all variants interleaved in one
#    process (ROUNDS rounds of one call each), medians; ratios only, the
#    load is printed.
# Usage: bash flight-mem-wasm/benches/v8.sh [ROUNDS]   (about 10 minutes)
# Needs node (>= 18) and valgrind; fetches only binaryen@132.0.0 from npm.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v node >/dev/null || { echo "node is not installed"; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind"; exit 1; }
here=flight-mem-wasm/benches
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp/npm" binaryen@132.0.0 >/dev/null
export FLIGHT_BENCH_BINARYEN_JS="$tmp/npm/node_modules/.bin/wasm-opt"
bin=$(cargo bench -p flight-mem-wasm --bench rebase --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*rebase-[^"]*\)".*/\1/p' | tail -1)
mkdir "$tmp/kernels"
FLIGHT_BENCH_EMIT="$tmp/kernels" "$bin"
echo "node $(node --version), V8 $(node -p process.versions.v8); $(lscpu | grep 'Model name' | sed 's/  */ /g')"
count() {
  # shellcheck disable=SC2086 # $flags is a list of node flags
  valgrind --tool=callgrind --smc-check=all --callgrind-out-file="$tmp/callgrind.out" \
    node --predictable $flags "$here/v8.js" "$tmp/kernels" --one "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for flags in "--no-liftoff --no-wasm-tier-up" "--liftoff-only"; do
  echo "x86 instructions per iteration, node $flags:"
  base=""
  for v in original binaryen trusted masked masked8 checked checkedgrow; do
    [ -f "$tmp/kernels/$v.wasm" ] || continue
    lo=$(count "$v" 1000000)
    hi=$(count "$v" 3000000)
    per=$(echo "scale=2; ($hi - $lo) / 2000000" | bc)
    [ -z "$base" ] && base=$per
    printf '  %-12s %7s  %s x\n' "$v" "$per" "$(echo "scale=2; $per / $base" | bc)"
  done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n 10 node "$here/v8.js" "$tmp/kernels" "${1:-21}"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
