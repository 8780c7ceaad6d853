//! Session-7 audit of the raw data-segment cutting (`read::data_segments`,
//! `write::constant_offset`, `write::data_section`), of the refusal of
//! writes into `read` windows under unusual encodings, and of windows
//! against their import's declared limits. Modules are built from raw
//! bytes (over-long LEBs, explicit memory indices, extended constants,
//! `global.get` offsets), run original against rebased in every mode, with
//! and without validation.

mod common;

use common::*;
use flight_mem_wasm::{Access, Error, Isolation, Segment, SharedWindow, rebase};
use wasm_encoder::{
    CodeSection, DataCountSection, EntityType, ExportKind, ExportSection, FunctionSection,
    GlobalType, ImportSection, MemorySection, MemoryType, Module, RawSection, TypeSection, ValType,
};
use wasmi::{Extern, Global, Linker, Memory, Mutability, Store, Val};

/// A data section of `segments` (each given whole, raw).
fn data_section(segments: &[&[u8]]) -> Vec<u8> {
    let mut s = vec![segments.len() as u8];
    for seg in segments {
        s.extend_from_slice(seg);
    }
    s
}

/// A module importing `env.g` (i32) and, with `frame`, the memory
/// `env.frame` (`frame_limits`), with its own memory `(memory 1 2)`
/// exported as `mem`, a data count section, the function bodies `bodies`
/// (type `[i32] -> [i32]`, exported as `f0`, `f1`, ...), then the data
/// section `data`.
fn build(frame: Option<MemoryType>, bodies: &[&[u8]], data: &[u8], data_count: u32) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut imports = ImportSection::new();
    imports.import(
        "env",
        "g",
        EntityType::Global(GlobalType {
            val_type: ValType::I32,
            mutable: false,
            shared: false,
        }),
    );
    if let Some(f) = frame {
        imports.import("env", "frame", EntityType::Memory(f));
    }
    let mut funcs = FunctionSection::new();
    let mut mems = MemorySection::new();
    mems.memory(mem(1, Some(2)));
    let mut exports = ExportSection::new();
    let own = u32::from(frame.is_some());
    exports.export("mem", ExportKind::Memory, own);
    let mut code = CodeSection::new();
    for (i, b) in bodies.iter().enumerate() {
        funcs.function(0);
        exports.export(&format!("f{i}"), ExportKind::Func, i as u32);
        let mut body = vec![0];
        body.extend_from_slice(b);
        body.push(0x0B);
        code.raw(&body);
    }
    let mut m = Module::new();
    m.section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&mems)
        .section(&exports)
        .section(&DataCountSection { count: data_count })
        .section(&code)
        .section(&RawSection { id: 11, data });
    m.finish()
}

/// Instantiates the original with `env.g = g` and, when the module
/// imports it, a one-page `env.frame`; its `mem` bytes, or the error.
fn original(wasm: &[u8], g: i32) -> Result<Vec<u8>, String> {
    let engine = engine();
    let module = wasmi::Module::new(&engine, wasm).map_err(|e| e.to_string())?;
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::<()>::new(&engine);
    let global = Global::new(&mut store, Val::I32(g), Mutability::Const);
    linker.define("env", "g", global).unwrap();
    let frame = Memory::new(&mut store, wasmi::MemoryType::new(1, Some(1))).unwrap();
    linker.define("env", "frame", frame).unwrap();
    let i = linker
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| e.to_string())?;
    let m = i
        .get_export(&store, "mem")
        .and_then(Extern::into_memory)
        .unwrap();
    Ok(m.data(&store).to_vec())
}

/// The original's memory after instantiation against the rebased one's,
/// in every mode, with and without validation; canaries intact.
fn same_data(wasm: &[u8], g: i32) {
    let want = original(wasm, g);
    for iso in MODES {
        for validate in [true, false] {
            let what = format!("{iso:?} validate={validate} g={g}");
            let o = opts(iso, 2, validate);
            let engine = engine();
            let mut s = Store::new(&engine, ());
            let global = Global::new(&mut s, Val::I32(g), Mutability::Const);
            let extra = [("env".to_string(), "g".to_string(), Extern::Global(global))];
            let got = instantiate(&mut s, wasm, &o, &extra);
            match (&want, got) {
                (Ok(mine), Ok((_, u))) => {
                    let data = u.memory.data(&s);
                    let theirs = &data[BASE as usize..BASE as usize + mine.len()];
                    assert!(mine == theirs, "{what}: the memories differ");
                    assert_eq!(u.broken_canary(&s, 0), None, "{what}: a canary changed");
                }
                (Err(_), Err(_)) => {}
                // `trusted` checks no offset it cannot see (no isolation).
                (Err(_), Ok(_)) if iso == Isolation::Trusted => {}
                (w, g) => panic!(
                    "{what}: original {:?}, rebased {:?}",
                    w.as_ref().map(|_| ()),
                    g.map(|_| ())
                ),
            }
        }
    }
}

