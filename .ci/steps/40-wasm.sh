# flight-mem-wasm (flight-rebase): clippy, unit/CLI tests, the spec suite's
# memory scripts on rebased modules in wasmi (three isolation modes), and a
# bounded differential fuzz run (wasm-smith, 400 modules). The longer fuzz
# run (FLIGHT_FUZZ_MODULES=100000, --release) and the speed benchmark
# (flight-mem-wasm/benches/run.sh, needs npm) are run by hand.
# About 3-4 minutes on 2 cores from a cold cache (wasmi and wasm-smith).
cargo clippy -p flight-mem-wasm --all-targets -- -D warnings
FLIGHT_FUZZ_MODULES=400 cargo test -p flight-mem-wasm -- --nocapture 2>&1 |
  grep -E '^(Checked|Masked|Trusted):|^fuzz:|^test result|FAIL|panicked' || true
# The pipe above only filters the report; the exit status comes from here.
FLIGHT_FUZZ_MODULES=400 cargo test -p flight-mem-wasm -q >/dev/null
