//! audit9: isolation of rebased modules built from raw bytes.
//!
//! - Without validation, wasmparser reads a memarg offset as a u64 (the
//!   memory64 feature is on by default) even for a 32-bit memory: an
//!   offset near 2^64 made `offset + base` overflow (a panic in a debug
//!   build; in release it wrapped, passed the `< 4 GiB` test, and the
//!   access was relocated to `offset + base mod 2^64`, below the segment).
//! - `flight-rebase -o X --relocations X` (or a link to X) staged both
//!   outputs in one temporary file and replaced X with the table before
//!   failing; now refused, X untouched.
//! - Without validation, a data offset that is not one `i32.const` is
//!   copied into the appended start function of `checked` and `masked`,
//!   where any instruction runs: a store in it wrote at its absolute
//!   address outside the segment at instantiation, and the output
//!   validated (README said constant expressions cannot touch memory).
//!   Now such an offset holding anything but constant-expression
//!   instructions is refused.
//! - Seeds of special shapes with one to three bytes mutated, rebased
//!   without validation in `checked` and `masked`, valid outputs run with
//!   fuel, one seed with a `read` window whose bytes must not change
//!   (held: `AUDIT9_ROUNDS=20000` and `30000 AUDIT9_SEED=77` over the
//!   first three seeds, 150,000 modules, 231,000 calls; `15000
//!   AUDIT9_SEED=4242` over all four, 60,000 modules, 83,000 calls).
//! - `trusted`'s short path (the base's digits added to the offset's LEB
//!   bytes) at bases and offsets on LEB length boundaries and near 2^32,
//!   minimal and padded: the same bytes as the validated path, every
//!   offset moved by the base (held; a loosened 4 GiB guard fails it).

mod common;

use common::{BASE, PAGE, Unified, cli, engine, opts};
use flight_mem_wasm::{Isolation, rebase};
use wasmi::{Linker, Store, Val};

/// A u64 LEB of `v` in exactly `len` bytes (padded).
fn uleb(out: &mut Vec<u8>, mut v: u64, len: usize) {
    for k in 0..len {
        let more = k + 1 < len;
        out.push((v & 0x7F) as u8 | if more { 0x80 } else { 0 });
        v >>= 7;
    }
}

/// A module with `(memory 1 2)` and one function `f: [i32] -> []`
/// (exported) whose body is `body` (without locals or `end`).
fn module(body: &[u8]) -> Vec<u8> {
    common::with_body(body, false)
}

/// Rebases `wasm` without validation in a 2-page segment at [`BASE`] and
/// calls `f(a)`: `Err` for a refusal, a panic of the rebaser, or an output
/// the engine rejects; else whether the call trapped and the first canary
/// byte outside the segment it changed.
fn run(wasm: &[u8], iso: Isolation, a: i32) -> Result<(bool, Option<u64>), String> {
    run_with(wasm, iso, a, None, None)
}

