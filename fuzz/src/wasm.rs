//! What the `rebase_bytes` and `rebase_smith` targets check on a rebase of
//! `flight-mem-wasm` that needs no execution engine: the output validates,
//! imports the unified memory as SPEC §7 says and nothing else of memory,
//! the fast (unvalidated) path and a rebase without the relocation table
//! write the same bytes, and the relocation table names exactly the
//! input's memory instructions.
//!
//! A check panics on the first disagreement; libFuzzer records the input.

use std::collections::HashMap;

use flight_mem_wasm::{Check, Error, Isolation, Options, Rebased, Rebaser, Segment, rebase};
use wasmparser::{Operator, Parser, Payload, TypeRef, Validator, WasmFeatures};

/// The wasm-smith configuration of `flight-mem-wasm/tests/fuzz.rs`,
/// compiled in unchanged.
#[path = "../../flight-mem-wasm/tests/common/smith.rs"]
pub mod smith;

/// Bytes of a page.
pub const PAGE: u64 = 65536;

/// What the rebaser may add to what its input needs: bulk memory (the
/// zero-fill of `memory.grow`, data segments applied from the start
/// function) and extended constant expressions (`trusted` relocates a data
/// offset read from a global by adding the base).
const ADDED_FEATURES: WasmFeatures = WasmFeatures::BULK_MEMORY.union(WasmFeatures::EXTENDED_CONST);

/// Whether `wasm` validates with `features`.
pub fn valid(wasm: &[u8], features: WasmFeatures) -> bool {
    Validator::new_with_features(features)
        .validate_all(wasm)
        .is_ok()
}

/// Everything checked on an `Ok` rebase of a valid input: the output
/// validates with the features of the smallest specification version the
/// input needs, plus [`ADDED_FEATURES`]; it imports the unified memory
/// under `opts.memory_import`, large enough for the segment and every
/// window, and defines or imports no other memory; the relocation table
/// (when asked for) is consistent with the input.
pub fn check_output(input: &[u8], opts: &Options, out: &Rebased) {
    let tiers = [
        WasmFeatures::WASM1,
        WasmFeatures::WASM2,
        WasmFeatures::all(),
    ];
    let tier = tiers
        .into_iter()
        .find(|&f| valid(input, f))
        .expect("check_output is for valid inputs");
    if let Err(e) = Validator::new_with_features(tier | ADDED_FEATURES).validate_all(&out.wasm) {
        panic!("the output does not validate with {tier:?} (+ bulk memory, extended const): {e}");
    }
    check_unified_import(opts, &out.wasm);
    let code = code_facts(input);
    assert_eq!(
        out.stats.functions, code.bodies as u64,
        "stats.functions is not the number of function bodies"
    );
    if opts.relocations {
        check_relocations(input, opts, out, &code);
    }
}

/// The output's only memory is the import of the unified memory, by the
/// name asked for, 32-bit, with 64 KiB pages, covering the segment and
/// every window the module uses.
fn check_unified_import(opts: &Options, wasm: &[u8]) {
    let mut memories = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("the output parses") {
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    let import = import.expect("import");
                    if let TypeRef::Memory(m) = import.ty {
                        memories.push((import.module.to_string(), import.name.to_string(), m));
                    }
                }
            }
            Payload::MemorySection(r) => {
                assert_eq!(r.count(), 0, "the output defines a memory of its own");
            }
            _ => {}
        }
    }
    let [(module, name, ty)] = &memories[..] else {
        panic!("the output imports {} memories, not one", memories.len());
    };
    assert_eq!(
        (module, name),
        (&opts.memory_import.0, &opts.memory_import.1),
        "the unified memory is imported under another name"
    );
    assert!(!ty.memory64, "the unified memory is 64-bit");
    assert_eq!(
        ty.page_size_log2, None,
        "the unified memory has custom pages"
    );
    let end = opts.segment.base + opts.segment.size;
    assert!(
        ty.initial * PAGE >= end,
        "the unified memory ({} pages) does not cover the segment's end {end:#x}",
        ty.initial
    );
}

