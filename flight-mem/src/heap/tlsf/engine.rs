//! The TLSF algorithm behind the lock: free lists, allocation, free and
//! the invariant walk. It reaches the region only through [`Region`]'s
//! typed offsets (see `raw.rs`).

use core::alloc::Layout;
use core::ptr::NonNull;

use super::classes::{FL_COUNT, SL_COUNT, class_of, list_holding, list_of};
use super::raw::{At, Block, Link, Region, Span};
use super::*;
use crate::heap::locked::{Carved, HeapEngine, Released};
use crate::stats::Counters;
use crate::{AllocError, AllocatorKind, InvariantViolation, RawMemory};

// SAFETY: `try_allocate` returns payloads inside the region, of at least
// the requested size, aligned as asked, inside a block marked used that no
// other live block overlaps (blocks partition the region); a used block is
// only written by `free` after validation, and only beyond the requested
// bytes (the slack byte) otherwise. Before `init`, `end` is 0: every
// request is refused and every pointer is out of range, with no memory
// read.
unsafe impl HeapEngine for State {
    /// The largest alignment served: the largest power of two not above the
    /// region length.
    type Config = usize;
    const NAME: &'static str = "Tlsf";
    const CONFIG_FIELD: Option<&'static str> = None;
    const KIND: AllocatorKind = AllocatorKind::Tlsf;

    fn capacity(memory: &RawMemory, _: usize) -> usize {
        geometry(memory).1
    }

    fn init(&mut self, memory: &RawMemory, _: usize) {
        self.init(memory);
    }

    #[inline(always)]
    fn allocate(&mut self, layout: Layout, max_align: usize) -> Result<Carved, AllocError> {
        match self.try_allocate(layout, max_align) {
            Some(carved) => Ok(carved),
            None => Err(self.refusal_of(layout, max_align)),
        }
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<Released, AllocError> {
        let payload = ptr
            .as_ptr()
            .addr()
            .wrapping_sub(self.raw.base().addr().get());
        // Before the first use `end` is 0, so every pointer is refused here
        // and the wrapper builds the heap and asks again.
        if payload.wrapping_sub(WORD) < self.raw.end() {
            self.free(payload)
        } else {
            Err(AllocError::ForeignPointer)
        }
    }

    fn largest_free(&self) -> usize {
        self.largest_free()
    }

    fn check(&self, counters: &Counters, _: usize) -> Result<(), InvariantViolation> {
        self.check(counters)
    }
}

/// Everything behind the lock.
///
/// Blocks are addressed by the offset of their header from the region's
/// base. Block layout (offsets relative to the header):
///
/// ```text
/// used: [size | flags][marker, if aligned inside][payload ........][slack?]
/// free: [size | 0    ][next: u32][prev: u32] ........... [size (tag)]
/// ```
pub(crate) struct State {
    /// The blocks; empty until `init`.
    raw: Region,
    /// Bit `fl` set: `sl_bitmap[fl] != 0`.
    fl_bitmap: u32,
    /// Bit `sl` of `sl_bitmap[fl]` set: `heads[fl][sl] != NIL`.
    sl_bitmap: [u32; FL_COUNT],
    heads: [[Link; SL_COUNT]; FL_COUNT],
}

/// A block `free` has found behind a payload pointer.
#[derive(Clone, Copy)]
struct UsedBlock {
    span: Span,
    header: usize,
    /// Bytes between the header and the payload's alignment marker.
    inner_gap: usize,
}

/// A free block and where its list holds it.
#[derive(Clone, Copy)]
struct Listed {
    span: Span,
    fl: usize,
    sl: usize,
}

// SAFETY: the region's base points into the memory owned by the `Tlsf`,
// which may be used from any thread; the lock serialises every access
// through it.
unsafe impl Send for State {}

impl State {
    const_fn! {
        pub(super) fn new() -> Self {
            Self {
                raw: Region::empty(),
                fl_bitmap: 0,
                sl_bitmap: [0; FL_COUNT],
                heads: [[Link::NIL; SL_COUNT]; FL_COUNT],
            }
        }
    }