/// [`run`], with the output validated by wasmparser first (wasmi 2.0 can
/// overflow the stack on some invalid modules) and the call limited to
/// `fuel` when given (a mutated body may loop forever); `window`: a
/// `read` window for the import `env.win`, whose bytes must stay as they
/// are (canaries, as everywhere outside the segment).
fn run_with(
    wasm: &[u8],
    iso: Isolation,
    a: i32,
    fuel: Option<u64>,
    window: Option<flight_mem_wasm::Segment>,
) -> Result<(bool, Option<u64>), String> {
    let mut o = opts(iso, 2, false);
    if let Some(segment) = window {
        o.shared.push(flight_mem_wasm::SharedWindow {
            module: "env".into(),
            field: "win".into(),
            segment,
            access: flight_mem_wasm::Access::Read,
        });
    }
    let out = std::panic::catch_unwind(|| rebase(wasm, &o))
        .map_err(|_| "the rebaser panicked".to_string())?
        .map_err(|e| format!("rebase: {e}"))?;
    let engine = match fuel {
        None => engine(),
        Some(_) => {
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&out.wasm)
                .map_err(|e| format!("invalid output: {e}"))?;
            let mut config = common::config();
            config.consume_fuel(true);
            wasmi::Engine::new(&config)
        }
    };
    let mut store = Store::new(&engine, ());
    if let Some(fuel) = fuel {
        store.set_fuel(fuel).map_err(|e| e.to_string())?;
    }
    let end = window.map_or(0, |w| w.base + w.size);
    let unified = Unified::covering(&mut store, o.segment, end);
    let module = wasmi::Module::new(&engine, &out.wasm[..]).map_err(|e| format!("wasmi: {e}"))?;
    let mut linker = Linker::<()>::new(&engine);
    linker
        .define("env", "memory", unified.memory)
        .map_err(|e| e.to_string())?;
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| format!("instantiate: {e}"))?;
    let broken = unified.broken_canary(&store, 0);
    let Some(f) = instance.get_func(&store, "f") else {
        // A mutated export: what instantiation did is all there is.
        return Ok((false, broken));
    };
    let trapped = f.call(&mut store, &[Val::I32(a)], &mut []).is_err();
    Ok((trapped, broken.or(unified.broken_canary(&store, 0))))
}

#[test]
fn unvalidated_offsets_past_u32_never_wrap_into_another_address() {
    // Offsets a 32-bit memory cannot have, near 2^64 (where adding the
    // base wraps) and just past 2^32, in minimal and padded 10-byte LEBs;
    // addresses 0 and a few bytes in.
    let offsets = [
        u64::MAX,
        u64::MAX - 3,
        0u64.wrapping_sub(BASE),
        0u64.wrapping_sub(BASE) + 0x10,
        0u64.wrapping_sub(PAGE),
        1 << 32,
        (1 << 32) + 0x10,
        1 << 63,
    ];
    let mut panics = Vec::new();
    for offset in offsets {
        for len in [0, 10] {
            let len = if len == 0 {
                (64 - (offset | 1).leading_zeros()).div_ceil(7) as usize
            } else {
                len
            };
            // local.get 0; i32.const 0x5a5a5a5a; i32.store offset
            let mut store = vec![0x20, 0x00, 0x41];
            store.extend_from_slice(&[0xDA, 0xB4, 0xE9, 0xD2, 0x05]);
            store.extend_from_slice(&[0x36, 0x02]);
            uleb(&mut store, offset, len);
            // local.get 0; i64.load offset; drop
            let mut load = vec![0x20, 0x00, 0x29, 0x03];
            uleb(&mut load, offset, len);
            load.push(0x1A);
            for body in [&store, &load] {
                let wasm = module(body);
                for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
                    for a in [0, 1, 0x10, 0x30] {
                        match run(&wasm, iso, a) {
                            Err(e) if e.contains("panicked") => {
                                panics.push(format!("{iso:?} offset {offset:#x} ({len} bytes)"));
                                break;
                            }
                            Err(_) | Ok((_, None)) => {}
                            Ok((trapped, Some(at))) => panic!(
                                "{iso:?}: offset {offset:#x} ({len} bytes), address {a}: \
                                 an invalid input's output validated and changed {at:#x} \
                                 outside its segment (trapped: {trapped})"
                            ),
                        }
                    }
                }
            }
        }
    }
    assert!(panics.is_empty(), "the rebaser panicked: {panics:#?}");
}

