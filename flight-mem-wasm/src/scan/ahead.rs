//! The look-ahead of `trusted` rebases: the scan of a whole chunk of
//! function bodies, done before the chunk is rewritten, several bodies at a
//! time.
//!
//! [`run`] is one serial chain per instruction (the opcode byte,
//! then its table entry, then the next position), about 30 machine
//! instructions long: the core waits on it whatever else it could do.
//! Function bodies are independent, so [`Ahead::scan`] walks [`LANES`] of
//! them interleaved in one loop, and the out-of-order core overlaps their
//! chains. Its step is shorter too: one table indexed by the opcode, bits
//! 4-6 of the next byte and the continuation bits of the next five bytes
//! gives the whole length of the common instructions (LEBs, and `call_indirect`'s two, up to five
//! bytes, a plain load's or store's memarg with a flags byte below `0x10`
//! and an offset up to four bytes). It tracks nothing but positions: a
//! `trusted` rebase rewrites a plain load or store of memory 0 from its
//! bytes alone, never looking at the instructions before it. It records
//! each such load or store and where the next instruction starts, with
//! `Prev`s reported as `Other` (never read).
//!
//! Another memory instruction (or a load or store of another shape or
//! memory), whose rewrite reads the two instructions before it, is
//! recorded with the `Prev`s `run` gives there, found by `run` itself over
//! the few instructions since the last recorded stop (see `resume`).
//! Whatever `run` would hand to wasmparser ends the look-ahead of that
//! body: its records are dropped and the rewriter scans it with `run` from
//! the start. So [`Replay::run`] gives exactly `run`'s stops, and exactly
//! its `Prev`s wherever the rewriter reads them (`trusted` reads them only
//! at the instructions recorded with them; its caller guarantees a
//! memory 0, so a recorded plain load or store is always rewritten from
//! its bytes).

use super::*;
use crate::read::Body;
use wasmparser::{FunctionBody, MemArgTarget};

/// Bodies walked together: the step's chain (a word load, the index, the
/// table load, the add) is about 19 cycles, its throughput some 6.
const LANES: usize = 3;

/// A record: the end of the body, well formed (`Stop::End`).
const END_REC: u64 = u64::MAX;
/// Bits of a record below the instruction's length: its position.
const AT: u64 = (1 << 56) - 1;

// An entry of `LEAN`: the instruction's length (0: not taken here) above
// a bit saying whether it is a plain load or store, to record.
/// A plain load or store.
const REC: u8 = 1;

/// Indexed by the opcode, bits 4-6 of the byte after it (in bits 8-10)
/// and the continuation bits (bit 7) of the five bytes after it (in bits
/// 11-15). Bytes, 64 KiB (the fifth bit takes the `i32.const`s and
/// `i64.const`s of five-byte LEBs, which ended the walk some 70,000 times on
/// `@swc/wasm`): only the rows of the common instructions are
/// ever read.
static LEAN: [u8; 1 << 16] = lean_table();

/// Length of a LEB starting at byte `k` (1..=5) after the opcode, from the
/// continuation bits `c` (bit `j - 1`: byte `j`); 0 if it runs past byte 5.
const fn leb_from(k: u32, c: u32) -> u32 {
    let mut j = k;
    while j <= 5 {
        if c & (1 << (j - 1)) == 0 {
            return j - k + 1;
        }
        j += 1;
    }
    0
}

const fn lean_table() -> [u8; 1 << 16] {
    let mut t = [0; 1 << 16];
    let mut idx = 0;
    while idx < 1 << 16 {
        let op = idx & 0xFF;
        let high = ((idx >> 8) & 7) as u32;
        let c = (idx >> 11) as u32;
        let one = leb_from(1, c);
        // The byte after the opcode, when it is a whole LEB, is one of
        // `0x60..=0x6F`; `0x00..=0x0F`.
        let sixties = c & 1 == 0 && high == 6;
        let small = c & 1 == 0 && high == 0;
        let len = match SHAPE[op] {
            NONE | UNARY | END => 1,
            LEB | PURE | CONST if one != 0 => 1 + one,
            // `call_indirect`: the type, then the table (as `step` reads it).
            LEB2 if one != 0 && leb_from(1 + one, c) != 0 => 1 + one + leb_from(1 + one, c),
            // A reference block type (`0x62..=0x64`) is for `step`; so
            // is the rest of `0x60..=0x6F` (reference types), to keep to
            // the bits the index has.
            BLOCK if one != 0 && !sixties => 1 + one,
            F32 => 5,
            F64 => 9,
            // One flags byte below 0x10 (no memory index, no other
            // proposal's bits), then the offset.
            LOAD if small && leb_from(2, c) != 0 => 2 + leb_from(2, c),
            _ => 0,
        };
        let rec = matches!(SHAPE[op], LOAD) && len != 0;
        t[idx] = (len << 1) as u8 | if rec { REC } else { 0 };
        idx += 1;
    }
    t
}

