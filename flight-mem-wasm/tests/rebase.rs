//! Hand-written modules: relocation, traps, grow/size, windows, refusals.

mod common;

use common::*;
use flight_mem_wasm::{Access, Error, Isolation, Segment, SharedWindow, rebase};
use wasmi::{Store, TrapCode, Val};

const MODULE: &str = r#"(module
  (memory 1 4)
  (data (i32.const 16) "\2a\00\00\00")
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load_off") (param i32) (result i32) (i32.load offset=65532 (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "const16") (result i32) (i32.load (i32.const 16)))
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
)"#;

fn call(
    store: &mut Store<()>,
    i: &wasmi::Instance,
    name: &str,
    args: &[Val],
) -> Result<Option<i32>, TrapCode> {
    let f = i.get_func(&*store, name).expect("export");
    let mut out = vec![Val::I32(0); f.ty(&*store).results().len()];
    match f.call(&mut *store, args, &mut out) {
        Ok(()) => Ok(out.first().and_then(|v| v.i32())),
        Err(e) => Err(e.as_trap_code().expect("a trap")),
    }
}

fn setup(isolation: Isolation) -> (Store<()>, wasmi::Instance, Unified) {
    let wasm = wat::parse_str(MODULE).unwrap();
    let mut store = Store::new(&engine(), ());
    let seg = Segment {
        base: BASE,
        size: 4 * PAGE,
    };
    let (i, u) = instantiate(&mut store, &wasm, &options(seg, isolation), &[]).unwrap();
    (store, i, u)
}

