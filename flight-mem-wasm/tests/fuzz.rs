//! Differential fuzzing: wasm-smith modules with memory operations run
//! original and rebased (`checked`) in wasmi — the same results or the same
//! trap after every call, the same memory bytes, canaries intact. `masked`
//! must keep the canaries whatever the module does.
//!
//! `FLIGHT_FUZZ_MODULES=N` sets the number of modules (default 400; the
//! long run uses 100000 with `--release`), `FLIGHT_FUZZ_SEED` the seed.

mod common;

use arbitrary::Unstructured;
use common::*;
use flight_mem_wasm::{Error, Isolation, Segment, rebase};
use wasmi::{Extern, Instance, Linker, Memory, Module, Store, TrapCode, Val};

#[derive(Debug, PartialEq)]
enum Outcome {
    Values(Vec<String>),
    Trap(Option<TrapCode>),
}

fn key(v: &Val) -> String {
    match v {
        Val::I32(x) => format!("i32 {x}"),
        Val::I64(x) => format!("i64 {x}"),
        Val::F32(x) => format!("f32 {:#x}", x.to_bits()),
        Val::F64(x) => format!("f64 {:#x}", x.to_bits()),
        Val::V128(x) => format!("v128 {:#x}", x.as_u128()),
        Val::FuncRef(f) => format!("funcref null={}", f.is_null()),
        Val::ExternRef(e) => format!("externref null={}", e.is_null()),
    }
}

fn arg(ty: &wasmi::ValType, rng: &mut Rng) -> Val {
    let interesting = [0i64, 1, -1, 4, 0xffff, 0x10000, 0x7fff_ffff, -0x10000];
    let r = rng.next();
    let x = if r.is_multiple_of(3) {
        r as i64 >> 32
    } else {
        interesting[(r >> 8) as usize % interesting.len()]
    };
    match ty {
        wasmi::ValType::I32 => Val::I32(x as i32),
        wasmi::ValType::I64 => Val::I64(x),
        t => Val::default_for_ty(*t),
    }
}

fn call(store: &mut Store<()>, i: Instance, name: &str, args: &[Val]) -> Outcome {
    let f = i.get_func(&*store, name).expect("export");
    let ty = f.ty(&*store);
    let mut out: Vec<Val> = ty
        .results()
        .iter()
        .map(|t| Val::default_for_ty(*t))
        .collect();
    match f.call(&mut *store, args, &mut out) {
        Ok(()) => Outcome::Values(out.iter().map(key).collect()),
        Err(e) => Outcome::Trap(e.as_trap_code()),
    }
}

#[derive(Default, Debug)]
struct Tally {
    modules: u64,
    calls: u64,
    traps: u64,
    oob_traps: u64,
    both_uninstantiable: u64,
    skipped: u64,
    wasmi_bug_skipped: u64,
    elided: u64,
}