/// The table index of the instruction whose first eight bytes are `w`:
/// the opcode, then bits 4-6 of the next byte and the bits 7 of bytes 1-5
/// gathered into bits 8-15 by one multiplication. Bits 12-15 (shifted by
/// 32) and 23, 31, 39, 47 (by 25, 18, 11, 4) land on bits 44-51; no two of
/// the 40 partial products land on one bit (the others at bits 16-43 and
/// 55-58), so nothing carries into those. (Bits 4-6 of the next byte were
/// shifted and masked apart: 3 instructions more a step, 44M on
/// `@swc/wasm`.)
#[inline(always)]
fn index(w: u64) -> usize {
    let t = w & 0x0000_8080_8080_F000;
    let magic = (1 << 32) | (1 << 25) | (1 << 18) | (1 << 11) | (1 << 4);
    let gathered = (t.wrapping_mul(magic) >> 36) & 0xFF00;
    ((w & 0xFF) | gathered) as usize
}

/// One body being walked.
#[derive(Debug, Clone, Copy, Default)]
struct Lane {
    /// Index of the body in the batch.
    body: usize,
    i: usize,
    end: usize,
    /// The step reads eight bytes: it runs below this (see `run`).
    limit: usize,
    /// Records written to this lane's buffer.
    n: usize,
    active: bool,
}

/// The look-ahead of one chunk (reused from chunk to chunk by a worker).
#[derive(Debug, Default)]
pub(crate) struct Ahead {
    /// Each lane's records; a body's are consecutive in its lane's buffer.
    recs: [Vec<u64>; LANES],
    /// Per body of the batch: its lane, its records, and where it starts
    /// (`usize::MAX`: no records, `run` scans it).
    spans: Vec<Span>,
    /// The bodies to walk, longest first (see `scan`): each one's length
    /// complemented (bits 32-63), its index (bits 0-31).
    order: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    lane: usize,
    first: usize,
    last: usize,
    start: usize,
}

/// Where a body's instructions start and end (after its locals).
fn instructions(body: &FunctionBody<'_>) -> Option<(usize, usize)> {
    let mut locals = body.get_locals_reader().ok()?;
    for _ in 0..locals.get_count() {
        locals.read().ok()?;
    }
    Some((
        locals.original_position() as usize,
        body.range().end as usize,
    ))
}