#[test]
fn one_path_for_the_module_and_the_relocation_table_is_refused() {
    // Both outputs were staged in the same temporary file (named after the
    // destination): the table overwrote the module there, the rename put
    // the table at the module's path, and the second rename failed — an
    // error, with the module's old file replaced by JSON. Also through a
    // symbolic link and a path spelled differently.
    let d = common::fresh_dir("audit9");
    let input = d.join("in.wasm");
    std::fs::write(&input, module(&[])).unwrap();
    let out = d.join("out.wasm");
    let link = d.join("link.wasm");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let dotted = d.join(".").join("out.wasm");
    for other in [&out, &link, &dotted] {
        std::fs::write(&out, b"old").unwrap();
        let (code, text) = cli(&[
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--relocations",
            other.to_str().unwrap(),
            "--segment",
            "0x100000:64KiB",
        ]);
        assert_ne!(code, 0, "{}: accepted: {text}", other.display());
        assert!(text.contains("same file"), "{text}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"old",
            "{}: the module's path was overwritten",
            other.display()
        );
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "files left behind: {names:?}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A module with `(memory 1 2)`, an empty exported `f: [i32] -> []` and
/// one active data segment of one byte whose offset expression is the raw
/// `expr` (its `end` included).
fn with_data_offset(expr: &[u8]) -> Vec<u8> {
    let mut wasm = module(&[]);
    // Section 11: one segment, flags 0 (memory 0), the expression, 1 byte.
    let mut data = vec![1, 0];
    data.extend_from_slice(expr);
    data.extend_from_slice(&[1, 0x77]);
    wasm.push(11);
    uleb(&mut wasm, data.len() as u64, 1);
    wasm.extend_from_slice(&data);
    wasm
}

#[test]
fn unvalidated_data_offsets_run_no_store_outside_the_segment() {
    // `checked` and `masked` apply a segment whose offset is no single
    // `i32.const` from an appended start function, with the offset
    // expression copied into it twice. A constant expression holds no
    // memory instruction (README), but without validation nothing made it
    // one: a store, a fill or a write of an appended global in it ran
    // unrewritten at instantiation (the store at its absolute address).
    let far = [0xC0, 0x80, 0x04]; // i32.const 0x10040 (below BASE)
    let mut store = vec![0x41];
    store.extend_from_slice(&far);
    store.extend_from_slice(&[0x41, 0xDA, 0xB4, 0xE9, 0xD2, 0x05, 0x36, 0x02, 0x00]);
    store.extend_from_slice(&[0x41, 0x00, 0x0B]);
    let mut fill = vec![0x41];
    fill.extend_from_slice(&far);
    // i32.const 0x5a; i32.const 16; memory.fill 0; i32.const 0; end
    fill.extend_from_slice(&[
        0x41, 0xDA, 0x00, 0x41, 0x10, 0xFC, 0x0B, 0x00, 0x41, 0x00, 0x0B,
    ]);
    // i32.const -1; global.set 4 (a limit global); i32.const 0; end
    let limit = [0x41, 0x7F, 0x24, 0x04, 0x41, 0x00, 0x0B];
    // i32.const 0; global.get 0 (the pages global); i32.add; end
    let pages = [0x41, 0x00, 0x23, 0x00, 0x6A, 0x0B];
    for (what, expr) in [
        ("store", &store[..]),
        ("fill", &fill[..]),
        ("global.set", &limit[..]),
        ("global.get", &pages[..]),
    ] {
        let wasm = with_data_offset(expr);
        for iso in [Isolation::Checked, Isolation::Masked] {
            match run(&wasm, iso, 0) {
                Err(e) if e.contains("panicked") => panic!("{iso:?} {what}: {e}"),
                Err(_) | Ok((_, None)) => {}
                Ok((_, Some(at))) => panic!(
                    "{iso:?}: a data offset with a {what} rebased into a valid output that \
                     changed {at:#x} outside its segment"
                ),
            }
            // Nothing an engine would run: refused at rebase time.
            assert!(
                rebase(&wasm, &opts(iso, 2, false)).is_err(),
                "{iso:?}: a data offset with a {what} was accepted"
            );
        }
    }
    // The extended-constant forms stay accepted (and land as validated).
    // i32.const 16; i32.const 8; i32.add; i32.const 2; i32.mul; end
    let extended = [0x41, 0x10, 0x41, 0x08, 0x6A, 0x41, 0x02, 0x6C, 0x0B];
    let wasm = with_data_offset(&extended);
    for iso in [Isolation::Checked, Isolation::Masked] {
        let validated = rebase(&wasm, &opts(iso, 2, true)).expect("valid extended constant");
        let fast = rebase(&wasm, &opts(iso, 2, false)).expect("unvalidated extended constant");
        assert_eq!(validated.wasm, fast.wasm, "{iso:?}");
    }
}

/// Modules whose every function takes one i32 and touches memory in the
/// shapes the rewriter treats specially (constants, locals kept in copies,
/// read-modify-writes, bulk instructions, grow, data segments).
const SEEDS: [&str; 4] = [
    r#"(module (memory 1 2) (global $g (mut i32) (i32.const 0))
      (func (export "f") (param $a i32) (local $b i32)
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
        (local.set $b (i32.add (local.get $a) (i32.const 8)))
        (i64.store offset=16 (local.get $b) (i64.load8_u (local.get $a)))
        (i32.store8 (i32.const 100) (local.get $a))
        (global.set $g (local.get $a))
        (i32.store16 offset=4 (global.get $g) (i32.const 7)))
      (data (i32.const 64) "abcdefgh"))"#,
    r#"(module (memory 1 2)
      (func (export "f") (param $a i32)
        (memory.fill (local.get $a) (i32.const 0x5a) (i32.const 16))
        (memory.copy (i32.const 32) (local.get $a) (i32.const 8))
        (drop (memory.grow (i32.const 1)))
        (i32.store offset=65536 (local.get $a) (memory.size))
        (v128.store offset=3 (local.get $a) (v128.load (i32.const 0)))))"#,
    r#"(module (memory 1 2) (data $d "xyz")
      (func (export "f") (param $a i32)
        (memory.init $d (local.get $a) (i32.const 0) (i32.const 3))
        (i32.store (local.get $a) (i32.load offset=1 (local.get $a)))
        (i64.store32 offset=2 (local.get $a) (i64.const -1))
        (f64.store (i32.and (local.get $a) (i32.const 0xff)) (f64.const 1))))"#,
    // A `read` window (memory 0) beside the own memory (memory 1): every
    // write into it must be refused, whatever the mutation makes of the
    // loads from it.
    r#"(module (import "env" "win" (memory 1 1)) (memory 1 2)
      (func (export "f") (param $a i32)
        (i32.store 1 (local.get $a) (i32.load 0 (local.get $a)))
        (i64.store 1 offset=8 (local.get $a) (i64.load 0 offset=8 (i32.const 16)))
        (memory.copy 1 0 (local.get $a) (i32.const 0) (i32.const 8))
        (i32.store8 1 (i32.const 3) (i32.load8_u 0 offset=4 (local.get $a)))))"#,
];

