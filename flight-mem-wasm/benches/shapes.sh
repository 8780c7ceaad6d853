#!/usr/bin/env bash
# Other shapes of `masked`'s confinement without headroom, measured on the
# kernel of icount.sh / v8.sh: the rebased `masked` kernel (4 MiB segment,
# memory maximum 3 MiB) with its clamp of the address local $a
# (`select(a, m - 1, a < m)`, shared by the i32 load and store; m is read
# from the rebased kernel) replaced by hand, then counted
# as icount.sh and v8.sh count:
#   gt      select(m - 1, a, a > m - 1)   exact, the constant as first value
#   ge      select(m - 1, a, a >= m)      exact
#   le      select(a, m - 1, a <= m - 1)  exact, the current operand order
#   rem     a % m                         exact (the form before session 6)
#   xor     y = a & 0x3fffff; y ^ ((y + 3) >> 20 & 4)   exact, bit operations
#   and     a & 0x3fffff                  NOT exact (a 4-byte access reaches
#                                         3 bytes past the segment): the
#                                         floor of any two-confinement form
# Needs valgrind and binaryen's wasm-dis/wasm-as (Debian `binaryen`); with
# `--v8` also node (TurboFan and Liftoff, as v8.sh).
# Usage: bash flight-mem-wasm/benches/shapes.sh [--v8]   (wasmi ~5 min, V8 ~20 more)
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in valgrind wasm-dis wasm-as perl bc; do
  command -v $t >/dev/null || { echo "$t is not installed"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$(cargo bench -p flight-mem-wasm --bench rebase --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*rebase-[^"]*\)".*/\1/p' | tail -1)
FLIGHT_BENCH_EMIT="$tmp" "$bin"
wasm-dis "$tmp/masked.wasm" -o "$tmp/masked.wat" 2>/dev/null
# The clamp as wasm-dis prints it: its bound m read from it.
clamp='\(select\s*\(local\.get \$a\)\s*\(i32\.const (\d+)\)\s*\(i32\.lt_u\s*\(local\.get \$a\)\s*\(i32\.const (\d+)\)\s*\)\s*\)'
m=$(perl -0ne "print \$2 if /$clamp/" "$tmp/masked.wat")
[ -n "$m" ] || { echo "the masked kernel has no clamp of \$a: shapes.sh is out of date"; exit 1; }
m1=$((m - 1))
echo "the clamp's bound m = $m"
shape() {
  perl -0pe "s/$clamp/$2/ or die 'no clamp'" "$tmp/masked.wat" >"$tmp/$1.wat"
  wasm-as "$tmp/$1.wat" -o "$tmp/$1.wasm" 2>/dev/null
}
shape gt "(select (i32.const $m1) (local.get \\\$a) (i32.gt_u (local.get \\\$a) (i32.const $m1)))"
shape ge "(select (i32.const $m1) (local.get \\\$a) (i32.ge_u (local.get \\\$a) (i32.const $m)))"
shape le "(select (local.get \\\$a) (i32.const $m1) (i32.le_u (local.get \\\$a) (i32.const $m1)))"
shape rem "(i32.rem_u (local.get \\\$a) (i32.const $m))"
# $7 is a scratch local the rebased kernel declares and does not use here.
shape xor '(i32.xor (local.tee \$7 (i32.and (local.get \$a) (i32.const 4194303))) (i32.and (i32.shr_u (i32.add (local.get \$7) (i32.const 3)) (i32.const 20)) (i32.const 4)))'
shape and '(i32.and (local.get \$a) (i32.const 4194303))'
shapes="original masked gt ge le rem xor and masked8"
wasmi() {
  FLIGHT_BENCH_ICOUNT="$1:$2" valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$bin" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "$(lscpu | grep 'Model name' | sed 's/  */ /g')"
echo "wasmi 2.0, instructions per iteration:"
base=""
for v in $shapes; do
  f=$v
  [ -f "$tmp/$v.wat" ] && f="$tmp/$v.wat"
  lo=$(wasmi "$f" 100000)
  hi=$(wasmi "$f" 300000)
  per=$(echo "scale=2; ($hi - $lo) / 200000" | bc)
  [ -z "$base" ] && base=$per
  printf '  %-10s %8s  %s x\n' "$v" "$per" "$(echo "scale=2; $per / $base" | bc)"
done
[ "${1:-}" = "--v8" ] || exit 0
command -v node >/dev/null || { echo "node is not installed"; exit 1; }
v8() {
  # shellcheck disable=SC2086 # $flags is a list of node flags
  valgrind --tool=callgrind --smc-check=all --callgrind-out-file="$tmp/cgv.out" \
    node --predictable $flags flight-mem-wasm/benches/v8.js "$tmp" --one "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for flags in "--no-liftoff --no-wasm-tier-up" "--liftoff-only"; do
  echo "x86 instructions per iteration, node $flags:"
  base=""
  for v in $shapes; do
    lo=$(v8 "$v" 1000000)
    hi=$(v8 "$v" 3000000)
    per=$(echo "scale=2; ($hi - $lo) / 2000000" | bc)
    [ -z "$base" ] && base=$per
    printf '  %-10s %7s  %s x\n' "$v" "$per" "$(echo "scale=2; $per / $base" | bc)"
  done
done
