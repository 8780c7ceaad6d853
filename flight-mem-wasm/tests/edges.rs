//! Edges found by the session-7 audit, each run in wasmi: a grow of all
//! 65,536 pages, windows that are not whole pages, atomic waits on an
//! unshared own memory inside a shared unified one, and huge lazy data.

mod common;

use common::*;
use flight_mem_wasm::{Isolation, Options, Segment, rebase};
use wasmi::{Linker, Memory, MemoryType, Module, Store, Val};

const MODES: [Isolation; 3] = [Isolation::Checked, Isolation::Masked, Isolation::Trusted];

/// Calls the export `name` with `args`; its one i32 result or the trap.
fn call(
    store: &mut Store<()>,
    i: &wasmi::Instance,
    name: &str,
    args: &[Val],
) -> Result<i32, String> {
    let f = i.get_func(&*store, name).expect("export");
    let mut out = [Val::I32(0)];
    f.call(&mut *store, args, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out[0].i32().unwrap())
}

/// One grow by 65,536 pages (a 4 GiB segment at base 0, the whole unified
/// memory): every new page reads as zero, whatever bytes were there. The
/// fill's length `pages << 16` once wrapped to 0 in 32 bits and left them.
#[test]
fn a_grow_by_all_65536_pages_zeroes_them() {
    let wasm = wat::parse_str(
        r#"(module (memory 0)
          (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
          (func (export "size") (result i32) (memory.size))
          (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
    )
    .unwrap();
    let probes: [u32; 4] = [0, 0x1234_5678, 0x8000_0000, u32::MAX];
    for iso in MODES {
        let mut o = Options::new(Segment {
            base: 0,
            size: 1 << 32,
        });
        o.isolation = iso;
        let out = rebase(&wasm, &o).unwrap().wasm;
        let engine = engine();
        let mut store = Store::new(&engine, ());
        let memory = Memory::new(&mut store, MemoryType::new(65536, Some(65536))).unwrap();
        for &p in &probes {
            memory.data_mut(&mut store)[p as usize] = 0xAA;
        }
        let module = Module::new(&engine, &out[..]).unwrap();
        let mut linker = Linker::<()>::new(&engine);
        linker.define("env", "memory", memory).unwrap();
        let i = linker.instantiate_and_start(&mut store, &module).unwrap();
        assert_eq!(
            call(&mut store, &i, "grow", &[Val::I32(65536)]),
            Ok(0),
            "{iso:?}"
        );
        assert_eq!(call(&mut store, &i, "size", &[]), Ok(65536), "{iso:?}");
        for &p in &probes {
            let got = call(&mut store, &i, "load", &[Val::I32(p as i32)]);
            assert_eq!(got, Ok(0), "{iso:?}: byte {p:#x} after the grow");
        }
        assert_eq!(
            call(&mut store, &i, "grow", &[Val::I32(1)]),
            Ok(-1),
            "{iso:?}"
        );
    }
}

/// A window of 1.5 pages is the one page `memory.size` reports: `checked`
/// traps past it, as the original (whose imported memory ends at a page
/// boundary) does; loads, stores and bulk instructions alike. It once
/// checked against the window's bytes and let the half page through.
#[test]
fn a_window_of_a_page_and_a_half_is_one_page() {
    let wasm = wat::parse_str(
        r#"(module (import "env" "frame" (memory 1)) (memory 1)
          (func (export "size") (result i32) (memory.size 0))
          (func (export "load") (param i32) (result i32) (i32.load8_u 0 (local.get 0)))
          (func (export "store") (param i32) (result i32)
            (i32.store8 0 (local.get 0) (i32.const 7)) (i32.const 0))
          (func (export "fill") (param i32) (result i32)
            (memory.fill 0 (local.get 0) (i32.const 9) (i32.const 2)) (i32.const 0)))"#,
    )
    .unwrap();
    let window = flight_mem_wasm::SharedWindow {
        module: "env".into(),
        field: "frame".into(),
        segment: Segment {
            base: 0,
            size: PAGE + PAGE / 2,
        },
        access: flight_mem_wasm::Access::Write,
    };
    let mut o = options(
        Segment {
            base: BASE,
            size: PAGE,
        },
        Isolation::Checked,
    );
    o.shared.push(window);
    let engine = engine();
    let mut s = Store::new(&engine, ());
    let (i, u) = instantiate(&mut s, &wasm, &o, &[]).unwrap();
    assert_eq!(call(&mut s, &i, "size", &[]), Ok(1));
    for f in ["load", "store", "fill"] {
        let inside = call(&mut s, &i, f, &[Val::I32(0xFFFE)]);
        assert!(inside.is_ok(), "{f} inside: {inside:?}");
        for a in [0x1_0000, 0x1_0001, 0x1_7FFF] {
            let got = call(&mut s, &i, f, &[Val::I32(a)]);
            assert!(
                got.as_ref().is_err_and(|e| e.contains("out of bounds")),
                "{f} at {a:#x}: {got:?}"
            );
        }
    }
    // The half page past the window's whole page is untouched.
    let data = u.memory.data(&s);
    assert!((PAGE..PAGE + PAGE / 2).all(|i| data[i as usize] == canary(i)));
}
