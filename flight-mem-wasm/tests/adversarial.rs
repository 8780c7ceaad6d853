//! Hand-written attacks on the operand-stack tracking (`rewrite/track.rs`:
//! checks elided because an earlier one implies them, checks and masks
//! moved to where the address is pushed, the masked copy of an address
//! local) and on the look-ahead scan (`scan/ahead.rs`). Every module runs
//! original against rebased in a unified memory with canaries, in every
//! mode, and each test asserts the contract of SPEC.md §7: `checked` traps
//! exactly where the original traps and writes the same bytes, `masked`
//! and `checked` never touch a byte outside the segment (or a window),
//! every mode computes what the original does while it stays in bounds.

mod common;

use common::*;
use flight_mem_wasm::{Access, Isolation, Segment, SharedWindow};
use wasmi::{Extern, Linker, Memory, MemoryType, Module, Store, TrapCode, Val};

/// Where the window of `env.frame` lies in the unified memory, when a
/// module imports it: below the segment, so an access past the window's
/// end lands on canaries (not past the unified memory's end, where the
/// engine would trap as the original does).
const WINDOW: Segment = Segment {
    base: 0,
    size: PAGE,
};

/// Results as integers (floats by their bits), or the trap.
type Outcome = Result<Vec<i64>, TrapCode>;

fn run(store: &mut Store<()>, i: &wasmi::Instance, name: &str, args: &[i32]) -> Outcome {
    let f = i
        .get_func(&*store, name)
        .unwrap_or_else(|| panic!("no export {name}"));
    let mut out = vec![Val::I32(0); f.ty(&*store).results().len()];
    let args: Vec<Val> = args.iter().map(|&a| Val::I32(a)).collect();
    match f.call(&mut *store, &args, &mut out) {
        Ok(()) => Ok(out
            .iter()
            .map(|v| match v {
                Val::I32(x) => i64::from(*x),
                Val::I64(x) => *x,
                Val::F32(x) => i64::from(x.to_bits()),
                Val::F64(x) => x.to_bits() as i64,
                other => panic!("result {other:?}"),
            })
            .collect()),
        Err(e) => Err(e.as_trap_code().unwrap_or_else(|| panic!("{name}: {e}"))),
    }
}

/// A trap `masked` keeps: one that does not come from a memory access.
fn kept_by_masked(t: &Outcome) -> bool {
    matches!(
        t,
        Err(TrapCode::IntegerDivisionByZero | TrapCode::UnreachableCodeReached)
    )
}

/// Runs `calls` (in order, on one instance per mode) of the module `wat`
/// against its original and asserts the contract. A module that imports
/// `env.frame` (a one-page memory) gets it mapped onto [`WINDOW`].
fn attack(wat: &str, calls: &[(&str, Vec<i32>)]) {
    let wat = wat.to_string();
    let calls: Vec<(String, Vec<i32>)> = calls
        .iter()
        .map(|(n, a)| (n.to_string(), a.clone()))
        .collect();
    big_stack(move || attack_inner(&wat, &calls));
}

fn attack_inner(wat: &str, calls: &[(String, Vec<i32>)]) {
    let wasm = wat::parse_str(wat).expect("wat");
    attack_wasm(&wasm, wat.contains("\"frame\""), calls);
}