/// Where the input's function bodies are, and its memory instructions.
pub struct CodeFacts {
    /// Imported functions (the first defined function's index).
    pub imported_functions: u32,
    /// Function bodies.
    pub bodies: u32,
    /// Every memory instruction by its byte offset in the input: function
    /// index, operator name and memarg offset (0 for the bulk and size
    /// instructions).
    pub memory_ops: HashMap<u64, (u32, String, u64)>,
}

/// The operator's name as the relocation table writes it (its `Debug`
/// variant name) and its memarg offset, if it touches a linear memory.
/// Independent of the rebaser's own classification: any operator with a
/// memarg (GC's array accesses have none in wasmparser 0.263), or one of
/// the five bulk and size instructions.
fn memory_op(op: &Operator<'_>) -> Option<(String, u64)> {
    let debug = format!("{op:?}");
    let name = &debug[..debug.find([' ', '{', '(']).unwrap_or(debug.len())];
    let bulk = [
        "MemorySize",
        "MemoryGrow",
        "MemoryFill",
        "MemoryCopy",
        "MemoryInit",
        "MemoryDiscard",
    ];
    if bulk.contains(&name) {
        return Some((name.to_string(), 0));
    }
    // `memarg: MemArg { align: .., max_align: .., offset: N, memory: .. }`
    let at = debug.find("memarg: MemArg")?;
    let rest = &debug[at..];
    let offset = rest[rest.find("offset: ")? + 8..]
        .split([',', ' '])
        .next()?
        .parse()
        .ok()?;
    Some((name.to_string(), offset))
}

/// Reads the input's code section: body count and memory instructions.
pub fn code_facts(wasm: &[u8]) -> CodeFacts {
    let mut facts = CodeFacts {
        imported_functions: 0,
        bodies: 0,
        memory_ops: HashMap::new(),
    };
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("a valid input parses") {
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    if let TypeRef::Func(_) = import.expect("import").ty {
                        facts.imported_functions += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let function = facts.imported_functions + facts.bodies;
                facts.bodies += 1;
                let mut ops = body.get_operators_reader().expect("a valid body");
                while !ops.eof() {
                    let (op, at) = ops.read_with_offset().expect("a valid operator");
                    if let Some((name, offset)) = memory_op(&op) {
                        facts.memory_ops.insert(at, (function, name, offset));
                    }
                }
            }
            _ => {}
        }
    }
    facts
}

/// The relocation table names every memory instruction of the input once,
/// by its function, offset, name and memarg offset; its checks add up to
/// the stats; `trusted` adds nothing, `checked` masks nothing.
fn check_relocations(input: &[u8], opts: &Options, out: &Rebased, code: &CodeFacts) {
    let s = out.stats;
    assert_eq!(
        out.relocations.len() as u64,
        s.instructions,
        "relocation entries differ from stats.instructions"
    );
    let count = |c: Check| out.relocations.iter().filter(|r| r.check == c).count() as u64;
    assert_eq!(
        count(Check::Bounds),
        s.checks,
        "bounds entries vs stats.checks"
    );
    assert_eq!(
        count(Check::Elided),
        s.elided,
        "elided entries vs stats.elided"
    );
    assert_eq!(count(Check::Mask), s.masks, "mask entries vs stats.masks");
    let mut seen = HashMap::new();
    for r in &out.relocations {
        let Some((function, name, offset)) = code.memory_ops.get(&r.offset) else {
            panic!(
                "relocation at {:#x} is no memory instruction of the input: {r:?}",
                r.offset
            );
        };
        assert!((r.offset as usize) < input.len());
        assert_eq!(r.function, *function, "function index of {r:?}");
        assert_eq!(&r.instruction, name, "instruction name of {r:?}");
        assert_eq!(r.original_offset, *offset, "original offset of {r:?}");
        assert!(
            seen.insert(r.offset, ()).is_none(),
            "two entries at {:#x}",
            r.offset
        );
        // `memory.grow` keeps its limit in every mode (a `bounds` entry),
        // and bulk instructions may be checked; an access with a memarg
        // is only relocated in `trusted`, by the base of its memory.
        let access = !name.starts_with("Memory") || name.starts_with("MemoryAtomic");
        assert!(
            opts.isolation == Isolation::Masked || r.check != Check::Mask,
            "{:?} masked {r:?}",
            opts.isolation
        );
        if opts.isolation == Isolation::Trusted && access {
            assert!(matches!(r.check, Check::None), "trusted added {r:?}");
            if r.memory == 0 && opts.shared.is_empty() {
                assert_eq!(
                    r.new_offset,
                    r.original_offset + opts.segment.base,
                    "trusted offset of {r:?}"
                );
            }
        }
    }
    // Without windows every memory instruction addresses the own memory,
    // and every one is rewritten.
    if opts.shared.is_empty() {
        for (at, op) in &code.memory_ops {
            assert!(
                seen.contains_key(at),
                "memory instruction {op:?} at {at:#x} has no relocation entry"
            );
        }
    }
}