    /// Lays out one free block over the whole region and the end marker.
    #[cold]
    fn init(&mut self, memory: &RawMemory) {
        let (lead, end) = geometry(memory);
        // A region too small for a block stays empty: nothing is accessed.
        if end == 0 {
            return;
        }
        // `lead + end + WORD <= len`, so the base is inside the region.
        let Some(base) = NonNull::new(memory.as_ptr().wrapping_add(lead)) else {
            return;
        };
        // SAFETY: `geometry` proved `lead + end + WORD <= memory.len()`,
        // with `base + WORD` granule-aligned and `MIN_BLOCK <= end <=
        // MAX_END` a granule multiple; the `RawMemory` contract gives this
        // allocator the range alone, and `init` runs once (the wrapper's
        // `ready` flag).
        let all = unsafe { self.raw.init(base, end) };
        self.raw.write_free(all);
        self.insert(all);
    }

    // --- free lists ---

    /// Pushes the free block `span` (header and tag already written) onto
    /// its list.
    #[inline]
    fn insert(&mut self, span: Span) {
        let (fl, sl) = list_of(span.size());
        let block = span.block();
        let head = self.heads[fl][sl];
        self.raw.set_next(block, head);
        self.raw.set_prev(block, Link::NIL);
        if let Some(head) = self.raw.linked(head) {
            self.raw.set_prev(head, block.link());
        }
        self.heads[fl][sl] = block.link();
        self.fl_bitmap |= 1 << fl;
        self.sl_bitmap[fl] |= 1 << sl;
    }

    /// Unlinks the listed free block of `size` bytes at `block`.
    #[inline]
    fn unlink(&mut self, block: Block, size: usize) {
        let (next, prev) = self.raw.links(block);
        if let Some(next) = self.raw.linked(next) {
            self.raw.set_prev(next, prev);
        }
        if let Some(prev) = self.raw.linked(prev) {
            self.raw.set_next(prev, next);
            return;
        }
        // The list head: only now is its list needed.
        let (fl, sl) = list_of(size);
        debug_assert_eq!(self.heads[fl][sl], block.link());
        self.heads[fl][sl] = next;
        if next == Link::NIL {
            self.sl_bitmap[fl] &= !(1 << sl);
            if self.sl_bitmap[fl] == 0 {
                self.fl_bitmap &= !(1 << fl);
            }
        }
    }

    /// The free block whose header is at `at`, if its header is a free
    /// block's inside the region and its links are in range: what `free`
    /// checks of a neighbour before it unlinks it in debug builds, and what
    /// `check` checks of every free block.
    #[inline]
    fn checked_free(&self, at: At) -> Option<Listed> {
        let size = self.raw.word(at);
        if size & FLAGS != 0 {
            return None;
        }
        let span = self.raw.span(at.off(), size)?;
        let (next, prev) = self.raw.links(span.block());
        let valid = |link: Link| link == Link::NIL || self.raw.block(link.get() as usize).is_some();
        if !valid(next) || !valid(prev) {
            return None;
        }
        let (fl, sl) = list_of(size);
        Some(Listed { span, fl, sl })
    }

    /// Whether the free block `listed` is where its links and its list
    /// say: linked from its predecessor (or the list head) and its
    /// successor. `checked_free` made it, so its links are in range.
    fn is_linked(&self, listed: &Listed) -> bool {
        let (next, prev) = self.raw.links(listed.span.block());
        let me = listed.span.block().link();
        let linked = |link: Link| self.raw.block(link.get() as usize);
        (match linked(prev) {
            None => prev == Link::NIL && self.heads[listed.fl][listed.sl] == me,
            Some(prev) => self.raw.links(prev).0 == me,
        }) && (next == Link::NIL || linked(next).is_some_and(|next| self.raw.links(next).1 == me))
    }

    /// The list at or after `(fl, sl)` with a block, if any.
    #[inline]
    fn find_from(&self, fl: usize, sl: usize) -> Option<(usize, usize)> {
        if fl >= FL_COUNT {
            return None;
        }
        let in_class = self.sl_bitmap[fl] & (u32::MAX << sl);
        let (fl, sl) = if in_class != 0 {
            (fl, in_class.trailing_zeros() as usize)
        } else {
            let above = self.fl_bitmap & ((u32::MAX << fl) << 1);
            if above == 0 {
                return None;
            }
            let fl = above.trailing_zeros() as usize;
            (fl, self.sl_bitmap[fl].trailing_zeros() as usize)
        };
        debug_assert!(fl < FL_COUNT && sl < SL_COUNT);
        // SAFETY: bitmap bits are set only by `insert`, for the list of a
        // block (`list_of`: `fl < FL_COUNT`, `sl < SL_COUNT`), and the bit
        // found is set. Telling the compiler spares the callers' bounds
        // checks.
        unsafe { core::hint::assert_unchecked(fl < FL_COUNT && sl < SL_COUNT) };
        Some((fl, sl))
    }

