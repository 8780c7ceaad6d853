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