fn attack_wasm(wasm: &[u8], window: bool, calls: &[(String, Vec<i32>)]) {
    let engine = engine();
    let module = Module::new(&engine, wasm).expect("the original is valid");
    for (iso, pages) in MODES_AND_PAGES {
        let mut os = Store::new(&engine, ());
        let mut linker = Linker::<()>::new(&engine);
        let frame = Memory::new(&mut os, MemoryType::new(1, Some(1))).unwrap();
        if window {
            linker.define("env", "frame", frame).unwrap();
        }
        let oi = linker.instantiate_and_start(&mut os, &module).unwrap();
        let seg = Segment {
            base: BASE,
            size: pages * PAGE,
        };
        let mut opts = options(seg, iso);
        if window {
            opts.shared.push(SharedWindow {
                module: "env".into(),
                field: "frame".into(),
                segment: WINDOW,
                access: Access::Write,
            });
        }
        let mut s = Store::new(&engine, ());
        let (i, u) = instantiate(&mut s, wasm, &opts, &[]).expect("rebased");
        // The window starts zeroed, as the original's frame memory.
        if window {
            let w = WINDOW.base as usize..(WINDOW.base + WINDOW.size) as usize;
            u.memory.data_mut(&mut s)[w].fill(0);
        }
        let om = oi
            .get_export(&os, "mem")
            .and_then(Extern::into_memory)
            .expect("the original exports its memory as `mem`");
        for (name, args) in calls {
            let want = run(&mut os, &oi, name, args);
            let got = run(&mut s, &i, name, args);
            let what = format!("{iso:?} {pages} pages: {name}{args:?}");
            match iso {
                Isolation::Checked => assert_eq!(got, want, "{what}"),
                Isolation::Masked if want.is_ok() || kept_by_masked(&want) => {
                    assert_eq!(got, want, "{what}")
                }
                // Out of bounds anything (a trap too, where every
                // execution is out of bounds), but no byte outside.
                Isolation::Masked => {}
                Isolation::Trusted if want.is_ok() => assert_eq!(got, want, "{what}"),
                Isolation::Trusted => {}
            }
            if iso != Isolation::Checked && want.is_err() && !kept_by_masked(&want) {
                // Out of bounds the memories may now differ: the next
                // calls start again from the original's bytes.
                let mine = om.data(&os).to_vec();
                let data = u.memory.data_mut(&mut s);
                data[BASE as usize..BASE as usize + mine.len()].copy_from_slice(&mine);
                if window {
                    let w = WINDOW.base as usize..(WINDOW.base + WINDOW.size) as usize;
                    data[w].copy_from_slice(frame.data(&os));
                }
            }
            if iso == Isolation::Trusted {
                continue;
            }
            // No byte outside the segment and the window changed.
            let data = u.memory.data(&s);
            let inside = |x: u64| {
                (seg.base..seg.base + seg.size).contains(&x)
                    || (window && (WINDOW.base..WINDOW.base + WINDOW.size).contains(&x))
            };
            let broken =
                (0..data.len() as u64).find(|&x| !inside(x) && data[x as usize] != canary(x));
            assert_eq!(broken, None, "{what}: a canary changed");
            if iso == Isolation::Checked {
                // The same bytes as the original's memories.
                let mine = om.data(&os);
                let theirs = &data[BASE as usize..BASE as usize + mine.len()];
                assert!(mine == theirs, "{what}: the memories differ");
                if window {
                    let w = &data[WINDOW.base as usize..(WINDOW.base + WINDOW.size) as usize];
                    assert!(frame.data(&os) == w, "{what}: the windows differ");
                }
            }
        }
    }
}

/// Calls of `name` with the address argument around each memory end (one
/// and two pages) and near 2^32, the other arguments as given.
fn around_ends(name: &'static str, rest: &[i32]) -> Vec<(&'static str, Vec<i32>)> {
    let mut v = Vec::new();
    for end in [0x1_0000i32, 0x2_0000] {
        for back in [-24, -17, -16, -12, -9, -8, -5, -4, -3, -2, -1, 0, 1, 4] {
            let mut args = vec![end + back];
            args.extend_from_slice(rest);
            v.push((name, args));
        }
    }
    for a in [-1, -4, -8, i32::MIN, 0x7fff_fffc] {
        let mut args = vec![a];
        args.extend_from_slice(rest);
        v.push((name, args));
    }
    v
}

/// Every call of `names`, each with the address first and `b` second,
/// around the ends; then `grow` (to two pages) and the same again.
fn sweep(names: &[&'static str], b: &[i32]) -> Vec<(&'static str, Vec<i32>)> {
    let mut v = Vec::new();
    for round in 0..2 {
        for &n in names {
            for &x in b {
                v.extend(around_ends(n, &[x]));
            }
        }
        if round == 0 {
            v.push(("grow", vec![]));
        }
    }
    v
}

/// The memory of every module: one page, up to two, and `grow`.
const MEM: &str = r#"(memory (export "mem") 1 2)
  (func (export "grow") (result i32) (memory.grow (i32.const 1)))"#;

fn module(funcs: &str) -> String {
    format!("(module {MEM}\n{funcs})")
}

/// Small `b`s (a good address), addresses at the end and past it.
const BS: [i32; 5] = [8, 0xfffc, 0xfffe, 0x1fffc, -4];

#[test]
fn tee_of_the_address_local_inside_the_stored_value() {
    // The store's address is `$a`'s old value; the load's is the teed new
    // one; the last load reads the new `$a` (its check implied only if
    // the tracking knew the tee).
    let m = module(
        r#"(func (export "f") (param $a i32) (param $b i32) (result i32)
    local.get $a
    local.get $b
    local.tee $a
    i32.load
    i32.store
    (i32.load offset=4 (local.get $a)))
  (func (export "g") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (drop (local.tee $a (local.get $b)))
    (i32.load offset=8 (local.get $a)))"#,
    );
    attack(&m, &sweep(&["f", "g"], &BS));
}