    /// Unlinks the head of the list `(fl, sl)` and returns it, or `None`
    /// when the list is empty.
    #[inline]
    fn pop(&mut self, fl: usize, sl: usize) -> Option<Span> {
        let head = self.raw.listed(self.heads[fl][sl])?;
        let next = self.raw.links(head.block()).0;
        self.heads[fl][sl] = next;
        if let Some(next) = self.raw.linked(next) {
            self.raw.set_prev(next, Link::NIL);
        } else {
            self.sl_bitmap[fl] &= !(1 << sl);
            if self.sl_bitmap[fl] == 0 {
                self.fl_bitmap &= !(1 << fl);
            }
        }
        Some(head)
    }

    #[cold]
    fn own_list_head(&self, need: usize, block: usize, align: usize) -> Option<(usize, usize)> {
        let (fl, sl) = class_of(need);
        let head = self.raw.listed(*self.heads.get(fl)?.get(sl)?)?;
        (self.gap(head.block(), align) + block <= head.size()).then_some((fl, sl))
    }

    // --- allocation ---

    /// The common case of `allocate`: a payload for `layout`, or `None`
    /// for anything else (bad or too large requests, an exhausted heap, a
    /// heap not built yet), which [`refusal_of`](Self::refusal_of) then
    /// explains. Changes nothing when it returns `None` (on a heap whose
    /// blocks are intact).
    #[inline(always)]
    fn try_allocate(&mut self, layout: Layout, max_align: usize) -> Option<Carved> {
        let size = layout.size();
        // Zero, larger than the heap, or the heap not built (`end == 0`).
        // Below `end <= MAX_END`, rounding `size` up cannot overflow.
        if size.wrapping_sub(1) >= self.raw.end() {
            return None;
        }
        let block = ((size + WORD + FLAGS) & !FLAGS).max(MIN_BLOCK);
        let (payload, consumed) = if layout.align() <= GRANULE {
            let (fl, sl) = self.list_for(block, block, GRANULE)?;
            let span = self.pop(fl, sl)?;
            self.split_used(span, block, 0, 0, size)?
        } else {
            if layout.align() > max_align {
                return None;
            }
            self.allocate_aligned(block, size, layout.align())?
        };
        Some(Carved { payload, consumed })
    }

    /// Why `try_allocate` refused `layout`.
    #[cold]
    #[inline(never)]
    fn refusal_of(&self, layout: Layout, max_align: usize) -> AllocError {
        if let Err(error) = crate::allocator::check_request(layout, max_align) {
            return error;
        }
        let size = layout.size();
        let end = self.raw.end();
        let Some(block) = Tlsf::block_size(size) else {
            return AllocError::SizeOverflow { size };
        };
        if block > end {
            return AllocError::TooLarge {
                size,
                max: end.saturating_sub(WORD),
            };
        }
        AllocError::OutOfMemory {
            size,
            largest_free: self.largest_free(),
        }
    }

    /// [`try_allocate`](Self::try_allocate) for alignments above the
    /// granule; returns the payload and the bytes consumed.
    #[inline]
    fn allocate_aligned(
        &mut self,
        block: usize,
        size: usize,
        align: usize,
    ) -> Option<(NonNull<u8>, usize)> {
        // Most free blocks are larger than asked for, so a block found for
        // the unpadded size usually fits once aligned too; it is taken when
        // it does, and only otherwise is the padded size searched for. This
        // keeps small alignments from pushing requests into larger classes.
        let (fl, sl) = list_holding(block);
        let fits = self.find_from(fl, sl).filter(|&(fl, sl)| {
            self.raw
                .listed(self.heads[fl][sl])
                .is_some_and(|head| self.gap(head.block(), align) + block <= head.size())
        });
        let (fl, sl) = match fits {
            Some(list) => list,
            // Any block of `need` bytes holds `block` at an aligned payload.
            // No overflow: `block <= end + GRANULE` and `align <= region
            // length`, both far below `usize::MAX / 2`.
            None => self.list_for(block + (align - GRANULE), block, align)?,
        };
        let span = self.pop(fl, sl)?;
        let gap = self.gap(span.block(), align);
        if gap >= MIN_BLOCK {
            // The gap becomes a free block of its own.
            let (front, rest) = span.split(gap).ok()?;
            self.raw.write_free(front);
            self.insert(front);
            self.split_used(rest, block, 0, PREV_FREE, size)
        } else {
            self.split_used(span, block, gap, 0, size)
        }
    }

