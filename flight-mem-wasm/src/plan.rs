//! Step 2: decide where each of the module's memories goes in the unified
//! memory, and refuse what cannot be placed (too small, overlapping, 64-bit,
//! several own memories, windows the module does not import).

use crate::read::Input;
use crate::{Access, Error, Isolation, Options, Segment};

pub(crate) const PAGE: u64 = 65536;
const ADDRESS_SPACE: u64 = 1 << 32;
/// The most functions, globals and types a module may have (wasmparser's
/// `MAX_WASM_FUNCTIONS`, `MAX_WASM_GLOBALS`, `MAX_WASM_TYPES`; V8's).
const ENGINE_LIMIT: u64 = 1_000_000;

/// What one of the module's memories becomes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// The module's own memory: grows inside the segment; its current size
    /// lives in two globals.
    Own,
    /// An imported memory mapped onto a fixed window.
    Window { access: Access },
}

/// The placement of one memory of the input's memory index space.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemPlan {
    pub kind: Kind,
    /// Where its address 0 lies in the unified memory.
    pub base: u32,
    /// Its size in bytes at instantiation (windows never change size).
    pub min_bytes: u64,
    /// Own memory: the most pages `memory.grow` may reach. Window: its pages.
    pub max_pages: u32,
    /// Window: its size in bytes, the bound of its checks. Own memory: the
    /// segment size, the bound `masked` confines addresses to.
    pub span: u64,
    /// Whether the input declares the memory shared (a wait on one that is
    /// not traps in the original, whatever the unified memory is).
    pub shared: bool,
}

impl MemPlan {
    pub(crate) fn is_own(&self) -> bool {
        matches!(self.kind, Kind::Own)
    }
    pub(crate) fn read_only(&self) -> bool {
        matches!(
            self.kind,
            Kind::Window {
                access: Access::Read
            }
        )
    }
}

/// Where everything goes.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub isolation: Isolation,
    /// Indexed by the input's memory index.
    pub mems: Vec<MemPlan>,
    /// For messages, by memory index: `the segment` or `MODULE.FIELD`.
    pub names: Vec<String>,
    /// Global holding the own memory's current size in pages (i32).
    pub pages_global: u32,
    /// Global holding the own memory's current size in bytes (i64).
    pub bytes_global: u32,
    /// The first of five globals holding the own memory's current size in
    /// bytes minus 1, 2, 4, 8 and 16 (i32): the bounds of the checks of
    /// accesses of those widths that fit in its minimum.
    pub limit_global: u32,
    /// Initial pages of the own memory, if there is one.
    pub own_pages: Option<u32>,
    /// Minimum pages of the unified memory import.
    pub unified_min_pages: u64,
    /// Whether any input memory was shared (threads): the import must be too.
    pub shared: bool,
    /// Whether the module's own memory is shared (threads): then several
    /// instances use it at once, and a `memory.grow` of one would not be
    /// seen by the others (each keeps the size in its own globals).
    pub own_shared: bool,
    /// `masked` only: a function appended to the module that traps as an
    /// out-of-bounds access does; the checks of `memory.fill`, `copy` and
    /// `init` and the accesses that always trap call it (a call is 2 to 4
    /// bytes, the trapping access 6). `masked` checks nothing else, and
    /// those operations are calls out of compiled code in an engine
    /// anyway. `checked` checks every access: it writes the trapping access
    /// inline (`rewrite::OOB_TRAP`), whose cost in an engine is only bytes,
    /// where a call, even on the cold path, makes V8's TurboFan reload the
    /// memory's base after every check. `None` in `checked` and `trusted`.
    pub trap_func: Option<u32>,
    /// The `[] -> []` type appended for the appended functions (the trap
    /// function, the data start function).
    pub void_type: u32,
    /// Active data segments are applied by an appended start function
    /// (`checked`/`masked` with a data offset only known at instantiation,
    /// `global.get` of an imported global): its index. It checks each
    /// segment against the memory as instantiation would, then calls the
    /// module's own start function.
    pub init_func: Option<u32>,
}

fn check_range(what: &str, seg: Segment) -> Result<(), Error> {
    let bad = |why: &str| {
        Err(Error::BadRange {
            what: what.to_string(),
            why: why.to_string(),
        })
    };
    if seg.size == 0 {
        return bad("size is 0");
    }
    match seg.base.checked_add(seg.size) {
        Some(end) if end <= ADDRESS_SPACE => Ok(()),
        _ => bad("reaches past the 4 GiB of a 32-bit memory"),
    }
}