/// One module, original against rebased. `Err` describes a divergence.
fn differential(wasm: &[u8], rng: &mut Rng, t: &mut Tally) -> Result<(), String> {
    if hits_wasmi_store_lane_bug(wasm, 0) {
        t.wasmi_bug_skipped += 1;
        return Ok(());
    }
    let engine = engine();
    let module =
        Module::new(&engine, wasm).map_err(|e| format!("wasmi rejects the original: {e}"))?;
    let (_, max) = own_memory(wasm).unwrap_or((0, Some(1)));
    let seg = Segment {
        base: BASE,
        size: max.unwrap_or(8).max(1) * PAGE,
    };

    let mut s1 = Store::new(&engine, ());
    let original = Linker::<()>::new(&engine).instantiate_and_start(&mut s1, &module);
    let mut s2 = Store::new(&engine, ());
    let rebased = match rebase(wasm, &options(seg, Isolation::Checked)) {
        Err(Error::NonConstantDataOffset { .. }) => {
            t.skipped += 1;
            return Ok(());
        }
        Err(Error::DataOutOfBounds { .. }) if original.is_err() => {
            t.both_uninstantiable += 1;
            return Ok(());
        }
        Err(e) => return Err(format!("rebase refused: {e}")),
        Ok(r) => r,
    };
    same_without_validation(wasm, &options(seg, Isolation::Checked), &rebased.wasm)?;
    t.elided += rebased.stats.elided;
    let unified = Unified::new(&mut s2, seg);
    let m2 = Module::new(&engine, &rebased.wasm[..])
        .map_err(|e| format!("wasmi rejects the output: {e}"))?;
    let mut linker = Linker::<()>::new(&engine);
    linker.define("env", "memory", unified.memory).unwrap();
    let second = linker.instantiate_and_start(&mut s2, &m2);
    let (i1, i2) = match (original, second) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(_), Err(_)) => {
            t.both_uninstantiable += 1;
            return Ok(());
        }
        (a, b) => {
            return Err(format!(
                "instantiation differs: {:?} vs {:?}",
                a.err(),
                b.err()
            ));
        }
    };
    t.modules += 1;
    let memory: Option<Memory> = i1.exports(&s1).find_map(|e| match e.into_extern() {
        Extern::Memory(m) => Some(m),
        _ => None,
    });
    let funcs: Vec<String> = i1
        .exports(&s1)
        .filter(|e| matches!(e.ty(&s1), wasmi::ExternType::Func(_)))
        .map(|e| e.name().to_string())
        .collect();
    for name in funcs {
        let ty = i1.get_func(&s1, &name).unwrap().ty(&s1);
        let args: Vec<Val> = ty.params().iter().map(|p| arg(p, rng)).collect();
        let a = call(&mut s1, i1, &name, &args);
        let b = call(&mut s2, i2, &name, &args);
        if matches!(a, Outcome::Trap(Some(TrapCode::StackOverflow)))
            || matches!(b, Outcome::Trap(Some(TrapCode::StackOverflow)))
        {
            // Added scratch locals make frames larger: depth limits differ.
            t.skipped += 1;
            return Ok(());
        }
        t.calls += 1;
        if let Outcome::Trap(code) = &a {
            t.traps += 1;
            t.oob_traps += u64::from(*code == Some(TrapCode::MemoryOutOfBounds));
        }
        if a != b {
            return Err(format!("`{name}`({args:?}): original {a:?}, rebased {b:?}"));
        }
        if let Some(m) = memory {
            let orig = m.data(&s1);
            let seg_bytes = &unified.memory.data(&s2)[BASE as usize..][..orig.len()];
            if orig != seg_bytes {
                let at = orig.iter().zip(seg_bytes).position(|(x, y)| x != y);
                return Err(format!("after `{name}` memory differs at {at:?}"));
            }
        }
        if let Some(at) = unified.broken_canary(&s2, 0) {
            return Err(format!("after `{name}` canary at {at:#x} changed"));
        }
    }
    // Masked: whatever the module does, nothing outside the segment (and the
    // documented spill) changes.
    let masked = rebase(wasm, &options(seg, Isolation::Masked)).map(|r| r.wasm);
    if seg.size.is_power_of_two() && masked.is_ok_and(|w| !hits_wasmi_store_lane_bug(&w, 0)) {
        let mut s3 = Store::new(&engine, ());
        if let Ok((i3, u3)) = instantiate(&mut s3, wasm, &options(seg, Isolation::Masked), &[]) {
            let names: Vec<String> = i3.exports(&s3).map(|e| e.name().to_string()).collect();
            for name in names {
                if let Some(f) = i3.get_func(&s3, &name) {
                    let ty = f.ty(&s3);
                    let args: Vec<Val> = ty.params().iter().map(|p| arg(p, rng)).collect();
                    let _ = call(&mut s3, i3, &name, &args);
                }
            }
            if let Some(at) = u3.broken_canary(&s3, MASK_SPILL) {
                return Err(format!("masked: canary at {at:#x} changed"));
            }
        }
    }
    Ok(())
}

#[test]
fn rebased_modules_behave_like_the_originals() {
    big_stack(run);
}