#[test]
fn tee_of_the_address_local_right_before_the_access() {
    // `local.tee $a` as the address push itself after a check of the
    // old `$a`: the fact of the old value must not cover the new one.
    let m = module(
        r#"(func (export "f") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (i32.load (local.tee $a (local.get $b))))
  (func (export "g") (param $a i32) (param $b i32) (result i32)
    local.get $a
    i32.load offset=12
    local.get $b
    local.set $a
    local.get $a
    i32.add
    local.get $a
    i32.load
    i32.add)"#,
    );
    attack(&m, &sweep(&["f", "g"], &BS));
}

#[test]
fn address_local_written_inside_a_block_if_or_loop() {
    // A write the straight-line walk cannot follow: inside a block, the
    // arm of an `if`, a loop body; each followed by an access the earlier
    // check would cover.
    let m = module(
        r#"(func (export "block") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (block (local.set $a (local.get $b)))
    (i32.load (local.get $a)))
  (func (export "if") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (if (i32.ne (local.get $b) (i32.const 8)) (then (local.set $a (local.get $b))))
    (i32.load (local.get $a)))
  (func (export "brif") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (block $out
      (br_if $out (i32.eq (local.get $b) (i32.const 8)))
      (local.set $a (local.get $b)))
    (i32.load (local.get $a)))
  (func (export "loop") (param $a i32) (param $b i32) (result i32) (local $n i32)
    (drop (i32.load offset=12 (local.get $a)))
    (loop $l
      (drop (i32.load (local.get $a)))
      (local.set $a (local.get $b))
      (br_if $l (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 1))) (i32.const 2))))
    (i32.load offset=4 (local.get $a)))"#,
    );
    attack(&m, &sweep(&["block", "if", "brif", "loop"], &BS));
}

#[test]
fn a_branch_lands_between_the_check_and_the_access() {
    // The first access (the check) is skipped by a branch to the end of
    // its block; the access after the block must still be checked.
    let m = module(
        r#"(func (export "skip") (param $a i32) (param $b i32) (result i32)
    (block $b
      (br_if $b (local.get $b))
      (drop (i32.load offset=12 (local.get $a))))
    (i32.load (local.get $a)))
  (func (export "header") (param $a i32) (param $b i32) (result i32) (local $n i32)
    (drop (i32.load offset=12 (local.get $a)))
    (loop $l
      (drop (i32.load offset=8 (local.get $a)))
      (local.set $a (i32.add (local.get $a) (local.get $b)))
      (br_if $l (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 1))) (i32.const 3))))
    (local.get $a))
  (func (export "val") (param $a i32) (param $b i32) (result i32)
    ;; A block result between the address push and the store.
    (i32.store (local.get $a)
      (block (result i32)
        (drop (br_if 0 (i32.const 5) (local.get $b)))
        (i32.load (local.get $a))))
    (i32.load (local.get $a)))"#,
    );
    attack(&m, &sweep(&["skip", "header", "val"], &[0, 1, 4, 0x8000]));
}

#[test]
fn select_and_calls_between_pushes_and_access() {
    let m = module(
        r#"(func $set (param i32) (result i32) (local.get 0))
  (func (export "select") (param $a i32) (param $b i32) (result i32)
    (i32.store (select (local.get $a) (local.get $b) (i32.load (local.get $a)))
               (i32.load (local.get $a)))
    (i32.load (select (local.get $b) (local.get $a) (local.get $b))))
  (func (export "call") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (i32.store (local.get $a) (call $set (local.get $b)))
    (i32.load (call $set (local.get $b))))"#,
    );
    attack(&m, &sweep(&["select", "call"], &BS));
}

#[test]
fn memory_grow_between_the_address_push_and_the_access() {
    // The store's address is pushed while the memory has one page; the
    // store runs after `grow` (two pages): a check placed at the push
    // against the old size would trap where the original does not.
    let m = module(
        r#"(func (export "f") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (memory.grow (local.get $b)))
    (i32.load (local.get $a)))
  (func (export "g") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (i32.add (i32.load8_u (local.get $b)) (memory.grow (i32.const 1))))
    (i32.load (local.get $a)))
  (func (export "h") (param $a i32) (param $b i32) (result i32)
    local.get $a
    local.get $a
    i32.load
    memory.size
    i32.add
    i32.store
    (i32.load (local.get $a)))"#,
    );
    let mut calls = Vec::new();
    // Before any grow: each `f` with b = 1 grows once.
    calls.push(("f", vec![0x1_0000, 0]));
    calls.push(("f", vec![0x1_0000, 1]));
    calls.push(("f", vec![0x1_0000, 1]));
    calls.extend(sweep(&["h", "g"], &[8]));
    attack(&m, &calls);
}

