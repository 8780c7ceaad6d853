//! audit8: isolation of rebased modules.
//!
//! - Without validation (`Options::validate = false`, `--no-validate`), an
//!   index past the input's own locals or globals is invalid in the input
//!   but names one of the rewriter's appended scratch locals or globals in
//!   the output, which then validates. README promises that an invalid
//!   input gives an invalid output; tests here write the masked copy local
//!   (fixed: a walk ends at a write to a scratch local) and the size and
//!   limit globals (fixed: `checked` and `masked` refuse a `global.set`
//!   past the input's globals).
//! - `masked` accesses wider than a window of 1 to 8 bytes (the clamp's
//!   last start went negative: a panic, or in release an access past the
//!   window); now they trap, as every one does in the original.
//! - `masked`'s copy reuse (`track::Copy::serves`), random functions over
//!   a window and the own memory (held).
//! - A wait on an unshared window beside a shared one (fixed: it ran).
//! - `checked` bulk instructions at the import maximum (held).

mod common;

use common::{BASE, PAGE, Rng, Unified, engine, opts};
use flight_mem_wasm::{Isolation, rebase};
use wasmi::{Linker, Module, Store, Val};

/// Rebases `wat` without validation and calls `f(a)`: `Err` when the
/// rebase refuses it or the engine rejects the output; else whether the
/// call trapped and the first canary byte outside the segment it changed.
fn run_unvalidated(
    wat: &str,
    iso: Isolation,
    pages: u64,
    a: i32,
) -> Result<(bool, Option<u64>), String> {
    let wasm = wat::parse_str(wat).expect("wat");
    let o = opts(iso, pages, false);
    let out = rebase(&wasm, &o).map_err(|e| format!("rebase: {e}"))?;
    let engine = engine();
    let mut store = Store::new(&engine, ());
    let unified = Unified::new(&mut store, o.segment);
    let module = Module::new(&engine, &out.wasm[..]).map_err(|e| format!("wasmi: {e}"))?;
    let mut linker = Linker::<()>::new(&engine);
    linker
        .define("env", "memory", unified.memory)
        .map_err(|e| e.to_string())?;
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| format!("instantiate: {e}"))?;
    let f = instance.get_func(&store, "f").expect("export f");
    let trapped = f.call(&mut store, &[Val::I32(a)], &mut []).is_err();
    Ok((trapped, unified.broken_canary(&store, 0)))
}

/// The outcome must be a refusal, a rejected output, or a run that left
/// every byte outside the segment alone.
fn assert_isolated(wat: &str, iso: Isolation, pages: u64, a: i32) {
    match run_unvalidated(wat, iso, pages, a) {
        Err(_) => {}
        Ok((_, None)) => {}
        Ok((trapped, Some(at))) => panic!(
            "{iso:?}: an invalid input's output validated and wrote outside its segment \
             at {at:#x} (segment {BASE:#x}..{:#x}; trapped afterwards: {trapped})",
            BASE + pages * PAGE
        ),
    }
}

/// Far past a 2-page segment, inside the unified memory's tail canaries.
const FAR: i32 = (2 * PAGE + PAGE / 2) as i32;

#[test]
fn checked_an_unvalidated_write_of_the_limit_global_is_no_escape() {
    // No globals of its own: the rewriter appends pages (0), bytes (1) and
    // one limit per width (2..); the limit of 4-byte accesses is global 4.
    // The memory can grow (1 to 2 pages), so the check reads the limit.
    let wat = r#"(module (memory 1 2)
      (func (export "f") (param $a i32)
        (global.set 4 (i32.const -1))
        (i32.store (local.get $a) (i32.const 0x5a5a5a5a))))"#;
    assert_isolated(wat, Isolation::Checked, 2, FAR);
}

#[test]
fn checked_an_unvalidated_write_of_the_bytes_global_is_no_escape() {
    // An access whose extent passes the initial size is checked against
    // the bytes global (1), an i64.
    let wat = r#"(module (memory 1 2)
      (func (export "f") (param $a i32)
        (global.set 1 (i64.const 0x7fffffffffff))
        (i32.store offset=65536 (local.get $a) (i32.const 0x5a5a5a5a))))"#;
    assert_isolated(wat, Isolation::Checked, 2, FAR);
}

