//! The fast path of the rewriter: finds instruction boundaries from opcodes
//! and the lengths of their immediates, without decoding instructions into
//! values. A 256-entry table gives the immediate shape of every one-byte
//! opcode; the `0xFC`/`0xFD`/`0xFE` prefixes are told apart by sub-opcode.
//! LEBs are skipped, never decoded (the common instructions' from the stop
//! bits of an eight-byte word, branch-free), except the memargs of the
//! plain loads and stores (the instructions the rewriter changes) and the
//! `i32.const` or `local.get` right before one (decoded only when needed).
//!
//! Anything the table does not know (GC, `try_table`, typed `select` of
//! reference types, exact heap types, future opcodes) or that does not fit
//! (an immediate running past the body, a LEB longer than 5 bytes where
//! the checked step reads a 32-bit one — the branch-free loop hands it
//! every LEB of 8 bytes or more —, a body not ending in `end`)
//! stops the scan with [`Stop::Fallback`]: the caller then decodes the
//! function with wasmparser, which handles it or reports a precise error.
//! So the table only has to be right, never complete, and the scanner never
//! panics and never fails on its own. It checks lengths, not values: an
//! index LEB of 6 or 7 bytes (invalid wasm) passes unnoticed, as the
//! unvalidated path trusts its input to be valid.
//!
//! Used only when the module is not validated: a validating rebase decodes
//! every instruction anyway.

use wasmparser::{MemArg, MemArgTarget};

// Immediate shapes of the one-byte opcodes.
/// No immediate.
const NONE: u8 = 0;
/// One LEB.
const LEB: u8 = 1;
/// Two LEBs.
const LEB2: u8 = 2;
/// A block type.
const BLOCK: u8 = 3;
/// `br_table`: a vector of labels and a default.
const TABLE: u8 = 4;
/// Typed `select`: a vector of value types.
const SELECT: u8 = 5;
/// Pushes one value, pops none, one LEB (`local.get`, `global.get`,
/// `i64.const`).
const PURE: u8 = 6;
/// `i32.const`.
const CONST: u8 = 7;
/// `f32.const`: pure, four bytes.
const F32: u8 = 8;
/// `f64.const`: pure, eight bytes.
const F64: u8 = 9;
/// A plain load or store (`0x28..=0x3E`): the caller reads its memarg.
const LOAD: u8 = 10;
/// `memory.size`, `memory.grow`: the caller decodes them.
const MEMORY: u8 = 11;
/// `0xFC`, `0xFD`, `0xFE`: a sub-opcode follows.
const PREFIX: u8 = 12;
/// Not known here.
const UNKNOWN: u8 = 13;
/// `end`: no immediate, remembered to check the body's last instruction.
const END: u8 = 14;
/// `ref.null`: a heap type.
const HEAP: u8 = 15;
/// No immediate; pops one value, pushes one, cannot trap (`i32.eqz`,
/// `i64.extend_i32_u`, `f32.neg`, ...): a pure operand stays pure.
const UNARY: u8 = 16;

static SHAPE: [u8; 256] = shapes();

const fn shapes() -> [u8; 256] {
    let mut t = [UNKNOWN; 256];
    let mut op = 0;
    while op < 256 {
        t[op] = match op as u8 {
            0x0B => END,
            0x00 | 0x01 | 0x05 | 0x0A | 0x0F | 0x19 | 0x1A | 0x1B | 0xD1 | 0xD3 | 0xD4 => NONE,
            0x45 | 0x50 | 0x67..=0x69 | 0x79..=0x7B | 0x8B..=0x91 | 0x99..=0x9F | 0xA7 => UNARY,
            0xAC | 0xAD | 0xB2..=0xC4 => UNARY,
            0x45..=0xC4 => NONE,
            0x02..=0x04 | 0x06 => BLOCK,
            0x07..=0x09
            | 0x0C
            | 0x0D
            | 0x10
            | 0x12
            | 0x14
            | 0x15
            | 0x18
            | 0x21
            | 0x22
            | 0x24
            | 0x25
            | 0x26
            | 0xD2
            | 0xD5
            | 0xD6 => LEB,
            0x11 | 0x13 => LEB2,
            0xD0 => HEAP,
            0x0E => TABLE,
            0x1C => SELECT,
            0x20 | 0x23 | 0x42 => PURE,
            0x41 => CONST,
            0x43 => F32,
            0x44 => F64,
            0x28..=0x3E => LOAD,
            0x3F | 0x40 => MEMORY,
            0xFC..=0xFE => PREFIX,
            _ => UNKNOWN,
        };
        op += 1;
    }
    t
}