    /// A list whose head holds `need` bytes (the good-fit search), or
    /// failing that `need`'s own list if its head holds `block` once
    /// aligned to `align`.
    #[inline]
    fn list_for(&self, need: usize, block: usize, align: usize) -> Option<(usize, usize)> {
        let (fl, sl) = list_holding(need);
        let (fl, sl) = self
            .find_from(fl, sl)
            .or_else(|| self.own_list_head(need, block, align))?;
        // SAFETY: both searches return a list in range (`own_list_head`
        // looks its list up with `get`).
        unsafe { core::hint::assert_unchecked(fl < FL_COUNT && sl < SL_COUNT) };
        Some((fl, sl))
    }

    /// Bytes in front of the payload of a block placed at `block` that
    /// alignment to `align` needs.
    #[inline]
    fn gap(&self, block: Block, align: usize) -> usize {
        self.raw
            .base()
            .addr()
            .get()
            .wrapping_add(block.off() + WORD)
            .wrapping_neg()
            & (align - 1)
    }

    /// Makes a used block of `inner_gap + block` bytes at the start of the
    /// unlinked free `span`, returning the rest to a list (or to the block,
    /// when too small for one), for a request of `requested` bytes; returns
    /// the payload and the bytes consumed.
    #[inline]
    fn split_used(
        &mut self,
        span: Span,
        block: usize,
        inner_gap: usize,
        prev_flag: usize,
        requested: usize,
    ) -> Option<(NonNull<u8>, usize)> {
        let used = match span.split(inner_gap + block) {
            Ok((used, tail)) => {
                // The block after the tail keeps its PREV_FREE flag.
                self.raw.write_free(tail);
                self.insert(tail);
                used
            }
            Err(whole) => {
                // The list search found a block of at least this much.
                debug_assert!(whole.size() >= inner_gap + block);
                // Too small to split: the next block's predecessor is used.
                self.raw.set_prev_free_after(whole, false);
                whole
            }
        };
        let taken = used.size();
        let slack = taken - WORD - inner_gap - requested;
        let mut flags = prev_flag;
        let marker = if inner_gap != 0 {
            self.raw.write_marker(used, inner_gap)?
        } else {
            used.head()
        };
        if slack != 0 {
            // The block's last byte, after the requested bytes.
            debug_assert!(slack <= u8::MAX as usize);
            flags |= SLACK;
            self.raw.set_last_byte(used, slack as u8);
        }
        self.raw.write_used(used, flags);
        Some((self.raw.payload_after(marker), taken))
    }

    // --- free ---

    /// Frees the block whose payload is at offset `payload`, which comes
    /// from the caller's pointer: any value with `payload - WORD < end`.
    #[inline(always)]
    fn free(&mut self, payload: usize) -> Result<Released, AllocError> {
        let Some(block) = self.used_block(payload) else {
            return Err(self.refusal(payload));
        };
        #[cfg(debug_assertions)]
        if !self.neighbours_plausible(block) {
            return Err(AllocError::ForeignPointer);
        }
        Ok(self.release(block))
    }

    /// The used block whose payload is at `payload` (with `payload - WORD <
    /// end`), if its header (behind an alignment marker, if any) is a used
    /// block's that fits in the region: the O(1) checks `free` always
    /// makes.
    #[inline(always)]
    fn used_block(&self, payload: usize) -> Option<UsedBlock> {
        let marker = self.raw.at(payload - WORD)?;
        let mut header = self.raw.word(marker);
        let mut off = marker.off();
        let mut inner_gap = 0;
        if header & USED == 0 {
            // An alignment marker (PREV_FREE, the gap in the size bits): the
            // header is `gap` bytes before it. Anything else is refused.
            inner_gap = header & !FLAGS;
            if header & PREV_FREE == 0
                || inner_gap == 0
                || inner_gap >= MIN_BLOCK
                || inner_gap > off
            {
                return None;
            }
            off -= inner_gap;
            header = self.raw.word(self.raw.at(off)?);
            if header & USED == 0 {
                return None;
            }
        }
        let size = header & !FLAGS;
        if size <= WORD + inner_gap {
            return None;
        }
        Some(UsedBlock {
            span: self.raw.span(off, size)?,
            header,
            inner_gap,
        })
    }