#[test]
fn masked_an_unvalidated_write_of_the_copy_local_is_no_escape() {
    // One parameter: the scratch locals start at 1, the masked copy is
    // local 4. The read-modify-write keeps `$a` confined in the copy, the
    // invalid `local.set 4` overwrites it, and the second store through
    // `$a` reads the copy back as its address.
    let wat = format!(
        r#"(module (memory 1 2)
      (func (export "f") (param $a i32)
        local.get $a
        local.get $a
        i32.load
        i32.const 1
        i32.add
        i32.store
        i32.const {FAR}
        local.set 4
        local.get $a
        i32.const 0x5a5a5a5a
        i32.store))"#
    );
    assert_isolated(&wat, Isolation::Masked, 2, 0);
}

#[test]
fn masked_an_unvalidated_write_of_the_copy_between_load_and_store_is_no_escape() {
    // The copy is written between the load that reads it and the store
    // that makes it the copy: the later store through `$a` reads it back.
    let wat = format!(
        r#"(module (memory 1 2)
      (func (export "f") (param $a i32)
        local.get $a
        local.get $a
        i32.load
        i32.const {FAR}
        local.set 4
        i32.store
        local.get $a
        i32.const 0x5a5a5a5a
        i32.store))"#
    );
    assert_isolated(&wat, Isolation::Masked, 2, 0);
}

#[test]
fn masked_an_unvalidated_write_of_the_limit_global_is_no_escape() {
    // `masked` confines by constants, never by the globals: a control.
    let wat = r#"(module (memory 1 2)
      (func (export "f") (param $a i32)
        (global.set 4 (i32.const -1))
        (i32.store (local.get $a) (i32.const 0x5a5a5a5a))))"#;
    assert_isolated(wat, Isolation::Masked, 2, FAR);
}

#[test]
fn masked_an_unvalidated_write_of_the_bytes_global_then_a_grow_is_no_escape() {
    // `memory.grow` zero-fills the new pages at `base + bytes`: the bytes
    // global (1) set to the segment's size puts them on the tail.
    let wat = r#"(module (memory 1 2)
      (func (export "f") (param $a i32)
        (global.set 1 (i64.const 0x20000))
        (drop (memory.grow (i32.const 1)))))"#;
    for iso in [Isolation::Masked, Isolation::Checked] {
        assert_isolated(wat, iso, 2, 0);
    }
}

/// A `masked` rebase with one window `env.win` of `size` bytes at 0 and
/// the own memory's segment at [`BASE`] (two pages); `f(a)` is called.
fn run_window(wat: &str, size: u64, a: i32) -> Result<(bool, Option<u64>), String> {
    let wasm = wat::parse_str(wat).expect("wat");
    let mut o = opts(Isolation::Masked, 2, true);
    o.shared.push(flight_mem_wasm::SharedWindow {
        module: "env".into(),
        field: "win".into(),
        segment: flight_mem_wasm::Segment { base: 0, size },
        access: flight_mem_wasm::Access::Write,
    });
    let out = rebase(&wasm, &o).map_err(|e| format!("rebase: {e}"))?;
    let engine = engine();
    let mut store = Store::new(&engine, ());
    let unified = Unified::new(&mut store, o.segment);
    // The window's bytes are the module's to change: canaries are checked
    // only outside `[0, size)` and the segment.
    let module = Module::new(&engine, &out.wasm[..]).map_err(|e| format!("wasmi: {e}"))?;
    let mut linker = Linker::<()>::new(&engine);
    linker
        .define("env", "memory", unified.memory)
        .map_err(|e| e.to_string())?;
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| format!("instantiate: {e}"))?;
    let f = instance.get_func(&store, "f").expect("export f");
    let trapped = f.call(&mut store, &[Val::I32(a)], &mut []).is_err();
    let data = unified.memory.data(&store);
    let broken = (size..BASE).find(|&i| data[i as usize] != common::canary(i));
    Ok((
        trapped,
        broken.or(unified.broken_canary(&store, 0).filter(|&i| i >= BASE)),
    ))
}

