# Coverage-guided fuzzing (fuzz/, cargo fuzz on nightly): builds every
# target once, then runs each for a bounded time from its committed seeds.
# A crash fails the step; libFuzzer prints the input's path under
# fuzz/artifacts/<target>/ and `cargo +nightly fuzz run <target> <path>`
# reproduces it. Nothing is written to the committed corpus: each run grows
# a scratch copy.
#
# Cost on a fresh 2-core machine: installing cargo-fuzz compiles it (about
# 2 minutes, once); building the targets about 2; running them
# FUZZ_SECONDS (default 5: CI's 30 minutes are nearly used) per target, two
# at a time: under half a minute. Long runs are reported in the closing
# notes, not made in CI.

FUZZ_SECONDS="${FUZZ_SECONDS:-5}"
# The WebAssembly rebaser's targets (rebase_bytes, rebase_smith) need
# wasmparser, wasm-encoder, wasm-smith and flight-mem-wasm compiled with
# the fuzzer's instrumentation: about three CPU-minutes more than the rest
# together, past CI's margin. Off unless FUZZ_WASM=1 (the fuzz crate's
# `wasm` feature, on by default for `cargo fuzz` outside CI).
FUZZ_WASM="${FUZZ_WASM:-0}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
# libfuzzer-sys compiles libFuzzer, which is C++.
if ! command -v c++ >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq g++ >/dev/null
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi

# The fuzz crate is outside the workspace, so the workspace's fmt check
# does not see it.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

if [ "$FUZZ_WASM" = 1 ]; then
  features=()
  targets=$(cargo +nightly fuzz list)
else
  features=(--no-default-features)
  targets=$(cargo +nightly fuzz list | grep -v '^rebase_')
fi
cargo +nightly fuzz build "${features[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
run_one() {
  local target=$1
  mkdir -p "$scratch/$target"
  local seeds=()
  [ -d "fuzz/corpus/$target" ] && seeds=("fuzz/corpus/$target")
  if cargo +nightly fuzz run "${features[@]}" "$target" "$scratch/$target" "${seeds[@]}" -- \
       -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
       >"$scratch/$target.log" 2>&1; then
    echo "-- $target: $(grep -Eo 'Done [0-9]+ runs' "$scratch/$target.log" | tail -1), no finding"
  else
    echo "-- $target: FAILED"
    tail -n 60 "$scratch/$target.log"
    return 1
  fi
}

# Two at a time (two cores); every pair finishes before the next starts.
failed=0
set -- $targets
while [ $# -gt 0 ]; do
  run_one "$1" & first=$!
  second=
  if [ $# -gt 1 ]; then run_one "$2" & second=$!; fi
  wait "$first" || failed=1
  if [ -n "$second" ]; then wait "$second" || failed=1; fi
  shift; [ $# -gt 0 ] && shift
done
exit "$failed"
