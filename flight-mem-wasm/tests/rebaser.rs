//! A `Rebaser` used for module after module, in every mode, gives exactly
//! what a fresh `rebase` gives (its buffers from one call serve the next:
//! nothing of a call may leak into another's output).

use flight_mem_wasm::{Isolation, Options, Rebaser, Segment, rebase};

/// wasm-smith modules with memory instructions, from fixed seeds.
fn modules() -> Vec<Vec<u8>> {
    let config = wasm_smith::Config {
        max_memories: 2,
        min_memories: 1,
        memory64_enabled: false,
        simd_enabled: true,
        bulk_memory_enabled: true,
        min_funcs: 1,
        max_funcs: 40,
        max_instructions: 400,
        ..wasm_smith::Config::default()
    };
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut data = vec![0u8; 32 * 1024];
    let mut out = Vec::new();
    for _ in 0..60 {
        for byte in data.iter_mut() {
            // xorshift64*: the same modules on every run.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            *byte = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
        }
        let mut u = arbitrary::Unstructured::new(&data);
        if let Ok(m) = wasm_smith::Module::new(config.clone(), &mut u) {
            out.push(m.to_bytes());
        }
    }
    out
}

#[test]
fn a_reused_rebaser_gives_what_rebase_gives() {
    let modules = modules();
    assert!(modules.len() > 30, "{} modules", modules.len());
    let mut rebaser = Rebaser::new();
    let mut compared = 0;
    for (n, wasm) in modules.iter().enumerate() {
        for isolation in [Isolation::Trusted, Isolation::Masked, Isolation::Checked] {
            for validate in [false, true] {
                let mut o = Options::new(Segment {
                    base: 0x10_0000,
                    size: 1 << 30,
                });
                o.isolation = isolation;
                o.validate = validate;
                o.relocations = n % 2 == 0;
                // Small chunks, several threads: many buffers to hand on.
                o.threads = 1 + n % 3;
                let fresh = rebase(wasm, &o);
                let reused = rebaser.rebase(wasm, &o);
                match (fresh, reused) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.wasm, b.wasm, "module {n}, {isolation:?}");
                        assert_eq!(format!("{:?}", a.stats), format!("{:?}", b.stats));
                        assert_eq!(a.relocations.len(), b.relocations.len());
                        compared += 1;
                    }
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("module {n}: {:?} against {:?}", a.err(), b.err()),
                }
            }
        }
        if n == modules.len() / 2 {
            rebaser.release();
        }
    }
    assert!(compared > 100, "only {compared} rebased");
}