#[test]
fn data_segments_in_unusual_encodings_land_where_the_original_puts_them() {
    let segments: &[&[u8]] = &[
        // i32.const 4 as a 5-byte LEB.
        &[
            0x00, 0x41, 0x84, 0x80, 0x80, 0x80, 0x00, 0x0B, 3, b'a', b'b', b'c',
        ],
        // Flags 0 over-long.
        &[0x80, 0x00, 0x41, 0x10, 0x0B, 2, b'd', b'e'],
        // Flags 2, memory index 0 over-long.
        &[0x02, 0x80, 0x80, 0x00, 0x41, 0x20, 0x0B, 2, b'f', b'g'],
        // i32.const 64 as `0xC0 0x00` (bit 6 of a byte that is not last).
        &[0x00, 0x41, 0xC0, 0x00, 0x0B, 1, b'h'],
        // i32.const 64 as a 4-byte LEB.
        &[0x00, 0x41, 0xC0, 0x80, 0x80, 0x00, 0x0B, 1, b'i'],
        // i32.const 0x0B << 7 (a LEB byte that reads as `end`).
        &[0x00, 0x41, 0x80, 0x0B, 0x0B, 1, b'j'],
        // Extended constant: 0x30 + 2.
        &[0x00, 0x41, 0x30, 0x41, 0x02, 0x6A, 0x0B, 2, b'k', b'l'],
        // global.get 0 (the imported global), overwriting part of the first.
        &[0x00, 0x23, 0x00, 0x0B, 2, b'm', b'n'],
        // Passive.
        &[0x01, 3, b'o', b'p', b'q'],
        // Empty, at the end of the memory exactly.
        &[0x00, 0x41, 0x80, 0x80, 0x04, 0x0B, 0],
        // Flags 2 over-long, index 0, i32.const 0xFFF0 over-long.
        &[
            0x82, 0x00, 0x00, 0x41, 0xF0, 0xFF, 0x83, 0x80, 0x00, 0x0B, 4, 1, 2, 3, 4,
        ],
    ];
    let data = data_section(segments);
    // memory.init of the passive segment (index 8) at the argument.
    let init: &[u8] = &[
        0x20, 0, 0x41, 0, 0x41, 3, 0xFC, 0x08, 8, 0x80, 0x00, 0x41, 0,
    ];
    let wasm = build(None, &[init], &data, segments.len() as u32);
    big_stack(move || {
        for g in [4, 0, 0xFFFE, 0xFFFF, -1] {
            same_data(&wasm, g);
        }
    });
}

#[test]
fn out_of_bounds_data_offsets_are_errors_in_every_encoding() {
    // Each alone: no output where the original cannot instantiate.
    let bad: &[&[u8]] = &[
        // -1 as a 4-byte LEB, empty: 2^32 - 1 > the memory.
        &[0x00, 0x41, 0xFF, 0xFF, 0xFF, 0x7F, 0x0B, 0],
        // -1 as one byte.
        &[0x00, 0x41, 0x7F, 0x0B, 0],
        // 0xFFFF as a 5-byte LEB, two bytes: one past the end.
        &[0x00, 0x41, 0xFF, 0xFF, 0x83, 0x80, 0x00, 0x0B, 2, 0, 0],
        // Extended: 0x10000 + 1, empty.
        &[0x00, 0x41, 0x80, 0x80, 0x04, 0x41, 1, 0x6A, 0x0B, 0],
    ];
    for seg in bad {
        let wasm = build(None, &[], &data_section(&[seg]), 1);
        assert!(original(&wasm, 0).is_err());
        for iso in MODES {
            for validate in [true, false] {
                let o = opts(iso, 2, validate);
                let out = rebase(&wasm, &o);
                let what = format!("{iso:?} validate={validate} {seg:x?}");
                match out {
                    Err(Error::DataOutOfBounds { .. }) => {}
                    // Extended constants are known at instantiation only:
                    // the rebased module must then fail to instantiate.
                    // (`trusted` checks nothing it cannot see.)
                    Ok(_) if iso == Isolation::Trusted => {}
                    Ok(out) => {
                        let engine = engine();
                        let mut s = Store::new(&engine, ());
                        let global = Global::new(&mut s, Val::I32(0), Mutability::Const);
                        let extra = [("env".to_string(), "g".to_string(), Extern::Global(global))];
                        let r = instantiate(&mut s, &wasm, &o, &extra);
                        assert!(
                            r.is_err(),
                            "{what}: instantiated ({} bytes out)",
                            out.wasm.len()
                        );
                    }
                    Err(e) => panic!("{what}: {e:?}"),
                }
            }
        }
    }
}