    /// Why `free` refused `payload`: a double free when the pointer leads
    /// to a block that is free now, else a foreign pointer.
    #[cold]
    #[inline(never)]
    fn refusal(&self, payload: usize) -> AllocError {
        let Some(at) = self.raw.at(payload - WORD) else {
            return AllocError::ForeignPointer;
        };
        let header = self.raw.word(at);
        let gap = header & !FLAGS;
        let mut off = at.off();
        if header & (USED | PREV_FREE) == PREV_FREE && gap != 0 && gap < MIN_BLOCK && gap <= off {
            off -= gap;
        }
        let Some(at) = self.raw.at(off) else {
            return AllocError::ForeignPointer;
        };
        let header = self.raw.word(at);
        let size = header & !FLAGS;
        // Headers of blocks that were freed (and perhaps merged) keep a
        // plausible size with no flags.
        let freed = header & FLAGS == 0 && size >= MIN_BLOCK && size <= self.raw.end() - off;
        if freed || self.in_freed_gap_block(payload) {
            AllocError::DoubleFree
        } else {
            AllocError::ForeignPointer
        }
    }

    /// Whether `payload` was an aligned payload behind a gap marker in a
    /// block that is now free: the marker may have been overwritten by the
    /// free block's links, so the few offsets a gap header can have are
    /// probed for a free header. Only runs for refused pointers.
    fn in_freed_gap_block(&self, payload: usize) -> bool {
        let end = self.raw.end();
        if payload >= end || payload < WORD {
            return false;
        }
        (GRANULE..MIN_BLOCK).step_by(GRANULE).any(|gap| {
            let Some(at) = (payload - WORD)
                .checked_sub(gap)
                .and_then(|off| self.raw.at(off))
            else {
                return false;
            };
            let header = self.raw.word(at);
            let size = header & !FLAGS;
            header & FLAGS == 0
                && size >= MIN_BLOCK
                && size <= end - at.off()
                && at.off() + size > payload
        })
    }

    /// Debug builds only: whether the neighbours of the used `block` are
    /// what a block `allocate` returned has: a next header without
    /// PREV_FREE, free neighbours whose tags and list links are in range,
    /// and a slack count inside the block. Release builds trust the
    /// caller's contract for a block that passed `used_block`.
    #[cfg(debug_assertions)]
    fn neighbours_plausible(&self, used: UsedBlock) -> bool {
        let UsedBlock {
            span,
            header,
            inner_gap,
        } = used;
        let size = span.size();
        let next = span.after();
        let next_header = self.raw.word(next);
        if next_header & PREV_FREE != 0
            || (next_header & USED == 0 && self.checked_free(next).is_none())
        {
            return false;
        }
        if header & SLACK != 0 {
            let slack = self.raw.last_byte(span) as usize;
            if slack == 0 || slack >= size - WORD - inner_gap {
                return false;
            }
        }
        if header & PREV_FREE != 0 {
            let off = span.block().off();
            let Some(tag) = off.checked_sub(WORD).and_then(|tag| self.raw.at(tag)) else {
                return false;
            };
            let prev_size = self.raw.word(tag);
            return prev_size <= off
                && self
                    .raw
                    .at(off - prev_size)
                    .and_then(|prev| self.checked_free(prev))
                    .is_some_and(|prev| prev.span.size() == prev_size);
        }
        true
    }

    /// Frees the used block, merging it with its free neighbours. Release
    /// builds trust its neighbours: it came from `allocate` (the caller's
    /// contract), and debug builds have checked them.
    #[inline(always)]
    fn release(&mut self, used: UsedBlock) -> Released {
        let UsedBlock {
            span,
            header,
            inner_gap,
        } = used;
        let size = span.size();
        let slack = if header & SLACK != 0 {
            self.raw.last_byte(span) as usize
        } else {
            0
        };
        let released = Released {
            requested: size - WORD - inner_gap - slack,
            consumed: size,
        };

        let mut merged = span;
        let next_header = self.raw.word(span.after());
        if next_header & USED == 0 {
            // A free successor (the end marker is used).
            let (with_next, next) = self.raw.take_next(merged, next_header);
            self.unlink(next, next_header);
            merged = with_next;
        }
        if header & PREV_FREE != 0 {
            let (with_prev, prev, prev_size) = self.raw.take_prev(merged);
            self.unlink(prev, prev_size);
            merged = with_prev;
            self.raw.mark_freed(span);
        }
        self.raw.write_free(merged);
        // After a merged successor, the next block is flagged already.
        if next_header & USED != 0 {
            self.raw.set_prev_free_after(merged, true);
        }
        self.insert(merged);
        released
    }