#[test]
fn masked_accesses_wider_than_a_tiny_window_stay_inside_it() {
    // Windows of 1 to 8 bytes (powers of two, as `masked` needs), accesses
    // of every width through a local and a constant, stores and loads:
    // a refusal is fine, a panic or a byte changed outside is not.
    for size in [1u64, 2, 4, 8] {
        for (store, value) in [
            ("i32.store8", "(i32.const -1)"),
            ("i32.store16", "(i32.const -1)"),
            ("i32.store", "(i32.const -1)"),
            ("i64.store", "(i64.const -1)"),
            ("v128.store", "(v128.const i64x2 -1 -1)"),
        ] {
            for off in [0u64, 1, 3, 7, 8, 15] {
                let wat = format!(
                    r#"(module (import "env" "win" (memory 0 0))
                      (func (export "f") (param $a i32)
                        ({store} offset={off} (local.get $a) {value})
                        ({store} offset={off} (i32.const 5) {value})))"#
                );
                for a in [0, 1, 7, 8, 15, 16, 0x7fff_ffff, -1] {
                    let got = std::panic::catch_unwind(|| run_window(&wat, size, a));
                    match got {
                        Err(_) => {
                            panic!("window {size}, {store} offset={off}: the rebase panicked")
                        }
                        Ok(Err(_)) | Ok(Ok((_, None))) => {}
                        Ok(Ok((t, Some(at)))) => panic!(
                            "window {size}, {store} offset={off}, address {a}: byte {at:#x} \
                             outside the window changed (trapped: {t})"
                        ),
                    }
                }
            }
        }
    }
}

