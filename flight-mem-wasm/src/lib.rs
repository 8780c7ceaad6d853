//! Rebase a WebAssembly core module into one segment of a larger, unified
//! memory that several modules share — the way components compiled to wasm
//! from different languages share the one RAM of a console — without
//! trusting each other.
//!
//! The module keeps its own address space starting at 0; every memory
//! instruction and active data segment is moved onto its [`Segment`]. Memories
//! the module imports can be mapped onto shared windows ([`SharedWindow`]);
//! the output imports only the unified memory. [`Isolation`] decides what an
//! out-of-bounds access does: trap exactly as before (`Checked`), stay inside
//! the segment (`Masked`), or nothing (`Trusted`).
//!
//! ```
//! use flight_mem_wasm::{rebase, Options, Segment};
//! let module = wat::parse_str(r#"(module (memory 1)
//!     (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))"#).unwrap();
//! let out = rebase(&module, &Options::new(Segment { base: 0x10000, size: 0x10000 })).unwrap();
//! assert_eq!(out.stats.instructions, 1);
//! ```
//!
//! The work is split in four steps, one module each: `read` (decode and
//! validate the module level), `plan` (place the memories), `rewrite`
//! (function bodies, in parallel, copying every byte that does not change)
//! and `write` (assemble the output).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod layout;
mod ops;
mod plan;
mod read;
mod rewrite;
mod scan;
#[cfg(test)]
#[path = "../tests/common/modules.rs"]
mod test_modules;
mod write;

pub use error::Error;
pub use layout::SHARED_IMPORT_MODULE;

/// A range of the unified memory: `[base, base + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First byte, as an address in the unified memory.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

/// What a module may do with a shared window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Loads only: a module that could store, fill, copy or init into the
    /// window is refused.
    Read,
    /// Loads and stores.
    Write,
}

/// An imported memory of the module mapped onto a window of the unified
/// memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedWindow {
    /// Import module name of the memory (`env` in `env.frame`).
    pub module: String,
    /// Import field name of the memory (`frame` in `env.frame`).
    pub field: String,
    /// Where the window lies in the unified memory.
    pub segment: Segment,
    /// What the module may do there.
    pub access: Access,
}

impl SharedWindow {
    /// `MODULE.FIELD`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.module, self.field)
    }
}

/// What happens to an access outside the module's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Addresses are only relocated: no instruction added, no isolation.
    Trusted,
    /// Addresses are confined to the segment by a mask (power-of-two
    /// segments and windows), branch-free. Out-of-bounds accesses land
    /// somewhere inside the segment instead of trapping.
    ///
    /// Exact: the mask covers the memory's maximum rounded up to a power
    /// of two; where the segment has no room past that range for an
    /// access's offset and width, the address is reduced modulo
    /// `size - offset - width + 1` instead (in-bounds addresses are below
    /// it and do not change). No byte past the segment is ever reached, so
    /// no guard is needed; a segment at least twice the memory's maximum
    /// needs no remainder. Bulk instructions (`memory.fill`, `copy`,
    /// `init`) are bounds-checked as in `Checked`.
    Masked,
    /// An access outside the module's memory traps exactly where the
    /// original would have trapped (33-bit effective address, no wrap).
    #[default]
    Checked,
}

/// How to rebase a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The segment of the module's own memory.
    pub segment: Segment,
    /// What out-of-bounds accesses do.
    pub isolation: Isolation,
    /// Import name of the unified memory in the output (`env`, `memory`).
    pub memory_import: (String, String),
    /// Imported memories mapped onto windows.
    pub shared: Vec<SharedWindow>,
    /// Whether a window for a memory the module does not import is skipped
    /// (`true`, as for a layout's grants, which the module need not use)
    /// or refused (`false`, the default: a misspelt `--shared`).
    pub allow_unused_windows: bool,
    /// Pages an *imported* own memory starts with, as the host would have
    /// given it (never below its declared minimum, never above its maximum);
    /// `None`: its declared minimum.
    pub imported_pages: Option<u64>,
    /// Validate the whole input (default); turn off only for modules
    /// already validated.
    pub validate: bool,
    /// Collect a [`Relocation`] for every rewritten instruction.
    pub relocations: bool,
    /// Worker threads for function bodies; 0 uses every core.
    pub threads: usize,
}

impl Options {
    /// Checked isolation, `env.memory`, no windows, validation on.
    pub fn new(segment: Segment) -> Options {
        Options {
            segment,
            isolation: Isolation::Checked,
            memory_import: ("env".into(), "memory".into()),
            shared: Vec::new(),
            allow_unused_windows: false,
            imported_pages: None,
            validate: true,
            relocations: false,
            threads: 0,
        }
    }
}