/// What came just before an instruction, to prove constant addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prev {
    /// `i32.const` at this position (its value is decoded on demand).
    Const(usize),
    /// Pushes one value and pops none (a constant, `local.get`,
    /// `global.get`), at this position.
    Pure(usize),
    /// A value computed without effect or trap from one pushed by the pure
    /// instruction at this position (`local.get 0; i64.extend_i32_u`).
    Value(usize),
    Other,
}

/// Where a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The body ended with its `end` exactly at the end of the slice.
    End,
    /// A plain load or store (`0x28..=0x3E`) at this position.
    Load(usize),
    /// Another memory instruction at this position: decode it with
    /// wasmparser.
    Memory(usize),
    /// Something the table does not know, or malformed: decode the whole
    /// function with wasmparser.
    Fallback,
}

/// Skips a LEB of at most `max` bytes at `i`; `None` if it runs past the
/// slice or is longer.
#[inline(always)]
fn leb(b: &[u8], i: usize, max: usize) -> Option<usize> {
    match b.get(i) {
        Some(&x) if x < 0x80 => Some(i + 1),
        Some(_) => leb_long(b, i, max),
        None => None,
    }
}

fn leb_long(b: &[u8], i: usize, max: usize) -> Option<usize> {
    (1..max).find_map(|k| match b.get(i + k) {
        Some(&x) if x < 0x80 => Some(Some(i + k + 1)),
        Some(_) => None,
        None => Some(None),
    })?
}

/// A u32 LEB, decoded.
fn leb_u32(b: &[u8], i: &mut usize) -> Option<u32> {
    let mut result = 0u32;
    for shift in (0..35).step_by(7) {
        let x = *b.get(*i)?;
        *i += 1;
        result |= u32::from(x & 0x7f).checked_shl(shift)?;
        if x & 0x80 == 0 {
            return (shift < 28 || x < 0x10).then_some(result);
        }
    }
    None
}

/// A u64 LEB, decoded.
fn leb_u64(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut result = 0u64;
    for shift in (0..70).step_by(7) {
        let x = *b.get(*i)?;
        *i += 1;
        result |= u64::from(x & 0x7f).checked_shl(shift)?;
        if x & 0x80 == 0 {
            return (shift < 63 || x < 0x02).then_some(result);
        }
    }
    None
}

/// The value of the `i32.const` at `i` (a position [`Prev::Const`] gave).
pub(crate) fn const_at(b: &[u8], i: usize) -> Option<u32> {
    let mut i = i + 1;
    let mut result = 0u32;
    let mut shift = 0;
    loop {
        let x = *b.get(i)?;
        i += 1;
        result |= u32::from(x & 0x7f).checked_shl(shift)?;
        shift += 7;
        if x & 0x80 == 0 {
            if shift < 32 && x & 0x40 != 0 {
                result |= !0 << shift;
            }
            return Some(result);
        }
        if shift >= 35 {
            return None;
        }
    }
}

/// The local of the `local.get` at `i`: `None` if it is another
/// instruction, `Some(None)` if its index does not decode.
pub(crate) fn local_at(b: &[u8], i: usize) -> Option<Option<u32>> {
    (b.get(i) == Some(&0x20)).then(|| leb_u32(b, &mut (i + 1)))
}