/// A function that keeps one local's address confined in the masked copy
/// (a read-modify-write through `$a`), then changes locals, globals and
/// control between later accesses through `$a` of other widths, offsets
/// and memories (the window `$w` is memory 0, imported as `0 1` pages so
/// that windows of 8 bytes to two pages fit it; the own memory is 1).
fn copy_module(rng: &mut Rng) -> String {
    let offsets = [
        0u64,
        1,
        3,
        8,
        100,
        0x7ff0,
        0xfff8,
        0xffff,
        0x1_0000,
        0x1_fff0,
        0x1_fffc,
        0x1_ffff,
        0x2_0000,
        0x3_0000,
        0x7fff_fff0,
    ];
    let accesses = [
        ("i32.load8_u", "i32.store8", "i32", "i32.const -1"),
        ("i32.load16_u", "i32.store16", "i32", "i32.const -1"),
        ("i32.load", "i32.store", "i32", "i32.const -1"),
        ("i64.load", "i64.store", "i64", "i64.const -1"),
        ("v128.load", "v128.store", "v128", "v128.const i64x2 -1 -1"),
    ];
    let rmw = |rng: &mut Rng, local: &str| {
        let (ld, st, ty, value) = rng.pick(&accesses);
        let (m, o) = (rng.pick(&[0, 1, 1]), rng.pick(&offsets));
        let (m2, o2) = match rng.next() % 3 {
            0 => (m, o),
            1 => (rng.pick(&[0, 1]), o),
            _ => (m, rng.pick(&offsets)),
        };
        let combine = match ty {
            "v128" => "v128.or",
            "i64" => "i64.or",
            _ => "i32.or",
        };
        format!(
            "local.get {local} local.get {local} {ld} {m} offset={o} {value} {combine} {st} {m2} offset={o2}\n"
        )
    };
    let access = |rng: &mut Rng, local: &str| {
        let (ld, st, _, value) = rng.pick(&accesses);
        let (m, o) = (rng.pick(&[0, 1, 1]), rng.pick(&offsets));
        if rng.next().is_multiple_of(2) {
            format!("local.get {local} {value} {st} {m} offset={o}\n")
        } else {
            format!("local.get {local} {ld} {m} offset={o} drop\n")
        }
    };
    let noise = |rng: &mut Rng| -> String {
        let k = rng.pick(&[1i64, 4, 16, -8, 0x1_0000, 0x2_0000, 0x7fff_ffff, -1]);
        match rng.next() % 16 {
            0 => "local.get $b local.set $a".into(),
            1 => format!("local.get $a i32.const {k} i32.add local.set $a"),
            2 => format!("i32.const {k} local.tee $a drop"),
            3 => "global.get $g local.set $a".into(),
            4 => format!("i32.const {k} global.set $g"),
            5 => "local.get $a local.get $b local.get $c select local.set $a".into(),
            6 => format!("local.get $c (if (then i32.const {k} local.set $a))"),
            7 => format!("(block local.get $c br_if 0 i32.const {k} local.set $a)"),
            8 => format!("local.get $a i32.const {k} call $h local.set $a drop"),
            9 => "local.get $b local.set $c".into(),
            10 => "nop local.get $a drop".into(),
            11 => format!("(block (block local.get $c br_table 0 1) i32.const {k} local.set $a)"),
            12 => "call $grow drop".into(),
            13 => format!("i32.const {k} local.get $a local.set $b local.set $a"),
            14 => format!("local.get $a local.tee $b i32.const {k} i32.xor local.set $a"),
            _ => "local.get $b local.get $a i32.add local.set $b".into(),
        }
    };
    let mut funcs = String::new();
    for f in 0..3 {
        let mut body = rmw(rng, "$a");
        for _ in 0..2 + rng.next() % 6 {
            match rng.next() % 5 {
                0 | 1 => body += &access(rng, "$a"),
                2 => body += &rmw(rng, "$a"),
                3 => body += &rmw(rng, "$b"),
                _ => body += &format!("{}\n", noise(rng)),
            }
            if rng.next().is_multiple_of(2) {
                body += &format!("{}\n", noise(rng));
            }
        }
        if rng.next().is_multiple_of(3) {
            body = format!(
                "(loop $l {body} local.get $a i32.const {} i32.add local.set $a
                   local.get $n i32.const 1 i32.sub local.tee $n br_if $l)\n",
                rng.pick(&[4, 0x1_0000, 0x2_0000, -0x1_0000])
            );
        }
        funcs += &format!(
            "(func (export \"f{f}\") (param $a i32) (param $b i32) (param $c i32) (local $n i32)
               (local.set $n (i32.const 3))
               (local.set $c (i32.and (local.get $c) (i32.const 3)))
               {body})\n"
        );
    }
    format!(
        "(module
           (import \"env\" \"win\" (memory $w 0 1))
           (memory $m 1 2)
           (global $g (mut i32) (i32.const 0x1fff8))
           (func $h (param i32 i32) (result i32 i32) local.get 1 local.get 0)
           (func $grow (result i32) (memory.grow $m (i32.const 1)))
           {funcs})"
    )
}

#[test]
fn masked_copies_never_serve_an_access_outside_its_memory() {
    common::big_stack(copies);
}