/// What was added at one rewritten instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Relocated only.
    None,
    /// No check needed: the address is a constant inside the initial
    /// memory, or (`checked`) an earlier check of the same unchanged local
    /// covered at least these bytes, and memory never shrinks.
    Elided,
    /// A bounds check that traps.
    Bounds,
    /// An address mask.
    Mask,
    /// The access traps on every execution, as in the original: it is out
    /// of bounds, or it waits on an unshared memory.
    Trap,
}

impl Check {
    fn as_str(self) -> &'static str {
        match self {
            Check::None => "none",
            Check::Elided => "elided",
            Check::Bounds => "bounds",
            Check::Mask => "mask",
            Check::Trap => "trap",
        }
    }
}

/// One rewritten instruction, for debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// Function index (imports included).
    pub function: u32,
    /// Byte offset of the instruction in the input.
    pub offset: u64,
    /// The instruction (wasmparser's operator name).
    pub instruction: String,
    /// The memory it addressed in the input.
    pub memory: u32,
    /// Its memarg offset in the input (0 for instructions without one).
    pub original_offset: u64,
    /// Its memarg offset in the output, or for bulk instructions the base
    /// added to their addresses.
    pub new_offset: u64,
    /// What was inserted.
    pub check: Check,
}

/// Counts of what a rebase did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Functions in the module.
    pub functions: u64,
    /// Functions whose body changed.
    pub functions_rewritten: u64,
    /// Memory instructions rewritten.
    pub instructions: u64,
    /// Bounds checks inserted.
    pub checks: u64,
    /// Checks not needed: constant addresses inside the initial memory, or
    /// accesses an earlier check of the same unchanged local already covers.
    pub elided: u64,
    /// Address masks inserted.
    pub masks: u64,
    /// Active data segments moved.
    pub data_segments: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.instructions += o.instructions;
        self.checks += o.checks;
        self.elided += o.elided;
        self.masks += o.masks;
    }
}

/// A rebased module.
#[derive(Debug, Clone)]
pub struct Rebased {
    /// The output module.
    pub wasm: Vec<u8>,
    /// What was done.
    pub stats: Stats,
    /// Every rewritten instruction, when [`Options::relocations`] is set.
    pub relocations: Vec<Relocation>,
}

/// Rebases `wasm` as `opts` says. Nothing is written anywhere: the output is
/// returned only when every check passed. The same as
/// [`Rebaser::rebase`] on a new [`Rebaser`].
pub fn rebase(wasm: &[u8], opts: &Options) -> Result<Rebased, Error> {
    Rebaser::new().rebase(wasm, opts)
}

/// Rebases module after module, keeping the working buffers of one call
/// (those of the rewritten code, about the size of the output) for the
/// next: a host that rebases many modules does not have them mapped and
/// faulted in afresh every time. They are held until the `Rebaser` is
/// dropped or [`Rebaser::release`]d.
#[derive(Debug, Default)]
pub struct Rebaser {
    /// Buffers of the last call's chunks of code, emptied.
    spare: Vec<Vec<u8>>,
}

impl Rebaser {
    /// A rebaser with no buffers yet.
    pub fn new() -> Rebaser {
        Rebaser::default()
    }

    /// Rebases `wasm` as `opts` says: exactly what [`rebase`] gives.
    pub fn rebase(&mut self, wasm: &[u8], opts: &Options) -> Result<Rebased, Error> {
        // `plan` reads the data segments only for `checked` and `masked`.
        let defer = opts.isolation == Isolation::Trusted;
        let mut input = read::read(wasm, opts.validate, defer)?;
        let plan = plan::plan(&input, opts).map_err(|e| {
            // A bad data section was reported before any refusal of `plan`.
            input.deferred_data().err().unwrap_or(e)
        })?;
        let threads = match opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let bodies = std::mem::take(&mut input.bodies);
        let count = bodies.len();
        let output = write::Output {
            memory_import: (&opts.memory_import.0, &opts.memory_import.1),
        };
        // The data section is read (when `read` deferred it) and built
        // beside the bodies (on `esbuild-wasm`'s 98,450 segments, reading
        // them was half of the serial work left, building them a fifth of
        // what it was before), then the output's head, which takes the
        // chunks' code as they are done. The data section's errors come
        // first, as when they were met before any body, and the head's
        // after the bodies', as when it was written after them: the same
        // error for the same input.
        let (first, chunks, writer) = rewrite::rewrite_functions(
            &input,
            bodies,
            &plan,
            opts.relocations,
            threads,
            &mut self.spare,
            |assembly| -> Result<_, Error> {
                let deferred = input.deferred_data()?;
                let segments = match input.deferred {
                    Some(_) => &deferred[..],
                    None => &input.data[..],
                };
                let data = write::data_section(&input, segments, &plan)?;
                let head = write::Writer::head(&input, &plan, data, &output, count)
                    .map(|writer| assembly.start(writer));
                Ok((head, deferred))
            },
        );
        let (head, deferred) = first?;
        if input.deferred.take().is_some() {
            input.data = deferred;
        }
        let chunks = chunks?;
        head?;
        let out = writer
            .ok_or_else(|| Error::Invalid {
                offset: 0,
                message: "internal: the output was not started".into(),
            })?
            .finish(&input, &plan, &output)?;
        let mut stats = Stats {
            data_segments: input.data.iter().filter(|d| d.active()).count() as u64,
            ..Stats::default()
        };
        let mut relocations = Vec::new();
        for chunk in chunks {
            for f in chunk.funcs {
                stats.add(&f.stats);
                stats.functions += 1;
                stats.functions_rewritten += u64::from(f.rewritten);
                relocations.extend(f.relocations);
            }
            self.spare.push(chunk.code);
        }
        Ok(Rebased {
            wasm: out,
            stats,
            relocations,
        })
    }