#[test]
fn a_check_is_not_implied_across_functions() {
    // Local 0 is checked in the caller; the callee's local 0 is another
    // value.
    let m = module(
        r#"(func $callee (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "f") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (i32.add (call $callee (local.get $b)) (i32.load (local.get $a))))"#,
    );
    attack(&m, &sweep(&["f"], &BS));
}

#[test]
fn a_check_against_one_memory_does_not_cover_another() {
    // Memory 1 is the window `env.frame` (one page); memory 0 is the own
    // memory (two pages once grown). A check of `$a` against one says
    // nothing about the other, in either order.
    let m = r#"(module
  (import "env" "frame" (memory $frame 1 1))
  (memory $own (export "mem") 1 2)
  (func (export "grow") (result i32) (memory.grow $own (i32.const 1)))
  (func (export "own_then_frame") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load $own offset=12 (local.get $a)))
    (i32.store $frame (local.get $a) (i32.add (i32.load $frame (local.get $a)) (local.get $b)))
    (i32.load $frame (local.get $a)))
  (func (export "frame_then_own") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load $frame offset=12 (local.get $a)))
    (i32.store $own (local.get $a) (i32.add (i32.load $own (local.get $a)) (local.get $b)))
    (i32.load $own (local.get $a)))
  (func (export "mixed_rmw") (param $a i32) (param $b i32) (result i32)
    ;; The address of the store to the own memory, a load of the same
    ;; local from the window: the masked copy must not be shared.
    (i32.store $own (local.get $a) (i32.load $frame (local.get $a)))
    (i32.store $frame (local.get $a) (i32.load $own (local.get $a)))
    (i32.add (i32.load $own (local.get $a)) (i32.load $frame (local.get $a)))))"#;
    attack(
        m,
        &sweep(&["own_then_frame", "frame_then_own", "mixed_rmw"], &[3]),
    );
}

#[test]
fn multi_value_blocks_and_unreachable_regions() {
    let m = module(
        r#"(func (export "mv") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (block (result i32 i32)
      (local.get $a)
      (local.get $b))
    (local.set $a)
    (drop)
    (i32.store (local.get $a) (i32.load (local.get $a)))
    (i32.load offset=8 (local.get $a)))
  (func (export "dead") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (block
      (br_if 0 (i32.eqz (local.get $b)))
      (local.set $a (local.get $b))
      (br 0)
      (i32.store)
      (i32.load)
      (drop))
    (block (result i32)
      (br_if 0 (i32.load (local.get $a)) (local.get $b))
      unreachable
      (i32.load offset=4)
      (i32.store (local.get $a))
      (i32.const 0))
    (i32.add (i32.load offset=4 (local.get $a))))"#,
    );
    attack(&m, &sweep(&["mv", "dead"], &[0, 8, 0xfffe, 0x1fffc]));
}

#[test]
fn extends_and_wraps_of_the_address() {
    // Pure conversions on the address or the value must not let a check
    // of `$a` stand for a check of a computed address.
    let m = module(
        r#"(func (export "f") (param $a i32) (param $b i32) (result i64)
    (drop (i32.load offset=12 (local.get $a)))
    (i64.store (local.get $a) (i64.extend_i32_u (local.get $b)))
    (i64.store offset=8 (i32.wrap_i64 (i64.extend_i32_u (local.get $a)))
      (i64.extend_i32_s (i32.load (local.get $a))))
    (i64.load (i32.wrap_i64 (i64.add (i64.extend_i32_u (local.get $a)) (i64.const 4)))))
  (func (export "g") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (i32.load (i32.eqz (i32.eqz (local.get $a)))))"#,
    );
    attack(&m, &sweep(&["f", "g"], &[1, 0x7fff_ffff]));
}

#[test]
fn offset_plus_address_wraps_near_four_gib() {
    // In wasm `address + offset` never wraps (33 bits): a 32-bit sum in
    // a check or an implied check would let a huge address through.
    let m = module(
        r#"(func (export "f") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=0xfffffff0 (local.get $a)))
    (i32.load offset=4 (local.get $a)))
  (func (export "g") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load8_u offset=0xffff (local.get $a)))
    (i32.store offset=0xfffc (local.get $a) (local.get $b))
    (i32.load16_u offset=0xfffe (local.get $a)))
  (func (export "h") (param $a i32) (param $b i32) (result i32)
    (i32.store offset=0xffffffff (local.get $a) (local.get $b))
    (i32.load offset=0xfffdffd0 (local.get $a)))"#,
    );
    let mut calls = sweep(&["f", "g", "h"], &[5]);
    for a in [0x10, 0x11, 0x20, -0xfff0, -0x10000, 0x1_0000 - 0xfffc] {
        calls.push(("f", vec![a, 0]));
        calls.push(("g", vec![a, 0]));
        calls.push(("h", vec![a, 0]));
    }
    attack(&m, &calls);
}