/// The memarg of the plain load or store at `i` and the end of the
/// instruction, when it has the common shape (one flags byte, at most a
/// memory index, a 32-bit offset); `None` for anything else (the caller
/// decodes it with wasmparser, which knows every shape and every error).
#[inline]
pub(crate) fn plain_memarg(b: &[u8], i: usize) -> Option<(MemArg, usize)> {
    let mut j = i + 1;
    let flags = *b.get(j)?;
    j += 1;
    // Bit 7: a longer flags LEB; bits 4 and 5: an ordering or an array
    // index (other proposals).
    if flags & 0xB0 != 0 {
        return None;
    }
    let memory = if flags & 0x40 != 0 {
        leb_u32(b, &mut j)?
    } else {
        0
    };
    let offset = leb_u64(b, &mut j)?;
    if offset > u64::from(u32::MAX) {
        return None;
    }
    let max_align = match b[i] {
        0x29 | 0x2B | 0x37 | 0x39 => 3,
        0x28 | 0x2A | 0x34 | 0x35 | 0x36 | 0x38 | 0x3E => 2,
        0x2E | 0x2F | 0x32 | 0x33 | 0x3B | 0x3D => 1,
        _ => 0,
    };
    let memarg = MemArg {
        align: flags & 0x0F,
        max_align,
        offset,
        target: MemArgTarget::Memory(memory),
        ordering: None,
    };
    Some((memarg, j))
}

/// One instruction at `i`: its end and what it is. `Stop::End` here means
/// "an ordinary instruction"; the end is not computed for memory
/// instructions (the caller decodes them). `None`: fall back.
#[inline(always)]
pub(crate) fn step(b: &[u8], i: usize) -> Option<(usize, Step)> {
    let op = *b.get(i)?;
    let next = match SHAPE[op as usize] {
        NONE => return Some((i + 1, Step::Plain)),
        UNARY => return Some((i + 1, Step::Unary)),
        END => return Some((i + 1, Step::End)),
        LEB => leb(b, i + 1, 5)?,
        PURE => return Some((leb(b, i + 1, 10)?, Step::Pure)),
        CONST => return Some((leb(b, i + 1, 5)?, Step::Const)),
        LOAD => return Some((i, Step::Load)),
        MEMORY => return Some((i, Step::Memory)),
        LEB2 => leb(b, leb(b, i + 1, 5)?, 5)?,
        BLOCK => match *b.get(i + 1)? {
            0x63 | 0x64 => heap_type(b, i + 2)?,
            _ => leb(b, i + 1, 5)?,
        },
        HEAP => heap_type(b, i + 1)?,
        TABLE => {
            let mut j = i + 1;
            let n = leb_u32(b, &mut j)?;
            for _ in 0..=n {
                j = leb(b, j, 5)?;
            }
            j
        }
        SELECT => {
            let mut j = i + 1;
            let n = leb_u32(b, &mut j)?;
            for _ in 0..n {
                // Reference types with a heap type: not known here.
                if matches!(*b.get(j)?, 0x63 | 0x64) {
                    return None;
                }
                j += 1;
            }
            j
        }
        F32 => return Some((i + 5, Step::Pure)),
        F64 => return Some((i + 9, Step::Pure)),
        PREFIX => return prefixed(b, i, op),
        _ => return None,
    };
    Some((next, Step::Plain))
}

/// A heap type: an abstract one (one byte) or a type index (s33); an
/// exact one (`0x62`, custom descriptors) is left to wasmparser.
fn heap_type(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        0x62 => None,
        _ => leb(b, i, 5),
    }
}

/// What [`step`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Plain,
    Pure,
    /// `i32.const`.
    Const,
    /// Pops one value and pushes one, without effect or trap.
    Unary,
    /// `end`.
    End,
    /// A plain load or store: see [`plain_memarg`].
    Load,
    /// Another memory instruction.
    Memory,
}