#[test]
fn mutated_bodies_without_validation_stay_isolated() {
    common::big_stack(mutated_bodies);
}

fn mutated_bodies() {
    // One to three bytes of each seed changed (at random, or to an
    // opcode or LEB byte the rewriter reads): the rebase may refuse and an
    // engine may reject the output, but an output that runs must leave
    // every byte outside its segment alone.
    let interesting = [
        0x36, 0x37, 0x28, 0x29, 0x20, 0x21, 0x22, 0x23, 0x24, 0x41, 0x40, 0x80, 0xFF, 0x00, 0x0B,
        0xFC, 0xFD, 0x7F,
    ];
    // `AUDIT9_ROUNDS` and `AUDIT9_SEED` for a longer run.
    let rounds = std::env::var("AUDIT9_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 150 } else { 600 });
    let seed = std::env::var("AUDIT9_SEED")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0xA0D1_7000_0009);
    let mut rng = common::Rng(seed);
    let mut ran = 0;
    for seed in SEEDS {
        let original = wat::parse_str(seed).expect("wat");
        let window = seed
            .contains("\"win\"")
            .then_some(flight_mem_wasm::Segment {
                base: 0,
                size: PAGE,
            });
        // The seed itself rebases and runs, isolated.
        for iso in [Isolation::Checked, Isolation::Masked] {
            let outcome = run_with(&original, iso, 8, Some(100_000), window);
            assert!(
                matches!(outcome, Ok((false, None))),
                "{iso:?}: seed {seed}: {outcome:?}"
            );
        }
        for _ in 0..rounds {
            let mut wasm = original.clone();
            for _ in 0..1 + rng.below(3) {
                let at = 8 + rng.below(wasm.len() as u64 - 8) as usize;
                wasm[at] = match rng.below(2) {
                    0 => rng.next() as u8,
                    _ => rng.pick(&interesting),
                };
            }
            if std::env::var("AUDIT9_TRACE").is_ok() {
                eprintln!("{wasm:02x?}");
            }
            for iso in [Isolation::Checked, Isolation::Masked] {
                for a in [0, 5, 0x1_0000 - 3, 0x2_0000 - 8, -1] {
                    match run_with(&wasm, iso, a, Some(100_000), window) {
                        Err(e) if e.contains("panicked") => {
                            panic!("{iso:?}: the rebaser panicked on {wasm:02x?}")
                        }
                        Err(_) => break,
                        Ok((_, None)) => ran += 1,
                        Ok((trapped, Some(at))) => panic!(
                            "{iso:?}: f({a}) of a mutated module changed {at:#x} outside its \
                             segment (trapped: {trapped}): {wasm:02x?}"
                        ),
                    }
                }
            }
        }
    }
    assert!(ran > 0, "no mutated module ran");
    if std::env::var("AUDIT9_ROUNDS").is_ok() {
        eprintln!("{ran} calls of mutated modules ran");
    }
}

