//! `masked` isolation at its boundaries, exhaustively over the values where
//! a confinement can go wrong: every access width (1, 2, 4, 8 and 16
//! bytes), memarg offsets from 0 to 2^32 − 1 (around the memory's end,
//! the segment's end and 2^32 less the base), addresses around the
//! memory's end, the segment's end and 2^32, through the address shapes
//! the rewriter confines differently (a local: a clamp or a mask where it
//! is pushed; a computed address: a remainder or a mask on the stack; a
//! read-modify-write through one local: one confinement kept in a copy;
//! then a second access of a larger or a smaller extent through the same
//! local, which the copy serves when it can).
//!
//! Each call runs in the original, then twice in the rebased module with
//! every byte outside the segment set to two different fills. The
//! contract of SPEC.md §7 for `masked`, checked exactly:
//! - no byte outside the segment is written (each fill unchanged),
//! - none is read (both runs return the same values and leave the same
//!   segment: a byte read from outside would differ between the fills),
//! - an access that is in bounds in the original returns the same value
//!   and leaves the same memory (in-bounds accesses unchanged),
//! - an out-of-bounds access does not trap (it is confined, branch-free),
//!   unless its offset alone with the base passes 2^32 (then every
//!   execution is out of bounds, and the rewriter writes a trap).
//!
//! Segments: exactly the memory's maximum (no headroom at all), a power of
//! two with a page of slack (the run-time kernel's shape: clamps), and
//! one with room for masks.

mod common;

use common::{BASE, PAGE, big_stack, engine, options};
use flight_mem_wasm::{Isolation, Segment, rebase};
use wasmi::{Extern, Instance, Linker, Memory, MemoryType, Module, Store, Val};

/// The loads and stores of each width: value type, load, store, width, a
/// stored value (every byte 0xff, unlike the segment's pattern), and how
/// a loaded value is changed before a read-modify-write stores it back.
const KINDS: [(&str, &str, &str, u64, &str, &str); 5] = [
    (
        "i32",
        "i32.load8_u",
        "i32.store8",
        1,
        "(i32.const -1)",
        "i32.add",
    ),
    (
        "i32",
        "i32.load16_u",
        "i32.store16",
        2,
        "(i32.const -1)",
        "i32.add",
    ),
    (
        "i32",
        "i32.load",
        "i32.store",
        4,
        "(i32.const -1)",
        "i32.add",
    ),
    (
        "i64",
        "i64.load",
        "i64.store",
        8,
        "(i64.const -1)",
        "i64.add",
    ),
    (
        "v128",
        "v128.load",
        "v128.store",
        16,
        "(v128.const i64x2 -1 -1)",
        "i64x2.add",
    ),
];

/// Memory offsets for an access of `w` bytes: small ones, around the
/// memory's end `m` and the segment's end `s`, and near 2^32 (less the
/// base: the largest the rewriter still confines, and the first it turns
/// into a trap).
fn offsets(m: u64, s: u64, w: u64) -> Vec<u64> {
    let top = u64::from(u32::MAX);
    let mut v = vec![0, 1, w - 1, w, 15, 16, 17, m / 3];
    for end in [m, s] {
        v.extend([end - w - 1, end - w, end - w + 1, end - 1, end, end + 1]);
    }
    v.extend([1 << 31, top - BASE - 16, top - BASE - (w - 1), top - BASE]);
    v.extend([top - BASE + 1, top - w, top]);
    v.sort_unstable();
    v.dedup();
    v
}

