//! The TLSF algorithm behind the lock: free lists, allocation, free and
//! the invariant walk.

use core::alloc::Layout;
use core::ptr::NonNull;

use super::classes::{FL_COUNT, SL_COUNT, class_of, list_holding, list_of};
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

    fn allocate(&mut self, layout: Layout, max_align: usize) -> Result<Carved, AllocError> {
        match self.try_allocate(layout, max_align) {
            Some(carved) => Ok(carved),
            None => Err(self.refusal_of(layout, max_align)),
        }
    }

    #[inline(always)]
    fn try_allocate(&mut self, layout: Layout, max_align: usize) -> Option<Carved> {
        self.try_allocate(layout, max_align)
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<Released, AllocError> {
        let payload = ptr.as_ptr().addr().wrapping_sub(self.base.addr());
        // Before the first use `end` is 0, so every pointer is refused here
        // and the wrapper builds the heap and asks again.
        if payload.wrapping_sub(WORD) < self.end {
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
/// Blocks are addressed by the offset of their header from `base`. Block
/// layout (offsets relative to the header):
///
/// ```text
/// used: [size | flags][marker, if aligned inside][payload ........][slack?]
/// free: [size | 0    ][next: u32][prev: u32] ........... [size (tag)]
/// ```
pub(crate) struct State {
    /// The first block header; null until `init`.
    base: *mut u8,
    /// Offset of the end marker (a used, zero-sized header) = capacity.
    end: usize,
    /// Bit `fl` set: `sl_bitmap[fl] != 0`.
    fl_bitmap: u32,
    /// Bit `sl` of `sl_bitmap[fl]` set: `heads[fl][sl] != NIL`.
    sl_bitmap: [u32; FL_COUNT],
    heads: [[Link; SL_COUNT]; FL_COUNT],
}

/// A block `free` has found behind a payload pointer.
#[derive(Clone, Copy)]
struct UsedBlock {
    /// The header offset.
    off: usize,
    header: usize,
    /// Bytes between the header and the payload's alignment marker.
    inner_gap: usize,
}

/// A free block and where its list holds it.
#[derive(Clone, Copy)]
struct Listed {
    off: usize,
    /// Read only by the neighbour checks of debug builds.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    size: usize,
    fl: usize,
    sl: usize,
}

// SAFETY: `base` points into the region owned by the `Tlsf`, which may be
// used from any thread; the lock serialises every access through it.
unsafe impl Send for State {}

impl State {
    const_fn! {
        pub(super) fn new() -> Self {
            Self {
                base: core::ptr::null_mut(),
                end: 0,
                fl_bitmap: 0,
                sl_bitmap: [0; FL_COUNT],
                heads: [[NIL; SL_COUNT]; FL_COUNT],
            }
        }
    }

    /// Lays out one free block over the whole region and the end marker.
    #[cold]
    fn init(&mut self, memory: &RawMemory) {
        let (lead, end) = geometry(memory);
        // `wrapping_add`: for a region too small to hold any block, `lead`
        // may point past it; nothing is accessed then.
        self.base = memory.as_ptr().wrapping_add(lead);
        if self.base.is_null() {
            // Only a zero-length region at address 0 – 15 gets here; it
            // has no capacity, and a dangling non-null base keeps `init`
            // from running again.
            self.base = NonNull::dangling().as_ptr();
            return;
        }
        self.end = end;
        if end == 0 {
            return;
        }
        // SAFETY: `geometry` proved `lead + end + WORD <= memory.len()`;
        // offsets 0 (header), `end - WORD` (tag) and `end` (marker) are
        // word-aligned words inside it.
        unsafe {
            self.set_word(0, end);
            self.set_word(end - WORD, end);
            self.set_word(end, USED | PREV_FREE);
        }
        self.insert(0, end);
    }

    // --- raw access; every offset is in `0..=end` and word-aligned ---

    /// # Safety
    /// `off` is word-aligned and `off <= self.end` (the end marker is the
    /// last word).
    #[inline]
    unsafe fn word(&self, off: usize) -> usize {
        // SAFETY: per the contract the word lies inside the region, which
        // is valid for reads, and `base + off` is word-aligned because
        // `base + WORD` is granule-aligned.
        unsafe { self.base.add(off).cast::<usize>().read() }
    }

    /// # Safety
    /// As for [`word`](Self::word), and no live block's payload is there.
    #[inline]
    unsafe fn set_word(&mut self, off: usize, value: usize) {
        // SAFETY: as for `word`; the region is valid for writes.
        unsafe { self.base.add(off).cast::<usize>().write(value) }
    }

    /// # Safety
    /// `off` is a free block's header offset (its links are inside it).
    #[inline]
    unsafe fn links(&self, off: usize) -> (Link, Link) {
        // SAFETY: a free block is at least `MIN_BLOCK` bytes, so both
        // `u32` links after its header lie inside it, 4-aligned.
        unsafe {
            let at = self.base.add(off + WORD).cast::<Link>();
            (at.read(), at.add(1).read())
        }
    }

    /// # Safety
    /// As for [`links`](Self::links).
    #[inline]
    unsafe fn set_next(&mut self, off: usize, next: Link) {
        // SAFETY: see `links`.
        unsafe { self.base.add(off + WORD).cast::<Link>().write(next) }
    }

    /// # Safety
    /// As for [`links`](Self::links).
    #[inline]
    unsafe fn set_prev(&mut self, off: usize, prev: Link) {
        // SAFETY: see `links`.
        unsafe { self.base.add(off + WORD).cast::<Link>().add(1).write(prev) }
    }

    // --- free lists ---

    /// Pushes the free block at `off` (of `size` bytes, header and tag
    /// already written) onto its list.
    #[inline]
    fn insert(&mut self, off: usize, size: usize) {
        let (fl, sl) = list_of(size);
        let head = self.heads[fl][sl];
        // SAFETY: `off` is a free block; `head`, when not NIL, is one too.
        unsafe {
            self.set_next(off, head);
            self.set_prev(off, NIL);
            if head != NIL {
                self.set_prev(head as usize, off as Link);
            }
        }
        self.heads[fl][sl] = off as Link;
        self.fl_bitmap |= 1 << fl;
        self.sl_bitmap[fl] |= 1 << sl;
    }

    /// Unlinks the listed free block of `size` bytes at `off`.
    #[inline]
    fn unlink(&mut self, off: usize, size: usize) {
        // SAFETY: `off` is a listed free block, and so are `next` and
        // `prev` when not NIL.
        let (next, prev) = unsafe { self.links(off) };
        // SAFETY: as above.
        unsafe {
            if next != NIL {
                self.set_prev(next as usize, prev);
            }
            if prev != NIL {
                self.set_next(prev as usize, next);
                return;
            }
        }
        // The list head: only now is its list needed.
        let (fl, sl) = list_of(size);
        debug_assert_eq!(self.heads[fl][sl] as usize, off);
        self.heads[fl][sl] = next;
        if next == NIL {
            self.sl_bitmap[fl] &= !(1 << sl);
            if self.sl_bitmap[fl] == 0 {
                self.fl_bitmap &= !(1 << fl);
            }
        }
    }

    /// The free block whose header is at `off` (a word-aligned offset below
    /// `end`), if its header is a free block's and its links point at
    /// blocks inside the region: what `free` checks of a neighbour before
    /// it unlinks it, so that even a forged header cannot make it write
    /// outside the region.
    #[inline]
    fn checked_free(&self, off: usize) -> Option<Listed> {
        // SAFETY: `off < end` is word-aligned.
        let size = unsafe { self.word(off) };
        if size & FLAGS != 0 || size < MIN_BLOCK || size > self.end - off {
            return None;
        }
        // SAFETY: the block is at least `MIN_BLOCK` bytes inside the region,
        // so its links are too.
        let (next, prev) = unsafe { self.links(off) };
        // NIL, or a block offset with room for links below `end`.
        let last = self.end - MIN_BLOCK;
        let valid =
            |link: Link| link == NIL || (link as usize & FLAGS == 0 && link as usize <= last);
        if !valid(next) || !valid(prev) {
            return None;
        }
        let (fl, sl) = list_of(size);
        Some(Listed { off, size, fl, sl })
    }

    /// Whether the free block `block` is where its links and its list say:
    /// linked from its predecessor (or the list head) and its successor.
    fn is_linked(&self, block: &Listed) -> bool {
        // SAFETY: `checked_free` produced `block`: its links are NIL or
        // in-region block offsets, whose links are in the region too.
        unsafe {
            let (next, prev) = self.links(block.off);
            (if prev == NIL {
                self.heads[block.fl][block.sl] as usize == block.off
            } else {
                self.links(prev as usize).0 as usize == block.off
            }) && (next == NIL || self.links(next as usize).1 as usize == block.off)
        }
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

    /// Unlinks the head of the non-empty list `(fl, sl)`; returns its
    /// offset and size.
    #[inline]
    fn pop(&mut self, fl: usize, sl: usize) -> (usize, usize) {
        let head = self.heads[fl][sl] as usize;
        debug_assert!(head != NIL as usize);
        // SAFETY: the list is non-empty, so `head` is a free block, and so
        // is its successor when not NIL.
        let (size, next) = unsafe { (self.word(head), self.links(head).0) };
        self.heads[fl][sl] = next;
        if next != NIL {
            // SAFETY: see above.
            unsafe { self.set_prev(next as usize, NIL) };
        } else {
            self.sl_bitmap[fl] &= !(1 << sl);
            if self.sl_bitmap[fl] == 0 {
                self.fl_bitmap &= !(1 << fl);
            }
        }
        (head, size)
    }

    #[cold]
    fn own_list_head(&self, need: usize, block: usize, align: usize) -> Option<(usize, usize)> {
        let (fl, sl) = class_of(need);
        let head = *self.heads.get(fl)?.get(sl)?;
        if head == NIL {
            return None;
        }
        let head = head as usize;
        // SAFETY: a list head is a free block below `end`.
        let size = unsafe { self.word(head) };
        (self.gap(head, align) + block <= size).then_some((fl, sl))
    }

    // --- allocation ---

    /// The common case of `allocate`: a payload for `layout`, or `None`
    /// for anything else (bad or too large requests, an exhausted heap, a
    /// heap not built yet), which [`allocate_slow`](Self::allocate_slow)
    /// then sorts out. Changes nothing when it returns `None`.
    #[inline(always)]
    fn try_allocate(&mut self, layout: Layout, max_align: usize) -> Option<Carved> {
        let size = layout.size();
        // Zero, larger than the heap, or the heap not built (`end == 0`).
        // Below `end <= MAX_END`, rounding `size` up cannot overflow.
        if size.wrapping_sub(1) >= self.end {
            return None;
        }
        let block = ((size + WORD + FLAGS) & !FLAGS).max(MIN_BLOCK);
        let (payload, consumed) = if layout.align() <= GRANULE {
            let (fl, sl) = self.list_for(block, block, GRANULE)?;
            let (off, room) = self.pop(fl, sl);
            self.split_used(off, room, block, 0, 0, size)
        } else {
            if layout.align() > max_align {
                return None;
            }
            self.allocate_aligned(block, size, layout.align())?
        };
        // SAFETY: `payload` is the offset of a block payload inside the
        // region that `base` points into; `base` is non-null once built,
        // and offsets stay in the region, which does not wrap.
        let payload = unsafe { NonNull::new_unchecked(self.base.add(payload)) };
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
        let Some(block) = Tlsf::block_size(size) else {
            return AllocError::SizeOverflow { size };
        };
        if block > self.end {
            return AllocError::TooLarge {
                size,
                max: self.end.saturating_sub(WORD),
            };
        }
        AllocError::OutOfMemory {
            size,
            largest_free: self.largest_free(),
        }
    }

    /// [`try_allocate`](Self::try_allocate) for alignments above the
    /// granule.
    #[inline]
    fn allocate_aligned(
        &mut self,
        block: usize,
        size: usize,
        align: usize,
    ) -> Option<(usize, usize)> {
        // Most free blocks are larger than asked for, so a block found for
        // the unpadded size usually fits once aligned too; it is taken when
        // it does, and only otherwise is the padded size searched for. This
        // keeps small alignments from pushing requests into larger classes.
        let (fl, sl) = list_holding(block);
        let fits = self.find_from(fl, sl).filter(|&(fl, sl)| {
            let head = self.heads[fl][sl] as usize;
            // SAFETY: a list head is a free block below `end`.
            self.gap(head, align) + block <= unsafe { self.word(head) }
        });
        let (fl, sl) = match fits {
            Some(list) => list,
            // Any block of `need` bytes holds `block` at an aligned payload.
            // No overflow: `block <= end + GRANULE` and `align <= region
            // length`, both far below `usize::MAX / 2`.
            None => self.list_for(block + (align - GRANULE), block, align)?,
        };
        let (off, room) = self.pop(fl, sl);
        let gap = self.gap(off, align);
        Some(if gap >= MIN_BLOCK {
            // The gap becomes a free block of its own.
            // SAFETY: `off..off + gap` lies in the unlinked free block.
            unsafe {
                self.set_word(off, gap);
                self.set_word(off + gap - WORD, gap);
            }
            self.insert(off, gap);
            self.split_used(off + gap, room - gap, block, 0, PREV_FREE, size)
        } else {
            self.split_used(off, room, block, gap, 0, size)
        })
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

    /// Bytes in front of the payload of a block placed at `off` that
    /// alignment to `align` needs.
    #[inline]
    fn gap(&self, off: usize, align: usize) -> usize {
        self.base.addr().wrapping_add(off + WORD).wrapping_neg() & (align - 1)
    }

    /// Makes a used block of `inner_gap + block` bytes at the start of the
    /// unlinked free space `start..start + room`, returning the rest to a
    /// list (or to the block, when too small for one), for a request of
    /// `requested` bytes; returns the payload offset and the bytes consumed.
    #[inline]
    fn split_used(
        &mut self,
        start: usize,
        room: usize,
        block: usize,
        inner_gap: usize,
        prev_flag: usize,
        requested: usize,
    ) -> (usize, usize) {
        let wanted = inner_gap + block;
        let rest = room - wanted;
        let taken = if rest >= MIN_BLOCK {
            let tail = start + wanted;
            // SAFETY: `tail..start + room` lies in the unlinked free space;
            // the block after it keeps its PREV_FREE flag.
            unsafe {
                self.set_word(tail, rest);
                self.set_word(tail + rest - WORD, rest);
            }
            self.insert(tail, rest);
            wanted
        } else {
            // SAFETY: `start + room <= end` is the next block's header
            // (or the end marker); its predecessor is now used.
            unsafe {
                let next = self.word(start + room);
                self.set_word(start + room, next & !PREV_FREE);
            }
            room
        };
        let payload = start + WORD + inner_gap;
        let slack = taken - WORD - inner_gap - requested;
        let mut header = taken | USED | prev_flag;
        // SAFETY: the marker word sits just before the payload, after the
        // header (`inner_gap >= GRANULE`); the slack byte is the block's
        // last byte, after the requested bytes (`slack >= 1`).
        unsafe {
            if inner_gap != 0 {
                self.set_word(payload - WORD, inner_gap | PREV_FREE);
            }
            if slack != 0 {
                debug_assert!(slack <= u8::MAX as usize);
                header |= SLACK;
                self.base.add(start + taken - 1).write(slack as u8);
            }
            self.set_word(start, header);
        }
        (payload, taken)
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
    /// makes. Reads only words inside the region.
    #[inline(always)]
    fn used_block(&self, payload: usize) -> Option<UsedBlock> {
        let mut off = payload - WORD;
        if off & FLAGS != 0 {
            return None;
        }
        // SAFETY: `off < end`, granule-aligned.
        let mut header = unsafe { self.word(off) };
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
            // SAFETY: `off` is still below `end` and granule-aligned.
            header = unsafe { self.word(off) };
            if header & USED == 0 {
                return None;
            }
        }
        let size = header & !FLAGS;
        if size < MIN_BLOCK || size > self.end - off || size <= WORD + inner_gap {
            return None;
        }
        Some(UsedBlock {
            off,
            header,
            inner_gap,
        })
    }

    /// Why `free` refused `payload`: a double free when the pointer leads
    /// to a block that is free now, else a foreign pointer.
    #[cold]
    #[inline(never)]
    fn refusal(&self, payload: usize) -> AllocError {
        let mut off = payload - WORD;
        if off & FLAGS != 0 {
            return AllocError::ForeignPointer;
        }
        // SAFETY: `off < end`, granule-aligned.
        let header = unsafe { self.word(off) };
        let gap = header & !FLAGS;
        if header & (USED | PREV_FREE) == PREV_FREE && gap != 0 && gap < MIN_BLOCK && gap <= off {
            off -= gap;
        }
        // SAFETY: `off` is still below `end` and granule-aligned.
        let header = unsafe { self.word(off) };
        let size = header & !FLAGS;
        // Headers of blocks that were freed (and perhaps merged) keep a
        // plausible size with no flags.
        let freed = header & FLAGS == 0 && size >= MIN_BLOCK && size <= self.end - off;
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
        if payload >= self.end || payload < WORD || (payload - WORD) & FLAGS != 0 {
            return false;
        }
        (GRANULE..MIN_BLOCK).step_by(GRANULE).any(|gap| {
            let Some(off) = (payload - WORD).checked_sub(gap) else {
                return false;
            };
            // SAFETY: `off < payload < end`, granule-aligned.
            let header = unsafe { self.word(off) };
            let size = header & !FLAGS;
            header & FLAGS == 0
                && size >= MIN_BLOCK
                && size <= self.end - off
                && off + size > payload
        })
    }

    /// Debug builds only: whether the neighbours of the used `block` are
    /// what a block `allocate` returned has: a next header without
    /// PREV_FREE, free neighbours whose tags and list links are in range,
    /// and a slack count inside the block. Release builds trust the
    /// caller's contract for a block that passed `used_block`.
    #[cfg(debug_assertions)]
    fn neighbours_plausible(&self, block: UsedBlock) -> bool {
        let UsedBlock {
            off,
            header,
            inner_gap,
        } = block;
        let size = header & !FLAGS;
        let next = off + size;
        // SAFETY: `next <= end`, granule-aligned: a header or the marker.
        let next_header = unsafe { self.word(next) };
        if next_header & PREV_FREE != 0
            || (next_header & USED == 0 && self.checked_free(next).is_none())
        {
            return false;
        }
        if header & SLACK != 0 {
            // SAFETY: the block's last byte, inside the region.
            let slack = unsafe { self.base.add(next - 1).read() } as usize;
            if slack == 0 || slack >= size - WORD - inner_gap {
                return false;
            }
        }
        if header & PREV_FREE != 0 {
            if off < MIN_BLOCK {
                return false;
            }
            // SAFETY: `WORD <= off < end`.
            let prev_size = unsafe { self.word(off - WORD) };
            return prev_size <= off
                && self
                    .checked_free(off - prev_size)
                    .is_some_and(|prev| prev.size == prev_size);
        }
        true
    }

    /// Frees the used `block`, merging it with its free neighbours. Release
    /// builds trust its neighbours: it came from `allocate` (the caller's
    /// contract), and debug builds have checked them.
    #[inline(always)]
    fn release(&mut self, block: UsedBlock) -> Released {
        let UsedBlock {
            off,
            header,
            inner_gap,
        } = block;
        let size = header & !FLAGS;
        let next = off + size;
        let slack = if header & SLACK != 0 {
            // SAFETY: the block's last byte, inside the region.
            (unsafe { self.base.add(next - 1).read() }) as usize
        } else {
            0
        };
        let released = Released {
            requested: size - WORD - inner_gap - slack,
            consumed: size,
        };

        let mut start = off;
        let mut merged = size;
        // SAFETY: `next <= end`, granule-aligned: a header or the marker.
        let next_header = unsafe { self.word(next) };
        if next_header & USED == 0 {
            // A free successor: the end marker is used, so `next < end`.
            self.unlink(next, next_header);
            merged += next_header;
        }
        if header & PREV_FREE != 0 {
            // SAFETY: a block with a free predecessor is not the first, and
            // the predecessor's boundary tag is the word before it.
            let prev_size = unsafe { self.word(off - WORD) };
            start = off - prev_size;
            self.unlink(start, prev_size);
            merged += prev_size;
            // SAFETY: the old header, now inside the merged free block, is
            // marked free so a second `free` of it is recognised.
            unsafe { self.set_word(off, size) };
        }
        let after = start + merged;
        // SAFETY: `start..after` is the merged free block; `after <= end`
        // is the next header or the end marker.
        unsafe {
            self.set_word(start, merged);
            self.set_word(after - WORD, merged);
            // After a merged successor, the next block is flagged already.
            if next_header & USED != 0 {
                self.set_word(next, next_header | PREV_FREE);
            }
        }
        self.insert(start, merged);
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
        let head = self.heads[fl][sl] as usize;
        // SAFETY: a list head is a free block below `end`.
        (unsafe { self.word(head) } & !FLAGS) - WORD
    }

    fn check(&self, counters: &Counters) -> Result<(), InvariantViolation> {
        let fail = |what, offset| Err(InvariantViolation { what, offset });
        let mut off = 0;
        let mut prev_free = false;
        let (mut used, mut live, mut free_blocks) = (0, 0, 0);
        while off < self.end {
            // SAFETY: `off < end`, granule-aligned (sizes are multiples).
            let header = unsafe { self.word(off) };
            let size = header & !FLAGS;
            if size < MIN_BLOCK || size > self.end - off {
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
                // SAFETY: the tag is the block's last word, inside it.
                if unsafe { self.word(off + size - WORD) } != size {
                    return fail("boundary tag differs from the header", off);
                }
                if !self
                    .checked_free(off)
                    .is_some_and(|block| self.is_linked(&block))
                {
                    return fail("free block missing from its list", off);
                }
                free_blocks += 1;
                prev_free = true;
            }
            off += size;
        }
        if self.end != 0 {
            // SAFETY: the end marker is the word at `end`.
            let marker = unsafe { self.word(self.end) };
            if marker & !PREV_FREE != USED || (marker & PREV_FREE != 0) != prev_free {
                return fail("end marker corrupted", self.end);
            }
        }
        if used != counters.used || used > counters.peak {
            return fail("used bytes differ from the used blocks", 0);
        }
        if live != counters.live() {
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
                let mut block = self.heads[fl][sl];
                if ((self.sl_bitmap[fl] >> sl) & 1 != 0) != (block != NIL) {
                    return fail(
                        "second-level bitmap disagrees with the list",
                        block as usize,
                    );
                }
                while block != NIL {
                    listed += 1;
                    if listed > free_blocks
                        || block as usize >= self.end
                        || block as usize & FLAGS != 0
                    {
                        return fail(
                            "free list holds a block the heap walk did not find",
                            block as usize,
                        );
                    }
                    // SAFETY: `block` is a granule-aligned offset below `end`.
                    let header = unsafe { self.word(block as usize) };
                    if header & USED != 0 || class_of(header & !FLAGS) != (fl, sl) {
                        return fail("free list holds a used or misfiled block", block as usize);
                    }
                    // SAFETY: a free block of at least `MIN_BLOCK` bytes
                    // (the walk checked every free block's size).
                    block = unsafe { self.links(block as usize) }.0;
                }
            }
        }
        if listed != free_blocks {
            return fail("free lists hold fewer blocks than the heap walk", 0);
        }
        Ok(())
    }
}
