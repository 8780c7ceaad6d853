//! Running rebased modules in wasmi inside a unified memory with canary
//! bytes around the segment.
#![allow(dead_code)]

pub mod modules;
pub mod smith;

use flight_mem_wasm::{Isolation, Options, Segment, rebase};
use wasmi::{Config, Engine, Extern, Instance, Linker, Memory, MemoryType, Module, Store};

/// A deterministic generator (xorshift64*): a fixed seed gives the same
/// modules on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() >> 20) as usize % v.len()]
    }
}

pub const PAGE: u64 = 65536;
/// Base of every test segment: not page-aligned, so a relocation that
/// forgot the base or added it twice shows, but 16-aligned for atomics.
pub const BASE: u64 = 2 * PAGE + 0x30;
/// Canary bytes after the segment.
pub const TAIL: u64 = PAGE;
/// Bytes past a segment a `masked` access may reach: none (the clamp of
/// wide accesses makes the mask exact).
pub const MASK_SPILL: u64 = 0;
/// Every mode with its segment in pages, for modules whose memory may reach
/// two pages: `masked` both in a segment of exactly that size (remainders,
/// no headroom) and in a larger one (plain masks).
pub const MODES_AND_PAGES: [(Isolation, u64); 4] = [
    (Isolation::Checked, 2),
    (Isolation::Masked, 2),
    (Isolation::Masked, 4),
    (Isolation::Trusted, 2),
];

pub fn engine() -> Engine {
    Engine::new(&config())
}

/// The engine's configuration: every proposal the rebaser's output may use.
pub fn config() -> Config {
    let mut config = Config::default();
    config
        .wasm_multi_memory(true)
        .wasm_simd(true)
        .wasm_bulk_memory(true)
        .wasm_extended_const(true)
        .wasm_reference_types(true)
        .wasm_tail_call(true)
        .wasm_multi_value(true);
    config
}

pub fn canary(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ 0xa5) as u8
}

/// A unified memory with the segment `[base, base + size)` zeroed and
/// canaries everywhere else.
#[derive(Clone, Copy)]
pub struct Unified {
    pub memory: Memory,
    pub segment: Segment,
}

impl Unified {
    pub fn new(store: &mut Store<()>, segment: Segment) -> Unified {
        Unified::covering(store, segment, 0)
    }

    /// Also covers `[0, end)` (where windows lie).
    pub fn covering(store: &mut Store<()>, segment: Segment, end: u64) -> Unified {
        let end = (segment.base + segment.size + TAIL).max(end);
        let pages = end.div_ceil(PAGE);
        let memory = Memory::new(
            &mut *store,
            MemoryType::new(pages as u32, Some(pages as u32)),
        )
        .expect("unified memory");
        let data = memory.data_mut(&mut *store);
        for i in 0..segment.base {
            data[i as usize] = canary(i);
        }
        for i in segment.base + segment.size..pages * PAGE {
            data[i as usize] = canary(i);
        }
        Unified { memory, segment }
    }

    /// First canary byte that changed, allowing `spill` bytes after the
    /// segment.
    pub fn broken_canary(&self, store: &Store<()>, spill: u64) -> Option<u64> {
        let data = self.memory.data(store);
        let seg = self.segment;
        (0..seg.base)
            .chain(seg.base + seg.size + spill..data.len() as u64)
            .find(|&i| data[i as usize] != canary(i))
    }
}

/// The own memory of a module: initial and maximum pages.
pub fn own_memory(wasm: &[u8]) -> Option<(u64, Option<u64>)> {
    let mut found = None;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            wasmparser::Payload::ImportSection(r) => {
                for i in r.into_imports() {
                    if let wasmparser::TypeRef::Memory(m) = i.ok()?.ty {
                        found.get_or_insert((m.initial, m.maximum));
                    }
                }
            }
            wasmparser::Payload::MemorySection(r) => {
                for m in r {
                    let m = m.ok()?;
                    found.get_or_insert((m.initial, m.maximum));
                }
            }
            _ => {}
        }
    }
    found
}

/// The segment a test gives a module: its declared maximum, or `default`
/// pages, at least its minimum; a power of two for `masked`.
pub fn segment_for(wasm: &[u8], isolation: Isolation, default_pages: u64, base: u64) -> Segment {
    let (min, max) = own_memory(wasm).unwrap_or((0, Some(0)));
    let mut pages = max
        .unwrap_or(default_pages)
        .min(default_pages)
        .max(min)
        .max(1);
    if isolation == Isolation::Masked {
        pages = pages.next_power_of_two();
    }
    Segment {
        base,
        size: pages * PAGE,
    }
}

pub fn options(segment: Segment, isolation: Isolation) -> Options {
    let mut o = Options::new(segment);
    o.isolation = isolation;
    o
}