#[test]
fn relocates_into_the_segment_and_traps_exactly() {
    let (mut s, i, u) = setup(Isolation::Checked);
    assert_eq!(call(&mut s, &i, "const16", &[]), Ok(Some(42)));
    call(&mut s, &i, "store", &[Val::I32(100), Val::I32(0x01020304)]).unwrap();
    let data = u.memory.data(&s);
    assert_eq!(&data[(BASE + 100) as usize..][..4], &[4, 3, 2, 1]);
    assert_eq!(
        call(&mut s, &i, "load", &[Val::I32(100)]),
        Ok(Some(0x01020304))
    );
    // The last 4 bytes of page 0 load; one byte further traps, as in the original.
    assert_eq!(call(&mut s, &i, "load", &[Val::I32(65532)]), Ok(Some(0)));
    assert_eq!(
        call(&mut s, &i, "load", &[Val::I32(65533)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(call(&mut s, &i, "load_off", &[Val::I32(0)]), Ok(Some(0)));
    assert_eq!(
        call(&mut s, &i, "load_off", &[Val::I32(1)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    // 33-bit effective address: no wrap-around back into the memory.
    assert_eq!(
        call(&mut s, &i, "load_off", &[Val::I32(-65532)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(
        call(&mut s, &i, "store", &[Val::I32(-1), Val::I32(7)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(u.broken_canary(&s, 0), None);
}

#[test]
fn grow_and_size_stay_inside_the_segment() {
    let (mut s, i, u) = setup(Isolation::Checked);
    assert_eq!(call(&mut s, &i, "size", &[]), Ok(Some(1)));
    assert_eq!(call(&mut s, &i, "grow", &[Val::I32(2)]), Ok(Some(1)));
    assert_eq!(call(&mut s, &i, "size", &[]), Ok(Some(3)));
    assert_eq!(
        call(&mut s, &i, "load", &[Val::I32(3 * 65536 - 4)]),
        Ok(Some(0))
    );
    assert_eq!(
        call(&mut s, &i, "load", &[Val::I32(3 * 65536 - 3)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(call(&mut s, &i, "grow", &[Val::I32(2)]), Ok(Some(-1)));
    assert_eq!(call(&mut s, &i, "grow", &[Val::I32(1)]), Ok(Some(3)));
    assert_eq!(call(&mut s, &i, "grow", &[Val::I32(0)]), Ok(Some(4)));
    assert_eq!(call(&mut s, &i, "grow", &[Val::I32(-1)]), Ok(Some(-1)));
    assert_eq!(
        call(
            &mut s,
            &i,
            "fill",
            &[Val::I32(0), Val::I32(0xff), Val::I32(4 * 65536)]
        ),
        Ok(None)
    );
    assert_eq!(
        call(
            &mut s,
            &i,
            "fill",
            &[Val::I32(1), Val::I32(0xff), Val::I32(4 * 65536)]
        ),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(
        call(
            &mut s,
            &i,
            "copy",
            &[Val::I32(0), Val::I32(1), Val::I32(4 * 65536)]
        ),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(u.broken_canary(&s, 0), None);
}

#[test]
fn masked_and_trusted_relocate_in_bounds_accesses() {
    for iso in [Isolation::Masked, Isolation::Trusted] {
        let (mut s, i, u) = setup(iso);
        call(&mut s, &i, "store", &[Val::I32(100), Val::I32(0x01020304)]).unwrap();
        assert_eq!(
            call(&mut s, &i, "load", &[Val::I32(100)]),
            Ok(Some(0x01020304))
        );
        assert_eq!(
            &u.memory.data(&s)[(BASE + 100) as usize..][..4],
            &[4, 3, 2, 1]
        );
        assert_eq!(u.broken_canary(&s, 0), None);
    }
    // Masked: an address far outside lands inside the segment.
    let (mut s, i, u) = setup(Isolation::Masked);
    call(&mut s, &i, "store", &[Val::I32(-8), Val::I32(-1)]).unwrap();
    call(&mut s, &i, "store", &[Val::I32(0x7fff_0000), Val::I32(-1)]).unwrap();
    assert_eq!(u.broken_canary(&s, 0), None);
}

/// A wide masked access in a segment without room past the masked range
/// (confined by `addr % (span - offset - width + 1)`, or for an address
/// local by the clamp to `span - offset - width` that replaces it) ends at
/// the segment's
/// last byte at the latest: not one byte past it (the canaries start right
/// after the segment), for every width; in-bounds accesses are unchanged.
#[test]
fn masked_is_exact_at_the_segments_end() {
    let wasm = wat::parse_str(
        r#"(module (memory 1 1)
          (func (export "s16") (param i32) (i32.store16 (local.get 0) (i32.const -1)))
          (func (export "s32") (param i32) (i32.store (local.get 0) (i32.const -1)))
          (func (export "s64") (param i32) (i64.store offset=3 (local.get 0) (i64.const -1)))
          (func (export "s128") (param i32) (v128.store (local.get 0) (v128.const i64x2 -1 -1)))
          (func (export "l64") (param i32) (result i32)
            (i32.wrap_i64 (i64.load (local.get 0))))
          (func (export "l8") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
    )
    .unwrap();
    let seg = Segment {
        base: BASE,
        size: PAGE,
    };
    let mut s = Store::new(&engine(), ());
    let (i, u) = instantiate(&mut s, &wasm, &options(seg, Isolation::Masked), &[]).unwrap();
    let last = PAGE as i32 - 1;
    for f in ["s16", "s32", "s64", "s128"] {
        for at in [last, last - 1, last - 2, -1, PAGE as i32 + 65535] {
            call(&mut s, &i, f, &[Val::I32(at)]).unwrap();
            assert_eq!(u.broken_canary(&s, 0), None, "{f} at {at:#x}");
        }
    }
    // The confined access reads inside the segment (its address local is
    // clamped to `65536 - 8`), the in-bounds one exactly its own byte.
    assert_eq!(
        call(&mut s, &i, "l64", &[Val::I32(last)]),
        Ok(Some(i32::from_le_bytes(
            u.memory.data(&s)[(BASE + PAGE - 8) as usize..][..4]
                .try_into()
                .unwrap()
        )))
    );
    assert_eq!(call(&mut s, &i, "l8", &[Val::I32(last)]), Ok(Some(0xff)));
    call(&mut s, &i, "s32", &[Val::I32(1000)]).unwrap();
    // A segment larger than the memory's maximum keeps the masked range
    // 16 bytes or more from its end: a mask alone (no remainder) confines
    // every access, and the canaries after the segment hold all the same.
    let seg2 = Segment {
        base: BASE,
        size: 2 * PAGE,
    };
    let out = rebase(&wasm, &options(seg2, Isolation::Masked)).unwrap();
    // (remainders, clamps): every address here is a local, so clamped.
    let remainders = |w: &[u8]| {
        let mut n = (0, 0);
        for p in wasmparser::Parser::new(0).parse_all(w) {
            if let Ok(wasmparser::Payload::CodeSectionEntry(b)) = p {
                let mut ops = b.get_operators_reader().unwrap();
                while !ops.eof() {
                    match ops.read().unwrap() {
                        wasmparser::Operator::I32RemU => n.0 += 1,
                        wasmparser::Operator::Select => n.1 += 1,
                        _ => {}
                    }
                }
            }
        }
        n
    };
    assert_eq!(remainders(&out.wasm), (0, 0));
    assert_eq!(
        remainders(
            &rebase(&wasm, &options(seg, Isolation::Masked))
                .unwrap()
                .wasm
        ),
        (0, 5),
        "one clamp per wide access"
    );
    let mut s2 = Store::new(&engine(), ());
    let (i2, u2) = instantiate(&mut s2, &wasm, &options(seg2, Isolation::Masked), &[]).unwrap();
    for f in ["s16", "s32", "s64", "s128"] {
        for at in [last, -1, 2 * PAGE as i32 - 1] {
            call(&mut s2, &i2, f, &[Val::I32(at)]).unwrap();
            assert_eq!(u2.broken_canary(&s2, 0), None, "{f} at {at:#x}");
        }
    }
    assert_eq!(
        &u.memory.data(&s)[(BASE + 996) as usize..][..12],
        &[0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]
    );
}

#[test]
fn constant_in_bounds_accesses_need_no_check() {
    let wasm = wat::parse_str(MODULE).unwrap();
    let out = rebase(
        &wasm,
        &options(
            Segment {
                base: BASE,
                size: 4 * PAGE,
            },
            Isolation::Checked,
        ),
    )
    .unwrap();
    assert_eq!(out.stats.elided, 1, "{:?}", out.stats);
    assert_eq!(out.stats.instructions, 8);
}

const WINDOWS: &str = r#"(module
  (import "env" "frame" (memory 1))
  (import "env" "config" (memory 1))
  (memory 1)
  (func (export "publish") (param i32) (i32.store (i32.const 8) (local.get 0)))
  (func (export "read_cfg") (param i32) (result i32) (i32.load 1 (local.get 0)))
  (func (export "size_cfg") (result i32) (memory.size 1))
  (func (export "grow_cfg") (param i32) (result i32) (memory.grow 1 (local.get 0)))
)"#;

fn windows(frame: Access) -> Vec<SharedWindow> {
    vec![
        SharedWindow {
            module: "env".into(),
            field: "frame".into(),
            segment: Segment {
                base: 8 * PAGE,
                size: PAGE,
            },
            access: frame,
        },
        SharedWindow {
            module: "env".into(),
            field: "config".into(),
            segment: Segment {
                base: 9 * PAGE,
                size: PAGE,
            },
            access: Access::Read,
        },
    ]
}

#[test]
fn shared_windows_map_imported_memories() {
    let wasm = wat::parse_str(WINDOWS).unwrap();
    let mut opts = options(
        Segment {
            base: BASE,
            size: PAGE,
        },
        Isolation::Checked,
    );
    opts.shared = windows(Access::Write);
    let mut s = Store::new(&engine(), ());
    let (i, u) = instantiate(&mut s, &wasm, &opts, &[]).unwrap();
    call(&mut s, &i, "publish", &[Val::I32(77)]).unwrap();
    assert_eq!(u.memory.data(&s)[(8 * PAGE + 8) as usize], 77);
    u.memory.data_mut(&mut s)[(9 * PAGE + 4) as usize..][..4].copy_from_slice(&[9, 0, 0, 0]);
    assert_eq!(call(&mut s, &i, "read_cfg", &[Val::I32(4)]), Ok(Some(9)));
    assert_eq!(
        call(&mut s, &i, "read_cfg", &[Val::I32(65533)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(call(&mut s, &i, "size_cfg", &[]), Ok(Some(1)));
    assert_eq!(call(&mut s, &i, "grow_cfg", &[Val::I32(1)]), Ok(Some(-1)));
    assert_eq!(call(&mut s, &i, "grow_cfg", &[Val::I32(0)]), Ok(Some(1)));
}

#[test]
fn a_write_into_a_read_window_is_refused_with_its_place() {
    let wasm = wat::parse_str(WINDOWS).unwrap();
    let mut opts = options(
        Segment {
            base: BASE,
            size: PAGE,
        },
        Isolation::Checked,
    );
    opts.shared = windows(Access::Read);
    match rebase(&wasm, &opts) {
        Err(Error::WriteToReadOnly {
            function,
            instruction,
            window,
            offset,
        }) => {
            assert_eq!((function, window.as_str()), (0, "env.frame"));
            assert_eq!(instruction, "I32Store");
            assert!(offset > 0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_input_is_refused() {
    let opts = options(
        Segment {
            base: BASE,
            size: PAGE,
        },
        Isolation::Checked,
    );
    assert_eq!(rebase(b"hello world", &opts).unwrap_err(), Error::NotWasm);
    let invalid = wat::parse_str("(module (func (result i32) (i64.const 0)))").unwrap();
    assert!(matches!(
        rebase(&invalid, &opts),
        Err(Error::Invalid { .. })
    ));
    let big = wat::parse_str("(module (memory 2))").unwrap();
    assert!(matches!(rebase(&big, &opts), Err(Error::TooSmall { .. })));
    let m64 = wat::parse_str("(module (memory i64 1))").unwrap();
    assert!(matches!(rebase(&m64, &opts), Err(Error::Memory64 { .. })));
    let wasm = wat::parse_str(WINDOWS).unwrap();
    let mut o = opts.clone();
    o.shared = windows(Access::Write);
    o.shared[1].segment.base = 8 * PAGE + 100;
    assert!(matches!(rebase(&wasm, &o), Err(Error::Overlap { .. })));
    let mut o = opts.clone();
    o.isolation = Isolation::Masked;
    o.segment.size = 3 * PAGE;
    let one = wat::parse_str("(module (memory 1))").unwrap();
    assert!(matches!(rebase(&one, &o), Err(Error::NotPowerOfTwo { .. })));
    let oob = wat::parse_str(r#"(module (memory 1) (data (i32.const 65535) "ab"))"#).unwrap();
    assert!(matches!(
        rebase(&oob, &opts),
        Err(Error::DataOutOfBounds { .. })
    ));
}

/// Module shapes without the sections the writer changes or inserts: the
/// output validates in every mode and imports only the unified memory.
#[test]
fn every_module_shape_gives_a_valid_output() {
    let shapes = [
        "(module)",
        "(module (func (export \"f\") (result i32) (i32.const 1)))",
        "(module (memory 1))",
        "(module (import \"env\" \"m\" (memory 1 2)) (func (result i32) (i32.load (i32.const 0))))",
        "(module (global $g (mut i32) (i32.const 5)) (memory 1) (export \"m\" (memory 0)) \
           (func (result i32) (global.get $g) (i32.load) (memory.grow (i32.const 1)) (i32.add)))",
        "(module (type (func)) (import \"env\" \"f\" (func)) (memory 1) (start 1) \
           (func (call 0) (i32.store8 (i32.const 3) (i32.const 4))) (data (i32.const 1) \"x\") (data \"passive\"))",
        "(module (memory 1 1 shared) (func (param i32) (result i32) \
           (i32.atomic.rmw.add (local.get 0) (i32.const 1))))",
        "(module (memory 1) (func (param i32 v128) (v128.store8_lane 3 (local.get 0) (local.get 1)) \
           (memory.init 0 (local.get 0) (i32.const 0) (i32.const 1)) (data.drop 0)) (data \"ab\"))",
    ];
    for wat in shapes {
        let wasm = wat::parse_str(wat).unwrap();
        for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
            let out = rebase(
                &wasm,
                &options(
                    Segment {
                        base: BASE,
                        size: PAGE,
                    },
                    iso,
                ),
            )
            .unwrap_or_else(|e| panic!("{wat} {iso:?}: {e}"));
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&out.wasm)
                .unwrap_or_else(|e| panic!("{wat} {iso:?}: {e}"));
            let memories: Vec<(String, String)> = wasmparser::Parser::new(0)
                .parse_all(&out.wasm)
                .filter_map(|p| match p.unwrap() {
                    wasmparser::Payload::ImportSection(r) => Some(r),
                    _ => None,
                })
                .flat_map(|r| r.into_imports().map(|i| i.unwrap()).collect::<Vec<_>>())
                .filter(|i| matches!(i.ty, wasmparser::TypeRef::Memory(_)))
                .map(|i| (i.module.to_string(), i.name.to_string()))
                .collect();
            assert_eq!(
                memories,
                [("env".to_string(), "memory".to_string())],
                "{wat}"
            );
        }
    }
}

/// A data segment at `global.get` of an imported global: `checked` applies
/// it from an appended start function, after checking it as instantiation
/// would, then runs the module's own start function; out of bounds, the
/// instantiation fails with the original's trap and writes nothing.
#[test]
fn data_at_an_imported_global_is_checked_at_instantiation() {
    let wasm = wat::parse_str(
        r#"(module
          (import "env" "off" (global $off i32))
          (memory 1 1)
          (global $seen (mut i32) (i32.const 0))
          (data (i32.const 8) "\01\02")
          (data (global.get $off) "\2a\2b\2c\2d")
          (data (i32.const 9) "\09")
          (func $start (global.set $seen (i32.load8_u (global.get $off))))
          (start $start)
          (func (export "seen") (result i32) (global.get $seen))
          (func (export "reinit") (memory.init 1 (i32.const 0) (i32.const 0) (i32.const 1))))"#,
    )
    .unwrap();
    let seg = Segment {
        base: BASE,
        size: PAGE,
    };
    for iso in [Isolation::Checked, Isolation::Masked] {
        let run = |off: i32| {
            let mut s = Store::new(&engine(), ());
            let g = wasmi::Global::new(&mut s, Val::I32(off), wasmi::Mutability::Const);
            let extra = [(
                "env".to_string(),
                "off".to_string(),
                wasmi::Extern::Global(g),
            )];
            let r = instantiate(&mut s, &wasm, &options(seg, iso), &extra);
            (s, r)
        };
        let (mut s, r) = run(100);
        let (i, u) = r.unwrap();
        let mem = &u.memory.data(&s)[BASE as usize..];
        assert_eq!(&mem[100..104], &[0x2a, 0x2b, 0x2c, 0x2d], "{iso:?}");
        assert_eq!(&mem[8..10], &[1, 9], "{iso:?}: segments apply in order");
        assert_eq!(
            call(&mut s, &i, "seen", &[]),
            Ok(Some(0x2a)),
            "start ran after"
        );
        // Applied, so dropped, as an active segment is.
        assert_eq!(
            call(&mut s, &i, "reinit", &[]),
            Err(TrapCode::MemoryOutOfBounds)
        );
        assert_eq!(u.broken_canary(&s, 0), None);
        for off in [PAGE as i32 - 3, -4] {
            let (_, r) = run(off);
            let e = r.err().expect("out of bounds: no instance");
            assert!(
                e.contains("out of bounds memory access"),
                "{iso:?} {off}: {e}"
            );
        }
    }
    // Nothing is written past the segment when instantiation fails.
    let mut s = Store::new(&engine(), ());
    let g = wasmi::Global::new(&mut s, Val::I32(PAGE as i32 - 2), wasmi::Mutability::Const);
    let extra = [(
        "env".to_string(),
        "off".to_string(),
        wasmi::Extern::Global(g),
    )];
    let out = rebase(&wasm, &options(seg, Isolation::Checked)).unwrap();
    let unified = Unified::new(&mut s, seg);
    let module = wasmi::Module::new(s.engine(), &out.wasm[..]).unwrap();
    let mut linker = wasmi::Linker::<()>::new(s.engine());
    linker.define("env", "memory", unified.memory).unwrap();
    linker.define(&extra[0].0, &extra[0].1, extra[0].2).unwrap();
    assert!(linker.instantiate_and_start(&mut s, &module).is_err());
    assert_eq!(unified.broken_canary(&s, 0), None);
}

/// `checked` traps with an access at 2^32 (`rewrite::OOB_TRAP`), which
/// must trap whatever the unified memory's size: here it is 4 GiB, the
/// largest a 32-bit memory can be, and the segment is its second-last
/// 64 KiB, so an overrun of one byte relocates to an address inside the
/// unified memory. Were the trap form to reach a byte of it (as
/// `offset=0` would, at 2^32 - 1), the store after the check would write
/// into the last 64 KiB. Ignored by default: wasmi zeroes the 4 GiB (4 GiB
/// resident for 3 s); `src/rewrite/emit.rs` checks the form's arithmetic
/// on every run.
#[test]
#[ignore = "allocates and zeroes a 4 GiB memory; run with --ignored"]
fn checked_traps_in_a_4_gib_unified_memory() {
    let wasm = wat::parse_str(
        r#"(module (memory 1 1)
          (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
          (func (export "fill") (param i32 i32) (memory.fill (local.get 0) (local.get 1) (i32.const 1))))"#,
    )
    .unwrap();
    let seg = Segment {
        base: (1 << 32) - 2 * PAGE,
        size: PAGE,
    };
    let out = rebase(&wasm, &options(seg, Isolation::Checked)).unwrap();
    let mut s = Store::new(&engine(), ());
    let memory = wasmi::Memory::new(&mut s, wasmi::MemoryType::new(65536, Some(65536))).unwrap();
    assert_eq!(memory.data(&s).len() as u64, 1 << 32);
    let module = wasmi::Module::new(s.engine(), &out.wasm[..]).unwrap();
    let mut linker = wasmi::Linker::<()>::new(s.engine());
    linker.define("env", "memory", memory).unwrap();
    let i = linker.instantiate_and_start(&mut s, &module).unwrap();
    let last = (PAGE - 1) as i32;
    for f in ["store", "fill"] {
        assert_eq!(
            call(&mut s, &i, f, &[Val::I32(last), Val::I32(7)]),
            Ok(None)
        );
        for addr in [last + 1, last + 2, -1] {
            assert_eq!(
                call(&mut s, &i, f, &[Val::I32(addr), Val::I32(9)]),
                Err(TrapCode::MemoryOutOfBounds),
                "{f} {addr:#x}"
            );
        }
    }
    let data = memory.data(&s);
    let end = (seg.base + seg.size) as usize;
    assert_eq!(data[end - 1], 7, "the segment's last byte");
    assert!(
        data[end..].iter().all(|&b| b == 0),
        "nothing past the segment"
    );
}

/// `trusted` without validation reads the data segments beside the bodies
/// (`read`'s `defer`), after `plan` and the sections that follow; a bad
/// data section is still the error reported, as `checked` (which reads them
/// at once) reports it, before a refusal of `plan` or a bad later section.
#[test]
fn a_bad_data_section_is_the_error_when_its_reading_is_deferred() {
    let good = wat::parse_str(r#"(module (memory 1) (data (i32.const 0) "abcd"))"#).unwrap();
    // The segment's length past the section's end (the data section is last).
    let at = good.windows(5).rposition(|w| w == b"\x04abcd").unwrap();
    let mut bad = good.clone();
    bad[at] = 0x7F;
    // A custom section after it whose name runs past its end.
    let mut bad_after = bad.clone();
    bad_after.extend_from_slice(&[0x00, 0x02, 0x10, b'n']);
    let mut good_after = good.clone();
    good_after.extend_from_slice(&[0x00, 0x02, 0x10, b'n']);
    let err = |wasm: &[u8], iso, pages| rebase(wasm, &opts(iso, pages, false)).unwrap_err();
    // The segment (1 page) and a segment too small for the memory.
    for pages in [1, 0] {
        for wasm in [&bad, &bad_after] {
            let deferred = err(wasm, Isolation::Trusted, pages);
            assert_eq!(
                deferred.to_string(),
                err(wasm, Isolation::Checked, pages).to_string()
            );
            assert!(!matches!(deferred, Error::TooSmall { .. }), "{deferred}");
        }
    }
    // Without a bad data section, the later section's error.
    let later = err(&good_after, Isolation::Trusted, 1).to_string();
    assert_ne!(later, err(&bad_after, Isolation::Trusted, 1).to_string());
    assert!(rebase(&good, &opts(Isolation::Trusted, 1, false)).is_ok());
}
