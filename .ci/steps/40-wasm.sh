# flight-mem-wasm (flight-rebase): clippy, unit/CLI tests, the spec suite's
# memory scripts on rebased modules in wasmi (three isolation modes), and a
# bounded differential fuzz run (wasm-smith, 400 modules); the
# wasm_components example and its test (three modules rebased into a
# layout's segments, run in wasmi on the bank). The long fuzz run
# (FLIGHT_FUZZ_MODULES=100000) and the speed benchmark
# (flight-mem-wasm/benches/run.sh, needs npm and binaryen) are run by hand.
# About 5 minutes on 2 cores from a cold cache (wasmi and wasm-smith build).
cargo clippy -p flight-mem-wasm --all-targets -- -D warnings
log=$(mktemp)
# pipefail (set by .ci/run) makes a failing test fail the step; the full
# output is printed then, the per-mode and fuzz summaries always.
if ! FLIGHT_FUZZ_MODULES=400 cargo test -p flight-mem-wasm -- --nocapture >"$log" 2>&1; then
  cat "$log"
  exit 1
fi
grep -E '^(Checked|Masked|Trusted):|^fuzz:|^test result' "$log"
rm -f "$log"
cargo test -p flight-mem-examples --test wasm_components
cargo run -q -p flight-mem-examples --example wasm_components | tail -3
