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
