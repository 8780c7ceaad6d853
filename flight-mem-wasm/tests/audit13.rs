//! audit13: flight-rebase's outputs never replace its input; accesses at
//! the edges of the minimum memory (held).
//!
//! `-o X --relocations X` was refused (audit9), but nothing compared the
//! relocation table's path with the input's: `--relocations IN.wasm` (a
//! slip of the shell's completion, or a link to it) replaced the module
//! being rebased with a JSON table, and the run succeeded.

mod common;

use common::{cli, fresh_dir, with_body};

#[test]
#[cfg(unix)]
fn the_relocation_table_never_replaces_the_input() {
    let d = fresh_dir("audit13-input");
    let input = d.join("in.wasm");
    let wasm = with_body(&[], false);
    let out = d.join("out.wasm");
    let link = d.join("link.wasm");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let dotted = d.join(".").join("in.wasm");
    // (A hard link is another directory entry: the table renamed over it
    // leaves the input's, as audit10 found for `-o`.)
    for table in [&input, &link, &dotted] {
        std::fs::write(&input, &wasm).unwrap();
        let _ = std::fs::remove_file(&out);
        let (code, text) = cli(&[
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--relocations",
            table.to_str().unwrap(),
            "--segment",
            "0x100000:64KiB",
        ]);
        assert_ne!(code, 0, "{}: accepted: {text}", table.display());
        assert!(text.contains("input"), "{text}");
        assert_eq!(
            std::fs::read(&input).unwrap(),
            wasm,
            "{}: the input was replaced",
            table.display()
        );
        assert!(!out.exists(), "{}: an output was written", table.display());
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Whether `wasm`'s `f(a)` traps when run as it is, in its own memory.
fn original_traps(wasm: &[u8], a: i32) -> bool {
    let engine = common::engine();
    let mut store = wasmi::Store::new(&engine, ());
    let module = wasmi::Module::new(&engine, wasm).unwrap();
    let instance = wasmi::Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .unwrap();
    let f = instance.get_func(&store, "f").unwrap();
    f.call(&mut store, &[wasmi::Val::I32(a)], &mut []).is_err()
}

/// Rebased in `iso` (a 2-page segment at `BASE`), whether `f(a)` traps
/// and the first canary outside the segment it changed.
fn rebased_traps(wasm: &[u8], iso: flight_mem_wasm::Isolation, a: i32) -> (bool, Option<u64>) {
    let opts = common::opts(iso, 2, true);
    let engine = common::engine();
    let mut store = wasmi::Store::new(&engine, ());
    let (instance, unified) = common::instantiate(&mut store, wasm, &opts, &[]).unwrap();
    let f = instance.get_func(&store, "f").unwrap();
    let trapped = f.call(&mut store, &[wasmi::Val::I32(a)], &mut []).is_err();
    (trapped, unified.broken_canary(&store, 0))
}

#[test]
#[cfg_attr(miri, ignore)]
fn accesses_at_the_edges_of_the_minimum_memory() {
    // Constant addresses and offsets around the end of the one-page
    // minimum (where `checked` elides a check it proves) and around 2^32,
    // every width, loads and stores, before and after a `memory.grow`;
    // and a local checked once, then read again with a longer extent.
    // `checked` traps exactly where the original does; no mode but
    // `trusted` changes a byte outside the segment.
    use flight_mem_wasm::Isolation;
    let page = common::PAGE as i64;
    let accesses = [
        ("i32.store8", 1, "(i32.const 7)"),
        ("i32.store16", 2, "(i32.const 7)"),
        ("i32.store", 4, "(i32.const 7)"),
        ("i64.store", 8, "(i64.const 7)"),
        ("v128.store", 16, "(v128.const i64x2 7 7)"),
        ("i32.load8_u", 1, ""),
        ("i64.load", 8, ""),
        ("v128.load", 16, ""),
    ];
    let mut cases = 0;
    for (op, width, value) in accesses {
        let drop = if value.is_empty() { "drop" } else { "" };
        for grow in [false, true] {
            let grow = if grow {
                "(drop (memory.grow (i32.const 1)))"
            } else {
                ""
            };
            for c in [
                0,
                page - width - 1,
                page - width,
                page - width + 1,
                page,
                u32::MAX as i64,
            ] {
                for offset in [
                    0,
                    1,
                    width,
                    page - width,
                    page,
                    u32::MAX as i64 - c.min(u32::MAX as i64),
                ] {
                    let wat = format!(
                        "(module (memory 1 2) (func (export \"f\") (param i32) {grow} \
                         (i32.const {c}) {value} ({op} offset={offset}) {drop}))",
                        c = c as i32
                    );
                    let wasm = wat::parse_str(&wat).unwrap();
                    let want = original_traps(&wasm, 0);
                    for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
                        let (trapped, broken) = rebased_traps(&wasm, iso, 0);
                        if iso == Isolation::Checked {
                            assert_eq!(trapped, want, "{iso:?}: {wat}");
                        }
                        if iso != Isolation::Trusted {
                            assert_eq!(broken, None, "{iso:?}: {wat}");
                        }
                        if !want {
                            assert!(!trapped, "{iso:?} traps where the original does not: {wat}");
                        }
                        cases += 1;
                    }
                }
            }
        }
    }
    // One local, checked by a first access, read again further on.
    for (first, second) in [(0, 4), (4, 8), (page - 8, page - 4), (page - 4, page)] {
        for a in [0, page - 12, page - 8, page - 4, page - 1, page, -1] {
            let wat = format!(
                "(module (memory 1 2) (func (export \"f\") (param i32) \
                 (drop (i32.load offset={first} (local.get 0))) \
                 (i32.store offset={second} (local.get 0) (i32.const 9))))"
            );
            let wasm = wat::parse_str(&wat).unwrap();
            let want = original_traps(&wasm, a as i32);
            for iso in [Isolation::Checked, Isolation::Masked] {
                let (trapped, broken) = rebased_traps(&wasm, iso, a as i32);
                if iso == Isolation::Checked {
                    assert_eq!(trapped, want, "a = {a}: {wat}");
                }
                assert_eq!(broken, None, "{iso:?}, a = {a}: {wat}");
                cases += 1;
            }
        }
    }
    assert!(cases > 500, "{cases}");
}

/// Runs `f(a)` of `wasm` as it is: whether it trapped, and its memory.
fn original_run(wasm: &[u8], a: i32) -> (bool, Vec<u8>) {
    let engine = common::engine();
    let mut store = wasmi::Store::new(&engine, ());
    let module = wasmi::Module::new(&engine, wasm).unwrap();
    let instance = wasmi::Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .unwrap();
    let f = instance.get_func(&store, "f").unwrap();
    let trapped = f.call(&mut store, &[wasmi::Val::I32(a)], &mut []).is_err();
    let memory = instance.get_memory(&store, "m").unwrap();
    (trapped, memory.data(&store).to_vec())
}

/// Rebased in `iso`: whether `f(a)` trapped, the segment's first bytes
/// (as many as `len`) and the first canary outside it that changed.
fn rebased_run(
    wasm: &[u8],
    iso: flight_mem_wasm::Isolation,
    a: i32,
    len: usize,
) -> (bool, Vec<u8>, Option<u64>) {
    let opts = common::opts(iso, 2, true);
    let engine = common::engine();
    let mut store = wasmi::Store::new(&engine, ());
    let (instance, unified) = common::instantiate(&mut store, wasm, &opts, &[]).unwrap();
    let f = instance.get_func(&store, "f").unwrap();
    let trapped = f.call(&mut store, &[wasmi::Val::I32(a)], &mut []).is_err();
    let base = common::BASE as usize;
    let bytes = unified.memory.data(&store)[base..base + len].to_vec();
    (trapped, bytes, unified.broken_canary(&store, 0))
}

#[test]
#[cfg_attr(miri, ignore)]
fn random_read_modify_writes_through_locals_match_the_original() {
    // Straight-line stretches (and a few `if`s, `local.tee`s and grows)
    // of loads, stores and read-modify-writes through two locals whose
    // values sit near the memory's edges: what the `checked` rewrite's
    // elided re-checks and the `masked` rewrite's kept copies and moved
    // confinements rely on. Where the original does not trap, `checked`
    // and `masked` leave the same bytes; `checked` traps exactly where it
    // does; neither touches a byte outside the segment.
    use flight_mem_wasm::Isolation;
    let mut rng = common::Rng(0x05ee_da13);
    let offsets = [
        0u32, 1, 3, 4, 8, 100, 65_520, 65_532, 65_535, 65_536, 131_064, 131_068,
    ];
    let constants = [
        0i32, 1, 4, 65_520, 65_528, 65_532, 65_535, 65_536, 131_064, -4, -1,
    ];
    let params = [0i32, 4, 65_528, 65_532, 65_536, 131_064, -1];
    let rmw = [
        ("i32.load", "i32.store", "i32.add", "i32.const"),
        ("i32.load8_u", "i32.store8", "i32.add", "i32.const"),
        ("i32.load16_u", "i32.store16", "i32.xor", "i32.const"),
        ("i64.load", "i64.store", "i64.add", "i64.const"),
        ("i64.load32_u", "i64.store32", "i64.sub", "i64.const"),
    ];
    let mut compared = 0;
    for _ in 0..300 {
        let mut body = String::new();
        for _ in 0..1 + rng.below(6) {
            let x = 1 + rng.below(2);
            let (load, store, op, constant) = rng.pick(&rmw);
            let o1 = rng.pick(&offsets);
            let o2 = if rng.below(2) == 0 {
                o1
            } else {
                rng.pick(&offsets)
            };
            let k = rng.pick(&constants);
            let stmt = match rng.below(8) {
                0 => format!("(local.set {x} (i32.add (local.get 0) (i32.const {k})))"),
                1 => format!("(local.set {x} (i32.const {k}))"),
                2 => format!("(drop ({load} offset={o1} (local.get {x})))"),
                3 => format!(
                    "(drop ({load} offset={o1} (local.tee {x} (i32.add (local.get {x}) (i32.const {k})))))"
                ),
                4 => "(drop (memory.grow (i32.const 1)))".to_string(),
                5 => format!(
                    "(if (i32.and (local.get 0) (i32.const 1)) (then ({store} offset={o1} (local.get {x}) ({constant} 5))))"
                ),
                _ => format!(
                    "({store} offset={o2} (local.get {x}) ({op} ({load} offset={o1} (local.get {x})) ({constant} 3)))"
                ),
            };
            body.push_str(&stmt);
        }
        let wat = format!(
            "(module (memory (export \"m\") 1 2) (func (export \"f\") (param i32) (local i32 i32) \
             (local.set 1 (local.get 0)) (local.set 2 (i32.add (local.get 0) (i32.const 4))) {body}))"
        );
        let wasm = wat::parse_str(&wat).unwrap();
        for _ in 0..2 {
            let a = rng.pick(&params);
            let (want, memory) = original_run(&wasm, a);
            for iso in [Isolation::Checked, Isolation::Masked] {
                let (trapped, bytes, broken) = rebased_run(&wasm, iso, a, memory.len());
                assert_eq!(broken, None, "{iso:?}, a = {a}: {wat}");
                if iso == Isolation::Checked {
                    assert_eq!(trapped, want, "a = {a}: {wat}");
                }
                if !want {
                    assert!(!trapped, "{iso:?} traps, a = {a}: {wat}");
                    assert!(bytes == memory, "{iso:?}: other bytes, a = {a}: {wat}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 100, "{compared}");
}

#[test]
#[cfg_attr(miri, ignore)]
fn random_accesses_to_a_window_and_the_own_memory_through_one_local() {
    // As above, with every access naming one of two memories: a writable
    // one-page window (`env.win`, imported) and the own memory (two pages
    // at most). One local's confinement or check for one memory must
    // never serve an access to the other.
    use flight_mem_wasm::{Access, Isolation, Segment, SharedWindow};
    let page = common::PAGE;
    let mut rng = common::Rng(0x0a13_0002);
    let offsets = [0u32, 1, 4, 8, 65_520, 65_532, 65_535, 65_536, 131_068];
    let constants = [0i32, 4, 65_528, 65_532, 65_536, 131_064, -4];
    let rmw = [
        ("i32.load", "i32.store", "i32.add", "i32.const"),
        ("i32.load8_u", "i32.store8", "i32.add", "i32.const"),
        ("i64.load", "i64.store", "i64.add", "i64.const"),
    ];
    // The window after the segment, with a page of canaries between.
    let window = Segment {
        base: common::BASE + 2 * page + page,
        size: page,
    };
    let mut compared = 0;
    for _ in 0..300 {
        let mut body = String::new();
        for _ in 0..1 + rng.below(6) {
            let x = 1 + rng.below(2);
            let (m1, m2) = (rng.below(2), rng.below(2));
            let (load, store, op, constant) = rng.pick(&rmw);
            let o1 = rng.pick(&offsets);
            let o2 = if rng.below(2) == 0 {
                o1
            } else {
                rng.pick(&offsets)
            };
            let k = rng.pick(&constants);
            let stmt = match rng.below(5) {
                0 => format!("(local.set {x} (i32.add (local.get 0) (i32.const {k})))"),
                1 => format!("(drop ({load} {m1} offset={o1} (local.get {x})))"),
                2 => format!("({store} {m1} offset={o1} (local.get {x}) ({constant} 5))"),
                _ => format!(
                    "({store} {m2} offset={o2} (local.get {x}) ({op} ({load} {m1} offset={o1} (local.get {x})) ({constant} 3)))"
                ),
            };
            body.push_str(&stmt);
        }
        let wat = format!(
            "(module (import \"env\" \"win\" (memory 1 1)) (memory (export \"m\") 1 2) \
             (func (export \"f\") (param i32) (local i32 i32) \
             (local.set 1 (local.get 0)) (local.set 2 (i32.add (local.get 0) (i32.const 8))) {body}))"
        );
        let wasm = wat::parse_str(&wat).unwrap();
        for _ in 0..2 {
            let a = rng.pick(&constants);
            // The original, with a window of its own.
            let engine = common::engine();
            let mut store = wasmi::Store::new(&engine, ());
            let win = wasmi::Memory::new(&mut store, wasmi::MemoryType::new(1, Some(1))).unwrap();
            let mut linker = wasmi::Linker::<()>::new(&engine);
            linker.define("env", "win", win).unwrap();
            let module = wasmi::Module::new(&engine, &wasm[..]).unwrap();
            let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
            let f = instance.get_func(&store, "f").unwrap();
            let want = f.call(&mut store, &[wasmi::Val::I32(a)], &mut []).is_err();
            let own = instance
                .get_memory(&store, "m")
                .unwrap()
                .data(&store)
                .to_vec();
            let win_bytes = win.data(&store).to_vec();
            for iso in [Isolation::Checked, Isolation::Masked] {
                let mut opts = common::opts(iso, 2, true);
                opts.shared.push(SharedWindow {
                    module: "env".into(),
                    field: "win".into(),
                    segment: window,
                    access: Access::Write,
                });
                let mut store = wasmi::Store::new(&engine, ());
                let (instance, unified) =
                    common::instantiate(&mut store, &wasm, &opts, &[]).unwrap();
                // The window starts zeroed, as the original's.
                let data = unified.memory.data_mut(&mut store);
                data[window.base as usize..(window.base + page) as usize].fill(0);
                let f = instance.get_func(&store, "f").unwrap();
                let trapped = f.call(&mut store, &[wasmi::Val::I32(a)], &mut []).is_err();
                let data = unified.memory.data(&store);
                let outside = (0..data.len() as u64)
                    .filter(|&i| {
                        !(common::BASE..common::BASE + 2 * page).contains(&i)
                            && !(window.base..window.base + page).contains(&i)
                    })
                    .find(|&i| data[i as usize] != common::canary(i));
                assert_eq!(outside, None, "{iso:?}, a = {a}: {wat}");
                if iso == Isolation::Checked {
                    assert_eq!(trapped, want, "a = {a}: {wat}");
                }
                if !want {
                    assert!(!trapped, "{iso:?} traps, a = {a}: {wat}");
                    let seg = common::BASE as usize;
                    assert!(
                        data[seg..seg + own.len()] == own[..],
                        "{iso:?}: own bytes, a = {a}: {wat}"
                    );
                    let w = window.base as usize;
                    assert!(
                        data[w..w + page as usize] == win_bytes[..],
                        "{iso:?}: window bytes, a = {a}: {wat}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 50, "{compared}");
}

#[test]
fn every_mode_refuses_stores_into_a_read_window() {
    // The trusted fast path relocates recorded plain loads and stores
    // without building their operators: a store naming the read window
    // (memory 1, or memory 0 with the own memory second) must still be
    // refused, as in the other modes, whatever the instruction's form.
    use flight_mem_wasm::{Access, Isolation, Segment, SharedWindow};
    let page = common::PAGE;
    let stores = [
        "(i32.store {m} (local.get 0) (i32.const 1))",
        "(i64.store8 {m} offset=3 (local.get 0) (i64.const 1))",
        "(f64.store {m} (local.get 0) (f64.const 1))",
        "(v128.store {m} (local.get 0) (v128.const i64x2 1 1))",
        "(v128.store8_lane {m} 0 (local.get 0) (v128.const i64x2 1 1))",
        "(i32.atomic.store {m} (local.get 0) (i32.const 1))",
        "(drop (i32.atomic.rmw.add {m} (local.get 0) (i32.const 1)))",
        "(memory.fill {m} (local.get 0) (i32.const 1) (i32.const 1))",
        "(memory.copy {m} {o} (local.get 0) (i32.const 1) (i32.const 1))",
        "(memory.init {m} 0 (local.get 0) (i32.const 0) (i32.const 1))",
    ];
    for window_first in [false, true] {
        // Imports come first: the own memory is second when defined, first
        // when imported too.
        let (w, o) = if window_first { (0, 1) } else { (1, 0) };
        let mems = if window_first {
            "(import \"env\" \"win\" (memory 1 1 shared)) (memory 1 2 shared)"
        } else {
            "(import \"env\" \"own\" (memory 1 2 shared)) (import \"env\" \"win\" (memory 1 1 shared))"
        };
        for store in stores {
            let store = store
                .replace("{m}", &w.to_string())
                .replace("{o}", &o.to_string());
            // Loads of the own memory before it, as the fast path meets
            // them first.
            let wat = format!(
                "(module {mems} (data \"x\") (func (export \"f\") (param i32) \
                 (drop (i32.load {o} (local.get 0))) (drop (i32.load {o} offset=4 (local.get 0))) \
                 {store} (drop (i32.load {o} (local.get 0)))))"
            );
            let wasm = wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}: {wat}"));
            for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
                for relocations in [false, true] {
                    let mut opts = common::opts(iso, 2, true);
                    opts.relocations = relocations;
                    opts.shared.push(SharedWindow {
                        module: "env".into(),
                        field: "win".into(),
                        segment: Segment {
                            base: common::BASE + 4 * page,
                            size: page,
                        },
                        access: Access::Read,
                    });
                    let out = flight_mem_wasm::rebase(&wasm, &opts);
                    assert!(
                        out.is_err(),
                        "{iso:?} accepted a store into a read window: {wat}"
                    );
                    // The same module with the store on the own memory is
                    // accepted: the refusal is the window's.
                    let own = wat.replace(
                        &store,
                        &store.replacen(&format!(" {w}"), &format!(" {o}"), 1),
                    );
                    let own = wat::parse_str(&own).unwrap();
                    flight_mem_wasm::rebase(&own, &opts)
                        .unwrap_or_else(|e| panic!("{iso:?}: {e}: {wat}"));
                }
            }
        }
    }
}