#[test]
fn simd_loads_with_lanes_after_a_checked_load() {
    let m = module(
        r#"(func (export "f") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (i32x4.extract_lane 1
      (v128.load32_lane 1 (local.get $a) (v128.load (local.get $a)))))
  (func (export "g") (param $a i32) (param $b i32) (result i32)
    (i32x4.extract_lane 0
      (v128.load64_lane 1 (local.get $b)
        (v128.load32_splat (local.get $a)))))
  (func (export "h") (param $a i32) (param $b i32) (result i32)
    (v128.store (local.get $a) (v128.load offset=1 (local.get $a)))
    (i32.load offset=12 (local.get $a)))"#,
    );
    attack(&m, &sweep(&["f", "g", "h"], &[8, 0xfff8, 0x1fff8]));
}

#[test]
fn masked_copy_of_the_address_local_is_dropped_when_written() {
    // Read-modify-writes that make the masked copy, then writes of the
    // local by `local.set`, `local.tee`, in a block, before more
    // accesses of it.
    let m = module(
        r#"(func (export "set") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
    (local.set $a (local.get $b))
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
    (i32.load (local.get $a)))
  (func (export "tee") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
    (i32.store (local.get $a) (i32.load (local.tee $a (local.get $b))))
    (i32.load (local.get $a)))
  (func (export "between") (param $a i32) (param $b i32) (result i32)
    ;; The local written between the load and the store of one rmw.
    local.get $a
    local.get $a
    i32.load
    local.get $b
    local.tee $a
    i32.add
    i32.store
    (i32.load (local.get $a)))
  (func (export "block") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
    (block (local.set $a (local.get $b)))
    (i32.store16 (local.get $a) (i32.add (i32.load16_u (local.get $a)) (i32.const 1)))
    (i32.load16_u (local.get $a)))
  (func (export "width") (param $a i32) (param $b i32) (result i64)
    ;; The same local, accesses of other widths and offsets.
    (i64.store offset=4 (local.get $a) (i64.load offset=4 (local.get $a)))
    (i32.store8 offset=12 (local.get $a) (i32.load8_u offset=12 (local.get $a)))
    (i64.load offset=4 (local.get $a)))"#,
    );
    attack(
        &m,
        &sweep(&["set", "tee", "between", "block", "width"], &BS),
    );
}

#[test]
fn return_call_after_a_check() {
    let m = module(
        r#"(func $tail (param i32) (result i32) (i32.load offset=8 (local.get 0)))
  (func (export "f") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    (return_call $tail (local.get $b)))"#,
    );
    attack(&m, &sweep(&["f"], &BS));
}

#[test]
fn masked_copy_in_a_loop_and_many_facts() {
    // A read-modify-write walking an array: the copy made in one
    // iteration must not survive the write of the local and the back
    // edge. Then nine locals checked (more facts than are kept) and the
    // first accessed again after each is rewritten.
    let m = module(
        r#"(func (export "walk") (param $a i32) (param $n i32) (result i32) (local $i i32)
    (loop $l
      (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 3)))
      (i32.store8 offset=1 (local.get $a) (i32.load8_u offset=1 (local.get $a)))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i32.load (i32.sub (local.get $a) (i32.const 4))))
  (func (export "facts") (param $a i32) (param $b i32) (result i32)
    (local $c i32) (local $d i32) (local $e i32) (local $f i32) (local $g i32)
    (local $h i32) (local $i i32)
    (drop (i32.load offset=12 (local.get $a)))
    (drop (i32.load (local.get $b)))
    (drop (i32.load (local.get $c)))
    (drop (i32.load (local.get $d)))
    (drop (i32.load (local.get $e)))
    (drop (i32.load (local.get $f)))
    (drop (i32.load (local.get $g)))
    (drop (i32.load (local.get $h)))
    (drop (i32.load (local.get $i)))
    (local.set $a (local.get $b))
    (i32.load offset=8 (local.get $a)))"#,
    );
    attack(&m, &sweep(&["walk", "facts"], &[1, 2, 5, 0xfffc]));
}

