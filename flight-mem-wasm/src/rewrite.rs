//! Step 3: rewrite function bodies. Each body is decoded once (and validated
//! in the same pass); bytes between memory instructions are copied verbatim,
//! only the memory instructions are re-encoded. Bodies are spread over
//! worker threads.

use crate::ops::{self, MemOp};
use crate::plan::{Kind, MemPlan, Plan};
use crate::read::{Body, Input};
use crate::scan;
use crate::write;

mod access;
mod assembly;
mod emit;
mod grow;
mod relocate;
mod track;
use crate::{Check, Error, Isolation, Relocation, Stats};
pub(crate) use assembly::Assembly;
use emit::Emit;
pub(crate) use emit::{OOB_TRAP, put_leb, put_sleb};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasm_encoder::{Encode, InstructionSink};
use wasmparser::{FuncValidatorAllocations, Operator, ValType};

/// What was done to one function.
pub(crate) struct FuncOut {
    /// Whether its body changed.
    pub rewritten: bool,
    /// Its code-section entry (size and body) in the chunk's code.
    pub entry: std::ops::Range<usize>,
    pub relocations: Vec<Relocation>,
    pub stats: Stats,
}

/// Consecutive functions, rewritten: their code-section entries (size and
/// body each) in order, ready to be copied into the output, and what was
/// done to each. A rewritten entry may start after a few unused bytes
/// (see [`FuncOut::entry`]): its size and locals header are written into
/// room reserved before its body, which is never moved.
pub(crate) struct Chunk {
    pub code: Vec<u8>,
    pub funcs: Vec<FuncOut>,
}

impl Chunk {
    /// The entries' bytes in order, adjacent entries as one slice.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let mut funcs = self.funcs.iter().peekable();
        std::iter::from_fn(move || {
            let mut r = funcs.next()?.entry.clone();
            while let Some(f) = funcs.next_if(|f| f.entry.start == r.end) {
                r.end = f.entry.end;
            }
            Some(&self.code[r])
        })
    }
}

/// What an instruction just before a memory instruction was.
#[derive(Clone, Copy, PartialEq)]
enum What {
    /// `i32.const` with this value.
    Const(u32),
    /// `local.get` of this local.
    Local(u32),
    /// Pushes one value and pops none (another constant, `global.get`).
    Pure,
    Other,
}

/// An instruction just before a memory instruction and where it starts: to
/// prove constant addresses, and to place a check or a mask before the
/// pure instructions that push the operands, where the address is a local
/// or on top of the stack.
#[derive(Clone, Copy, PartialEq)]
struct Prev {
    what: What,
    at: usize,
}

impl Prev {
    const OTHER: Prev = Prev {
        what: What::Other,
        at: 0,
    };

    /// Pushes one value, pops none, has no effect.
    fn pure(&self) -> bool {
        self.what != What::Other
    }
}

fn prev_of(op: &Operator<'_>, at: usize) -> Prev {
    let what = match op {
        Operator::I32Const { value } => What::Const(*value as u32),
        Operator::LocalGet { local_index } => What::Local(*local_index),
        Operator::I64Const { .. }
        | Operator::F32Const { .. }
        | Operator::F64Const { .. }
        | Operator::V128Const { .. }
        | Operator::GlobalGet { .. } => What::Pure,
        _ => What::Other,
    };
    Prev { what, at }
}

/// A chunk's functions and the buffer for their output, for a worker to
/// take.
type Work<'a> = Mutex<(Vec<(u32, Body<'a>)>, Vec<u8>)>;

/// The rewritten functions of one chunk, or the first error in it.
type ChunkResult = Result<Chunk, Error>;