fn copies() {
    let mut rng = Rng(0xa0d1_7008 | 1);
    let addresses: [i32; 14] = [
        0,
        1,
        8,
        0xfff8,
        0xffff,
        0x1_0000,
        0x1_fff0,
        0x1_fffc,
        0x1_ffff,
        0x2_0000,
        0x3_0000,
        0x7fff_ffff,
        -16,
        -1,
    ];
    let (mut calls, mut trapped, mut reads) = (0u64, 0u64, 0usize);
    for case in 0..std::env::var("AUDIT8_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
    {
        let text = copy_module(&mut rng);
        let wasm = wat::parse_str(&text).expect("generated module");
        let wsize = rng.pick(&[8, 16, 0x100, PAGE, 2 * PAGE]);
        let pages = rng.pick(&[2, 2, 4]);
        let mut o = opts(Isolation::Masked, pages, true);
        o.shared.push(flight_mem_wasm::SharedWindow {
            module: "env".into(),
            field: "win".into(),
            segment: flight_mem_wasm::Segment {
                base: 0,
                size: wsize,
            },
            access: flight_mem_wasm::Access::Write,
        });
        reads += copy_reads(&rebase(&wasm, &o).expect("rebase").wasm);
        let engine = engine();
        let mut store = Store::new(&engine, ());
        let (inst, unified) = common::instantiate(&mut store, &wasm, &o, &[])
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        for f in 0..3 {
            let func = inst.get_func(&store, &format!("f{f}")).expect("export");
            for _ in 0..6 {
                let args: Vec<Val> = (0..3).map(|_| Val::I32(rng.pick(&addresses))).collect();
                calls += 1;
                if func.call(&mut store, &args, &mut []).is_err() {
                    trapped += 1;
                }
                let data = unified.memory.data(&store);
                let seg = o.segment;
                let broken = (wsize..seg.base)
                    .chain(seg.base + seg.size..data.len() as u64)
                    .find(|&i| data[i as usize] != common::canary(i));
                if let Some(at) = broken {
                    panic!(
                        "case {case}: f{f}({args:?}) changed byte {at:#x} outside the window \
                         [0, {wsize:#x}) and the segment [{:#x}, {:#x})\n{text}",
                        seg.base,
                        seg.base + seg.size
                    );
                }
            }
        }
    }
    println!("{calls} calls, {trapped} trapped, {reads} reads of the copy");
    assert!(trapped < calls / 2, "{trapped} of {calls} calls trapped");
    assert!(reads > 100, "the copy served {reads} accesses only");
}

/// Reads of the masked copy in the exported functions of a rebased
/// `copy_module`: four locals of their own, so the scratch locals start at
/// 4 and the copy (`SCRATCH_COPY`, 3) is local 7.
fn copy_reads(w: &[u8]) -> usize {
    let mut n = 0;
    for p in wasmparser::Parser::new(0).parse_all(w) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(b)) = p {
            let mut ops = b.get_operators_reader().unwrap();
            while !ops.eof() {
                let op = ops.read().unwrap();
                n += usize::from(matches!(
                    op,
                    wasmparser::Operator::LocalGet { local_index: 7 }
                ));
            }
        }
    }
    n
}

/// A wait on an *unshared window* traps in the original as one on an
/// unshared own memory does; with a shared window beside it the unified
/// memory is shared, and the wait would run (session 7 fixed the own
/// memory only). `checked` and `masked` must trap before it.
#[test]
fn a_wait_on_an_unshared_window_beside_a_shared_one_traps() {
    let wasm = wat::parse_str(
        r#"(module
          (import "env" "frame" (memory 1 1 shared))
          (import "env" "plain" (memory 1 1))
          (func (export "w32") (param i32) (result i32)
            (memory.atomic.wait32 1 (local.get 0) (i32.const 1) (i64.const -1)))
          (func (export "w64") (param i32) (result i32)
            (memory.atomic.wait64 1 (local.get 0) (i64.const 1) (i64.const -1)))
          (func (export "frame") (param i32) (result i32)
            (memory.atomic.wait32 0 (local.get 0) (i32.const 1) (i64.const 0))))"#,
    )
    .unwrap();
    for iso in [Isolation::Checked, Isolation::Masked] {
        let mut o = opts(iso, 1, true);
        o.segment.base = 4 * PAGE;
        for (field, base) in [("frame", 0), ("plain", PAGE)] {
            o.shared.push(flight_mem_wasm::SharedWindow {
                module: "env".into(),
                field: field.into(),
                segment: flight_mem_wasm::Segment { base, size: PAGE },
                access: flight_mem_wasm::Access::Write,
            });
        }
        o.relocations = true;
        let out = rebase(&wasm, &o).unwrap();
        let checks: Vec<_> = out.relocations.iter().map(|r| r.check).collect();
        let frame = match iso {
            Isolation::Masked => flight_mem_wasm::Check::Mask,
            _ => flight_mem_wasm::Check::Bounds,
        };
        use flight_mem_wasm::Check::Trap;
        assert_eq!(checks, [Trap, Trap, frame], "{iso:?}");
    }
}