#[test]
fn masked_offsets_past_the_segment_and_wide_accesses() {
    // Offsets that alone reach past a one-page memory's end (every access
    // out of bounds before `grow`), wide SIMD and i64 accesses whose
    // masks need the clamp or the remainder, read-modify-writes of them.
    let m = module(
        r#"(func (export "far") (param $a i32) (param $b i32) (result i32)
    (i64.store offset=0x1fff9 (local.get $a) (i64.load offset=0x1fff9 (local.get $a)))
    (i32.wrap_i64 (i64.load offset=0x10000 (local.get $a))))
  (func (export "wide") (param $a i32) (param $b i32) (result i32)
    (v128.store offset=0xfff1 (local.get $a) (v128.load offset=0xfff1 (local.get $a)))
    (i32x4.extract_lane 3 (v128.load offset=0xfff1 (local.get $a))))"#,
    );
    attack(&m, &sweep(&["far", "wide"], &[0]));
}

#[test]
fn no_maximum_the_limits_come_from_globals() {
    // Without a maximum the checks compare against the globals `grow`
    // keeps; implied checks and read-modify-writes across a `grow`.
    let m = r#"(module
  (memory (export "mem") 1)
  (func (export "grow") (result i32)
    (if (result i32) (i32.lt_u (memory.size) (i32.const 2))
      (then (memory.grow (i32.const 1))) (else (i32.const -1))))
  (func (export "rmw") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (local.get $b)))
    (i64.store offset=4 (local.get $a) (i64.load offset=4 (local.get $a)))
    (i32.load16_u offset=10 (local.get $a)))
  (func (export "implied") (param $a i32) (param $b i32) (result i32)
    (drop (i32.load offset=12 (local.get $a)))
    ;; Up to the segment's two pages (the original could grow further).
    (if (i32.lt_u (memory.size) (i32.const 2)) (then (drop (memory.grow (local.get $b)))))
    (i32.add (i32.load8_u offset=15 (local.get $a)) (i32.load offset=13 (local.get $a)))))"#;
    attack(m, &sweep(&["rmw", "implied"], &[0, 1]));
}