impl Ahead {
    /// With `lean` (only for a `trusted` rebase of a module with a memory
    /// 0: see the module's comment), walks every body not to be validated;
    /// without, keeps no records.
    pub(crate) fn scan<'b>(
        &mut self,
        bytes: &[u8],
        lean: bool,
        bodies: impl IntoIterator<Item = &'b Body<'b>>,
    ) {
        self.spans.clear();
        self.spans.extend(bodies.into_iter().map(|b| {
            let scanned = lean && b.validator.is_none();
            let start = scanned.then(|| instructions(&b.body)).flatten();
            Span {
                lane: 0,
                first: 0,
                // The end, for now.
                last: start.map_or(0, |(_, e)| e),
                start: start.map_or(usize::MAX, |(s, _)| s),
            }
        }));
        // Longest first: the lanes are walked together only while all three
        // have a body, and what is left when the others run out is walked
        // one instruction at a time, a dependent chain per instruction. In
        // file order a long body met late in a batch was that tail
        // (`esbuild-wasm` has bodies of 100-200 KB in batches of ~600 KB);
        // longest first, the tail is the shortest bodies'. The records do
        // not depend on the order (each body's are its own, in its lane).
        // Sorted as one `u64` each, the length's complement above the
        // body's index (a key read through `spans` cost twice as much).
        self.order.clear();
        self.order.extend(
            self.spans
                .iter()
                .enumerate()
                .filter(|(_, s)| s.start != usize::MAX)
                // A body's length and index fit in 32 bits (both are `u32`s in
                // the module).
                .map(|(b, s)| u64::from(!((s.last - s.start) as u32)) << 32 | b as u64),
        );
        self.order.sort_unstable();
        let mut lanes = [Lane::default(); LANES];
        // The last batch's records stay where they are: every slot read
        // (from a body's first record to its lane's count) is written in
        // this batch before, and `room` only grows the buffers. Emptied,
        // they were zeroed afresh by `room` batch after batch (8 bytes for
        // every 3 bytes of code walked: 8.8M instructions of `memset` on
        // `esbuild-wasm`).
        let mut todo = 0;
        loop {
            for (k, lane) in lanes.iter_mut().enumerate() {
                if !lane.active && todo < self.order.len() {
                    let body = (self.order[todo] & u64::from(u32::MAX)) as usize;
                    todo += 1;
                    let s = &mut self.spans[body];
                    let (start, end) = (s.start, s.last);
                    s.lane = k;
                    s.first = lane.n;
                    room(&mut self.recs[k], lane.n, end - start);
                    // No instruction yet (see `slow`).
                    self.recs[k][lane.n] = 0;
                    *lane = Lane {
                        body,
                        i: start,
                        end,
                        limit: bytes.len().saturating_sub(9).min(end),
                        n: lane.n,
                        active: true,
                    };
                }
            }
            if lanes.iter().all(|l| l.active) {
                walk(bytes, &mut lanes, &mut self.recs);
            } else {
                for (k, lane) in lanes.iter_mut().enumerate() {
                    while lane.active
                        && lane.i < lane.limit
                        && !step3(bytes, lane, &mut self.recs[k])
                    {}
                }
            }
            let mut any = false;
            for (k, lane) in lanes.iter_mut().enumerate() {
                // One instruction of each lane: the one that stopped the
                // loop (past the limit, or one the step does not take), or
                // the next.
                if lane.active {
                    any = true;
                    if lane.i >= lane.limit || step3(bytes, lane, &mut self.recs[k]) {
                        slow(bytes, lane, &mut self.recs[k], &mut self.spans);
                    }
                }
            }
            if !any {
                break;
            }
        }
    }

    /// The replay of body `n` of the last batch.
    pub(crate) fn replay(&self, n: usize) -> Replay<'_> {
        match self.spans.get(n) {
            Some(s) if s.start != usize::MAX => Replay {
                recs: &self.recs[s.lane][s.first..s.last],
                k: 0,
                expect_i: s.start,
            },
            _ => Replay::none(),
        }
    }
}

/// Room in `recs` past `n` for every load of `len` more bytes (three bytes
/// at least each) and the record the step writes after the last one, so
/// that the step needs no check on it.
fn room(recs: &mut Vec<u64>, n: usize, len: usize) {
    let room = n + len / 3 + 2;
    if recs.len() < room {
        recs.resize(room, 0);
    }
}