/// Rewrites `bodies`, the functions of `input`, on `threads` workers, and
/// runs `beside` on the calling thread while the other workers start on the
/// bodies (the calling thread joins them when it is done): its result
/// comes first, the chunks after it, then the output `beside` started,
/// with every chunk appended (unless one failed).
#[allow(clippy::too_many_arguments)]
pub(crate) fn rewrite_functions<T>(
    input: &Input<'_>,
    bodies: Vec<Body<'_>>,
    plan: &Plan,
    record: bool,
    threads: usize,
    spare: &mut Vec<Vec<u8>>,
    beside: impl FnOnce(&Assembly<'_>) -> T,
) -> (T, Result<Vec<Chunk>, Error>, Option<write::Writer>) {
    let len = |b: &Body<'_>| {
        let r = b.body.range();
        (r.end - r.start) as usize
    };
    let total: usize = bodies.iter().map(len).sum();
    // Many small chunks taken from a shared counter balance the workers even
    // when a few functions are huge.
    // Saturating: `Options::threads` is any count (eight times a huge one
    // wrapped to 0, a division by zero).
    let chunk_bytes = (total / threads.saturating_mul(8)).max(16 * 1024);
    // Room for the rewrites, so that a chunk's buffer rarely grows (on
    // `@swc/wasm`, code grows by a fifth in `trusted`, where 1-byte offsets
    // become 4-byte ones, and more than doubles in `checked`), and for the
    // unused room before rewritten entries. Capacity never touched costs no
    // page.
    let growth = match plan.isolation {
        Isolation::Trusted => 2,
        Isolation::Masked => 4,
        Isolation::Checked => 6,
    };
    // The buffers are allocated here, on the calling thread: freed there
    // too, they go back to its heap and serve the next rebase, where a
    // worker's allocations would come from a thread arena that hands
    // freed megabytes back to the kernel (page faults on every call).
    // A `Rebaser`'s buffers from its last call are taken first.
    let mut buffer = |size: usize, n: usize| {
        let mut b = spare.pop().unwrap_or_default();
        b.clear();
        b.reserve(size + size * growth / 4 + 48 * n + 64);
        b
    };
    let mut chunks: Vec<Work<'_>> = Vec::new();
    let mut current = Vec::new();
    let mut current_bytes = 0;
    for (i, body) in bodies.into_iter().enumerate() {
        current_bytes += len(&body);
        current.push((i as u32, body));
        if current_bytes >= chunk_bytes {
            let code = buffer(current_bytes, current.len());
            chunks.push(Mutex::new((std::mem::take(&mut current), code)));
            current_bytes = 0;
        }
    }
    if !current.is_empty() {
        let code = buffer(current_bytes, current.len());
        chunks.push(Mutex::new((current, code)));
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<ChunkResult>>> = chunks.iter().map(|_| Mutex::new(None)).collect();
    let assembly = Assembly {
        writer: Mutex::new((None, 0)),
        slots: &slots,
    };
    let work = || {
        let mut allocs = FuncValidatorAllocations::default();
        let mut ahead = scan::Ahead::default();
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            let Some(chunk) = chunks.get(c) else { break };
            let (items, mut code) =
                std::mem::take(&mut *chunk.lock().unwrap_or_else(|e| e.into_inner()));
            let mut funcs = Vec::with_capacity(items.len());
            let mut result = Ok(());
            // `trusted` (with a memory 0): the bodies' scan, several at a time.
            let lean = plan.isolation == Isolation::Trusted && !plan.mems.is_empty();
            ahead.scan(input.bytes, lean, items.iter().map(|(_, b)| b));
            for (n, (i, body)) in items.into_iter().enumerate() {
                let replay = ahead.replay(n);
                match rewrite_func(input, plan, record, i, body, &mut allocs, &mut code, replay) {
                    Ok(out) => funcs.push(out),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let r = result.map(|()| Chunk { code, funcs });
            *slots[c].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            assembly.drain(false);
        }
    };
    let workers = threads.clamp(1, chunks.len().max(1));
    let first = std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(work);
        }
        // `beside` on this thread: what it allocates is freed here too
        // (see `buffer` above), and the chunks balance the workers after it.
        let first = beside(&assembly);
        work();
        first
    });
    // What a worker left (it found the writer busy, or not started yet).
    assembly.drain(true);
    let writer = assembly
        .writer
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .0;
    let results = slots.into_iter().map(|s| {
        s.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| unreachable!("every chunk is taken by a worker"))
    });
    (first, results.collect(), writer)
}