fn valid(wasm: &[u8]) -> Result<(), String> {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(wasm)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn read_frame() -> SharedWindow {
    SharedWindow {
        module: "env".into(),
        field: "frame".into(),
        segment: Segment {
            base: 0,
            size: PAGE,
        },
        access: Access::Read,
    }
}

#[test]
fn writes_into_a_read_window_are_refused_in_every_encoding() {
    // Memory 0 is `env.frame` (read), memory 1 the module's own.
    let frame = mem(1, Some(1));
    let bodies: &[(&str, &[u8])] = &[
        // i32.store with flags 0x02 (memory 0, no index).
        ("store", &[0x20, 0, 0x20, 0, 0x36, 0x02, 0x00, 0x20, 0]),
        // i32.store with the index bit, memory 0 over-long.
        (
            "store_idx",
            &[0x20, 0, 0x20, 0, 0x36, 0x42, 0x80, 0x00, 0x00, 0x20, 0],
        ),
        // Flags over-long (0x82 0x00), memory 0.
        (
            "store_flags",
            &[0x20, 0, 0x20, 0, 0x36, 0x82, 0x00, 0x00, 0x20, 0],
        ),
        // memory.fill, memory index 0 over-long.
        (
            "fill",
            &[
                0x20, 0, 0x41, 1, 0x41, 1, 0xFC, 0x0B, 0x80, 0x80, 0x00, 0x20, 0,
            ],
        ),
        // memory.copy into 0 from 1, both over-long.
        (
            "copy",
            &[
                0x20, 0, 0x41, 0, 0x41, 1, 0xFC, 0x0A, 0x80, 0x00, 0x81, 0x00, 0x20, 0,
            ],
        ),
        // memory.init of the passive segment 0 into memory 0 (over-long).
        (
            "init",
            &[
                0x20, 0, 0x41, 0, 0x41, 1, 0xFC, 0x08, 0x00, 0x80, 0x00, 0x20, 0,
            ],
        ),
        // i32.atomic.store, memory 0 named.
        (
            "atomic",
            &[0x20, 0, 0x20, 0, 0xFE, 0x17, 0x42, 0x00, 0x00, 0x20, 0],
        ),
        // i32.atomic.rmw.add, sub-opcode over-long.
        ("rmw", &[0x20, 0, 0x20, 0, 0xFE, 0x9E, 0x00, 0x02, 0x00]),
        // v128.store8_lane 0 of a zero vector, memory 0 named.
        (
            "lane",
            &[
                0x20, 0, 0xFD, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFD, 0x58,
                0x40, 0x00, 0x00, 0x00, 0x20, 0,
            ],
        ),
    ];
    let passive = data_section(&[&[0x01, 1, 7]]);
    for (name, body) in bodies {
        let wasm = build(Some(frame), &[body], &passive, 1);
        // The body is valid (wasmi has no atomics: wasmparser says so).
        valid(&wasm).unwrap_or_else(|e| panic!("{name}: {e}"));
        for iso in MODES {
            for validate in [true, false] {
                let mut o = opts(iso, 2, validate);
                o.shared.push(read_frame());
                match rebase(&wasm, &o) {
                    Err(Error::WriteToReadOnly { .. }) => {}
                    other => panic!("{name} {iso:?} validate={validate}: {other:?}"),
                }
            }
        }
    }
    // Active segments into the read window, the index over-long.
    let into_frame: &[&[u8]] = &[
        &[0x02, 0x80, 0x00, 0x41, 0, 0x0B, 1, 7],
        &[
            0x82, 0x00, 0x80, 0x80, 0x80, 0x80, 0x00, 0x41, 0x80, 0x00, 0x0B, 1, 7,
        ],
        // Flags 0 means memory 0: the window.
        &[0x00, 0x41, 0, 0x0B, 1, 7],
        &[0x00, 0x23, 0x00, 0x0B, 1, 7],
    ];
    for seg in into_frame {
        let wasm = build(Some(frame), &[], &data_section(&[seg]), 1);
        valid(&wasm).unwrap();
        for iso in MODES {
            for validate in [true, false] {
                let mut o = opts(iso, 2, validate);
                o.shared.push(read_frame());
                match rebase(&wasm, &o) {
                    Err(Error::DataIntoReadOnly { .. }) => {}
                    other => panic!("{seg:x?} {iso:?} validate={validate}: {other:?}"),
                }
            }
        }
    }
}

/// An imported memory declared `(memory 1 1)` can only be one page: the
/// original traps at 65536 whatever the host gives. Mapped onto a larger
/// (write) window, `checked` must trap there too, and `memory.size` says
/// one page.
#[test]
fn checked_traps_at_the_import_maximum_inside_a_larger_window() {
    let frame = mem(1, Some(1));
    // f0: i32.load8_u from memory 0 (the window) at the argument.
    // f1: i32.store8 of 1 there, then memory.size of memory 0.
    let load: &[u8] = &[0x20, 0, 0x2D, 0x00, 0x00];
    let store: &[u8] = &[0x20, 0, 0x41, 1, 0x3A, 0x00, 0x00, 0x3F, 0x00];
    let wasm = build(Some(frame), &[load, store], &data_section(&[]), 0);
    let engine = engine();
    for validate in [true, false] {
        let mut o = opts(Isolation::Checked, 2, validate);
        let mut w = read_frame();
        w.access = Access::Write;
        w.segment.size = 2 * PAGE;
        o.shared.push(w);
        let mut s = Store::new(&engine, ());
        let global = Global::new(&mut s, Val::I32(0), Mutability::Const);
        let extra = [("env".to_string(), "g".to_string(), Extern::Global(global))];
        let (i, _) = instantiate(&mut s, &wasm, &o, &extra).expect("rebased");
        let call = |s: &mut Store<()>, name: &str, a: i32| {
            let f = i.get_func(&*s, name).unwrap();
            let mut out = [Val::I32(0)];
            f.call(&mut *s, &[Val::I32(a)], &mut out)
                .map(|()| out[0].i32().unwrap())
        };
        assert_eq!(call(&mut s, "f1", 0).unwrap(), 1, "memory.size");
        assert!(
            call(&mut s, "f0", PAGE as i32).is_err(),
            "validate={validate}: a load past the import's maximum did not trap"
        );
        assert!(
            call(&mut s, "f1", PAGE as i32 + 8).is_err(),
            "validate={validate}: a store past the import's maximum did not trap"
        );
        // `masked` confines to the whole window (no trap promised): no byte
        // outside the window and the segment changes.
        let mut m = o.clone();
        m.isolation = Isolation::Masked;
        let mut s = Store::new(&engine, ());
        let global = Global::new(&mut s, Val::I32(0), Mutability::Const);
        let extra = [("env".to_string(), "g".to_string(), Extern::Global(global))];
        let (i, u) = instantiate(&mut s, &wasm, &m, &extra).expect("rebased");
        let f = i.get_func(&s, "f1").unwrap();
        for a in [
            0,
            PAGE as i32 - 1,
            PAGE as i32 + 8,
            2 * PAGE as i32 - 1,
            -1,
            i32::MIN,
        ] {
            let _ = f.call(&mut s, &[Val::I32(a)], &mut [Val::I32(0)]);
        }
        let data = u.memory.data(&s);
        let mut outside = (2 * PAGE..BASE).chain(BASE + 2 * PAGE..data.len() as u64);
        let broken = outside.find(|&x| data[x as usize] != canary(x));
        assert_eq!(broken, None, "masked wrote outside its window and segment");
        // A data segment there: the original cannot instantiate.
        let seg: &[u8] = &[0x02, 0x00, 0x41, 0x80, 0x80, 0x04, 0x0B, 1, 7];
        let data = build(Some(frame), &[], &data_section(&[seg]), 1);
        assert!(original(&data, 0).is_err());
        assert!(
            matches!(rebase(&data, &o), Err(Error::DataOutOfBounds { .. })),
            "validate={validate}: a data segment past the import's maximum"
        );
    }
}

/// Every thread of a module with a shared memory instantiates it over the
/// one memory: the original's instances see one size, and one instance's
/// `memory.grow` grows the memory for all. A rebased module keeps the size
/// in per-instance globals, so a second instance would grow "its" page over
/// the first's and zero-fill it (audit7). A `memory.grow` of a shared own
/// memory is therefore refused, naming the function and the instruction;
/// `memory.size` alone (the size never changes) is still rebased.
#[test]
fn a_grow_of_a_shared_own_memory_is_refused() {
    let grows = r#"(module
      (import "env" "memory" (memory 1 4 shared))
      (func (export "size") (result i32) (memory.size))
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;
    let sizes = r#"(module
      (import "env" "memory" (memory 1 4 shared))
      (func (export "size") (result i32) (memory.size))
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))"#;
    let unshared = grows.replace(" shared)", ")");
    for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
        for validate in [true, false] {
            let o = opts(iso, 4, validate);
            match rebase(&wat::parse_str(grows).unwrap(), &o) {
                Err(Error::Unsupported { function, what, .. }) => {
                    assert_eq!(function, 1, "{iso:?}");
                    assert!(what.contains("memory.grow"), "{what}");
                }
                other => panic!(
                    "{iso:?}: a shared memory's grow was rebased: {:?}",
                    other.map(|_| ())
                ),
            }
            rebase(&wat::parse_str(sizes).unwrap(), &o)
                .unwrap_or_else(|e| panic!("{iso:?}: memory.size of a shared memory: {e}"));
            rebase(&wat::parse_str(&unshared).unwrap(), &o)
                .unwrap_or_else(|e| panic!("{iso:?}: grow of an unshared memory: {e}"));
        }
    }
}