/// The import-maximum rule (session 7: a window larger than its import's
/// maximum is checked at the maximum) for the bulk instructions: fill,
/// copy both ways and init of a window whose import is one page, inside a
/// window of two. `checked` traps exactly where the original does (past
/// one page); nothing outside the window and the segment changes.
#[test]
fn checked_bulk_instructions_stop_at_the_import_maximum() {
    let wat = r#"(module
      (import "env" "frame" (memory $w 1 1))
      (memory $m 1 1)
      (data $d "0123456789abcdef0123456789abcdef")
      (func (export "fill") (param i32 i32) (memory.fill $w (local.get 0) (i32.const 7) (local.get 1)))
      (func (export "to_own") (param i32 i32) (memory.copy $m $w (i32.const 0) (local.get 0) (local.get 1)))
      (func (export "to_win") (param i32 i32) (memory.copy $w $m (local.get 0) (i32.const 0) (local.get 1)))
      (func (export "init") (param i32 i32) (memory.init $w $d (local.get 0) (i32.const 0) (local.get 1))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let page = PAGE as i32;
    for validate in [true, false] {
        for iso in [Isolation::Checked, Isolation::Masked] {
            let mut o = opts(iso, 1, validate);
            o.segment.base = 4 * PAGE;
            o.shared.push(flight_mem_wasm::SharedWindow {
                module: "env".into(),
                field: "frame".into(),
                segment: flight_mem_wasm::Segment {
                    base: 0,
                    size: 2 * PAGE,
                },
                access: flight_mem_wasm::Access::Write,
            });
            let engine = engine();
            let mut s = Store::new(&engine, ());
            let (i, u) = common::instantiate(&mut s, &wasm, &o, &[]).expect("rebased");
            for f in ["fill", "to_own", "to_win", "init"] {
                let func = i.get_func(&s, f).unwrap();
                for (d, n) in [
                    (0, 16),
                    (page - 16, 16),
                    (page - 15, 16),
                    (page, 0),
                    (page, 1),
                    (page + 1, 0),
                    (page - 1, 2),
                    (0, page),
                    (0, page + 1),
                    (2 * page - 1, 1),
                    (-1, 2),
                ] {
                    let n = if f == "init" { n.min(32) } else { n };
                    let r = func.call(&mut s, &[Val::I32(d), Val::I32(n)], &mut []);
                    // The original's window is one page (and its own
                    // memory one page, so `to_own` traps past it too).
                    let end = i64::from(d as u32) + i64::from(n);
                    let traps = end > PAGE as i64;
                    if iso == Isolation::Checked {
                        assert_eq!(
                            r.is_err(),
                            traps,
                            "{f}({d}, {n}), validate={validate}: {r:?}"
                        );
                    }
                }
            }
            let data = u.memory.data(&s);
            let seg = o.segment;
            let broken = (2 * PAGE..seg.base)
                .chain(seg.base + seg.size..data.len() as u64)
                .find(|&x| data[x as usize] != common::canary(x));
            assert_eq!(broken, None, "{iso:?}: a byte outside changed");
        }
    }
}

/// The refusal of a `global.set` past the input's globals leaves the
/// module's own `global.set`s alone: without validation the output is the
/// validated rebase's, byte for byte, in every mode, and a write past them
/// is refused naming the global.
#[test]
fn unvalidated_global_sets_of_the_modules_own_globals_rebase_as_validated() {
    let wat = r#"(module (import "env" "g" (global $imported (mut i32))) (memory 1 2)
      (global $sp (mut i32) (i32.const 4096))
      (func (export "f") (param $a i32)
        (global.set $sp (i32.sub (global.get $sp) (i32.const 16)))
        (i32.store (global.get $sp) (local.get $a))
        (global.set $imported (i32.load (global.get $sp)))
        (global.set $sp (i32.add (global.get $sp) (i32.const 16)))))"#;
    let wasm = wat::parse_str(wat).expect("wat");
    for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
        let validated = rebase(&wasm, &opts(iso, 2, true)).expect("validated");
        let unvalidated = rebase(&wasm, &opts(iso, 2, false)).expect("unvalidated");
        assert_eq!(validated.wasm, unvalidated.wasm, "{iso:?}");
    }
    let bad = wat::parse_str(
        r#"(module (global (mut i32) (i32.const 0)) (memory 1 2)
      (func (export "f") (global.set 1 (i32.const -1))))"#,
    )
    .expect("wat");
    for iso in [Isolation::Checked, Isolation::Masked] {
        let err = rebase(&bad, &opts(iso, 2, false))
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("`global.set` names global 1"),
            "{iso:?}: {err}"
        );
    }
}