/// Scratch locals appended to a rewritten function, relative to its first.
const SCRATCH_I32: u32 = 0; // three: address/destination, then operands
/// The masked copy of an address local (`masked`, see `track::Copy`).
const SCRATCH_COPY: u32 = 3;
const SCRATCH_I64: u32 = 4; // two
const SCRATCH_F32: u32 = 6;
const SCRATCH_F64: u32 = 7;
const SCRATCH_V128: u32 = 8;
/// Scratch locals in all (`SCRATCH_GROUPS`).
const SCRATCH_LOCALS: u32 = 9;
/// Locals a function may have, parameters included (wasmparser's
/// `MAX_WASM_FUNCTION_LOCALS`, V8's `kV8MaxWasmFunctionLocals`).
const MAX_LOCALS: u64 = 50_000;
/// Bytes a function body may have (wasmparser's `MAX_WASM_FUNCTION_SIZE`,
/// V8's `kV8MaxWasmFunctionSize`).
pub(crate) const MAX_BODY: usize = 7_654_321;

struct Func<'p> {
    plan: &'p Plan,
    function: u32,
    /// Index of the first scratch local.
    scratch: u32,
    uses_scratch: bool,
    uses_v128: bool,
    /// The input.
    src: &'p [u8],
    /// Input bytes from here to the next rewritten instruction are copied
    /// when it is reached (`flush`).
    pending: usize,
    /// The chunk's code: this function's entry starts at `entry`.
    out: Vec<u8>,
    entry: usize,
    /// Bytes reserved at `entry` for the body size and the locals header.
    head: usize,
    /// Whether the reserved room is there (an instruction was rewritten).
    begun: bool,
    stats: Stats,
    relocations: Vec<Relocation>,
    record: bool,
    /// The operand stack and the checks known since the last memory
    /// instruction (see `track`).
    track: track::State,
}