/// The three lanes' walk, until one meets an instruction the table does not
/// take or its limit. The lanes' state is copied into locals: kept in the
/// structs, the positions went through memory on every step, lengthening
/// the very chain the interleaving is there to hide.
#[inline(never)]
fn walk(bytes: &[u8], lanes: &mut [Lane; LANES], recs: &mut [Vec<u64>; LANES]) {
    let [l0, l1, l2] = lanes;
    let [r0, r1, r2] = recs;
    let (r0, r1, r2) = (&mut r0[..], &mut r1[..], &mut r2[..]);
    // Every `word` read below `stop` stays inside `bytes` (said so that
    // the compiler sees it and drops the bounds checks).
    let Some(stop) = bytes.len().checked_sub(9) else {
        return;
    };
    let (m0, m1, m2) = (l0.limit.min(stop), l1.limit.min(stop), l2.limit.min(stop));
    let (mut i0, mut i1, mut i2) = (l0.i, l1.i, l2.i);
    let (mut n0, mut n1, mut n2) = (l0.n, l1.n, l2.n);
    while i0 < m0 && i1 < m1 && i2 < m2 {
        let at = |i: usize| match bytes.get(i..i + 8) {
            Some(&[a, b, c, d, e, f, g, h]) => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
            _ => 0,
        };
        let (w0, w1, w2) = (at(i0), at(i1), at(i2));
        let (e0, e1, e2) = (LEAN[index(w0)], LEAN[index(w1)], LEAN[index(w2)]);
        if (e0 == 0) | (e1 == 0) | (e2 == 0) {
            break;
        }
        let (len0, len1, len2) = ((e0 >> 1) as usize, (e1 >> 1) as usize, (e2 >> 1) as usize);
        // Written for every instruction, kept (the count moves on) for
        // loads; `scan` made room for them all. The slot after the last
        // record holds the last instruction (`slow` finds the `end` there).
        if let Some(r) = r0.get_mut(n0) {
            *r = i0 as u64 | (len0 as u64) << 56;
        }
        if let Some(r) = r1.get_mut(n1) {
            *r = i1 as u64 | (len1 as u64) << 56;
        }
        if let Some(r) = r2.get_mut(n2) {
            *r = i2 as u64 | (len2 as u64) << 56;
        }
        n0 += (e0 & REC) as usize;
        n1 += (e1 & REC) as usize;
        n2 += (e2 & REC) as usize;
        i0 += len0;
        i1 += len1;
        i2 += len2;
    }
    (l0.i, l1.i, l2.i) = (i0, i1, i2);
    (l0.n, l1.n, l2.n) = (n0, n1, n2);
}

/// One step of one lane: `true` (nothing changed) when the instruction is
/// not one the table takes.
#[inline(always)]
fn step3(bytes: &[u8], l: &mut Lane, recs: &mut [u64]) -> bool {
    let i = l.i;
    let e = LEAN[index(word(bytes, i))];
    if e == 0 {
        return true;
    }
    let len = (e >> 1) as usize;
    if let Some(r) = recs.get_mut(l.n) {
        *r = i as u64 | (len as u64) << 56;
    }
    l.n += (e & REC) as usize;
    l.i = i + len;
    false
}

/// The instruction at `l.i` the step does not take, or the end of the body,
/// as `run` sees it.
fn slow(bytes: &[u8], l: &mut Lane, recs: &mut Vec<u64>, spans: &mut [Span]) {
    let b = &bytes[..l.end];
    let i = l.i;
    let s = &mut spans[l.body];
    if i >= b.len() {
        l.active = false;
        // The slot after the last record holds the last instruction when
        // it is not a load or store (0 if there was none).
        let last = recs.get(l.n).map_or(0, |&r| (r & AT) as usize);
        if i == b.len() && last + 1 == i && b[last] == 0x0B {
            room(recs, l.n, 0);
            recs[l.n] = END_REC;
            l.n += 1;
            s.last = l.n;
        } else {
            // `run` falls back: it will find that itself.
            s.start = usize::MAX;
            l.n = s.first;
        }
        return;
    }
    let next = match step(b, i) {
        Some((_, Step::Load)) => match plain_memarg(b, i) {
            Some((m, next)) if m.target == MemArgTarget::Memory(0) => {
                room(recs, l.n, l.end - i);
                recs[l.n] = i as u64 | ((next - i) as u64) << 56;
                l.n += 1;
                Some(next)
            }
            _ => with_prevs(bytes, l, recs, s, false),
        },
        Some((_, Step::Memory)) => with_prevs(bytes, l, recs, s, true),
        None => None,
        Some((next, _)) => Some(next),
    };
    match next {
        Some(next) => {
            // The last instruction, as `walk` keeps it.
            if let Some(r) = recs.get_mut(l.n) {
                *r = i as u64;
            }
            l.i = next;
        }
        None => {
            // Something only `run` and the rewriter handle.
            l.active = false;
            s.start = usize::MAX;
            l.n = s.first;
        }
    }
}

