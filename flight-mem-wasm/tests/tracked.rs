//! The placements the operand-stack tracking allows (`rewrite/track.rs`):
//! a stored value computed after a load, a check implied by an earlier
//! one, the masked copy of an address local; each run against the
//! original module, at addresses around the memory's end, in every mode.

mod common;

use common::*;
use flight_mem_wasm::{Isolation, Segment, rebase};
use wasmi::{Linker, Module, Store, TrapCode, Val};

/// One page, no maximum for `grow`ing variants; every function takes an
/// address `a` (and more), and each stresses one placement.
const MODULE: &str = r#"(module
  (memory 1 2)
  ;; read-modify-write: the store's address is pushed before the load.
  (func (export "rmw") (param $a i32) (result i32)
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
    (i64.store offset=8 (local.get $a) (i64.extend_i32_u (local.get $a)))
    (i32.load (local.get $a)))
  ;; A wider store than the load: the load's check does not imply its.
  (func (export "widen") (param $a i32)
    (i64.store (local.get $a) (i64.extend_i32_u (i32.load (local.get $a)))))
  ;; The value traps (division by zero) before the store's own check.
  (func (export "divide") (param $a i32) (param $d i32)
    (i32.store (local.get $a) (i32.div_u (i32.load (local.get $a)) (local.get $d))))
  ;; The address local is written between the pushes and the store: the
  ;; store uses the old value, the next load the new one.
  (func (export "rewrite") (param $a i32) (param $b i32) (result i32)
    local.get $a
    local.get $a
    i32.load
    local.get $b
    local.set $a
    i32.store
    (i32.load (local.get $a)))
  ;; A branch between two accesses of the same local: nothing carried over.
  (func (export "branch") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 2)))
    (if (local.get $b) (then (local.set $a (local.get $b))))
    (i32.load16_u offset=2 (local.get $a)))
  ;; A call between the pushes and the store (not walked), and `grow`.
  (func $bump (result i32) (memory.grow (i32.const 1)))
  (func (export "call") (param $a i32) (result i32)
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (call $bump)))
    (i32.load (local.get $a)))
  ;; `local.tee` of the address inside the value.
  (func (export "tee") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (i32.load (local.tee $a (local.get $b))))
    (i32.load offset=4 (local.get $a)))
  ;; A hash of the whole memory, to compare what the calls wrote.
  (func (export "hash") (result i32) (local $i i32) (local $h i32)
    (loop $l
      (local.set $h (i32.add (i32.mul (local.get $h) (i32.const 31))
                             (i32.load8_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.mul (memory.size) (i32.const 65536)))))
    (local.get $h)))"#;

fn run(
    store: &mut Store<()>,
    i: &wasmi::Instance,
    name: &str,
    args: &[i32],
) -> Result<Option<i32>, TrapCode> {
    let f = i.get_func(&*store, name).expect("export");
    let mut out = vec![Val::I32(0); f.ty(&*store).results().len()];
    let args: Vec<Val> = args.iter().map(|&a| Val::I32(a)).collect();
    match f.call(&mut *store, &args, &mut out) {
        Ok(()) => Ok(out.first().and_then(|v| v.i32())),
        Err(e) => Err(e.as_trap_code().expect("a trap")),
    }
}

/// Calls of every function at addresses around both memory sizes.
fn calls() -> Vec<(&'static str, Vec<i32>)> {
    let mut v = Vec::new();
    let ends = [0x1_0000i32, 0x2_0000];
    for end in ends {
        for back in [-20, -16, -12, -9, -8, -7, -5, -4, -3, -2, -1, 0, 1] {
            let a = end + back;
            v.push(("rmw", vec![a]));
            v.push(("widen", vec![a]));
            v.push(("divide", vec![a, 3]));
            v.push(("divide", vec![a, 0]));
            v.push(("rewrite", vec![a, 100]));
            v.push(("rewrite", vec![100, a]));
            v.push(("branch", vec![a, 0]));
            v.push(("branch", vec![a, a + 1]));
            v.push(("tee", vec![100, a]));
            v.push(("tee", vec![a, 200]));
        }
    }
    v.push(("rmw", vec![-1]));
    v.push(("rmw", vec![i32::MIN]));
    // Grows the memory (to its maximum of two pages): the same calls
    // again reach the second page.
    v.push(("call", vec![0xfffc]));
    v.push(("call", vec![0x10000]));
    v.push(("call", vec![0x1fffc]));
    v.push(("call", vec![0x1fffd]));
    v
}