#[allow(clippy::too_many_arguments)]
fn rewrite_func(
    input: &Input<'_>,
    plan: &Plan,
    record: bool,
    index: u32,
    body: Body<'_>,
    allocs: &mut FuncValidatorAllocations,
    code: &mut Vec<u8>,
    mut replay: scan::Replay<'_>,
) -> Result<FuncOut, Error> {
    let function = input.imported_funcs + index;
    let params = input
        .func_types
        .get(index as usize)
        .and_then(|&t| input.type_params.get(t as usize))
        .copied()
        .unwrap_or(0);
    let mut validator = body
        .validator
        .map(|v| v.into_validator(std::mem::take(allocs)));
    let mut locals = body.body.get_locals_reader()?;
    let groups_start = locals.original_position() as usize;
    let mut declared = params;
    let groups = locals.get_count();
    for _ in 0..groups {
        let offset = locals.original_position();
        let (count, ty) = locals.read()?;
        if let Some(v) = validator.as_mut() {
            v.define_locals(offset, count, ty)?;
        }
        declared = declared.saturating_add(count);
    }
    // Without validation a body may declare up to 2^32 - 1 locals: the
    // scratch locals, appended after them, must have indices.
    if declared > u32::MAX - SCRATCH_LOCALS {
        return Err(Error::Invalid {
            offset: locals.original_position(),
            message: format!("function {function} declares {declared} locals or more"),
        });
    }
    let ops_start = locals.original_position() as usize;
    let reader = wasmparser::OperatorsReader::new(locals.get_binary_reader());
    let entry = code.len();
    let mut f = Func {
        plan,
        function,
        scratch: declared,
        uses_scratch: false,
        uses_v128: false,
        src: input.bytes,
        pending: ops_start,
        out: std::mem::take(code),
        entry,
        // Size, count, the original groups, five scratch groups of at most
        // 6 bytes.
        head: 5 + 5 + (ops_start - groups_start) + 5 * 6,
        begun: false,
        stats: Stats::default(),
        relocations: Vec::new(),
        record,
        track: track::State {
            scratch: declared,
            ..track::State::default()
        },
    };
    let bytes = input.bytes;
    let range = body.body.range();
    let (body_start, body_end) = (range.start as usize, range.end as usize);
    let fast = match validator {
        None => f.fast(bytes, ops_start, body_end, &mut replay),
        Some(_) => None,
    };
    let copied = match fast {
        Some(copied) => copied?,
        None => {
            f.reset();
            f.decoded(reader, ops_start, validator.as_mut())?
        }
    };
    if let Some(v) = validator {
        *allocs = v.into_allocations();
    }
    let rewritten = f.stats.instructions != 0;
    let entry_start = if !rewritten {
        f.out.truncate(entry);
        ((body_end - body_start) as u32).encode(&mut f.out);
        f.out.extend_from_slice(&bytes[body_start..body_end]);
        entry
    } else {
        let extra: &[(u32, wasm_encoder::ValType)] = if !f.uses_scratch {
            &[]
        } else if f.uses_v128 {
            &SCRATCH_GROUPS
        } else {
            &SCRATCH_GROUPS[..4]
        };
        // The engines' limit (wasmparser's and V8's), parameters included:
        // past it the output would load nowhere.
        let added: u32 = extra.iter().map(|&(n, _)| n).sum();
        if u64::from(declared) + u64::from(added) > MAX_LOCALS {
            return Err(Error::Unsupported {
                function,
                offset: body_start as u64,
                what: format!(
                    "a function of {declared} locals (its {added} scratch locals would pass \
                     the engines' limit of {MAX_LOCALS})"
                ),
            });
        }
        f.out.extend_from_slice(&bytes[copied..body_end]);
        let mut header = Vec::with_capacity(f.head);
        (groups + extra.len() as u32).encode(&mut header);
        header.extend_from_slice(&bytes[groups_start..ops_start]);
        for (count, ty) in extra {
            count.encode(&mut header);
            ty.encode(&mut header);
        }
        // Size and locals header go into the end of the room `begin`
        // left; the instructions stay where they are, and the writer skips
        // the unused start of the room.
        let ops_at = entry + f.head;
        let ops_len = f.out.len() - ops_at;
        // The engines' limit on a body (wasmparser's and V8's): a body
        // grown past it would load nowhere.
        if header.len() + ops_len > MAX_BODY {
            return Err(Error::Unsupported {
                function,
                offset: body_start as u64,
                what: format!(
                    "a body of {} bytes (rewritten: {} bytes, past the engines' limit of \
                     {MAX_BODY})",
                    body_end - body_start,
                    header.len() + ops_len
                ),
            });
        }
        let mut prefix = Vec::with_capacity(f.head);
        ((header.len() + ops_len) as u32).encode(&mut prefix);
        prefix.extend_from_slice(&header);
        let start = ops_at - prefix.len();
        f.out[start..ops_at].copy_from_slice(&prefix);
        start
    };
    *code = std::mem::take(&mut f.out);
    Ok(FuncOut {
        rewritten,
        entry: entry_start..code.len(),
        relocations: f.relocations,
        stats: f.stats,
    })
}

const SCRATCH_GROUPS: [(u32, wasm_encoder::ValType); 5] = [
    (4, wasm_encoder::ValType::I32),
    (2, wasm_encoder::ValType::I64),
    (1, wasm_encoder::ValType::F32),
    (1, wasm_encoder::ValType::F64),
    (1, wasm_encoder::ValType::V128),
];

// `SCRATCH_LOCALS` counts the groups' locals.
const _: () = {
    let (mut n, mut i) = (0, 0);
    while i < SCRATCH_GROUPS.len() {
        n += SCRATCH_GROUPS[i].0;
        i += 1;
    }
    assert!(n == SCRATCH_LOCALS);
};