/// Bodies in unusual encodings (over-long LEBs for offsets, flags, memory
/// and local indices, constants, SIMD sub-opcodes, block types and branch
/// tables; flags with the memory-index bit), as `(name, code)`: each takes
/// `(a, b)` and returns an i32. The look-ahead (`trusted`), the scanner
/// (`masked`, `checked` without validation) and wasmparser must agree
/// byte for byte (`instantiate` compares the last two) and with the
/// original.
const RAW: &[(&str, &[u8])] = &[
    // i32.load offset=4 as a 5-byte LEB.
    ("offset5", &[0x20, 0, 0x28, 2, 0x84, 0x80, 0x80, 0x80, 0]),
    // offset=0 as `0x80 0x00`.
    ("offset2", &[0x20, 0, 0x28, 2, 0x80, 0]),
    // Flags 2 as `0x82 0x00`, offset 4.
    ("flags2", &[0x20, 0, 0x28, 0x82, 0, 4]),
    // Flags with the memory-index bit: memory 0 named, then offset 4.
    ("memidx", &[0x20, 0, 0x28, 0x42, 0, 4]),
    // The same, memory index and offset over-long.
    (
        "memidx_long",
        &[0x20, 0, 0x28, 0x42, 0x80, 0x80, 0, 0x84, 0],
    ),
    // Flags and offset both 5 bytes.
    (
        "all_long",
        &[
            0x20, 0, 0x28, 0x82, 0x80, 0x80, 0x80, 0, 0x84, 0x80, 0x80, 0x80, 0,
        ],
    ),
    // i32.store offset=8 (flags `0x82 0x80 0x00`, offset `0x88 0x80 0x00`)
    // of b at a, then i32.load offset=8 of a: b back.
    (
        "store_long",
        &[
            0x20, 0, 0x20, 1, 0x36, 0x82, 0x80, 0, 0x88, 0x80, 0, 0x20, 0, 0x28, 2, 8,
        ],
    ),
    // Over-long local indices for the address and the value; a check
    // re-reading the local must read local 0.
    (
        "local_long",
        &[
            0x20, 0x80, 0, 0x20, 0x81, 0x80, 0, 0x36, 2, 0, 0x20, 0x80, 0x80, 0x80, 0x80, 0, 0x28,
            2, 0,
        ],
    ),
    // Constant addresses, over-long: 0xfffc (in the first page: the check
    // may go), 0xfffd (past it until grown), -4, 0x8000_0000.
    ("const_fffc", &[0x41, 0xFC, 0xFF, 0x83, 0x80, 0, 0x28, 2, 0]),
    ("const_fffd", &[0x41, 0xFD, 0xFF, 0x83, 0x80, 0, 0x28, 2, 0]),
    (
        "const_neg",
        &[0x41, 0xFC, 0xFF, 0xFF, 0xFF, 0x7F, 0x28, 2, 0],
    ),
    (
        "const_min",
        &[0x41, 0x80, 0x80, 0x80, 0x80, 0x78, 0x2D, 0, 0],
    ),
    // v128.load with its sub-opcode over-long, then i32x4.extract_lane 1.
    (
        "simd_long",
        &[0x20, 0, 0xFD, 0x80, 0x80, 0, 4, 0, 0xFD, 0x1B, 1],
    ),
    // v128.load32_lane 1 (sub-opcode 86 over-long) into a zero vector.
    (
        "lane_long",
        &[
            0x20, 0, 0xFD, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFD, 0xD6, 0x80, 0,
            2, 0, 1, 0xFD, 0x1B, 1,
        ],
    ),
    // A block of type 2 ((i32) -> i32, index over-long) around a load of
    // its parameter.
    (
        "block_type",
        &[0x20, 0, 0x02, 0x82, 0x80, 0, 0x28, 2, 0, 0x0B],
    ),
    // A branch table with over-long labels before a load.
    (
        "br_table",
        &[
            0x02, 0x40, 0x20, 1, 0x0E, 0x82, 0, 0x80, 0, 0x80, 0x80, 0, 0x80, 0, 0x0B, 0x20, 0,
            0x28, 2, 0,
        ],
    ),
    // LEBs of exactly four bytes (the look-ahead's longest) and an offset
    // of three: local 0, offset 4, constant 0.
    (
        "lebs4",
        &[
            0x20, 0x80, 0x80, 0x80, 0, 0x28, 2, 0x84, 0x80, 0, 0x41, 0x80, 0x80, 0x80, 0, 0x6A,
        ],
    ),
    // A store at offset 8 (4-byte LEB), a load at offset 8 (5 bytes).
    (
        "offset4",
        &[
            0x20, 0, 0x20, 1, 0x36, 2, 0x88, 0x80, 0x80, 0, 0x20, 0, 0x28, 2, 0x88, 0x80, 0x80,
            0x80, 0,
        ],
    ),
    // memory.fill (sub-opcode and index over-long) of 4 bytes at a, then
    // a load of them.
    (
        "fill_long",
        &[
            0x20, 0, 0x41, 0x2A, 0x41, 4, 0xFC, 0x8B, 0, 0x80, 0, 0x20, 0, 0x28, 2, 0,
        ],
    ),
    // memory.copy of 4 bytes from 0 to a, every immediate over-long.
    (
        "copy_long",
        &[
            0x20, 0, 0x41, 0, 0x41, 4, 0xFC, 0x8A, 0x80, 0, 0x80, 0x80, 0, 0x80, 0, 0x20, 0, 0x28,
            2, 0,
        ],
    ),
    // memory.size with its index over-long, added to a load.
    (
        "size_long",
        &[0x3F, 0x80, 0x80, 0, 0x20, 0, 0x28, 2, 0, 0x6A],
    ),
    // `local.set 0` and `local.tee 0` with 5-byte indices between a check
    // of local 0 and a load of it: the walk must see the write.
    (
        "set_long",
        &[
            0x20, 0, 0x28, 2, 12, 0x1A, 0x20, 1, 0x21, 0x80, 0x80, 0x80, 0x80, 0, 0x20, 0, 0x28, 2,
            0,
        ],
    ),
    (
        "tee_long",
        &[
            0x20, 0, 0x28, 2, 12, 0x1A, 0x20, 1, 0x22, 0x80, 0x80, 0x80, 0x80, 0, 0x1A, 0x20, 0,
            0x28, 2, 0,
        ],
    ),
    // The shortest load body, last: its memarg and `end` are the last
    // bytes of the input (the look-ahead reads words past positions).
    ("tiny", &[0x20, 0, 0x28, 2, 0]),
];