/// Places every memory of `input` as `opts` asks.
pub(crate) fn plan(input: &Input<'_>, opts: &Options) -> Result<Plan, Error> {
    let masked = opts.isolation == Isolation::Masked;
    let mut ranges: Vec<(String, Segment)> = vec![("segment".to_string(), opts.segment)];
    check_range("segment", opts.segment)?;
    if masked && !opts.segment.size.is_power_of_two() {
        return Err(Error::NotPowerOfTwo {
            what: "segment".into(),
            size: opts.segment.size,
        });
    }
    let mut windows = Vec::with_capacity(opts.shared.len());
    for w in &opts.shared {
        let name = w.name();
        if !input.memories.iter().any(|m| {
            m.import
                .is_some_and(|(module, field)| module == w.module && field == w.field)
        }) {
            if opts.allow_unused_windows {
                continue;
            }
            return Err(Error::UnknownShared { name });
        }
        check_range(&format!("window `{name}`"), w.segment)?;
        if masked && !w.segment.size.is_power_of_two() {
            return Err(Error::NotPowerOfTwo {
                what: format!("window `{name}`"),
                size: w.segment.size,
            });
        }
        ranges.push((format!("window `{name}`"), w.segment));
        windows.push(w);
    }
    for (i, (a_name, a)) in ranges.iter().enumerate() {
        for (b_name, b) in &ranges[i + 1..] {
            if a.base < b.base + b.size && b.base < a.base + a.size {
                return Err(Error::Overlap {
                    a: a_name.clone(),
                    b: b_name.clone(),
                });
            }
        }
    }

    let mut mems = Vec::with_capacity(input.memories.len());
    let mut own = Vec::new();
    let mut names = Vec::new();
    let mut shared = false;
    let mut own_shared = false;
    for (index, m) in input.memories.iter().enumerate() {
        let memory = index as u32;
        if m.ty.memory64 {
            return Err(Error::Memory64 { memory });
        }
        if m.ty.page_size_log2.is_some_and(|p| p != 16) {
            return Err(Error::CustomPageSize { memory });
        }
        shared |= m.ty.shared;
        let declared_max = m.ty.maximum.unwrap_or(ADDRESS_SPACE / PAGE);
        let initial = match (m.import, opts.imported_pages) {
            (Some(_), Some(given)) => given.clamp(m.ty.initial, declared_max.max(m.ty.initial)),
            _ => m.ty.initial,
        };
        let min_bytes = initial * PAGE;
        let window = m.import.and_then(|(module, field)| {
            windows
                .iter()
                .find(|w| w.module == module && w.field == field)
        });
        let plan = match window {
            Some(w) => {
                if w.segment.size < m.ty.initial * PAGE {
                    return Err(Error::TooSmall {
                        what: format!("window `{}`", w.name()),
                        needed: m.ty.initial * PAGE,
                        size: w.segment.size,
                    });
                }
                // An import declared with a maximum is never larger, whatever
                // the window: past it the original traps (and `memory.size`
                // never says more). Nor is it larger than its whole pages:
                // the original's memory ends at a page boundary, where
                // `memory.size` says. `masked` confines to the whole window
                // (its mask needs the power of two), and traps nowhere.
                let pages = (w.segment.size / PAGE).min(declared_max);
                let bytes = pages * PAGE;
                MemPlan {
                    kind: Kind::Window { access: w.access },
                    base: w.segment.base as u32,
                    min_bytes: bytes,
                    max_pages: pages as u32,
                    span: if masked { w.segment.size } else { bytes },
                    shared: m.ty.shared,
                }
            }
            None => {
                own.push(index);
                own_shared = m.ty.shared;
                if opts.segment.size < min_bytes {
                    return Err(Error::TooSmall {
                        what: "the segment".into(),
                        needed: min_bytes,
                        size: opts.segment.size,
                    });
                }
                MemPlan {
                    kind: Kind::Own,
                    base: opts.segment.base as u32,
                    min_bytes,
                    max_pages: (opts.segment.size / PAGE).min(declared_max) as u32,
                    span: opts.segment.size,
                    shared: m.ty.shared,
                }
            }
        };
        names.push(match window {
            Some(w) => w.name(),
            None => "the segment".to_string(),
        });
        mems.push(plan);
    }
    if own.len() > 1 {
        return Err(Error::SeveralOwnMemories { count: own.len() });
    }
    // A data offset that is not one `i32.const` is known only at
    // instantiation; `checked` and `masked` then apply every active segment
    // from a start function, in order, each checked first.
    let lazy_data = opts.isolation != Isolation::Trusted
        && input.data.iter().any(|d| match d {
            crate::read::Segment::Common { .. } => false,
            crate::read::Segment::Other(d) => match &d.kind {
                wasmparser::DataKind::Active { offset_expr, .. } => {
                    crate::write::constant_offset(offset_expr).is_none()
                }
                wasmparser::DataKind::Passive => false,
            },
        });
    let funcs = input.imported_funcs + input.bodies.len() as u32;
    let trap_func = (opts.isolation == Isolation::Masked
        && (!input.bodies.is_empty() || lazy_data))
        .then_some(funcs);
    let own_pages = own.first().map(|&i| (mems[i].min_bytes / PAGE) as u32);
    // What the output adds must stay within what engines load (wasmparser's
    // and V8's limits, 1,000,000 each): a module at a limit cannot take the
    // appended functions, size globals or their type.
    let added_funcs = u64::from(trap_func.is_some()) + u64::from(lazy_data);
    let added_globals = if own_pages.is_some() {
        2 + u64::from(crate::write::LIMITS)
    } else {
        0
    };
    for (what, count) in [
        ("functions", u64::from(funcs) + added_funcs),
        ("globals", u64::from(input.globals) + added_globals),
        (
            "types",
            input.type_params.len() as u64 + u64::from(added_funcs > 0),
        ),
    ] {
        if count > ENGINE_LIMIT {
            return Err(Error::TooMany {
                what: what.into(),
                count,
                limit: ENGINE_LIMIT,
            });
        }
    }
    let end = ranges
        .iter()
        .map(|(_, s)| s.base + s.size)
        .max()
        .unwrap_or(0);
    Ok(Plan {
        isolation: opts.isolation,
        mems,
        names,
        pages_global: input.globals,
        bytes_global: input.globals + 1,
        limit_global: input.globals + 2,
        own_pages,
        unified_min_pages: end.div_ceil(PAGE),
        shared,
        own_shared,
        trap_func,
        void_type: input.type_params.len() as u32,
        init_func: lazy_data.then(|| funcs + u32::from(trap_func.is_some())),
    })
}