/// `v` as an unsigned LEB of exactly `len` bytes (at least its minimal
/// length).
fn uleb(out: &mut Vec<u8>, mut v: u64, len: usize) {
    for k in 0..len {
        let last = k + 1 == len;
        out.push((v & 0x7F) as u8 | if last { 0 } else { 0x80 });
        v >>= 7;
    }
    assert_eq!(v, 0, "LEB too short");
}

/// `v` as a signed LEB of exactly `len` bytes.
fn sleb(out: &mut Vec<u8>, v: i64, len: usize) {
    for k in 0..len {
        let last = k + 1 == len;
        out.push(((v >> (7 * k)) & 0x7F) as u8 | if last { 0 } else { 0x80 });
    }
}

fn min_len(v: u64) -> usize {
    ((64 - (v | 1).leading_zeros()) as usize).div_ceil(7)
}

/// A body of random plain loads and stores of local 0 (the address),
/// every LEB (local index, flags, offset, constants) in a random length,
/// flags with the memory-index bit now and then; returns an i32 that sums
/// what was loaded.
fn random_body(rng: &mut Rng) -> Vec<u8> {
    // (opcode, natural alignment, kind: 0 i32 load, 1 i64 load, 2 store i32, 3 store i64)
    const OPS: &[(u8, u8, u8)] = &[
        (0x28, 2, 0),
        (0x2C, 0, 0),
        (0x2D, 0, 0),
        (0x2E, 1, 0),
        (0x2F, 1, 0),
        (0x29, 3, 1),
        (0x30, 0, 1),
        (0x31, 0, 1),
        (0x32, 1, 1),
        (0x33, 1, 1),
        (0x34, 2, 1),
        (0x35, 2, 1),
        (0x36, 2, 2),
        (0x3A, 0, 2),
        (0x3B, 1, 2),
        (0x37, 3, 3),
        (0x3C, 0, 3),
        (0x3D, 1, 3),
        (0x3E, 2, 3),
    ];
    let mut b = Vec::new();
    // The sum.
    b.push(0x41);
    sleb(&mut b, 0, 1 + rng.below(5) as usize);
    for _ in 0..1 + rng.below(12) {
        let (op, natural, kind) = OPS[rng.below(OPS.len() as u64) as usize];
        // Padding: nops, a dropped constant with a long LEB.
        for _ in 0..rng.below(3) {
            match rng.below(3) {
                0 => b.push(0x01),
                1 => {
                    b.push(0x41);
                    let v = rng.next() as i32 as i64;
                    sleb(&mut b, v, 5);
                    b.push(0x1A);
                }
                _ => {
                    b.push(0x42);
                    sleb(&mut b, rng.next() as i64, 10);
                    b.push(0x1A);
                }
            }
        }
        b.push(0x20);
        uleb(&mut b, 0, 1 + rng.below(5) as usize);
        if kind >= 2 {
            b.push(if kind == 2 { 0x41 } else { 0x42 });
            let v = rng.next() as i32 as i64;
            sleb(&mut b, v, min_len(v.unsigned_abs() << 1).clamp(1, 5));
        }
        b.push(op);
        let align = u64::from(rng.below(u64::from(natural) + 1) as u8);
        let named = rng.below(6) == 0;
        let flags = align | if named { 0x40 } else { 0 };
        let flen = if rng.below(4) == 0 {
            1 + rng.below(5) as usize
        } else {
            1
        };
        uleb(&mut b, flags, flen);
        if named {
            uleb(&mut b, 0, 1 + rng.below(5) as usize);
        }
        let offset = match rng.below(4) {
            0 => 0,
            1 => rng.below(64),
            2 => rng.below(0x2_0000),
            _ => rng.below(1 << 32),
        };
        let olen = min_len(offset).max(if rng.below(3) == 0 {
            1 + rng.below(5) as usize
        } else {
            1
        });
        uleb(&mut b, offset, olen.min(5).max(min_len(offset)));
        match kind {
            0 => b.push(0x6A),
            1 => b.extend_from_slice(&[0xA7, 0x6A]),
            _ => {}
        }
    }
    b
}