impl Func<'_> {
    /// Before the first rewritten instruction: room for the size and the
    /// locals header.
    fn begin(&mut self) {
        if !self.begun {
            self.begun = true;
            self.out.resize(self.entry + self.head, 0);
        }
    }

    fn reset(&mut self) {
        self.out.truncate(self.entry);
        self.begun = false;
        self.stats = Stats::default();
        self.relocations.clear();
        self.uses_scratch = false;
        self.uses_v128 = false;
        self.track.clear();
    }

    /// The fast path (see `scan`): `None` when the body holds an instruction
    /// the scanner does not know or is malformed; else the position up to
    /// which the output has consumed the body.
    fn fast(
        &mut self,
        bytes: &[u8],
        start: usize,
        end: usize,
        replay: &mut scan::Replay<'_>,
    ) -> Option<Result<usize, Error>> {
        let body = &bytes[..end];
        let mut i = start;
        self.pending = start;
        let mut prev = [scan::Prev::Other; 2];
        // `trusted`, memory 0 writable, no table of relocations: a recorded
        // plain load or store needs only its offset moved.
        let short = match self.plan.mems.first() {
            Some(m) => self.plan.isolation == Isolation::Trusted && !m.read_only() && !self.record,
            None => false,
        };
        let base = self.plan.mems.first().map_or(0, |m| m.base);
        // `checked` and `masked` trust the globals the rewrite appends; the
        // look-ahead (`replay`) serves `trusted` only.
        let guard_globals = self.plan.isolation != Isolation::Trusted;
        loop {
            if short && replay.at_plain(i) {
                i = self.relocate_trusted(replay, i, end, base);
                prev = [scan::Prev::Other; 2];
            }
            let stop = match guard_globals {
                true => scan::run_guarded(bytes, end, i, &mut prev),
                false => replay.run(bytes, end, i, &mut prev),
            };
            let (at, plain) = match stop {
                scan::Stop::End => return Some(Ok(self.pending)),
                scan::Stop::Fallback => return None,
                scan::Stop::Load(at) => (at, true),
                scan::Stop::Memory(at) => (at, false),
            };
            let [p1, p2] = prev;
            let value = |p| {
                let (what, at) = match p {
                    scan::Prev::Const(at) => (What::Const(scan::const_at(body, at)?), at),
                    scan::Prev::Pure(at) => match scan::local_at(body, at) {
                        Some(local) => (What::Local(local?), at),
                        None => (What::Pure, at),
                    },
                    scan::Prev::Value(at) => (What::Pure, at),
                    scan::Prev::Other => return Some(Prev::OTHER),
                };
                Some(Prev { what, at })
            };
            prev = [scan::Prev::Other, p1];
            // A plain load or store with the common memarg: straight from
            // its bytes to its rewrite, no operator built.
            let lean = plain
                .then(|| scan::plain_memarg(body, at))
                .flatten()
                .and_then(|(memarg, next)| Some((ops::plain_access(body[at], memarg)?, next)));
            if let Some((access, next)) = lean
                && let wasmparser::MemArgTarget::Memory(m) = access.memarg.target
                && (m as usize) < self.plan.mems.len()
            {
                // `trusted` never looks at the operands.
                let (v1, v2) = match self.plan.isolation {
                    Isolation::Trusted => (Prev::OTHER, Prev::OTHER),
                    _ => (value(p1)?, value(p2)?),
                };
                self.begin();
                let instr = Instr::Plain(body[at], access.memarg);
                if let Err(e) = self.access(instr, access, m, at as u64, v1, v2) {
                    return Some(Err(e));
                }
                self.pending = next;
                i = next;
                continue;
            }
            let reader = wasmparser::BinaryReader::new(&body[at..], at as u64);
            let mut reader = wasmparser::OperatorsReader::new(reader);
            let (op, next) = match reader.read() {
                Ok(op) => (op, reader.original_position() as usize),
                Err(e) => return Some(Err(e.into())),
            };
            if let Err(e) = self.check_global_set(&op, at as u64) {
                return Some(Err(e));
            }
            if let Some(memop) = ops::classify(&op) {
                let (v1, v2) = (value(p1)?, value(p2)?);
                self.begin();
                if let Err(e) = self.memop(&op, memop, at as u64, v1, v2) {
                    return Some(Err(e));
                }
                self.pending = next;
            }
            i = next;
        }
    }

    /// The wasmparser path: decodes (and validates) every instruction.
    fn decoded(
        &mut self,
        mut reader: wasmparser::OperatorsReader<'_>,
        ops_start: usize,
        mut validator: Option<&mut wasmparser::FuncValidator<wasmparser::ValidatorResources>>,
    ) -> Result<usize, Error> {
        self.pending = ops_start;
        let (mut p1, mut p2) = (Prev::OTHER, Prev::OTHER);
        while !reader.eof() {
            let pos = reader.original_position();
            let op = reader.read()?;
            if let Some(v) = validator.as_mut() {
                v.op(pos, &op)?;
            }
            self.check_global_set(&op, pos)?;
            let Some(memop) = ops::classify(&op) else {
                if ops::pure_unary(&op) {
                    p1 = match p1.what {
                        What::Other => Prev::OTHER,
                        _ => Prev {
                            what: What::Pure,
                            at: p1.at,
                        },
                    };
                } else {
                    p2 = p1;
                    p1 = prev_of(&op, pos as usize);
                }
                continue;
            };
            self.begin();
            self.memop(&op, memop, pos, p1, p2)?;
            self.pending = reader.original_position() as usize;
            p2 = p1;
            p1 = Prev::OTHER;
        }
        reader.finish()?;
        Ok(self.pending)
    }

    /// Copies the input up to `upto`.
    fn flush(&mut self, upto: usize) {
        let (from, n) = (self.pending, upto - self.pending);
        // Most ranges between memory instructions are short: a copy of a
        // fixed 32 bytes, cut back, is a few vector moves where a copy of
        // `n` bytes is a call to `memcpy` (a tenth of the trusted rebase).
        match self.src.get(from..from + 32) {
            Some(window) if n <= 32 => {
                self.out.extend_from_slice(window);
                self.out.truncate(self.out.len() - (32 - n));
            }
            _ => self.out.extend_from_slice(&self.src[from..upto]),
        }
        self.pending = upto;
    }

    fn mem(&self, m: u32) -> &MemPlan {
        // Validation (or the decoder) guarantees the index exists; a module
        // read without validation could still name a missing memory.
        &self.plan.mems[m as usize]
    }

    /// Refuses a `global.set` past the input's globals: unvalidated input
    /// could otherwise write the appended size and limit globals, which
    /// the checks and masks trust (validation refuses it first).
    fn check_global_set(&self, op: &Operator<'_>, pos: u64) -> Result<(), Error> {
        match *op {
            Operator::GlobalSet { global_index } if global_index >= self.plan.pages_global => {
                Err(Error::Invalid {
                    offset: pos,
                    message: format!(
                        "`global.set` names global {global_index}, which does not exist (the module has {})",
                        self.plan.pages_global
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    fn check_mem(&self, m: u32, pos: u64, op: &Operator<'_>) -> Result<(), Error> {
        if (m as usize) < self.plan.mems.len() {
            Ok(())
        } else {
            Err(Error::Invalid {
                offset: pos,
                message: format!("`{}` names memory {m}, which does not exist", ops::name(op)),
            })
        }
    }

    fn refuse_write(&self, m: u32, pos: u64, op: Instr<'_, '_>) -> Result<(), Error> {
        let mem = self.mem(m);
        if mem.read_only() {
            return Err(Error::WriteToReadOnly {
                function: self.function,
                offset: pos,
                instruction: op.name(),
                window: self.plan.names[m as usize].clone(),
            });
        }
        Ok(())
    }

    fn sink(&mut self) -> InstructionSink<'_> {
        InstructionSink::new(&mut self.out)
    }

    /// The instructions of the checks and masks, written directly.
    fn emit(&mut self) -> Emit<'_> {
        Emit(&mut self.out)
    }

    fn local_for(&mut self, ty: ValType, nth: u32) -> u32 {
        self.uses_scratch = true;
        self.scratch
            + match ty {
                ValType::I32 => SCRATCH_I32 + 1 + nth,
                ValType::I64 => SCRATCH_I64 + nth,
                ValType::F32 => SCRATCH_F32,
                ValType::F64 => SCRATCH_F64,
                _ => {
                    self.uses_v128 = true;
                    SCRATCH_V128
                }
            }
    }

    /// Locals for `operands` (at most two), in stack order.
    fn operand_locals(&mut self, operands: &[ValType]) -> ([u32; 2], usize) {
        let mut seen = [0u32; 3];
        let mut locals = [0u32; 2];
        for (l, &ty) in locals.iter_mut().zip(operands) {
            let slot = match ty {
                ValType::I32 => 0,
                ValType::I64 => 1,
                _ => 2,
            };
            *l = self.local_for(ty, seen[slot]);
            seen[slot] += 1;
        }
        (locals, operands.len().min(2))
    }

    /// Pushes the byte size of memory `m` as an i64.
    fn bound(&mut self, m: &MemPlan) {
        match m.kind {
            Kind::Own => {
                let g = self.plan.bytes_global;
                self.emit().global_get(g);
            }
            Kind::Window { .. } => {
                self.emit().i64_const(m.span as i64);
            }
        }
    }

    /// Pushes whether `[addr, addr + extent)` reaches outside memory `m`;
    /// `addr` is a local or already on the stack, `extent` a constant or a
    /// local. Computed in i64, so nothing wraps (the 33-bit effective
    /// address of wasm).
    fn outside(&mut self, addr: Option<u32>, extent: Extent, m: &MemPlan) {
        if let Some(addr) = addr {
            self.emit().local_get(addr);
        }
        self.emit().i64_extend_i32_u();
        match extent {
            Extent::Const(n) => self.emit().i64_const(n as i64),
            Extent::Local(l) => self.emit().local_get(l).i64_extend_i32_u(),
        };
        self.emit().i64_add();
        self.bound(m);
        self.emit().i64_gt_u();
    }

    /// Traps if the value on the stack is non-zero.
    fn trap_if(&mut self) {
        self.emit().if_empty();
        self.oob_trap();
        self.emit().end();
    }

    /// Traps as an out-of-bounds access does: the access of
    /// [`emit::OOB_TRAP`] inline (`checked`, `trusted`), or under `masked`
    /// a call of the appended function that makes it (see
    /// [`Plan::trap_func`](crate::plan::Plan::trap_func)).
    fn oob_trap(&mut self) {
        match self.plan.trap_func {
            Some(f) => self.emit().call(f),
            None => self.emit().oob_trap(),
        };
    }

    fn add_base(&mut self, base: u32) {
        if base != 0 {
            self.emit().i32_const(base as i32).i32_add();
        }
    }

    fn note(
        &mut self,
        op: Instr<'_, '_>,
        pos: u64,
        memory: u32,
        orig: u64,
        new: u64,
        check: Check,
    ) {
        self.stats.instructions += 1;
        match check {
            Check::Bounds => self.stats.checks += 1,
            Check::Elided => self.stats.elided += 1,
            Check::Mask => self.stats.masks += 1,
            Check::None | Check::Trap => {}
        }
        if self.record {
            self.relocations.push(Relocation {
                function: self.function,
                offset: pos,
                instruction: op.name(),
                memory,
                original_offset: orig,
                new_offset: new,
                check,
            });
        }
    }

    fn memop(
        &mut self,
        op: &Operator<'_>,
        memop: MemOp,
        pos: u64,
        p1: Prev,
        p2: Prev,
    ) -> Result<(), Error> {
        let m = memop.memory();
        self.check_mem(m, pos, op)?;
        let instr = Instr::Op(op);
        if let MemOp::Copy { src, .. } = memop {
            self.check_mem(src, pos, op)?;
        }
        if !matches!(memop, MemOp::Access(_)) {
            self.flush(pos as usize);
            // `memory.grow`, `fill`, ...: what was known ends here.
            self.track.clear();
        }
        match memop {
            MemOp::Access(a) => self.access(instr, a, m, pos, p1, p2),
            MemOp::Size(_) => {
                let mem = *self.mem(m);
                match mem.kind {
                    Kind::Own => {
                        let g = self.plan.pages_global;
                        self.sink().global_get(g)
                    }
                    Kind::Window { .. } => self.sink().i32_const(mem.max_pages as i32),
                };
                self.note(instr, pos, m, 0, 0, Check::None);
                Ok(())
            }
            MemOp::Grow(_) => {
                if self.plan.own_shared && matches!(self.mem(m).kind, Kind::Own) {
                    // Every thread instantiates the module over the one
                    // memory, and each instance keeps the size in its own
                    // globals: a grow seen by one only would let another
                    // grow over (and zero) the same pages.
                    return Err(Error::Unsupported {
                        function: self.function,
                        offset: pos,
                        what: "`memory.grow` of a shared own memory (threads): the instances \
                               would not agree on its size"
                            .into(),
                    });
                }
                self.grow(m);
                self.note(instr, pos, m, 0, 0, Check::Bounds);
                Ok(())
            }
            MemOp::Fill(_) | MemOp::Init { .. } => {
                self.refuse_write(m, pos, instr)?;
                let mem = *self.mem(m);
                let (d, x, n) = (self.scratch, self.scratch + 1, self.scratch + 2);
                self.uses_scratch = true;
                self.sink().local_set(n).local_set(x).local_set(d);
                let check = if self.plan.isolation == Isolation::Trusted {
                    Check::None
                } else {
                    self.outside(Some(d), Extent::Local(n), &mem);
                    self.trap_if();
                    Check::Bounds
                };
                self.sink().local_get(d);
                self.add_base(mem.base);
                self.sink().local_get(x).local_get(n);
                match memop {
                    MemOp::Init { data, .. } => self.sink().memory_init(0, data),
                    _ => self.sink().memory_fill(0),
                };
                self.note(instr, pos, m, 0, mem.base.into(), check);
                Ok(())
            }
            MemOp::Copy { dst, src } => {
                self.refuse_write(dst, pos, instr)?;
                let (dm, sm) = (*self.mem(dst), *self.mem(src));
                let (d, s, n) = (self.scratch, self.scratch + 1, self.scratch + 2);
                self.uses_scratch = true;
                self.sink().local_set(n).local_set(s).local_set(d);
                let check = if self.plan.isolation == Isolation::Trusted {
                    Check::None
                } else {
                    self.outside(Some(d), Extent::Local(n), &dm);
                    self.outside(Some(s), Extent::Local(n), &sm);
                    self.emit().i32_or();
                    self.trap_if();
                    Check::Bounds
                };
                self.sink().local_get(d);
                self.add_base(dm.base);
                self.sink().local_get(s);
                self.add_base(sm.base);
                self.sink().local_get(n).memory_copy(0, 0);
                self.note(instr, pos, dst, 0, dm.base.into(), check);
                Ok(())
            }
            MemOp::Discard(_) => Err(Error::Unsupported {
                function: self.function,
                offset: pos,
                what: "`memory.discard` (page-granular, cannot move by a byte offset)".into(),
            }),
        }
    }
}

/// The instruction being rewritten: a plain load or store read by the
/// scanner (its operator is built only for messages), or a decoded one.
#[derive(Clone, Copy)]
enum Instr<'a, 'o> {
    Plain(u8, wasmparser::MemArg),
    Op(&'a Operator<'o>),
}

impl Instr<'_, '_> {
    fn name(&self) -> String {
        match self {
            Instr::Plain(opcode, memarg) => ops::plain(*opcode, *memarg)
                .map_or_else(|| format!("opcode {opcode:#x}"), |op| ops::name(&op)),
            Instr::Op(op) => ops::name(op),
        }
    }
}

#[derive(Clone, Copy)]
enum Extent {
    Const(u64),
    Local(u32),
}
