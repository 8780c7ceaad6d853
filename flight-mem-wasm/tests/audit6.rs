//! Session-6 audit of `Rebaser` reuse: one `Rebaser` fed module after
//! module with options that change on every call (isolation, segment base
//! and size, windows, imported pages, validation, relocations, threads),
//! with failing rebases in between (a module that fails in its last
//! function leaves written chunks behind), gives exactly what a fresh
//! `rebase` of the same input gives, output and error alike. The state a
//! `Rebaser` keeps (the last call's code buffers) must never reach the next
//! module's output: a buffer left holding code of a larger module, of
//! another isolation, or of a failed call.

use flight_mem_wasm::{Access, Isolation, Options, Rebaser, Segment, SharedWindow, rebase};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// wasm-smith modules of very different sizes (1 to 60 functions, up to
/// 1,500 instructions), from fixed seeds.
fn smith_modules(rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut data = vec![0u8; 48 * 1024];
    for n in 0..count {
        let big = n % 3 == 0;
        let config = wasm_smith::Config {
            max_memories: 1,
            min_memories: 1,
            memory64_enabled: false,
            simd_enabled: true,
            bulk_memory_enabled: true,
            min_funcs: 1,
            max_funcs: if big { 60 } else { 4 },
            max_instructions: if big { 1500 } else { 60 },
            ..wasm_smith::Config::default()
        };
        for byte in data.iter_mut() {
            *byte = (rng.next() >> 56) as u8;
        }
        let mut u = arbitrary::Unstructured::new(&data);
        if let Ok(m) = wasm_smith::Module::new(config, &mut u) {
            out.push(m.to_bytes());
        }
    }
    out
}

/// A module with many valid functions and an invalid last one: with
/// validation on, the rewrite fails after earlier chunks were written.
fn failing_late(functions: usize) -> Vec<u8> {
    let mut wat = String::from("(module (memory 1 4)\n");
    for i in 0..functions {
        wat.push_str(&format!(
            "(func (param i32) (result i32) local.get 0 i32.load offset={} local.get 0 i32.const {i} i32.add i32.store8 offset=3 local.get 0 i32.load16_u)\n",
            i * 4
        ));
    }
    wat.push_str("(func (result i32) i32.const 0 i64.load))\n");
    // `wat` checks the text only: the last body (an i64 where the result
    // is an i32) is refused by the rebaser's validation.
    wat::parse_str(&wat).expect("wat")
}

/// A module that imports a window memory `env.frame` and reads and writes
/// it, so the window's base lands in its code.
fn windowed() -> Vec<u8> {
    wat::parse_str(
        r#"(module
            (import "env" "frame" (memory $f 1 1))
            (memory $own 1 2)
            (func (export "copy") (param i32) (result i32)
                local.get 0
                local.get 0
                i32.load $f offset=8
                i32.store $own offset=4
                local.get 0
                i32.load $own offset=4))"#,
    )
    .expect("wat")
}

fn options(rng: &mut Rng) -> Options {
    let isolation =
        [Isolation::Trusted, Isolation::Masked, Isolation::Checked][rng.below(3) as usize];
    // Most wasm-smith memories fit 512 MiB; smaller segments refuse some.
    let size_log2 = 20 + rng.below(12).min(9);
    let base = (rng.below(64) << 16) + if rng.below(2) == 0 { 0 } else { 0x30 };
    let mut o = Options::new(Segment {
        base,
        size: 1 << size_log2,
    });
    o.isolation = isolation;
    o.validate = rng.below(3) != 0;
    o.relocations = rng.below(2) == 0;
    o.threads = 1 + rng.below(4) as usize;
    o.imported_pages = if rng.below(4) == 0 {
        Some(1 + rng.below(2))
    } else {
        None
    };
    if rng.below(2) == 0 {
        o.shared.push(SharedWindow {
            module: "env".into(),
            field: "frame".into(),
            segment: Segment {
                base: base + (1 << size_log2) + (rng.below(4) << 16),
                size: 1 << 16,
            },
            access: if rng.below(2) == 0 {
                Access::Read
            } else {
                Access::Write
            },
        });
        o.allow_unused_windows = true;
    }
    o
}

fn same(
    n: usize,
    fresh: Result<flight_mem_wasm::Rebased, flight_mem_wasm::Error>,
    reused: Result<flight_mem_wasm::Rebased, flight_mem_wasm::Error>,
) -> bool {
    match (fresh, reused) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.wasm, b.wasm, "call {n}: outputs differ");
            assert_eq!(a.stats, b.stats, "call {n}");
            assert_eq!(a.relocations, b.relocations, "call {n}");
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string(), "call {n}");
            false
        }
        (a, b) => panic!("call {n}: {:?} against {:?}", a.err(), b.err()),
    }
}

#[test]
fn a_reused_rebaser_with_changing_options_and_failures_matches_rebase() {
    let mut rng = Rng(0x6A09_E667_F3BC_C908);
    let mut inputs = smith_modules(&mut rng, 36);
    let smith = inputs.len();
    inputs.push(failing_late(400));
    inputs.push(failing_late(3));
    inputs.push(windowed());
    let mut rebaser = Rebaser::new();
    let (mut ok, mut failed) = (0, 0);
    for n in 0..160 {
        // Every few calls a failing or windowed module, else a random one.
        let input = match n % 7 {
            2 => &inputs[smith],
            4 => &inputs[smith + 2],
            5 => &inputs[smith + 1],
            _ => &inputs[rng.below(smith as u64) as usize],
        };
        let mut o = options(&mut rng);
        if n % 7 == 2 || n % 7 == 5 {
            o.validate = true;
        }
        let reused = rebaser.rebase(input, &o);
        let fresh = rebase(input, &o);
        if same(n, fresh, reused) {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    assert!(ok > 60, "only {ok} rebased");
    assert!(failed > 20, "only {failed} refused");
}

/// The same input rebased twice in a row through one `Rebaser` after a
/// much larger module, with the options of the larger one and then its
/// own: the second output equals the first (nothing of the larger module's
/// buffers shows through).
#[test]
fn a_small_module_after_a_large_one_is_unchanged() {
    let mut rng = Rng(42);
    let modules = smith_modules(&mut rng, 12);
    let (large, small) = {
        let mut sorted = modules.clone();
        sorted.sort_by_key(Vec::len);
        (sorted.last().unwrap().clone(), sorted[0].clone())
    };
    for isolation in [Isolation::Trusted, Isolation::Masked, Isolation::Checked] {
        let mut o = Options::new(Segment {
            base: 0x20_0000,
            size: 1 << 30,
        });
        o.isolation = isolation;
        o.threads = 3;
        let mut rebaser = Rebaser::new();
        let alone = rebase(&small, &o)
            .map(|r| r.wasm)
            .map_err(|e| e.to_string());
        let _ = rebaser.rebase(&large, &o);
        let after = rebaser
            .rebase(&small, &o)
            .map(|r| r.wasm)
            .map_err(|e| e.to_string());
        assert_eq!(alone, after, "{isolation:?}");
        let again = rebaser
            .rebase(&small, &o)
            .map(|r| r.wasm)
            .map_err(|e| e.to_string());
        assert_eq!(alone, again, "{isolation:?}");
    }
}