// A record with the two `Prev`s (a memory instruction other than a plain
// load or store of memory 0, whose rewrite reads them): a header, then the
// two, packed. The header of a plain load or store has none of these bits.
/// The header is followed by the two `Prev`s.
const PREVS: u64 = 1 << 63;
/// A slot holding a `Prev` (so that a header is found from the end).
const SLOT: u64 = 1 << 62;
/// The stop is `Stop::Memory` (else `Stop::Load`).
const MEM: u64 = 1 << 61;
/// The instruction's length, in a header.
const RECLEN: u64 = 31;

/// The memory instruction at `l.i` (`memory`: a `Stop::Memory`; else a load
/// or store of another shape or memory): recorded with the two `Prev`s
/// `run` would give, found by `run` itself over the instructions since the
/// last recorded stop; `None` if that does not work out (then the body is
/// left to `run`). Its end is where wasmparser (or, for a load or store,
/// the memarg) puts it, as in the rewriter.
fn with_prevs(
    bytes: &[u8],
    l: &mut Lane,
    recs: &mut Vec<u64>,
    s: &Span,
    memory: bool,
) -> Option<usize> {
    let i = l.i;
    let b = &bytes[..l.end];
    let (from, mut prev) = resume(bytes, l, recs, s)?;
    match run(bytes, l.end, from, &mut prev) {
        Stop::Memory(at) if at == i && memory => {}
        Stop::Load(at) if at == i && !memory => {}
        _ => return None,
    }
    let decoded = || {
        let reader = wasmparser::BinaryReader::new(&b[i..], i as u64);
        let mut reader = wasmparser::OperatorsReader::new(reader);
        reader.read().ok()?;
        Some(reader.original_position() as usize)
    };
    let next = match memory {
        false => plain_memarg(b, i).map(|(_, n)| n).or_else(decoded)?,
        true => decoded()?,
    };
    if next - i > RECLEN as usize {
        return None;
    }
    room(recs, l.n + 2, l.end - i);
    let kind = if memory { MEM } else { 0 };
    recs[l.n] = i as u64 | ((next - i) as u64) << 56 | PREVS | kind;
    recs[l.n + 1] = pack(prev[0]) | SLOT;
    recs[l.n + 2] = pack(prev[1]) | SLOT;
    l.n += 3;
    Some(next)
}

/// Where the look-ahead of this body last resumed (after its last recorded
/// stop, or at its start) and `run`'s `Prev`s there: `[Other, p1]`, with
/// `p1` what came before that stop. A record with `Prev`s keeps it; before
/// a plain load it is found by `run` from the resumption before that load
/// (whatever `run` starts with there, its `p1` at the load is the same: an
/// instruction in between replaces it, a unary one keeps `Other` `Other`).
fn resume(bytes: &[u8], l: &Lane, recs: &[u64], s: &Span) -> Option<(usize, [Prev; 2])> {
    let header = |n: usize| {
        // The header of the record ending before `n`, if any.
        if n == s.first {
            None
        } else if recs[n - 1] & SLOT != 0 {
            Some(n - 3)
        } else {
            Some(n - 1)
        }
    };
    let end_of = |h: usize| ((recs[h] & AT) + ((recs[h] >> 56) & RECLEN)) as usize;
    let Some(h) = header(l.n) else {
        return Some((s.start, [Prev::Other; 2]));
    };
    if recs[h] & PREVS != 0 {
        return Some((end_of(h), [Prev::Other, unpack(recs[h + 1] & !SLOT)]));
    }
    let before = header(h).map_or(s.start, end_of);
    let mut prev = [Prev::Other; 2];
    match run(bytes, l.end, before, &mut prev) {
        Stop::Load(at) if at == (recs[h] & AT) as usize => {
            Some((end_of(h), [Prev::Other, prev[0]]))
        }
        _ => None,
    }
}

/// The stops of one body, from the look-ahead's records; `run` where there
/// are none.
#[derive(Debug)]
pub(crate) struct Replay<'a> {
    recs: &'a [u64],
    k: usize,
    /// Where the rewriter must call next for the next record to hold.
    expect_i: usize,
}

