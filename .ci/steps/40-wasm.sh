# flight-mem-wasm (flight-rebase). Its clippy, unit/CLI tests (with the
# body scanner against wasmparser on the spec suite and wasm-smith
# modules), the spec suite's memory scripts on rebased modules in wasmi
# (three isolation modes, fast and validating paths compared byte for
# byte), the bounded differential fuzz run (wasm-smith, 400 modules by
# default) and the wasm_components example's test already ran in the
# workspace steps of .ci/run; this step runs the example itself (three
# modules rebased into a layout's segments, run in wasmi on the bank, an
# overrun trapped with its neighbours intact). The long fuzz run
# (FLIGHT_FUZZ_MODULES=100000 cargo test -p flight-mem-wasm --release --test
# fuzz) and the speed benchmarks (flight-mem-wasm/benches/run.sh, needs npm
# and binaryen; icount.sh) are run by hand.
cargo run -q -p flight-mem-examples --example wasm_components | tail -3