/// An instruction with a prefix byte.
fn prefixed(b: &[u8], i: usize, op: u8) -> Option<(usize, Step)> {
    let mut j = i + 1;
    let sub = leb_u32(b, &mut j)?;
    let plain = |j| Some((j, Step::Plain));
    match op {
        0xFC => match sub {
            0..=7 | 19..=22 => plain(j),
            8 | 10 | 11 | 18 => Some((i, Step::Memory)),
            9 | 13 | 15 | 16 | 17 => plain(leb(b, j, 5)?),
            12 | 14 => plain(leb(b, leb(b, j, 5)?, 5)?),
            _ => None,
        },
        0xFD => match sub {
            0..=11 | 84..=93 => Some((i, Step::Memory)),
            12 => Some((j + 16, Step::Pure)),
            13 => plain(j + 16),
            21..=34 => plain(j + 1),
            14..=20 | 35..=83 | 94..=275 => plain(j),
            _ => None,
        },
        _ => match sub {
            3 => plain(j + 1),
            0..=2 | 0x10..=0x4E => Some((i, Step::Memory)),
            _ => None,
        },
    }
}

// The branch-free step: for each one-byte opcode, its length without its
// LEB (the opcode and any fixed immediate bytes, bits 0-3), whether one LEB
// follows (bit 4), flags, and what it pushes for `Prev`, already where the
// packed `Prev` keeps it (bits 56-57: other, pure, `i32.const`). Two LEBs
// (`call_indirect`) take [`step`]: rare, and keeping them out leaves the
// common path without a branch on the LEB count.
/// One LEB follows the fixed bytes.
const ONE_LEB: u64 = 1 << 4;
/// Anything else: take [`step`].
const SLOW: u64 = 1 << 8;
/// A block type: one LEB unless a reference type (`0x62..=0x64`) starts it.
const BLOCKISH: u64 = 1 << 9;
/// `end`.
const ENDS: u64 = 1 << 10;
/// Pops one value, pushes one, without effect or trap (`UNARY`).
const UNARY_OP: u64 = 1 << 11;
/// The `Prev` kind it pushes, packed.
const KIND_BITS: u64 = 3 << 56;

static FAST: [u64; 256] = fast_table();

/// [`FAST`] with `global.set` taken by [`run_guarded`]'s slow path.
static FAST_GUARDED: [u64; 256] = {
    let mut t = fast_table();
    t[0x24] = SLOW;
    t
};

const fn fast_table() -> [u64; 256] {
    let mut t = [SLOW; 256];
    let mut op = 0;
    while op < 256 {
        t[op] = match SHAPE[op] {
            NONE => 1,
            END => 1 | ENDS,
            LEB => 1 | ONE_LEB,
            BLOCK => 1 | ONE_LEB | BLOCKISH,
            PURE => 1 | ONE_LEB | (PURE_KIND << 56),
            UNARY => 1 | UNARY_OP,
            CONST => 1 | ONE_LEB | (CONST_KIND << 56),
            F32 => 5 | (PURE_KIND << 56),
            F64 => 9 | (PURE_KIND << 56),
            _ => SLOW,
        };
        op += 1;
    }
    t
}

/// Eight bytes at `at` (the caller keeps `at + 8` inside `bytes`).
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(&[a, b, c, d, e, f, g, h]) => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => 0,
    }
}

/// Scans from `i` to the next memory instruction or the end of the body at
/// `end`, keeping `prev` (the kinds of the last two instructions) up to
/// date. Reads of up to 9 bytes past an instruction's start may look past
/// `end` into `bytes` (never past it): the lengths of the common
/// instructions are computed without a branch on their kind, from one
/// eight-byte word.
#[inline]
pub(crate) fn run(bytes: &[u8], end: usize, i: usize, prev: &mut [Prev; 2]) -> Stop {
    run_in::<false>(bytes, end, i, prev)
}

/// [`run`], also stopping at every `global.set` (as a `Stop::Memory`), for
/// the caller to check its index: without validation, a body could name a
/// global the rewrite appends (the memory's size and limits), which
/// `checked` and `masked` trust to confine every access.
#[inline]
pub(crate) fn run_guarded(bytes: &[u8], end: usize, i: usize, prev: &mut [Prev; 2]) -> Stop {
    run_in::<true>(bytes, end, i, prev)
}