impl Replay<'_> {
    /// No records: every call is `run`'s.
    pub(crate) fn none() -> Replay<'static> {
        Replay {
            recs: &[],
            k: 0,
            expect_i: usize::MAX,
        }
    }

    /// Whether this body had records (for the tests).
    #[cfg(test)]
    pub(crate) fn replayed(&self) -> bool {
        !self.recs.is_empty()
    }

    /// [`run`]`(bytes, end, i, prev)`, from the records when there are.
    /// The `Prev`s reported at a recorded load are `Other` (see the
    /// module's comment).
    #[inline]
    pub(crate) fn run(&mut self, bytes: &[u8], end: usize, i: usize, prev: &mut [Prev; 2]) -> Stop {
        if let Some(&r) = self.recs.get(self.k) {
            // The rewriter resumes where the look-ahead did: it reads the
            // same memarg.
            debug_assert_eq!(i, self.expect_i, "replay out of step");
            if i == self.expect_i {
                self.k += 1;
                *prev = [Prev::Other; 2];
                if r == END_REC {
                    return Stop::End;
                }
                let at = (r & AT) as usize;
                self.expect_i = at + ((r >> 56) & RECLEN) as usize;
                if r & PREVS != 0 {
                    if let [p1, p2, ..] = self.recs[self.k..] {
                        *prev = [unpack(p1 & !SLOT), unpack(p2 & !SLOT)];
                    }
                    self.k += 2;
                }
                return match r & MEM {
                    0 => Stop::Load(at),
                    _ => Stop::Memory(at),
                };
            }
            self.k = self.recs.len();
        }
        run(bytes, end, i, prev)
    }

    /// Whether the stop [`Replay::run`]`(.., i, ..)` would return is a
    /// recorded plain load or store of memory 0 (`Stop::Load`, recorded
    /// without `Prev`s: `trusted` never reads them there).
    #[inline(always)]
    pub(crate) fn at_plain(&self, i: usize) -> bool {
        // `END_REC` has every bit, `PREVS` among them.
        i == self.expect_i && self.recs.get(self.k).is_some_and(|&r| r & PREVS == 0)
    }

    /// The recorded plain loads and stores of memory 0 from `i` on (see
    /// [`Replay::at_plain`]), handed to `each` (the position of one) while
    /// it takes them (returning where the next instruction starts); returns
    /// where the rewriter is then and how many were taken. Past them, the
    /// replay is where [`Replay::run`] would have left it (its `Prev`s there
    /// are `Other`).
    #[inline(always)]
    pub(crate) fn take_plains(
        &mut self,
        mut i: usize,
        mut each: impl FnMut(usize) -> Option<usize>,
    ) -> (usize, usize) {
        if i != self.expect_i {
            return (i, 0);
        }
        let first = self.k;
        let mut k = first;
        while let Some(&r) = self.recs.get(k) {
            if r & PREVS != 0 {
                break;
            }
            let Some(next) = each((r & AT) as usize) else {
                break;
            };
            k += 1;
            i = next;
        }
        self.k = k;
        self.expect_i = i;
        (i, k - first)
    }
}

#[cfg(test)]
mod index_tests {
    use super::index;

    /// The gathering by shifts and masks the one multiplication replaces.
    fn by_parts(w: u64) -> usize {
        let high = (w >> 4) & 0x700;
        let cont = (1..=5).fold(0, |c, k| c | ((w >> (8 * k + 7)) & 1) << (10 + k));
        ((w & 0xFF) | high | cont) as usize
    }

    #[test]
    fn index_gathers_the_bits_it_reads_and_no_others() {
        // Every value of the 16 bits it reads, each under a few fillers of
        // the bits it must ignore.
        let used: u64 = 0x0000_8080_8080_F0FF;
        let mut filler = 0x9E37_79B9_7F4A_7C15u64;
        for v in 0..1u64 << 16 {
            // Spread `v`'s bits over the used positions.
            let (mut w, mut bit) = (0, 0);
            for p in 0..64 {
                if used >> p & 1 == 1 {
                    w |= (v >> bit & 1) << p;
                    bit += 1;
                }
            }
            for _ in 0..4 {
                filler ^= filler << 13;
                filler ^= filler >> 7;
                filler ^= filler << 17;
                let w = w | (filler & !used);
                assert_eq!(index(w), by_parts(w), "{w:#x}");
                assert_eq!(index(w), v as usize & 0xFF | by_parts(w) & 0xFF00);
            }
        }
    }
}