    /// Frees the buffers kept from earlier calls.
    pub fn release(&mut self) {
        self.spare = Vec::new();
    }
}

/// The relocation table as JSON: an array of objects, one per rewritten
/// instruction.
pub fn relocations_json(relocations: &[Relocation]) -> String {
    let mut s = String::from("[\n");
    for (i, r) in relocations.iter().enumerate() {
        s.push_str(&format!(
            "  {{\"function\": {}, \"offset\": {}, \"instruction\": \"{}\", \"memory\": {}, \
             \"original_offset\": {}, \"new_offset\": {}, \"check\": \"{}\"}}{}\n",
            r.function,
            r.offset,
            r.instruction,
            r.memory,
            r.original_offset,
            r.new_offset,
            r.check.as_str(),
            if i + 1 < relocations.len() { "," } else { "" }
        ));
    }
    s.push(']');
    s.push('\n');
    s
}

/// Parses a size or address: decimal, `0x` hex, optionally followed by
/// `KiB`, `MiB` or `GiB` (`64KiB`, `0x10 MiB`).
pub fn parse_size(text: &str) -> Result<u64, Error> {
    let bad = |why: &str| Error::BadNumber {
        text: text.to_string(),
        why: why.to_string(),
    };
    let t = text.trim();
    if ["KB", "kB", "MB", "GB"].iter().any(|u| t.ends_with(u)) {
        return Err(bad("decimal units are ambiguous; use KiB, MiB or GiB"));
    }
    let (num, scale) = [("KiB", 1u64 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)]
        .iter()
        .find_map(|&(unit, scale)| t.strip_suffix(unit).map(|n| (n.trim(), scale)))
        .unwrap_or((t, 1));
    let value = if let Some(hex) = num.strip_prefix("0x").or_else(|| num.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else {
        num.parse::<u64>()
    }
    .map_err(|_| bad("expected a decimal or 0x hex number, optionally with KiB, MiB or GiB"))?;
    value.checked_mul(scale).ok_or_else(|| bad("too large"))
}

/// Parses `BASE:SIZE`.
pub fn parse_segment(text: &str) -> Result<Segment, Error> {
    let (base, size) = text.split_once(':').ok_or_else(|| Error::BadNumber {
        text: text.to_string(),
        why: "expected BASE:SIZE".into(),
    })?;
    Ok(Segment {
        base: parse_size(base)?,
        size: parse_size(size)?,
    })
}

/// Parses `MODULE.FIELD=BASE:SIZE:read|write` (the `--shared` argument).
pub fn parse_shared(text: &str) -> Result<SharedWindow, Error> {
    let bad = |why: &str| Error::BadNumber {
        text: text.to_string(),
        why: why.to_string(),
    };
    let (name, rest) = text
        .split_once('=')
        .ok_or_else(|| bad("expected MODULE.FIELD=BASE:SIZE:read|write"))?;
    let (module, field) = name
        .split_once('.')
        .ok_or_else(|| bad("the import name must be MODULE.FIELD"))?;
    let (seg, access) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("expected BASE:SIZE:read|write after `=`"))?;
    let access = match access {
        "read" => Access::Read,
        "write" => Access::Write,
        _ => return Err(bad("access must be `read` or `write`")),
    };
    Ok(SharedWindow {
        module: module.to_string(),
        field: field.to_string(),
        segment: parse_segment(seg)?,
        access,
    })
}
