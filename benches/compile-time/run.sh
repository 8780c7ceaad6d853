#!/usr/bin/env bash
# What a 64-entry `memory_layout!` adds to `cargo check` of the crate that
# declares it: the median of RUNS checks of the same program with and without
# the layout (dependencies already built, only the bench crate rechecked),
# and, because wall time on a shared VM is noisy, the instructions rustc
# executes for the same check (callgrind, exact and repeatable).
# Usage: bash benches/compile-time/run.sh [RUNS]
set -euo pipefail
shopt -s inherit_errexit
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
runs="${1:-7}"
crate="${TMPDIR:-/tmp}/flight-mem-compile-time"
mkdir -p "$crate/src"
cat >"$crate/Cargo.toml" <<TOML
[package]
name = "compile-time-bench"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
flight-mem = { path = "$root/flight-mem" }

[workspace]
TOML
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/compile-time"

median_ms() {
  python3 -c 'import sys,statistics; print(round(statistics.median(float(x) for x in sys.argv[1:])))' "$@"
}

check_ms() {
  python3 "$here/gen.py" "$1" >"$crate/src/main.rs"
  (cd "$crate" && cargo check -q)  # warm: dependencies and the first check
  local times=()
  for _ in $(seq "$runs"); do
    touch "$crate/src/main.rs"
    local start end
    start=$(date +%s%N)
    (cd "$crate" && cargo check -q)
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000 ))e-3")
  done
  median_ms "${times[@]}"
}

# Instructions of one non-incremental `rustc` check of the bench crate, in
# millions (valgrind must be installed).
check_minstr() {
  python3 "$here/gen.py" "$1" >"$crate/src/main.rs"
  local rustc deps meta
  # The flight-mem this crate was checked against, as cargo reports it: the
  # newest `libflight_mem-*.rmeta` may be another checkout's (the target
  # directory holds one per source path), which measured the wrong code.
  meta=$(cd "$crate" && cargo check -q --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "flight_mem":
        print(next(f for f in m["filenames"] if f.endswith(".rmeta")))')
  rustc="$(cd "$root" && rustc --print sysroot)/bin/rustc"
  deps="$CARGO_TARGET_DIR/debug/deps"
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$rustc" --edition=2024 \
    "$crate/src/main.rs" --crate-type bin --emit=metadata -o "$crate/check.rmeta" \
    -L "dependency=$deps" --extern "flight_mem=$meta" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | awk '{ printf "%d", $1 / 1000000 }'
}

empty=$(check_ms empty)
literal=$(check_ms literal)
typed=$(check_ms typed)
echo "cargo check, median of $runs (ms): without layout $empty, 64 literal-size entries $literal (+$((literal - empty))), 64 entries with size_of/const-expr sizes $typed (+$((typed - empty)))"
if command -v valgrind >/dev/null; then
  empty=$(check_minstr empty)
  literal=$(check_minstr literal)
  typed=$(check_minstr typed)
  echo "rustc instructions (millions): without layout $empty, 64 literal-size entries $literal (+$((literal - empty))), 64 entries with size_of/const-expr sizes $typed (+$((typed - empty)))"
fi