/// A module of the [`RAW`] bodies, each `copies` times with a padding of
/// `nops` before it (bodies of every length around the look-ahead's
/// word reads and lanes), the code section last (the last body ends the
/// input).
fn raw_module(copies: usize) -> (Vec<u8>, Vec<String>) {
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, FunctionSection, MemorySection, MemoryType, Module,
        TypeSection, ValType,
    };
    let mut types = TypeSection::new();
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I32]);
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut funcs = FunctionSection::new();
    let mut mems = MemorySection::new();
    mems.memory(MemoryType {
        minimum: 1,
        maximum: Some(2),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("mem", ExportKind::Memory, 0);
    let mut code = CodeSection::new();
    // `grow`: memory.grow 1 with its index over-long.
    funcs.function(1);
    exports.export("grow", ExportKind::Func, 0);
    code.raw(&[0, 0x41, 1, 0x40, 0x80, 0x80, 0, 0x0B]);
    let mut names = Vec::new();
    let mut n = 1;
    for copy in 0..copies {
        for (k, (name, body)) in RAW.iter().enumerate() {
            funcs.function(0);
            let export = format!("{name}_{copy}");
            exports.export(&export, ExportKind::Func, n);
            names.push(export);
            n += 1;
            let mut b = vec![0]; // no locals
            b.extend(std::iter::repeat_n(0x01, (copy * 7 + k) % 13));
            b.extend_from_slice(body);
            b.push(0x0B);
            code.raw(&b);
        }
    }
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&mems)
        .section(&exports)
        .section(&code);
    (m.finish(), names)
}

#[test]
fn unusual_encodings_for_the_look_ahead_and_the_scanner() {
    big_stack(|| {
        // Enough bodies for several chunks and every lane of the look-ahead.
        let (wasm, names) = raw_module(12);
        let mut calls = Vec::new();
        for round in 0..2 {
            for n in &names {
                for a in [
                    0i32, 8, 0xfff0, 0xfff8, 0xfffc, 0xfffd, 0x1fff0, 0x1fffc, -4,
                ] {
                    // b: a page further (past the end where a is not).
                    calls.push((n.clone(), vec![a, a.wrapping_add(0x1_0000)]));
                }
            }
            if round == 0 {
                calls.push(("grow".to_string(), vec![]));
            }
        }
        attack_wasm(&wasm, false, &calls);
    });
}

#[test]
fn masked_clamp_without_headroom_every_width_and_offset() {
    // In a segment of exactly the memory's two pages, `masked` confines an
    // address local by a clamp (`select(a, m - 1, a < m)`, `m` the
    // segment less offset and width, plus one): plain stores (the clamp
    // where the address was pushed, before the value) and
    // read-modify-writes (confined once, into the copy the load reads),
    // every width, offsets with and without a mask that fits, addresses
    // around `m`, both memory ends and 2^32. One byte past the segment is
    // a canary: a clamp to `m` instead of `m - 1` breaks one.
    let kinds = [
        ("i32", "i32.store8", "i32.load8_u", 1, "(i32.const -1)"),
        ("i32", "i32.store16", "i32.load16_u", 2, "(i32.const -1)"),
        ("i32", "i32.store", "i32.load", 4, "(i32.const -1)"),
        ("i64", "i64.store", "i64.load", 8, "(i64.const -1)"),
        (
            "v128",
            "v128.store",
            "v128.load",
            16,
            "(v128.const i64x2 -1 -1)",
        ),
    ];
    let mut funcs = String::new();
    let mut calls = Vec::new();
    let mut names = Vec::new();
    for (ty, store, load, width, value) in kinds {
        for offset in [0i64, 1, 3, 0xff1, 0xfff0, 0x1_0001] {
            let (s, r) = (format!("s{width}_{offset}"), format!("r{width}_{offset}"));
            let not = if ty == "v128" { "v128.not" } else { "" };
            let bump = |x: &str| match ty {
                "v128" => format!("({not} {x})"),
                _ => format!("({ty}.add {x} ({ty}.const 1))"),
            };
            let loaded = format!("({load} offset={offset} (local.get $a))");
            funcs += &format!(
                "(func (export \"{s}\") (param $a i32)
                   ({store} offset={offset} (local.get $a) {value}))
                 (func (export \"{r}\") (param $a i32)
                   ({store} offset={offset} (local.get $a) {}))\n",
                bump(&loaded)
            );
            names.push((s, r, 0x2_0000 - offset - width));
        }
    }
    for round in 0..2 {
        for (s, r, last) in &names {
            for a in [0, 1, *last - 0x1_0000 - 1, *last - 0x1_0000 + 1]
                .into_iter()
                .chain((-2..=2).map(|d| last + d))
                .chain([0x1_0000, 0x1_fffc, 0x1_ffff, 0x7fff_ffff])
                .chain([-1, -2, -4, -8, -16, i64::from(i32::MIN), -last])
            {
                let a = a as i32;
                calls.push((s.clone(), vec![a]));
                calls.push((r.clone(), vec![a]));
            }
        }
        if round == 0 {
            calls.push(("grow".to_string(), vec![]));
        }
    }
    let wat = module(&funcs);
    big_stack(move || attack_inner(&wat, &calls));
}