    // --- inspection ---

    /// The payload of the head of the highest non-empty list: what
    /// `allocate` serves at most right now.
    fn largest_free(&self) -> usize {
        if self.fl_bitmap == 0 {
            return 0;
        }
        let fl = self.fl_bitmap.ilog2() as usize;
        let sl = self.sl_bitmap[fl].ilog2() as usize;
        self.raw
            .listed(self.heads[fl][sl])
            .map_or(0, |head| head.size() - WORD)
    }

    fn check(&self, counters: &Counters) -> Result<(), InvariantViolation> {
        let fail = |what, offset| Err(InvariantViolation { what, offset });
        let end = self.raw.end();
        let mut off = 0;
        let mut prev_free = false;
        let (mut used, mut live, mut free_blocks) = (0, 0, 0);
        while off < end {
            // `off < end` is granule-aligned: sizes are multiples.
            let Some(at) = self.raw.at(off) else {
                return fail("block offset misaligned", off);
            };
            let header = self.raw.word(at);
            let size = header & !FLAGS;
            if size < MIN_BLOCK || size > end - off {
                return fail("block size out of range", off);
            }
            if (header & PREV_FREE != 0) != prev_free {
                return fail("previous-free flag disagrees with the previous block", off);
            }
            if header & USED != 0 {
                used += size;
                live += 1;
                prev_free = false;
            } else {
                if prev_free {
                    return fail("two adjacent free blocks (missed coalescing)", off);
                }
                if header & FLAGS != 0 {
                    return fail("free block with flags", off);
                }
                let tag = self.raw.at(off + size - WORD).map(|tag| self.raw.word(tag));
                if tag != Some(size) {
                    return fail("boundary tag differs from the header", off);
                }
                if !self
                    .checked_free(at)
                    .is_some_and(|block| self.is_linked(&block))
                {
                    return fail("free block missing from its list", off);
                }
                free_blocks += 1;
                prev_free = true;
            }
            off += size;
        }
        if end != 0 {
            let Some(marker) = self.raw.end_marker().map(|at| self.raw.word(at)) else {
                return fail("end marker misaligned", end);
            };
            if marker & !PREV_FREE != USED || (marker & PREV_FREE != 0) != prev_free {
                return fail("end marker corrupted", end);
            }
        }
        if used != counters.used || used > counters.peak {
            return fail("used bytes differ from the used blocks", 0);
        }
        if live != counters.live {
            return fail("live count differs from the used blocks", 0);
        }
        if counters.requested > counters.used {
            return fail("requested bytes exceed used bytes", 0);
        }
        let mut listed = 0;
        for fl in 0..FL_COUNT {
            if ((self.fl_bitmap >> fl) & 1 != 0) != (self.sl_bitmap[fl] != 0) {
                return fail("first-level bitmap disagrees with the second level", fl);
            }
            for sl in 0..SL_COUNT {
                let mut link = self.heads[fl][sl];
                if ((self.sl_bitmap[fl] >> sl) & 1 != 0) != (link != Link::NIL) {
                    return fail(
                        "second-level bitmap disagrees with the list",
                        link.get() as usize,
                    );
                }
                while link != Link::NIL {
                    listed += 1;
                    let block = self.raw.block(link.get() as usize);
                    let Some(block) = block.filter(|_| listed <= free_blocks) else {
                        return fail(
                            "free list holds a block the heap walk did not find",
                            link.get() as usize,
                        );
                    };
                    let Some(header) = self.raw.at(block.off()).map(|at| self.raw.word(at)) else {
                        return fail("free list link misaligned", block.off());
                    };
                    if header & USED != 0 || class_of(header & !FLAGS) != (fl, sl) {
                        return fail("free list holds a used or misfiled block", block.off());
                    }
                    link = self.raw.links(block).0;
                }
            }
        }
        if listed != free_blocks {
            return fail("free lists hold fewer blocks than the heap walk", 0);
        }
        Ok(())
    }
}
