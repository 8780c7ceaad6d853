//! The short path of `trusted` rebases (recorded plain loads and stores
//! relocated straight from their bytes, `rewrite/relocate.rs`) writes
//! exactly what the general paths write: the replay through `access` (taken
//! when a relocation table is asked for) and wasmparser's decode (taken when
//! validating). On wasm-smith modules and the spec suite's modules, at a low
//! base and at the top of the 4 GiB space (where large offsets move past it
//! and become traps, which the short path leaves to `access`).

mod common;
use common::{PAGE, own_memory};
use flight_mem_wasm::{Isolation, Options, Segment, rebase};

/// The three paths' outputs and statistics agree; `Ok(n)`: `n` memory
/// instructions rewritten (0 if the module is refused by all three).
fn agree(wasm: &[u8], base_at_top: bool) -> Result<u64, String> {
    let (min, _) = own_memory(wasm).unwrap_or((0, Some(0)));
    let pages = min.max(1);
    let base = if base_at_top {
        (1u64 << 32) - pages * PAGE
    } else {
        0x10_0030
    };
    let mut o = Options::new(Segment {
        base,
        size: pages * PAGE,
    });
    o.isolation = Isolation::Trusted;
    let mut outs = Vec::new();
    for (validate, relocations) in [(false, false), (false, true), (true, false)] {
        o.validate = validate;
        o.relocations = relocations;
        outs.push(rebase(wasm, &o).map(|r| (r.wasm, format!("{:?}", r.stats), r.stats)));
    }
    match (&outs[0], &outs[1], &outs[2]) {
        (Ok(short), Ok(replayed), Ok(decoded)) => {
            if short.0 != replayed.0 || short.1 != replayed.1 {
                return Err("the short path and the replay through `access` differ".into());
            }
            if short.0 != decoded.0 || short.1 != decoded.1 {
                return Err("the short path and the validating decode differ".into());
            }
            Ok(short.2.instructions)
        }
        // A module the decode refuses (one the validator rejects) may pass
        // unvalidated; between the two unvalidated paths, refusals agree.
        (Err(a), Err(b), _) if a.to_string() == b.to_string() => Ok(0),
        (Ok(a), Ok(b), Err(_)) if a.0 == b.0 => Ok(0),
        (a, b, c) => Err(format!(
            "outcomes differ: {:?} / {:?} / {:?}",
            a.as_ref().err(),
            b.as_ref().err(),
            c.as_ref().err()
        )),
    }
}

#[test]
fn the_short_path_agrees_on_wasm_smith_modules() {
    let config = wasm_smith::Config {
        max_memories: 2,
        min_memories: 1,
        memory64_enabled: false,
        simd_enabled: true,
        threads_enabled: true,
        bulk_memory_enabled: true,
        min_funcs: 1,
        max_funcs: 30,
        max_instructions: 600,
        ..wasm_smith::Config::default()
    };
    let mut rewritten = 0;
    for (n, wasm) in common::modules::smith_modules(config, 0x5DEE_CE66_D1CE_4E5B, 32 * 1024, 200) {
        for top in [false, true] {
            rewritten += agree(&wasm, top)
                .map_err(|e| format!("module {n}: {e}"))
                .unwrap();
        }
    }
    assert!(rewritten > 2_000, "only {rewritten} memory instructions");
}

#[test]
fn the_short_path_agrees_on_the_spec_suite() {
    common::big_stack(|| {
        let mut rewritten = 0;
        let mut failures = Vec::new();
        for (script, wasm) in common::modules::spec_suite_modules(false) {
            for top in [false, true] {
                match agree(&wasm, top) {
                    Ok(n) => rewritten += n,
                    Err(e) => failures.push(format!("{script}: {e}")),
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(rewritten > 5_000, "only {rewritten} memory instructions");
    });
}