#[test]
fn tracked_placements_behave_as_the_original() {
    // wasmi's debug build runs the calls on a deep native stack.
    big_stack(placements);
}

fn placements() {
    let wasm = wat::parse_str(MODULE).unwrap();
    let engine = engine();
    let module = Module::new(&engine, &wasm[..]).unwrap();
    for (iso, pages) in MODES_AND_PAGES {
        // The original, in its own memory.
        let mut os = Store::new(&engine, ());
        let oi = Linker::<()>::new(&engine)
            .instantiate_and_start(&mut os, &module)
            .unwrap();
        let seg = Segment {
            base: BASE,
            size: pages * PAGE,
        };
        let mut s = Store::new(&engine, ());
        let (i, u) = instantiate(&mut s, &wasm, &options(seg, iso), &[]).unwrap();
        for (name, args) in calls() {
            let want = run(&mut os, &oi, name, &args);
            let got = run(&mut s, &i, name, &args);
            match iso {
                // Exact: the same result or the same trap.
                Isolation::Checked => assert_eq!(got, want, "{iso:?} {name}{args:?}"),
                // In bounds the same; out of bounds anything inside the
                // segment (no trap but a division's).
                Isolation::Masked => {
                    if want.is_ok() || want == Err(TrapCode::IntegerDivisionByZero) {
                        assert_eq!(got, want, "{iso:?} {name}{args:?}")
                    } else {
                        assert_ne!(got, Err(TrapCode::MemoryOutOfBounds), "{name}{args:?}");
                    }
                }
                // In bounds the same.
                Isolation::Trusted => {
                    if want.is_ok() {
                        assert_eq!(got, want, "{iso:?} {name}{args:?}")
                    }
                }
            }
            if iso != Isolation::Trusted {
                assert_eq!(u.broken_canary(&s, 0), None, "{iso:?} {name}{args:?}");
            }
            if iso == Isolation::Checked {
                // Every byte the original wrote, at the same place.
                assert_eq!(
                    run(&mut s, &i, "hash", &[]),
                    run(&mut os, &oi, "hash", &[]),
                    "{name}{args:?}: the memories differ"
                );
            }
        }
    }
}

/// Instructions of a module's code that `pick` selects.
fn count(w: &[u8], pick: impl Fn(&wasmparser::Operator<'_>) -> bool) -> usize {
    let mut n = 0;
    for p in wasmparser::Parser::new(0).parse_all(w) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(b)) = p {
            let mut ops = b.get_operators_reader().unwrap();
            while !ops.eof() {
                n += usize::from(pick(&ops.read().unwrap()));
            }
        }
    }
    n
}

/// Confining instructions.
fn confines(w: &[u8]) -> usize {
    use wasmparser::Operator::{I32And, I32RemU};
    count(w, |op| matches!(op, I32And | I32RemU))
}

/// Loads and stores.
fn accesses(w: &[u8]) -> usize {
    count(w, |op| {
        let name = format!("{op:?}");
        name.contains("Load") || name.contains("Store")
    })
}

#[test]
fn the_copy_and_the_implied_checks_are_used() {
    let wasm = wat::parse_str(MODULE).unwrap();
    // No `i32.and` or remainder of its own.
    assert_eq!(confines(&wasm), 0);
    let n_accesses = accesses(&wasm);
    assert!(n_accesses >= 19, "{n_accesses}");
    for pages in [2, 4] {
        let seg = Segment {
            base: BASE,
            size: pages * PAGE,
        };
        let checked = rebase(&wasm, &options(seg, Isolation::Checked)).unwrap();
        // At least `rmw`'s and `divide`'s stores are covered by their
        // loads' checks.
        assert!(checked.stats.elided >= 2, "{:?}", checked.stats);
        let masked = rebase(&wasm, &options(seg, Isolation::Masked)).unwrap();
        // One confinement per access without the copy; `rmw` confines
        // its first load's address once for the store, the load and the
        // last load; `divide` once for two.
        let n = confines(&masked.wasm);
        assert!(n <= n_accesses - 3, "{n} confinements for {pages} pages");
    }
}
