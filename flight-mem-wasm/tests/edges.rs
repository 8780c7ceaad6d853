//! Edges found by the session-7 audit, each run in wasmi: a grow of all
//! 65,536 pages, windows that are not whole pages, atomic waits on an
//! unshared own memory inside a shared unified one, and huge lazy data.

mod common;

use common::*;
use flight_mem_wasm::{Check, Isolation, Options, Segment, rebase};
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

/// The own-memory half of `original` (its memory 1 as memory 0: V8 in
/// node 20 has no multi-memory) and `rebased` (one shared window makes the
/// unified memory shared) run in V8, the one engine here with atomics
/// (wasmi has none): each export's result or `trap`, one line each; `None`
/// without node.
fn waits_in_node(original: &[u8], rebased: &[u8]) -> Option<String> {
    let d = std::env::temp_dir().join(format!("flight-edges-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("orig.wasm"), original).unwrap();
    std::fs::write(d.join("new.wasm"), rebased).unwrap();
    let script = r#"
const fs = require('fs');
const [dir] = process.argv.slice(1);
const run = (file, imports, names) => {
  const i = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(dir + file)), imports);
  return names.map((f) => {
    try { return f + '=' + i.exports[f](8); } catch (e) { return f + '=trap'; }
  }).join(' ');
};
console.log(run('/orig.wasm', {}, ['own32', 'own64', 'own32_oob']));
const memory = new WebAssembly.Memory({ initial: 8, maximum: 65536, shared: true });
console.log(run('/new.wasm', { env: { memory } }, ['own32', 'own64', 'own32_oob', 'frame32']));
"#;
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(&d)
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

const OWN_WAITS: &str = r#"
  (func (export "own32") (param i32) (result i32)
    (memory.atomic.wait32 $own (local.get 0) (i32.const 1) (i64.const 0)))
  (func (export "own64") (param i32) (result i32)
    (memory.atomic.wait64 $own (local.get 0) (i64.const 1) (i64.const 0)))
  (func (export "own32_oob") (param i32) (result i32)
    (memory.atomic.wait32 $own offset=65536 (local.get 0) (i32.const 1) (i64.const 0)))"#;

/// `memory.atomic.wait32/64` on the module's own unshared memory traps in
/// the original; once a shared window made the unified memory shared it
/// returned instead (1, "not-equal"). `checked` and `masked` trap before
/// it (the relocation table says `trap`); `trusted` adds nothing and the
/// wait runs. Waits on the shared window run in every mode.
#[test]
fn a_wait_on_an_unshared_own_memory_still_traps() {
    let wasm = wat::parse_str(format!(
        r#"(module (import "env" "frame" (memory 1 1 shared)) (memory $own 1) {OWN_WAITS}
          (func (export "frame32") (param i32) (result i32)
            (memory.atomic.wait32 0 (local.get 0) (i32.const 1) (i64.const 0))))"#
    ))
    .unwrap();
    let alone = wat::parse_str(format!("(module (memory $own 1) {OWN_WAITS})")).unwrap();
    for iso in MODES {
        let mut o = options(
            Segment {
                base: 4 * PAGE,
                size: PAGE,
            },
            iso,
        );
        o.shared.push(flight_mem_wasm::SharedWindow {
            module: "env".into(),
            field: "frame".into(),
            segment: Segment {
                base: 0,
                size: PAGE,
            },
            access: flight_mem_wasm::Access::Write,
        });
        o.relocations = true;
        let out = rebase(&wasm, &o).unwrap();
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&out.wasm)
            .unwrap();
        let checks: Vec<_> = out.relocations.iter().map(|r| r.check).collect();
        let own = if iso == Isolation::Trusted {
            Check::None
        } else {
            Check::Trap
        };
        let frame = match iso {
            Isolation::Checked => Check::Bounds,
            Isolation::Masked => Check::Mask,
            Isolation::Trusted => Check::None,
        };
        assert_eq!(checks, [own, own, own, frame], "{iso:?}");
        let Some(text) = waits_in_node(&alone, &out.wasm) else {
            eprintln!("node not found: the wait is checked in the relocation table only");
            continue;
        };
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0], "own32=trap own64=trap own32_oob=trap",
            "the original"
        );
        let want = match iso {
            // No isolation: the out-of-bounds wait lands in the unified
            // memory past the segment.
            Isolation::Trusted => "own32=1 own64=1 own32_oob=1 frame32=1",
            _ => "own32=trap own64=trap own32_oob=trap frame32=1",
        };
        assert_eq!(lines[1], want, "{iso:?}");
    }
}