#[test]
fn trusted_offsets_near_leb_boundaries_relocate_exactly() {
    // The short path adds the base's base-128 digits to the offset's LEB
    // bytes in one 64-bit addition. Bases and offsets at every LEB length
    // boundary, near 2^32, in minimal and padded (up to 5-byte)
    // encodings: the unvalidated (short path) output must equal the
    // validated one, and each relocated offset must be offset + base, or
    // the access left unreachable behind a trap when that passes 4 GiB.
    let edges: Vec<u64> = [0u64, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1F_FFFF, 0x20_0000]
        .into_iter()
        .chain([
            0x0FFF_FFFF,
            0x1000_0000,
            0x7FFF_FFFF,
            0xFFFE_FFFF,
            0xFFFF_FFFF,
        ])
        .collect();
    for &base in &edges {
        let size = PAGE.min((1u64 << 32) - base) & !(PAGE - 1);
        if size == 0 {
            continue;
        }
        let mut body = Vec::new();
        let mut expected = Vec::new();
        for &offset in &edges {
            let min = (64 - (offset | 1).leading_zeros()).div_ceil(7) as usize;
            for len in min..=5 {
                // local.get 0; i32.load offset (len bytes); drop
                body.extend_from_slice(&[0x20, 0x00, 0x28, 0x02]);
                uleb(&mut body, offset, len);
                body.push(0x1A);
                expected.push(offset);
            }
        }
        let mut wasm = module(&body);
        // No minimum: any segment holds it.
        let at = wasm
            .windows(4)
            .position(|w| w == [5, 4, 1, 1])
            .expect("memory section");
        wasm[at + 4] = 0;
        let segment = flight_mem_wasm::Segment { base, size };
        let mut o = flight_mem_wasm::Options::new(segment);
        o.isolation = Isolation::Trusted;
        let validated = rebase(&wasm, &o).expect("validated rebase");
        o.validate = false;
        let fast = rebase(&wasm, &o).expect("unvalidated rebase");
        assert!(
            fast.wasm == validated.wasm,
            "base {base:#x}: the short path wrote other bytes"
        );
        let mut found = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&fast.wasm) {
            if let Ok(wasmparser::Payload::CodeSectionEntry(f)) = payload {
                let mut ops = f.get_operators_reader().unwrap();
                while !ops.eof() {
                    if let wasmparser::Operator::I32Load { memarg } = ops.read().unwrap() {
                        found.push(memarg.offset);
                    }
                }
            }
        }
        let want: Vec<u64> = expected
            .iter()
            .map(|&o| {
                if o + base > u64::from(u32::MAX) {
                    o
                } else {
                    o + base
                }
            })
            .collect();
        assert_eq!(found, want, "base {base:#x}");
    }
}