/// Rebases `wasm` and instantiates it in `store` with a fresh unified memory
/// and the `extra` definitions. Errors are strings: the tests only count them.
pub fn instantiate(
    store: &mut Store<()>,
    wasm: &[u8],
    opts: &Options,
    extra: &[(String, String, Extern)],
) -> Result<(Instance, Unified), String> {
    let out = rebase(wasm, opts).map_err(|e| format!("rebase: {e}"))?;
    same_without_validation(wasm, opts, &out.wasm)?;
    let windows_end = opts
        .shared
        .iter()
        .map(|w| w.segment.base + w.segment.size)
        .max();
    let unified = Unified::covering(store, opts.segment, windows_end.unwrap_or(0));
    let module = Module::new(store.engine(), &out.wasm[..]).map_err(|e| format!("wasmi: {e}"))?;
    let mut linker = Linker::<()>::new(store.engine());
    for (m, n, e) in extra {
        linker.define(m, n, *e).map_err(|e| e.to_string())?;
    }
    linker
        .define("env", "memory", unified.memory)
        .map_err(|e| e.to_string())?;
    let instance = linker
        .instantiate_and_start(&mut *store, &module)
        .map_err(|e| format!("instantiate: {e}"))?;
    Ok((instance, unified))
}

/// Runs `f` on a thread with a large stack: the wast parser and wasmi's
/// compiler recurse deeply on big scripts and deeply nested generated code.
pub fn big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("the run panicked");
}

/// wasmi 2.0.0 aborts the process (an internal decode error, not a trap)
/// when it runs some `v128.storeN_lane` instructions — for instance with a
/// memarg offset of 65536 or more — with or without rebasing. Differential
/// runs skip modules with a store-lane instruction (`min_offset` 0); the
/// spec scripts only those with an offset past 64 KiB.
pub fn hits_wasmi_store_lane_bug(wasm: &[u8], min_offset: u64) -> bool {
    use wasmparser::{Operator as O, Payload};
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(mut ops) = body.get_operators_reader() else {
            return true;
        };
        while !ops.eof() {
            match ops.read() {
                Ok(O::V128Store8Lane { memarg, .. })
                | Ok(O::V128Store16Lane { memarg, .. })
                | Ok(O::V128Store32Lane { memarg, .. })
                | Ok(O::V128Store64Lane { memarg, .. })
                    if memarg.offset >= min_offset =>
                {
                    return true;
                }
                Ok(_) => {}
                Err(_) => return true,
            }
        }
    }
    false
}

/// The unvalidated rebase takes the fast scanner path; on a valid module it
/// must produce exactly the bytes of the validating (wasmparser) path.
pub fn same_without_validation(
    wasm: &[u8],
    opts: &Options,
    validated: &[u8],
) -> Result<(), String> {
    let mut fast = opts.clone();
    fast.validate = false;
    match rebase(wasm, &fast) {
        Ok(out) if out.wasm == validated => Ok(()),
        Ok(_) => Err("the fast path wrote different bytes than the validating path".into()),
        Err(e) => Err(format!("the fast path refused: {e}")),
    }
}

/// Every isolation mode, `checked` first.
pub const MODES: [Isolation; 3] = [Isolation::Checked, Isolation::Masked, Isolation::Trusted];

/// An unshared 32-bit memory type of `min` pages (and `max`).
pub fn mem(min: u64, max: Option<u64>) -> wasm_encoder::MemoryType {
    wasm_encoder::MemoryType {
        minimum: min,
        maximum: max,
        memory64: false,
        shared: false,
        page_size_log2: None,
    }
}

/// The options of a segment of `pages` pages at [`BASE`], validating or not.
pub fn opts(iso: Isolation, pages: u64, validate: bool) -> Options {
    let mut o = options(
        Segment {
            base: BASE,
            size: pages * PAGE,
        },
        iso,
    );
    o.validate = validate;
    o
}

/// `flight-rebase` with `args`: its exit code and output.
pub fn cli(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flight-rebase"))
        .args(args)
        .output()
        .expect("run flight-rebase");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// A module with `(memory 1 2)` (shared when `shared`) and an exported
/// `f: [i32] -> []` whose body is `body` (without locals or `end`).
pub fn with_body(body: &[u8], shared: bool) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, FunctionSection, MemorySection, Module, TypeSection,
    };
    let mut types = TypeSection::new();
    types.ty().function([wasm_encoder::ValType::I32], []);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    let mut mems = MemorySection::new();
    let mut ty = mem(1, Some(2));
    ty.shared = shared;
    mems.memory(ty);
    let mut exports = ExportSection::new();
    exports.export("f", ExportKind::Func, 0);
    let mut code = CodeSection::new();
    let mut b = vec![0];
    b.extend_from_slice(body);
    b.push(0x0B);
    code.raw(&b);
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&mems)
        .section(&exports)
        .section(&code);
    m.finish()
}

/// An empty scratch directory for this test process, named after `name`.
pub fn fresh_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("flight-rebase-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