#[inline(always)]
fn run_in<const GUARD: bool>(bytes: &[u8], end: usize, mut i: usize, prev: &mut [Prev; 2]) -> Stop {
    let fast = if GUARD { &FAST_GUARDED } else { &FAST };
    let b = &bytes[..end];
    let [mut p1, mut p2] = *prev;
    let mut last_end = false;
    let limit = bytes.len().saturating_sub(9).min(end);
    let stop = loop {
        // In the branch-free loop the two `Prev`s are packed (kind << 56 |
        // position), updated with selects: the kinds of consecutive
        // instructions are too irregular for a branch to predict.
        let (mut q1, mut q2) = (pack(p1), pack(p2));
        while i < limit {
            let e = fast[bytes[i] as usize];
            let w1 = word(bytes, i + 1);
            // The LEB's length from its stop bits (9: none in eight bytes),
            // kept only when the opcode has one.
            let stops = !w1 & 0x8080_8080_8080_8080;
            let l1 = (stops.trailing_zeros() / 8 + 1) as usize;
            let leb = l1 & 0usize.wrapping_sub(((e >> 4) & 1) as usize);
            // Bitwise, not short-circuit: one branch for all the rare cases
            // (a LEB of eight bytes or more goes to `step` too).
            let reference = (e & BLOCKISH != 0) & ((w1 as u8).wrapping_sub(0x62) < 3);
            if (e & SLOW != 0) | (leb >= 8) | reference {
                break;
            }
            last_end = e & ENDS != 0;
            let fresh = (e & KIND_BITS) | i as u64;
            // A unary instruction keeps a pure operand's start, as a value
            // (`VALUE` is both kind bits; an `Other` stays one, whatever
            // position it carries).
            let valued = if q1 & KIND_BITS != 0 {
                q1 | KIND_BITS
            } else {
                q1
            };
            let is_unary = e & UNARY_OP != 0;
            q2 = if is_unary { q2 } else { q1 };
            q1 = if is_unary { valued } else { fresh };
            i += (e & 15) as usize + leb;
        }
        (p1, p2) = (unpack(q1), unpack(q2));
        if i >= b.len() {
            break if i == b.len() && last_end {
                Stop::End
            } else {
                Stop::Fallback
            };
        }
        if GUARD && b[i] == 0x24 {
            break Stop::Memory(i);
        }
        let Some((next, step)) = step(b, i) else {
            break Stop::Fallback;
        };
        let now = match step {
            Step::Plain => Prev::Other,
            Step::Pure => Prev::Pure(i),
            Step::Const => Prev::Const(i),
            Step::Unary => {
                last_end = false;
                p1 = unary(p1);
                i = next;
                continue;
            }
            Step::End => {
                last_end = true;
                p2 = p1;
                p1 = Prev::Other;
                i = next;
                continue;
            }
            Step::Load => break Stop::Load(i),
            Step::Memory => break Stop::Memory(i),
        };
        last_end = false;
        p2 = p1;
        p1 = now;
        i = next;
    };
    *prev = [p1, p2];
    stop
}

// Packed `Prev` kinds (bits 56-57); `FAST` holds the first two in place.
const PURE_KIND: u64 = 1;
const CONST_KIND: u64 = 2;
const VALUE: u64 = 3;
const POSITION: u64 = (1 << 56) - 1;

#[inline(always)]
fn pack(p: Prev) -> u64 {
    match p {
        Prev::Other => 0,
        Prev::Pure(at) => (PURE_KIND << 56) | at as u64,
        Prev::Const(at) => (CONST_KIND << 56) | at as u64,
        Prev::Value(at) => (VALUE << 56) | at as u64,
    }
}

#[inline(always)]
fn unpack(q: u64) -> Prev {
    let at = (q & POSITION) as usize;
    match q >> 56 {
        PURE_KIND => Prev::Pure(at),
        CONST_KIND => Prev::Const(at),
        VALUE => Prev::Value(at),
        _ => Prev::Other,
    }
}

/// What a unary instruction without effect or trap makes of its operand.
#[inline(always)]
fn unary(p: Prev) -> Prev {
    match p {
        Prev::Const(at) | Prev::Pure(at) | Prev::Value(at) => Prev::Value(at),
        Prev::Other => Prev::Other,
    }
}

mod ahead;
pub(crate) use ahead::{Ahead, Replay};

#[cfg(test)]
mod tests;