#[test]
fn random_plain_accesses_in_every_encoding_over_many_functions() {
    big_stack(|| {
        for seed in [0x005E_EDA7, 2, 3, 4] {
            random_accesses(seed);
        }
    });
}

fn random_accesses(seed: u64) {
    {
        let mut rng = Rng(seed);
        let n = 400;
        let bodies: Vec<Vec<u8>> = (0..n).map(|_| random_body(&mut rng)).collect();
        let refs: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
        let wasm = build(None, &refs, &data_section(&[]), 0);
        valid(&wasm).unwrap();
        let engine = engine();
        let module = wasmi::Module::new(&engine, &wasm[..]).unwrap();
        let run = |s: &mut Store<()>, i: &wasmi::Instance, name: &str, a: i32| {
            let f = i.get_func(&*s, name).unwrap();
            let mut out = [Val::I32(0)];
            f.call(&mut *s, &[Val::I32(a)], &mut out)
                .map(|()| out[0].i32().unwrap())
                .map_err(|e| e.as_trap_code())
        };
        for iso in MODES {
            let mut os = Store::new(&engine, ());
            let mut linker = Linker::<()>::new(&engine);
            let global = Global::new(&mut os, Val::I32(0), Mutability::Const);
            linker.define("env", "g", global).unwrap();
            let oi = linker.instantiate_and_start(&mut os, &module).unwrap();
            let om = oi
                .get_export(&os, "mem")
                .and_then(Extern::into_memory)
                .unwrap();
            // `instantiate` also compares the unvalidated (scanner, and in
            // `trusted` look-ahead) output with the validated one.
            let o = opts(iso, 2, true);
            let mut s = Store::new(&engine, ());
            let g = Global::new(&mut s, Val::I32(0), Mutability::Const);
            let extra = [("env".to_string(), "g".to_string(), Extern::Global(g))];
            let (i, u) = instantiate(&mut s, &wasm, &o, &extra).expect("rebased");
            for (k, body) in bodies.iter().enumerate() {
                let name = format!("f{k}");
                for a in [0, 8, 0xFFF0, 0x1_FFF8, -8] {
                    let want = run(&mut os, &oi, &name, a);
                    let got = run(&mut s, &i, &name, a);
                    let what = format!("{iso:?} {name}({a}) {body:x?}");
                    match iso {
                        Isolation::Checked => assert_eq!(got, want, "{what}"),
                        _ if want.is_ok() => assert_eq!(got, want, "{what}"),
                        _ => {}
                    }
                    if iso != Isolation::Trusted {
                        assert_eq!(u.broken_canary(&s, 0), None, "{what}: a canary changed");
                    }
                    if want.is_err() {
                        let mine = om.data(&os).to_vec();
                        u.memory.data_mut(&mut s)[BASE as usize..][..mine.len()]
                            .copy_from_slice(&mine);
                    }
                }
            }
        }
    }
}