fn run() {
    let n: u64 = std::env::var("FLIGHT_FUZZ_MODULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let seed: u64 = std::env::var("FLIGHT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(seed | 1);
    let mut t = Tally::default();
    let mut failures = Vec::new();
    let mut bytes = vec![0u8; 8192];
    for case in 0..n {
        for b in bytes.iter_mut() {
            *b = rng.next() as u8;
        }
        let mut u = Unstructured::new(&bytes);
        let Ok(mut m) = wasm_smith::Module::new(common::smith::config(), &mut u) else {
            continue;
        };
        if m.ensure_termination(2_000).is_err() {
            continue;
        }
        let wasm = m.to_bytes();
        if std::env::var_os("FLIGHT_FUZZ_TRACE").is_some() {
            let path = std::env::temp_dir().join("flight-fuzz-current.wasm");
            let _ = std::fs::write(&path, &wasm);
            let rss = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
            eprintln!("case {case} statm {}", rss.trim());
        }
        if let Err(e) = differential(&wasm, &mut rng, &mut t) {
            let path = std::env::temp_dir().join(format!("flight-fuzz-{seed}-{case}.wasm"));
            let _ = std::fs::write(&path, &wasm);
            failures.push(format!("case {case} ({}): {e}", path.display()));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    println!("fuzz: {n} generated, {t:?}");
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(failures.is_empty(), "{} divergences", failures.len());
    assert!(t.modules > n / 2, "too few modules ran: {t:?}");
    assert!(t.oob_traps > 0, "no module trapped out of bounds: {t:?}");
}

/// A module of straight-line functions made of the patterns the rewriter
/// tracks across instructions (`rewrite/track.rs`): read-modify-write of
/// one local's address, stored values computed after a load, the address
/// local written, teed, or branched around between the accesses, a call
/// that grows memory in between, and offsets and widths that share or do
/// not share a check or a mask. wasm-smith rarely writes these.
fn tracked_module(rng: &mut Rng) -> String {
    let mut pick = |n: usize| (rng.next() >> 16) as usize % n;
    let offsets = [0, 1, 4, 8, 100, 0, 4, 65528];
    let loads = [
        ("i32.load", ""),
        ("i32.load8_u", ""),
        ("i32.load16_s", ""),
        ("i64.load", "i32.wrap_i64"),
        ("i64.load32_u", "i32.wrap_i64"),
    ];
    let stores = [
        ("i32.store", ""),
        ("i32.store8", ""),
        ("i32.store16", ""),
        ("i64.store", "i64.extend_i32_u"),
        ("i64.store32", "i64.extend_i32_u"),
    ];
    let locals = ["$a", "$b", "$c", "$x", "$y"];
    let mut funcs = String::new();
    for f in 0..3 {
        let mut body = String::new();
        for _ in 0..4 + pick(10) {
            let a = locals[pick(5)];
            let b = locals[pick(5)];
            let (ld, to_i32) = loads[pick(loads.len())];
            let (st, from_i32) = stores[pick(stores.len())];
            let (lo, so) = (offsets[pick(8)], offsets[pick(8)]);
            let load = format!("{ld} offset={lo} {to_i32}");
            let store = format!("{from_i32} {st} offset={so}");
            let modify = match pick(7) {
                0 => "i32.const 1 i32.add".to_string(),
                1 => format!("local.get {b} i32.xor"),
                2 => format!("local.get {b} local.set {a}"),
                3 => format!("local.get {b} i32.div_u"),
                4 => format!("local.tee {b}"),
                5 => format!("local.get {b} {ld} offset={so} {to_i32} i32.add"),
                _ => "call $bump i32.add".to_string(),
            };
            let s = match pick(7) {
                // read-modify-write
                0..=2 => format!("local.get {a} local.get {a} {load} {modify} {store}"),
                // a stored value computed from another local
                3 => format!("local.get {a} local.get {b} {modify} {store}"),
                // a load into a local, then the same address again
                4 => format!(
                    "local.get {a} {load} local.set {b} local.get {a} local.get {b} {store}"
                ),
                // an address moved near an argument
                5 => format!(
                    "local.get {b} i32.const {} i32.add local.set {a}",
                    [-8, -4, -1, 1, 3][pick(5)]
                ),
                _ => format!("local.get {b} (if (then local.get {b} local.set {a}))"),
            };
            body.push_str(&s);
            body.push('\n');
        }
        funcs.push_str(&format!(
            "(func (export \"f{f}\") (param $a i32) (param $b i32) (param $c i32) (result i32)
               (local $x i32) (local $y i32)
               ;; Addresses mostly inside the first page, some at its end.
               (local.set $a (i32.rem_u (local.get $a) (i32.const 65560)))
               (local.set $b (i32.rem_u (local.get $b) (i32.const 65560)))
               (local.set $x (i32.add (local.get $a) (i32.const 4)))
               (local.set $y (i32.sub (local.get $b) (i32.const 2)))
               {body}
               (i32.add (local.get $a) (local.get $x)))\n"
        ));
    }
    format!(
        "(module (memory (export \"mem\") 1 2)
           (func $bump (result i32) (memory.grow (i32.const 1)))
           {funcs})"
    )
}

#[test]
fn tracked_patterns_behave_like_the_originals() {
    big_stack(|| {
        let n: u64 = std::env::var("FLIGHT_FUZZ_MODULES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400);
        let mut rng = Rng(0x7eac | 1);
        let mut t = Tally::default();
        let mut masked_calls = 0;
        for case in 0..n / 4 {
            let text = tracked_module(&mut rng);
            let wasm = wat::parse_str(&text).expect("generated module");
            if let Err(e) = differential(&wasm, &mut rng, &mut t) {
                panic!("case {case}: {e}\n{text}");
            }
            match masked_in_bounds(&wasm, &mut rng) {
                Ok(n) => masked_calls += n,
                Err(e) => panic!("case {case}, masked: {e}\n{text}"),
            }
        }
        println!(
            "tracked patterns: {} modules, {t:?}, {masked_calls} masked calls compared",
            n / 4
        );
        assert!(masked_calls > 0, "no masked call stayed in bounds");
        assert!(t.modules == n / 4 && t.oob_traps > 0, "{t:?}");
        assert!(t.elided > 0, "no check was implied by another: {t:?}");
    });
}

/// `masked` against the original on calls that stay in bounds: the same
/// results and the same memory, until the original first traps (from
/// there on a confined access may have written elsewhere). This is what
/// catches a confined copy read after its local changed.
fn masked_in_bounds(wasm: &[u8], rng: &mut Rng) -> Result<u64, String> {
    let engine = engine();
    let module = Module::new(&engine, wasm).map_err(|e| e.to_string())?;
    let mut s1 = Store::new(&engine, ());
    let i1 = Linker::<()>::new(&engine)
        .instantiate_and_start(&mut s1, &module)
        .map_err(|e| e.to_string())?;
    let seg = Segment {
        base: BASE,
        size: 2 * PAGE,
    };
    let mut s2 = Store::new(&engine, ());
    let (i2, u2) = instantiate(&mut s2, wasm, &options(seg, Isolation::Masked), &[])?;
    let memory = i1.get_memory(&s1, "mem").expect("mem");
    let mut compared = 0;
    for f in 0..3 {
        let name = format!("f{f}");
        let args: Vec<Val> = (0..3).map(|_| arg(&wasmi::ValType::I32, rng)).collect();
        let a = call(&mut s1, i1, &name, &args);
        let b = call(&mut s2, i2, &name, &args);
        if matches!(a, Outcome::Trap(_)) {
            return Ok(compared);
        }
        if a != b {
            return Err(format!("`{name}`({args:?}): original {a:?}, masked {b:?}"));
        }
        compared += 1;
        let orig = memory.data(&s1);
        if orig != &u2.memory.data(&s2)[BASE as usize..][..orig.len()] {
            return Err(format!("after `{name}` the memories differ"));
        }
    }
    Ok(compared)
}
