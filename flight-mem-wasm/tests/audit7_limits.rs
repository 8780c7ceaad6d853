//! Session-7 audit: bad runtime requests and modules at the engines'
//! limits. An absurd `Options::threads`, sections that lie about their
//! counts and bodies with 2^32 - 1 locals (without validation) must be
//! errors, never panics; a valid module at a limit of the engines
//! (wasmparser's, V8's: locals, body bytes, functions, globals, types)
//! must give an output they load, or an error — never an output no engine
//! loads.

mod common;

use common::*;
use flight_mem_wasm::{Error, rebase};
use wasm_encoder::{
    CodeSection, FunctionSection, MemorySection, Module, RawSection, TypeSection, ValType,
};

fn valid(wasm: &[u8]) -> Result<(), String> {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(wasm)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `v` as an unsigned LEB of exactly `len` bytes.
fn uleb(out: &mut Vec<u8>, mut v: u64, len: usize) {
    for k in 0..len {
        let last = k + 1 == len;
        out.push((v & 0x7F) as u8 | if last { 0 } else { 0x80 });
        v >>= 7;
    }
    assert_eq!(v, 0, "LEB too short");
}

fn min_len(v: u64) -> usize {
    ((64 - (v | 1).leading_zeros()) as usize).div_ceil(7)
}

/// `Options::threads` is any `usize`: a count whose eighth part times
/// eight wraps to 0 made the chunk size a division by zero (a panic in
/// release builds too) instead of a rebase with as many workers as there
/// are chunks.
#[test]
fn an_absurd_thread_count_is_no_panic() {
    let wat = r#"(module (memory (export "mem") 1 2)
      (func (export "f") (param i32) (result i32) (i32.load (local.get 0))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    for threads in [usize::MAX / 8 + 1, usize::MAX, usize::MAX / 2] {
        for iso in MODES {
            let mut o = opts(iso, 2, true);
            o.threads = threads;
            let want = rebase(&wasm, &opts(iso, 2, true)).unwrap().wasm;
            let got = std::panic::catch_unwind(|| rebase(&wasm, &o).map(|r| r.wasm));
            assert!(
                matches!(&got, Ok(Ok(w)) if *w == want),
                "{iso:?} threads={threads}: {:?}",
                got.map(|r| r.map(|w| w.len()))
            );
        }
    }
}

/// Without validation, a section whose count promises more items than it
/// holds is still malformed (README: refused with an error): a global
/// section of count 2^32 - 1 and no globals made the size globals'
/// indices overflow (a panic in debug builds) or, in release builds, an
/// output with a wrapped global count.
#[test]
fn a_global_section_that_lies_about_its_count_is_an_error() {
    for count in [
        [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
        [0xFC, 0xFF, 0xFF, 0xFF, 0x0F],
    ] {
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        let mut mems = MemorySection::new();
        mems.memory(mem(1, Some(2)));
        let mut code = CodeSection::new();
        code.raw(&[0, 0x41, 0, 0x28, 2, 0, 0x1A, 0x0B]);
        m.section(&types)
            .section(&funcs)
            .section(&mems)
            .section(&RawSection {
                id: 6,
                data: &count,
            })
            .section(&code);
        let wasm = m.finish();
        for iso in MODES {
            let o = opts(iso, 2, false);
            let got = std::panic::catch_unwind(|| rebase(&wasm, &o).map(|r| r.wasm));
            match got {
                Ok(Err(_)) => {}
                Ok(Ok(out)) => panic!(
                    "{iso:?} {count:x?}: an output ({} bytes, valid: {:?})",
                    out.len(),
                    valid(&out)
                ),
                Err(_) => panic!("{iso:?} {count:x?}: the rebase panicked"),
            }
        }
    }
}

/// Without validation, a body may declare 2^32 - 1 locals (one group):
/// the scratch locals appended after them must not overflow the local
/// index space (a panic in debug builds, wrapped indices aliasing real
/// locals in release builds) — an error, or an output the engine
/// rejects as the input.
#[test]
fn a_body_with_too_many_locals_is_no_panic() {
    let bodies: &[&[u8]] = &[
        // memory.fill 0 0 0 (scratch locals in every isolating mode).
        &[0x41, 0, 0x41, 0, 0x41, 0, 0xFC, 0x0B, 0x00],
        // i32.store of a loaded value at a computed address.
        &[0x41, 4, 0x41, 4, 0x6A, 0x41, 0, 0x28, 2, 0, 0x36, 2, 0],
    ];
    for body in bodies {
        for locals in [
            &[1u8, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x7F][..],
            &[2, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F, 0x7F, 1, 0x7E],
        ] {
            let mut m = Module::new();
            let mut types = TypeSection::new();
            types.ty().function([], []);
            let mut funcs = FunctionSection::new();
            funcs.function(0);
            let mut mems = MemorySection::new();
            mems.memory(mem(1, Some(2)));
            let mut code = CodeSection::new();
            let mut b = locals.to_vec();
            b.extend_from_slice(body);
            b.push(0x0B);
            code.raw(&b);
            m.section(&types)
                .section(&funcs)
                .section(&mems)
                .section(&code);
            let wasm = m.finish();
            assert!(valid(&wasm).is_err());
            for iso in MODES {
                let o = opts(iso, 2, false);
                let got = std::panic::catch_unwind(|| rebase(&wasm, &o).map(|r| r.wasm));
                match got {
                    Ok(Err(_)) => {}
                    Ok(Ok(out)) => assert!(valid(&out).is_err(), "{iso:?}: a valid output"),
                    Err(_) => panic!("{iso:?} {body:x?}: the rebase panicked"),
                }
            }
        }
    }
}

/// A valid body at the engines' limit of 50,000 locals (wasmparser's
/// `MAX_WASM_FUNCTION_LOCALS`, V8's too) that needs scratch locals: the
/// output must not exceed the limit (an output no engine loads): an
/// error instead.
#[test]
fn a_body_at_the_locals_limit_gives_a_valid_output_or_an_error() {
    for (params, declared) in [(0u32, 50_000u32), (1, 49_999), (0, 49_995)] {
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function(vec![ValType::I32; params as usize], []);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        let mut mems = MemorySection::new();
        mems.memory(mem(1, Some(2)));
        let mut code = CodeSection::new();
        let mut b = vec![1];
        uleb(&mut b, u64::from(declared), min_len(u64::from(declared)));
        b.push(0x7F);
        // memory.fill 0 0 0.
        b.extend_from_slice(&[0x41, 0, 0x41, 0, 0x41, 0, 0xFC, 0x0B, 0x00, 0x0B]);
        code.raw(&b);
        m.section(&types)
            .section(&funcs)
            .section(&mems)
            .section(&code);
        let wasm = m.finish();
        valid(&wasm).unwrap();
        for iso in MODES {
            for validate in [true, false] {
                match rebase(&wasm, &opts(iso, 2, validate)) {
                    Err(Error::Unsupported { .. }) => {}
                    Err(e) => panic!("{iso:?} {params}+{declared}: {e}"),
                    Ok(out) => valid(&out.wasm)
                        .unwrap_or_else(|e| panic!("{iso:?} {params}+{declared}: {e}")),
                }
            }
        }
    }
}

/// A valid body near the engines' function size limit (wasmparser's
/// `MAX_WASM_FUNCTION_SIZE`, V8's too: 7,654,321 bytes) grows when its
/// accesses are relocated (a 1-byte offset becomes a 3-byte one) or
/// checked: the output must stay loadable, or the rebase must say why.
#[test]
fn a_body_near_the_size_limit_gives_a_valid_output_or_an_error() {
    let mut b = vec![0];
    // local.get 0, i32.load offset=0, drop: six bytes, 1.2 million times.
    for _ in 0..1_200_000 {
        b.extend_from_slice(&[0x20, 0, 0x28, 2, 0, 0x1A]);
    }
    b.push(0x0B);
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], []);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    let mut mems = MemorySection::new();
    mems.memory(mem(1, Some(2)));
    let mut code = CodeSection::new();
    code.raw(&b);
    m.section(&types)
        .section(&funcs)
        .section(&mems)
        .section(&code);
    let wasm = m.finish();
    valid(&wasm).unwrap();
    for iso in MODES {
        for validate in [true, false] {
            match rebase(&wasm, &opts(iso, 2, validate)) {
                Err(Error::Unsupported { .. }) => {}
                Err(e) => panic!("{iso:?}: {e}"),
                Ok(out) => valid(&out.wasm).unwrap_or_else(|e| panic!("{iso:?}: {e}")),
            }
        }
    }
}

/// A valid module at the engines' 1,000,000 globals (or functions) gets
/// the size globals (or `masked`'s trap function) appended: the output
/// must stay loadable, or the rebase must say why.
#[test]
fn a_module_at_the_count_limits_gives_a_valid_output_or_an_error() {
    let limit = 1_000_000u32;
    // Globals: an own memory adds seven.
    let mut globals = Vec::new();
    uleb(&mut globals, u64::from(limit), 3);
    for _ in 0..limit {
        globals.extend_from_slice(&[0x7F, 0x00, 0x41, 0x00, 0x0B]);
    }
    let mut m = Module::new();
    let mut mems = MemorySection::new();
    mems.memory(mem(1, Some(2)));
    m.section(&mems).section(&RawSection {
        id: 6,
        data: &globals,
    });
    let many_globals = m.finish();
    // Functions: `masked` adds its trap function.
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut funcs = Vec::new();
    uleb(&mut funcs, u64::from(limit), 3);
    funcs.resize(funcs.len() + limit as usize, 0);
    let mut code = Vec::new();
    uleb(&mut code, u64::from(limit), 3);
    for _ in 0..limit {
        code.extend_from_slice(&[2, 0, 0x0B]);
    }
    let mut m = Module::new();
    m.section(&types)
        .section(&RawSection {
            id: 3,
            data: &funcs,
        })
        .section(&RawSection {
            id: 10,
            data: &code,
        });
    let many_funcs = m.finish();
    for wasm in [many_globals, many_funcs] {
        valid(&wasm).unwrap();
        for iso in MODES {
            match rebase(&wasm, &opts(iso, 2, false)) {
                // (`Error::TooMany`, matched by name so this test also
                // builds against the code before it.)
                Err(e) if format!("{e:?}").starts_with("TooMany") => {}
                Err(e) => panic!("{iso:?}: {e}"),
                Ok(out) => valid(&out.wasm).unwrap_or_else(|e| panic!("{iso:?}: {e}")),
            }
        }
    }
}
