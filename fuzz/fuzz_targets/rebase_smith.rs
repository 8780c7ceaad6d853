//! wasm-smith modules, generated as `flight-mem-wasm/tests/fuzz.rs`
//! generates them (`tests/common/smith.rs`), rebased in every mode at a
//! base drawn from the input: every one is taken (unless a data segment
//! lies outside the initial memory, when the original cannot be
//! instantiated either), its output validates and imports the unified
//! memory, the relocation table names exactly the input's memory
//! instructions with the right counts, and the fast path and a rebase
//! without the table write the same bytes. The execution differential
//! (wasmi) stays in `cargo test`.
#![no_main]

use arbitrary::Unstructured;
use flight_mem_fuzz::wasm::{
    PAGE, check_output, check_same_other_ways, segment, smith, smith_refusal_expected,
};
use flight_mem_wasm::{Isolation, Options, rebase};
use libfuzzer_sys::fuzz_target;
use wasmparser::{Parser, Payload};

/// The own memory's minimum and maximum pages.
fn own_memory(wasm: &[u8]) -> (u64, u64) {
    for payload in Parser::new(0).parse_all(wasm) {
        if let Ok(Payload::MemorySection(r)) = payload
            && let Some(Ok(m)) = r.into_iter().next()
        {
            return (
                m.initial,
                m.maximum.expect("smith::config requires a maximum"),
            );
        }
    }
    // wasm-smith always makes the one memory `smith::config` asks for.
    panic!("a module without a memory");
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(base_pages) = u.int_in_range(0u64..=64) else {
        return;
    };
    let Ok(base_lines) = u.int_in_range(0u64..=0xfff) else {
        return;
    };
    // Not page-aligned, but 16-aligned as atomics need.
    let base = base_pages * PAGE + base_lines * 16;
    let terminate = u.arbitrary::<bool>().unwrap_or(false);
    let Ok(mut module) = wasm_smith::Module::new(smith::config(), &mut u) else {
        return;
    };
    if terminate && module.ensure_termination(2_000).is_err() {
        return;
    }
    let wasm = module.to_bytes();
    let (_, max) = own_memory(&wasm);
    let tight = max.max(1);
    let modes = [
        (Isolation::Checked, tight),
        (Isolation::Masked, tight.next_power_of_two()),
        (Isolation::Masked, 2 * tight.next_power_of_two()),
        (Isolation::Trusted, tight),
    ];
    for (isolation, pages) in modes {
        let mut opts = Options::new(segment(base, pages));
        opts.isolation = isolation;
        opts.relocations = true;
        opts.threads = 1;
        match rebase(&wasm, &opts) {
            Ok(out) => {
                check_output(&wasm, &opts, &out);
                check_same_other_ways(&wasm, &opts, &out);
            }
            Err(e) if smith_refusal_expected(&wasm, &e) => {}
            Err(e) => panic!("{isolation:?} in {pages} pages at {base:#x} refused: {e}"),
        }
    }
});