/// Addresses for an access of `w` bytes at `off`: the last in bounds and
/// the first out of bounds (for each of `ends`: the memory's size, its
/// maximum, the segment's end `s`), the last bytes before each end, and
/// near 2^32 (also those whose 32-bit sum with the offset wraps to 0 or to
/// the segment's end).
fn addresses(ends: [u64; 3], w: u64, off: u64) -> Vec<i32> {
    let s = ends[2];
    let mut v: Vec<u64> = vec![0, 1, w, 1 << 31, (1 << 31) - 1];
    for end in ends {
        for d in [1, 2, w - 1, w, w + 1, 16, 17] {
            v.push(end.wrapping_sub(d));
        }
        let last = end.wrapping_sub(off).wrapping_sub(w);
        v.extend([last.wrapping_sub(1), last, last.wrapping_add(1)]);
    }
    for d in [1, 2, w - 1, w, 16, 17] {
        v.push((1u64 << 32) - d);
    }
    let wrap = (1u64 << 32).wrapping_sub(off);
    v.extend([wrap, wrap.wrapping_sub(1), wrap.wrapping_add(s - w)]);
    let mut v: Vec<i32> = v.into_iter().map(|a| a as u32 as i32).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The exported functions of one module, each with its access width, the
/// memarg offset of its first access, and whether an offset of it with the
/// base passes 2^32 (every execution out of bounds: the rewriter writes a
/// trap).
fn module(min: u64, max: u64, s: u64) -> (String, Vec<(String, u64, u64, bool)>) {
    let m = max * PAGE;
    let mut wat = format!("(module (memory (export \"mem\") {min} {max})\n");
    let mut names = Vec::new();
    for (ty, load, store, w, value, add) in KINDS {
        // A load returns its bytes as i64s (a v128 as its two halves).
        let (result, ret) = match ty {
            "v128" => (
                "(result i64 i64)",
                "(local.set $v) (i64x2.extract_lane 0 (local.get $v)) (i64x2.extract_lane 1 (local.get $v))",
            ),
            "i32" => ("(result i64)", "(i64.extend_i32_u)"),
            _ => ("(result i64)", ""),
        };
        for off in offsets(m, s, w) {
            let k = format!("{w}_{off}");
            // A second access of another extent through the same local:
            // an 8-byte store past the first access (the kernel's shape).
            let far = (off + w + m / 3).min(u64::from(u32::MAX));
            // And a 1-byte store just before its end: a smaller extent,
            // which the first access's confinement may serve.
            let near = (off + w).saturating_sub(3).min(u64::from(u32::MAX));
            // And a 2-byte store just past it: a larger extent.
            let up = (off + w + 2).min(u64::from(u32::MAX));
            wat += &format!(
                "(func (export \"l{k}\") (param $a i32) {result} (local $v v128)
                   ({load} offset={off} (local.get $a)) {ret})
                 (func (export \"c{k}\") (param $a i32) {result} (local $v v128)
                   ({load} offset={off} (i32.xor (local.get $a) (i32.const 0))) {ret})
                 (func (export \"s{k}\") (param $a i32)
                   ({store} offset={off} (local.get $a) {value}))
                 (func (export \"t{k}\") (param $a i32)
                   ({store} offset={off} (i32.xor (local.get $a) (i32.const 0)) {value}))
                 (func (export \"r{k}\") (param $a i32)
                   ({store} offset={off} (local.get $a)
                     ({add} ({load} offset={off} (local.get $a)) {value})))
                 (func (export \"p{k}\") (param $a i32)
                   ({store} offset={off} (local.get $a)
                     ({add} ({load} offset={off} (local.get $a)) {value}))
                   (i64.store offset={far} (local.get $a) (i64.const -1)))
                 (func (export \"q{k}\") (param $a i32)
                   ({store} offset={off} (local.get $a)
                     ({add} ({load} offset={off} (local.get $a)) {value}))
                   (i32.store8 offset={near} (local.get $a) (i32.const -1))
                   (i32.store16 offset={up} (local.get $a) (i32.const -1)))\n"
            );
            let top = u64::from(u32::MAX);
            for p in ["l", "c", "s", "t", "r", "p", "q"] {
                let second = match p {
                    "p" => far,
                    "q" => near.max(up),
                    _ => 0,
                };
                let always = off.max(second) + BASE > top;
                names.push((format!("{p}{k}"), w, off, always));
            }
        }
    }
    wat += ")";
    (wat, names)
}

/// The segment's bytes before every call (never 0xff, the stored value).
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(37) % 251) as u8
}

type Outcome = Result<Vec<i64>, String>;

fn call(store: &mut Store<()>, i: &Instance, name: &str, a: i32) -> Outcome {
    let f = i.get_func(&*store, name).expect("export");
    let mut out = vec![Val::I64(0); f.ty(&*store).results().len()];
    f.call(&mut *store, &[Val::I32(a)], &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out.iter().map(|v| v.i64().expect("i64 results")).collect())
}

/// Runs every function on every address: original against rebased,
/// with both fills outside the segment. Returns the calls made.
fn check(min: u64, max: u64, pages: u64) -> usize {
    let s = pages * PAGE;
    let (wat, names) = module(min, max, s);
    let wasm = wat::parse_str(&wat).expect("wat");
    let engine = engine();
    let seg = Segment {
        base: BASE,
        size: s,
    };
    let out = rebase(&wasm, &options(seg, Isolation::Masked)).expect("rebase");
    let mut os = Store::new(&engine, ());
    let original = Module::new(&engine, &wasm[..]).expect("original");
    let oi = Linker::<()>::new(&engine)
        .instantiate_and_start(&mut os, &original)
        .expect("original instance");
    let om = oi
        .get_export(&os, "mem")
        .and_then(Extern::into_memory)
        .expect("mem");
    let mut us = Store::new(&engine, ());
    let total = (BASE + s + PAGE).div_ceil(PAGE);
    let unified = Memory::new(&mut us, MemoryType::new(total as u32, Some(total as u32)))
        .expect("unified memory");
    let mut linker = Linker::<()>::new(&engine);
    linker.define("env", "memory", unified).expect("define");
    let rebased = Module::new(&engine, &out.wasm[..]).expect("the output is valid");
    let ri = linker
        .instantiate_and_start(&mut us, &rebased)
        .expect("rebased instance");
    let (lo, hi) = (BASE as usize, (BASE + s) as usize);
    let len = (total * PAGE) as usize;
    // Two fills of everything outside the segment, different in every byte.
    let fills: [Vec<u8>; 2] = [
        (0..len).map(|i| (i as u8) ^ 0x5a).collect(),
        (0..len).map(|i| !((i as u8) ^ 0x5a)).collect(),
    ];
    let seg_bytes: Vec<u8> = (0..hi - lo).map(pattern).collect();
    let mut calls = 0;
    for (name, w, off, always) in &names {
        for a in addresses([min * PAGE, max * PAGE, s], *w, *off) {
            let what = format!("{min}..{max} pages in {pages}: {name}({a:#x})");
            let mine = om.data_mut(&mut os);
            let n = mine.len();
            mine.copy_from_slice(&seg_bytes[..n]);
            let want = call(&mut os, &oi, name, a);
            let mut runs = Vec::new();
            for fill in &fills {
                let data = unified.data_mut(&mut us);
                data.copy_from_slice(fill);
                data[lo..hi].copy_from_slice(&seg_bytes);
                let got = call(&mut us, &ri, name, a);
                let data = unified.data(&us);
                assert!(
                    data[..lo] == fill[..lo] && data[hi..] == fill[hi..],
                    "{what}: a byte outside the segment was written"
                );
                runs.push((got, data[lo..hi].to_vec()));
            }
            assert!(
                runs[0] == runs[1],
                "{what}: a byte outside the segment was read"
            );
            let (got, after) = &runs[0];
            match &want {
                Ok(_) => {
                    assert_eq!(got, &want, "{what}: an in-bounds access changed");
                    let mine = om.data(&os);
                    assert!(
                        after[..mine.len()] == *mine,
                        "{what}: an in-bounds access wrote elsewhere"
                    );
                }
                Err(_) if *always => assert!(got.is_err(), "{what}: no trap"),
                Err(_) => assert!(got.is_ok(), "{what}: trapped instead of confined: {got:?}"),
            }
            calls += 1;
        }
    }
    calls
}

#[test]
fn masked_confines_every_width_offset_and_address() {
    big_stack(|| {
        // No headroom at all (the memory's maximum is the segment), a
        // page of slack (clamps), room for masks.
        let mut calls = 0;
        for (min, max, pages) in [(2, 2, 2), (1, 3, 4), (1, 1, 4)] {
            let n = check(min, max, pages);
            eprintln!("memory {min}..{max} pages, segment {pages}: {n} calls");
            calls += n;
        }
        assert!(calls > 50_000, "{calls} calls");
    });
}

/// The operators `select` in the rebased code: the clamps of `masked`.
fn selects(wasm: &[u8]) -> usize {
    let mut n = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload {
            let mut ops = body.get_operators_reader().expect("operators");
            while !ops.eof() {
                n += usize::from(matches!(ops.read(), Ok(wasmparser::Operator::Select)));
            }
        }
    }
    n
}

#[test]
fn one_clamp_serves_other_accesses_through_the_same_local() {
    // A read-modify-write of the 4 bytes at offset 8 of `$a` (clamped once,
    // into the copy), then a 1-byte store at offset 2, a 4-byte store at
    // 0 and an 8-byte store at 16: every address in bounds for those is
    // below the clamp's bound while the segment has a page past the
    // memory's maximum (the copy's bound is half of it below the
    // segment's end), and the clamped value with their offsets stays
    // inside. Without that page the clamp would change in-bounds
    // addresses of the later stores: they are confined on their own.
    let wat = r#"(module (memory 1 3)
      (func (export "f") (param $a i32)
        (i32.store offset=8 (local.get $a)
          (i32.add (i32.load offset=8 (local.get $a)) (i32.const 1)))
        (i32.store8 offset=2 (local.get $a) (i32.const 7))
        (i32.store (local.get $a) (i32.const 9))
        (i64.store offset=16 (local.get $a) (i64.const 5))))"#;
    let wasm = wat::parse_str(wat).expect("wat");
    let clamps = |pages: u64| {
        let seg = Segment {
            base: BASE,
            size: pages * PAGE,
        };
        let out = rebase(&wasm, &options(seg, Isolation::Masked)).expect("rebase");
        selects(&out.wasm)
    };
    assert_eq!(clamps(4), 1, "one clamp for the four accesses");
    let exact = wat.replace("(memory 1 3)", "(memory 1 4)");
    let wasm = wat::parse_str(exact).expect("wat");
    let seg = Segment {
        base: BASE,
        size: 4 * PAGE,
    };
    let out = rebase(&wasm, &options(seg, Isolation::Masked)).expect("rebase");
    assert_eq!(selects(&out.wasm), 4, "no headroom: a clamp each");
}