/// A module whose one data segment lies at `global.get 0` plus `adds`
/// times `i32.const 0; i32.add` (extended-const), holding "xyz".
fn huge_offset(adds: usize) -> Vec<u8> {
    use wasm_encoder::{
        ConstExpr, DataSection, EntityType, ExportKind, ExportSection, GlobalType, ImportSection,
        MemorySection, MemoryType as Mt, Module as M, ValType,
    };
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
    let mut mems = MemorySection::new();
    mems.memory(Mt {
        minimum: 1,
        maximum: Some(1),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("mem", ExportKind::Memory, 0);
    let mut expr = vec![0x23, 0x00];
    for _ in 0..adds {
        expr.extend_from_slice(&[0x41, 0x00, 0x6A]);
    }
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::raw(expr), b"xyz".iter().copied());
    let mut m = M::new();
    m.section(&imports)
        .section(&mems)
        .section(&exports)
        .section(&data);
    m.finish()
}

/// Instantiates `wasm` (rebased when `opts`) with `env.g = 16`: its memory
/// at 14..21, canaries checked.
fn bytes_at_16(wasm: &[u8], opts: Option<&Options>) -> Vec<u8> {
    let engine = engine();
    let mut s = Store::new(&engine, ());
    let g = wasmi::Global::new(&mut s, Val::I32(16), wasmi::Mutability::Const);
    let Some(o) = opts else {
        let module = Module::new(&engine, wasm).unwrap();
        let mut linker = Linker::<()>::new(&engine);
        linker.define("env", "g", g).unwrap();
        let i = linker.instantiate_and_start(&mut s, &module).unwrap();
        let m = i.get_memory(&s, "mem").unwrap();
        return m.data(&s)[14..21].to_vec();
    };
    let extra = [("env".into(), "g".into(), wasmi::Extern::Global(g))];
    let (_, u) = instantiate(&mut s, wasm, o, &extra).unwrap();
    assert_eq!(u.broken_canary(&s, 0), None);
    let at = (o.segment.base + 14) as usize;
    u.memory.data(&s)[at..at + 7].to_vec()
}

/// `checked` and `masked` apply a data segment at an offset known only at
/// instantiation from an appended start function that holds the offset
/// expression twice: a huge extended-const expression took it past the
/// engines' 7,654,321 bytes per body, an output no engine loads. Refused
/// now, as rewritten bodies past it are; `trusted` (which relocates the
/// expression in place) and smaller expressions still rebase and run.
#[test]
fn a_start_function_past_the_body_limit_is_refused() {
    big_stack(start_function_past_the_body_limit);
}

fn start_function_past_the_body_limit() {
    let seg = Segment {
        base: BASE,
        size: PAGE,
    };
    let want = bytes_at_16(&huge_offset(1_000_000), None);
    assert_eq!(&want[2..5], b"xyz");
    for iso in MODES {
        let o = options(seg, iso);
        assert_eq!(
            bytes_at_16(&huge_offset(1_000_000), Some(&o)),
            want,
            "{iso:?}"
        );
        let big = huge_offset(1_300_000);
        match (iso, rebase(&big, &o)) {
            (Isolation::Trusted, Ok(_)) => assert_eq!(bytes_at_16(&big, Some(&o)), want),
            (_, Err(e)) => assert!(e.to_string().contains("7654321"), "{iso:?}: {e}"),
            (_, Ok(_)) => panic!("{iso:?}: a start function past the engines' limit"),
        }
    }
}

/// Without validation the element and table sections are copied as they
/// are, even malformed: they hold only constant expressions and function
/// and table indices, nothing that touches linear memory, and an engine
/// loading the output rejects them there (README, `--no-validate`).
#[test]
fn malformed_element_and_table_sections_pass_through_to_the_engine() {
    use wasm_encoder::{MemorySection, MemoryType as Mt, Module as M, RawSection};
    // Table section (4), element section (9): counts that promise more
    // than the bytes hold, and an unknown element kind.
    for (id, data) in [(4u8, &[0x05, 0x70][..]), (9, &[0x03, 0x07, 0xFF])] {
        let mut mems = MemorySection::new();
        mems.memory(Mt {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut m = M::new();
        if id == 4 {
            m.section(&RawSection { id, data });
            m.section(&mems);
        } else {
            m.section(&mems);
            m.section(&RawSection { id, data });
        }
        let wasm = m.finish();
        let mut o = options(
            Segment {
                base: BASE,
                size: PAGE,
            },
            Isolation::Checked,
        );
        assert!(rebase(&wasm, &o).is_err(), "section {id}: validated");
        o.validate = false;
        let out = rebase(&wasm, &o).unwrap_or_else(|e| panic!("section {id}: {e}"));
        assert!(
            Module::new(&engine(), &out.wasm[..]).is_err(),
            "section {id}: an engine loads the malformed output"
        );
    }
}