/// Rebases again through the unvalidated fast path, without (or with) the
/// relocation table, and through one `Rebaser` that first rebased the same
/// module in another mode (its kept buffers reused, of another size): the
/// same bytes, the same counts, the same table.
pub fn check_same_other_ways(input: &[u8], opts: &Options, out: &Rebased) {
    let mut rebaser = Rebaser::new();
    let mut warm = opts.clone();
    warm.isolation = match opts.isolation {
        Isolation::Checked => Isolation::Trusted,
        _ => Isolation::Checked,
    };
    warm.relocations = !opts.relocations;
    let _ = rebaser.rebase(input, &warm);
    match rebaser.rebase(input, opts) {
        Ok(o) => {
            assert!(o.wasm == out.wasm, "a reused Rebaser wrote other bytes");
            assert_eq!(o.stats, out.stats, "a reused Rebaser counted otherwise");
            assert!(
                o.relocations == out.relocations,
                "a reused Rebaser's table differs"
            );
        }
        Err(e) => panic!("a reused Rebaser refused: {e}"),
    }
    let mut fast = opts.clone();
    fast.validate = false;
    match rebase(input, &fast) {
        Ok(o) => assert!(o.wasm == out.wasm, "the fast path wrote other bytes"),
        Err(e) => panic!("the fast path refused a module the validating path took: {e}"),
    }
    let mut other = opts.clone();
    other.relocations = !opts.relocations;
    match rebase(input, &other) {
        Ok(o) => {
            assert!(
                o.wasm == out.wasm,
                "the relocation table changed the output"
            );
            assert_eq!(o.stats, out.stats, "the relocation table changed the stats");
        }
        Err(e) => panic!("toggling the relocation table made the rebase refuse: {e}"),
    }
}

/// Whether some active data segment lies outside the own memory's
/// minimum as far as a plain `i32.const` offset says, or has an offset
/// that is not one (then only instantiation knows).
pub fn data_may_be_out_of_bounds(wasm: &[u8]) -> bool {
    let mut min_bytes = None;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ImportSection(r)) => {
                for import in r.into_imports().flatten() {
                    if let TypeRef::Memory(m) = import.ty {
                        min_bytes.get_or_insert(m.initial * PAGE);
                    }
                }
            }
            Ok(Payload::MemorySection(r)) => {
                for m in r.into_iter().flatten() {
                    min_bytes.get_or_insert(m.initial * PAGE);
                }
            }
            Ok(Payload::DataSection(r)) => {
                for d in r.into_iter().flatten() {
                    let wasmparser::DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } = d.kind
                    else {
                        continue;
                    };
                    let mut ops = offset_expr.get_operators_reader();
                    let (Ok(Operator::I32Const { value }), Ok(Operator::End)) =
                        (ops.read(), ops.read())
                    else {
                        return true;
                    };
                    if u64::from(value as u32) + d.data.len() as u64 > min_bytes.unwrap_or(0) {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// Whether `e` is a refusal the rebaser may give a module wasm-smith made
/// with [`smith::config`] (one memory of at most eight pages, a maximum,
/// no imports) in a segment of at least its maximum: only a data segment
/// out of bounds (then the original cannot be instantiated either).
pub fn smith_refusal_expected(wasm: &[u8], e: &Error) -> bool {
    matches!(e, Error::DataOutOfBounds { .. }) && data_may_be_out_of_bounds(wasm)
}

/// A segment of `pages` pages at `base`.
pub fn segment(base: u64, pages: u64) -> Segment {
    Segment {
        base,
        size: pages * PAGE,
    }
}
