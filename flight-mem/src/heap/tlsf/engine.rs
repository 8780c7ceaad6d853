//! The TLSF algorithm behind the lock: free lists, allocation and free;
//! the invariant walk is in `check`.

mod check;
mod refusal;

use core::alloc::Layout;
use core::ptr::NonNull;

use super::classes::{
    FL_COUNT, LISTS, SEARCH_CLASSES, SL_COUNT, SL_LOG2, class_of, class_of_flat, list_holding,
    list_of,
};
use super::raw::{At, Region, Span};
use super::*;
use crate::heap::locked::{Carved, HeapEngine, Locked, Released};
use crate::stats::Counters;
use crate::{AllocError, AllocatorKind, InvariantViolation, RawMemory};

// SAFETY: `try_allocate` returns payloads inside the region, of at least
// the requested size, aligned as asked, inside a block marked used that no
// other live block overlaps (blocks partition the region); a used block is
// only written by `free` after validation, and only beyond the requested
// bytes (the slack byte, on 32-bit targets) otherwise. Before `init`, `end` is 0: every
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

    fn init(&mut self, memory: &RawMemory, max_align: usize) {
        self.max_align = max_align;
        self.init(memory);
    }

    fn allocate(&mut self, layout: Layout, max_align: usize) -> Result<Carved, AllocError> {
        if let Some(carved) = self.try_allocate(layout, max_align) {
            return Ok(carved);
        }
        // The hot path's good-fit search found no list (or the request is
        // refused): the head of the request's own list may still hold it.
        // Only here, on the wrapper's slow path, so that the hot functions
        // make no call (no stack alignment, no spills around it).
        let size = layout.size();
        if let Some(block) = self.block_for(size)
            && let Some(carved) =
                self.allocate_from_own_list(block, size, layout.align().max(GRANULE))
        {
            return Ok(carved);
        }
        Err(self.refusal_of(layout, max_align))
    }

    // The hot paths are one out-of-line call each, with the whole O(1)
    // operation inlined into it and the lock at the call site: an
    // allocation returns in two registers (the wrapper counts the result
    // next to the lock), `free_counted` counts inside (a `Released` and its
    // refusal would come back through memory). One allocation function
    // for every alignment: a choice between a granular and an aligned
    // function at the call site (as sessions 5 to 7 had it) saved 3.4
    // instructions per operation on workload 3, but its branch, on a
    // random alignment, was 0.20 mispredicted branches per operation
    // (cachegrind), and the time was 3 % worse (`report w3-ab`).
    #[inline(always)]
    fn try_allocate(&mut self, layout: Layout, _: usize) -> Option<Carved> {
        // The largest alignment is the copy `init` stored (an allocation
        // before `init` is refused by the size check first): one argument
        // less to load at each call site. The alignment goes as its mask
        // (`align - 1`, one `lea` at the call site, where `max(GRANULE)`
        // took a compare, a constant and a `cmov`): the search pads by the
        // mask's granule part and the gap is the mask's bits of the
        // address, both the same for every alignment up to the granule.
        self.allocate_call(layout.size(), layout.align() - 1)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<Released, AllocError> {
        let payload = self.payload_offset(ptr);
        // Before the first use `end` is 0, so every pointer is refused here
        // and the wrapper builds the heap and asks again.
        if payload.wrapping_sub(WORD) < self.region.end() {
            self.free(ptr, payload)
        } else {
            Err(AllocError::ForeignPointer)
        }
    }

    #[inline(never)]
    unsafe fn free_counted(state: &mut Locked<Self>, ptr: NonNull<u8>) -> bool {
        let Locked {
            engine, counters, ..
        } = state;
        engine.free_counted_in(ptr, counters)
    }

    fn largest_free(&self) -> usize {
        self.largest_free()
    }

    fn check(&self, counters: &Counters, _: usize) -> Result<(), InvariantViolation> {
        self.check(counters)
    }
}

impl State {
    /// [`HeapEngine::free_counted`]: the O(1) checks, the counters, the
    /// merges.
    #[inline(always)]
    fn free_counted_in(&mut self, ptr: NonNull<u8>, counters: &mut Counters) -> bool {
        let Some(block) = self.used_block(ptr) else {
            return false;
        };
        #[cfg(debug_assertions)]
        if !self.neighbours_plausible(block) {
            return false;
        }
        // Counted before the merges: the two figures are known from the
        // header, and once stored they no longer compete for registers
        // with the list work (which then needs fewer callee-saved ones).
        counters.freed(self.requested_of(block), block.span.size());
        self.release(block);
        true
    }
}

/// Everything behind the lock.
///
/// Blocks are addressed by the offset of their header from the region's
/// first header, typed by [`raw`]. Block layout (offsets
/// relative to the header):
///
/// ```text
/// used: [requested | size | flags][marker, if aligned inside][payload ....]
///       (64-bit: the requested size in the header's upper half)
/// used: [size | flags][marker?][payload ........][slack?]  (32-bit)
/// free: [size | 0    ][next: u32][prev: u32] ........... [size (tag)]
/// ```
pub(crate) struct State {
    region: Region,
    /// Bit `fl` set: `sl_bitmap[fl] != 0`.
    fl_bitmap: u32,
    /// Bit `sl` of `sl_bitmap[fl]` set: `heads[fl * SL_COUNT + sl] != NIL`.
    /// One word more than there are classes, always zero: the class a
    /// granular request's search starts in may be the one past the last
    /// (`SEARCH_CLASSES`), and a zero word finds nothing in it without a
    /// bound check (`find_in`). (Since every allocation takes one function,
    /// whose padded search checks its class in `find_from`, no hot path
    /// relies on it; kept, with `check`'s test of it, for a search that
    /// may skip the check again.)
    sl_bitmap: [u32; SEARCH_CLASSES],
    /// The list heads in size order (one index, so a list is one address
    /// computation from its number).
    heads: [Link; LISTS],
    /// The largest alignment served (the wrapper's configuration, stored
    /// by `init`; 0 before).
    max_align: usize,
}

/// A block `free` has found behind a payload pointer.
#[derive(Clone, Copy)]
struct UsedBlock {
    span: Span,
    header: usize,
    /// Bytes between the header and the payload's alignment marker: for
    /// the 32-bit requested-size record and debug builds' checks (64-bit
    /// headers record the requested size itself).
    #[cfg(any(debug_assertions, not(target_pointer_width = "64")))]
    inner_gap: usize,
}

/// A list that holds a block: made only where that is known (a set
/// bitmap bit in `find_from`, a head that is not NIL in `own_list_head`),
/// and used before the lists change (`pop` consumes it).
struct Found {
    list: usize,
}

/// A free block and where its list holds it.
#[derive(Clone, Copy)]
struct Listed {
    span: Span,
    list: usize,
}

// SAFETY: the region belongs to the `Tlsf`, which may be used from any
// thread; the lock serialises every access through it.
unsafe impl Send for State {}

impl State {
    const_fn! {
        pub(super) fn new() -> Self {
            Self {
                region: Region::empty(),
                fl_bitmap: 0,
                sl_bitmap: [0; SEARCH_CLASSES],
                heads: [NIL; LISTS],
                max_align: 0,
            }
        }
    }

    /// The offset of `ptr` from the first header (wrapping: any pointer).
    #[inline(always)]
    fn payload_offset(&self, ptr: NonNull<u8>) -> usize {
        ptr.as_ptr().addr().wrapping_sub(self.region.base().addr())
    }

    /// Lays out one free block over the whole region and the end marker.
    #[cold]
    fn init(&mut self, memory: &RawMemory) {
        let (lead, end) = geometry(memory);
        // `wrapping_add`: for a region too small to hold any block, `lead`
        // may point past it; nothing is accessed then. Only a zero-length
        // region at address 0 – 15 has a null first header; it has no
        // capacity either.
        let base = NonNull::new(memory.as_ptr().wrapping_add(lead)).unwrap_or(NonNull::dangling());
        // SAFETY: `geometry` proved `lead + end + WORD <= memory.len()`
        // with `base + WORD` granule-aligned and `end <= MAX_END` a granule
        // multiple, or returned `end == 0` (then nothing is accessed); the
        // `RawMemory` is this heap's alone.
        let Some(whole) = (unsafe { self.region.init(base, end) }) else {
            return;
        };
        self.region.set_word(whole.header(), end);
        self.region.set_word(whole.tag(), end);
        self.region.set_word(whole.after(), USED | PREV_FREE);
        self.insert(whole);
    }

    // --- free lists ---

    /// Pushes the free block `span` (header and tag already written) onto
    /// its list.
    #[inline]
    fn insert(&mut self, span: Span) {
        self.insert_in(span, span.list());
    }

    /// [`insert`](Self::insert) into `list`, which is `span.list()`.
    #[inline(always)]
    fn insert_in(&mut self, span: Span, list: usize) {
        debug_assert_eq!(list, span.list());
        // SAFETY: the caller's contract (`Span::list`'s bound).
        unsafe { core::hint::assert_unchecked(list < LISTS) };
        let head = self.heads[list];
        let block = span.block();
        self.region.set_links(block, head, NIL);
        self.heads[list] = block.link();
        if head != NIL {
            // SAFETY: a list head that is not NIL is a listed free block.
            let head = unsafe { self.region.linked(head) };
            self.region.set_prev(head, block.link());
        } else {
            // Only a list that was empty has its bitmap bits clear (a
            // list's bits are set while it holds a block): most inserts
            // (two in three on workload 3) skip the two read-modify-writes.
            self.mark(list);
        }
    }

    /// Sets the bitmap bits of `list`, which now holds a block.
    #[inline(always)]
    fn mark(&mut self, list: usize) {
        let fl = list >> SL_LOG2;
        // Second level first: LLVM then builds the two masks one after the
        // other in one register, where the other order kept both live
        // (a callee-saved register more in both allocation functions;
        // 0.9 instructions per operation on workload 3).
        self.sl_bitmap[fl] |= 1 << (list & (SL_COUNT - 1));
        self.fl_bitmap |= 1 << fl;
    }

    /// Clears the bitmap bits of `list`, which is now empty.
    #[inline(always)]
    fn unmark(&mut self, list: usize) {
        let fl = list >> SL_LOG2;
        self.sl_bitmap[fl] &= !(1 << (list & (SL_COUNT - 1)));
        if self.sl_bitmap[fl] == 0 {
            self.fl_bitmap &= !(1 << fl);
        }
    }

    /// Unlinks the listed free block `span`.
    #[inline]
    fn unlink(&mut self, span: Span) {
        let (next, prev) = self.region.links(span.block());
        if next != NIL {
            // SAFETY: a listed block's link that is not NIL is a listed
            // free block.
            let next = unsafe { self.region.linked(next) };
            self.region.set_prev(next, prev);
        }
        if prev != NIL {
            // SAFETY: as above.
            let prev = unsafe { self.region.linked(prev) };
            self.region.set_next(prev, next);
            return;
        }
        // The list head: only now is its list needed.
        let list = span.list();
        debug_assert_eq!(self.heads[list], span.block().link());
        self.heads[list] = next;
        if next == NIL {
            self.unmark(list);
        }
    }

    /// The free block whose header is at `at`, if its header is a free
    /// block's and its links point at blocks inside the region: what debug
    /// builds check of a neighbour before `free` unlinks it, and `check` of
    /// every free block, so that even a forged header cannot make them read
    /// or write outside the region.
    fn checked_free(&self, at: At) -> Option<Listed> {
        let size = self.region.word(at);
        if size & FLAGS != 0 {
            return None;
        }
        let span = self.region.span(at, size)?;
        let (next, prev) = self.region.links(span.block());
        let valid = |link: Link| link == NIL || self.region.link_block(link).is_some();
        if !valid(next) || !valid(prev) {
            return None;
        }
        Some(Listed {
            span,
            list: list_of(size),
        })
    }

    /// The list at or after `list` with a block, if any.
    #[inline]
    fn find_from(&self, list: usize) -> Option<Found> {
        if list >> SL_LOG2 >= FL_COUNT {
            return None;
        }
        self.find_in(list)
    }

    /// [`find_from`](Self::find_from) for a list whose class is at most
    /// `FL_COUNT`, the spare zero word of `sl_bitmap` (no class check: a
    /// search starting there finds nothing in its zero word, and no class
    /// above it in `fl_bitmap`, whose bits are below `FL_COUNT`).
    #[inline(always)]
    fn find_in(&self, list: usize) -> Option<Found> {
        let fl = list >> SL_LOG2;
        debug_assert!(fl < SEARCH_CLASSES);
        // SAFETY: the caller's contract (`find_from` checks it). Telling
        // the compiler spares the
        // bounds check of the bitmap read.
        unsafe { core::hint::assert_unchecked(fl < SEARCH_CLASSES) };
        // The class's lists from `list` on, shifted down to it: the first
        // set bit is the distance to the list found (a shift and an add,
        // no mask to build and no class start to recompute).
        let in_class = self.sl_bitmap[fl] >> (list & (SL_COUNT - 1));
        let list = if in_class != 0 {
            list + in_class.trailing_zeros() as usize
        } else {
            // A class change: 2 % of the searches on workload 3. Told so,
            // LLVM lays the in-class case out as the fall-through.
            core::hint::cold_path();
            // No overflow: `fl <= FL_COUNT < u32::BITS`.
            let above = self.fl_bitmap & ((u32::MAX << fl) << 1);
            if above == 0 {
                return None;
            }
            let fl = above.trailing_zeros() as usize;
            // SAFETY: `mark` sets only bits of lists below `LISTS`, so of
            // classes below `FL_COUNT`, and this bit is set. (Spares the
            // bounds check of the read below.)
            unsafe { core::hint::assert_unchecked(fl < FL_COUNT) };
            (fl << SL_LOG2) + self.sl_bitmap[fl].trailing_zeros() as usize
        };
        debug_assert!(list < LISTS);
        // SAFETY: bitmap bits are set only by `mark`, for the list of a
        // block (`Span::list`: below `LISTS`), and the bit found is set
        // (the spare word has none). Telling the compiler spares the
        // callers' bounds checks.
        unsafe { core::hint::assert_unchecked(list < LISTS) };
        // Its bit is set: the list holds a block.
        Some(Found { list })
    }

    /// The head of a list that holds a block.
    #[inline(always)]
    fn head(&self, list: &Found) -> Span {
        let head = self.heads[list.list];
        // SAFETY: a `Found` list is not empty (and the lists have not
        // changed since it was found: `pop` consumes it), so its head is a
        // listed free block.
        unsafe { self.region.listed(head) }
    }

    /// Unlinks the head of a list that holds a block.
    #[inline]
    fn pop(&mut self, list: Found) -> Span {
        let head = self.head(&list);
        let Found { list } = list;
        let next = self.region.links(head.block()).0;
        self.heads[list] = next;
        if next != NIL {
            // SAFETY: a listed block's link that is not NIL is a listed
            // free block.
            let next = unsafe { self.region.linked(next) };
            self.region.set_prev(next, NIL);
        } else {
            self.unmark(list);
        }
        head
    }

    #[cold]
    fn own_list_head(&self, need: usize, block: usize, align: usize) -> Option<Found> {
        let list = class_of(need);
        if *self.heads.get(list)? == NIL {
            return None;
        }
        // Its head is not NIL: the list holds a block.
        let list = Found { list };
        let head = self.head(&list);
        (self.gap(head.off(), align - 1) + block <= head.size()).then_some(list)
    }

    // --- allocation ---

    /// The common case of `allocate`, for every alignment (the granule's
    /// included: its gap is always 0): a payload of `size` bytes, or `None`
    /// for anything else (zero or too large requests, an exhausted heap, a
    /// heap not built yet, no good-fit list), which
    /// [`LockedHeap::allocate_slow`](crate::heap::locked::LockedHeap::allocate_slow)
    /// then sorts out. Changes nothing when it returns `None`.
    #[inline(never)]
    fn allocate_call(&mut self, size: usize, mask: usize) -> Option<Carved> {
        let block = self.block_for(size)?;
        // An alignment above `self.max_align` (so above the region length) is
        // refused in `allocate_from_own_list`: the search for `block +
        // align - GRANULE` bytes, more than the region holds, finds nothing
        // first. (One compare fewer on the common path.)
        // No list: `None`, and the slow path tries the own list.
        let (before_payload, consumed) = self.allocate_aligned(block, size, mask).ok()?;
        let payload = self.region.payload_after(before_payload);
        Some(Carved { payload, consumed })
    }

    /// The block size for a request of `size` bytes, or `None` when `size`
    /// is zero or larger than the heap, or the heap is not built (`end ==
    /// 0`).
    #[inline(always)]
    fn block_for(&self, size: usize) -> Option<usize> {
        // Rounding `size` up cannot overflow: `Layout` keeps it at most
        // `isize::MAX`. (`end <= MAX_END` would not do on 32-bit targets,
        // where `MAX_END` is `usize::MAX - 7`.)
        if size.wrapping_sub(1) >= self.region.end() {
            return None;
        }
        Some(((size + WORD + FLAGS) & !FLAGS).max(MIN_BLOCK))
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
        if block > self.region.end() {
            return AllocError::TooLarge {
                size,
                max: self.region.end().saturating_sub(WORD),
            };
        }
        AllocError::OutOfMemory {
            size,
            largest_free: self.largest_free(),
        }
    }

    /// The search and placement of
    /// [`allocate_call`](Self::allocate_call); `Err` when
    /// the good-fit search finds no list (then nothing has changed and the
    /// slow path tries `allocate_from_own_list`).
    #[inline(always)]
    fn allocate_aligned(
        &mut self,
        block: usize,
        size: usize,
        mask: usize,
    ) -> Result<(At, usize), ()> {
        // One good-fit search for the padded size: any block of `block +
        // align - GRANULE` bytes holds `block` at an aligned payload,
        // whatever its address.
        // (Trying the unpadded size first and checking the head's gap kept
        // a few requests in smaller classes, but failed for 40 % of the
        // aligned requests of workload 3, which then paid for a second
        // search.) No overflow: `block <= size + WORD + FLAGS` (or
        // `MIN_BLOCK`), and `Layout` keeps `size + align - 1 <= isize::MAX`,
        // so the sum is at most `isize::MAX + MIN_BLOCK`. (Not `end`'s
        // bound: on 32-bit targets `MAX_END` is close to `usize::MAX`, and
        // `align` may reach 2 GiB.)
        // (`mask & !FLAGS` is `align - GRANULE` for an alignment of at
        // least the granule, 0 below: payloads are granule-aligned.)
        let Some(list) = self.find_from(list_holding(block + (mask & !FLAGS))) else {
            return Err(());
        };
        let span = self.pop(list);
        // SAFETY: the good-fit list's head holds `block + align - GRANULE`
        // bytes.
        Ok(unsafe { self.place_aligned(span, block, size, mask) })
    }

    /// The rest of an allocation whose good-fit search found no list: the
    /// head of `need`'s own list, if it holds `block` bytes once aligned,
    /// and `align` is at most `self.max_align` (which the common path leaves to
    /// this one). Only on the wrapper's slow path (`HeapEngine::allocate`,
    /// after the hot path returned `None`): the hot functions then make no
    /// call at all.
    #[cold]
    #[inline(never)]
    fn allocate_from_own_list(
        &mut self,
        block: usize,
        size: usize,
        align: usize,
    ) -> Option<Carved> {
        if align > self.max_align {
            return None;
        }
        let list = self.own_list_head(block + (align - GRANULE), block, align)?;
        let span = self.pop(list);
        // SAFETY: `own_list_head` checked that the head holds `block` bytes
        // behind its alignment gap.
        let (before_payload, consumed) =
            unsafe { self.place_aligned(span, block, size, align - 1) };
        let payload = self.region.payload_after(before_payload);
        Some(Carved { payload, consumed })
    }

    /// Makes the used block for a request of `size` bytes (a block of
    /// `block` bytes) aligned to `mask + 1` in the unlinked free `span`.
    ///
    /// # Safety
    ///
    /// `span` holds `block` bytes behind the gap that alignment needs at
    /// its address.
    #[inline(always)]
    unsafe fn place_aligned(
        &mut self,
        span: Span,
        block: usize,
        size: usize,
        mask: usize,
    ) -> (At, usize) {
        let gap = self.gap(span.off(), mask);
        if gap >= MIN_BLOCK {
            // SAFETY: the caller's contract: `MIN_BLOCK <= gap <= size -
            // block`, and `block >= MIN_BLOCK`; `gap` is a granule multiple
            // (payloads and `align` are).
            let (front, rest) = unsafe { span.cut(gap) };
            // The gap becomes a free block of its own.
            self.region.set_word(front.header(), gap);
            self.region.set_word(front.tag(), gap);
            self.insert(front);
            // SAFETY: `rest` holds `block` bytes (above).
            unsafe { self.split_used(rest, block, 0, PREV_FREE, size) }
        } else {
            // SAFETY: the block holds `gap + block` bytes (above).
            unsafe { self.split_used(span, block, gap, 0, size) }
        }
    }

    /// Bytes in front of the payload of a block placed at `off` that
    /// alignment to `mask + 1` needs (`mask` is the alignment less one).
    #[inline]
    fn gap(&self, off: usize, mask: usize) -> usize {
        self.region
            .base()
            .addr()
            .wrapping_add(off + WORD)
            .wrapping_neg()
            & mask
    }

    /// Makes a used block of `inner_gap + block` bytes at the start of the
    /// unlinked free `span`, returning the rest to a list (or to the block,
    /// when too small for one), for a request of `requested` bytes; returns
    /// the word before the payload (the header or the alignment marker)
    /// and the bytes consumed.
    ///
    /// # Safety
    ///
    /// `span` holds `inner_gap + block` bytes; `block >= MIN_BLOCK` and
    /// `inner_gap < MIN_BLOCK` are granule multiples.
    #[inline]
    unsafe fn split_used(
        &mut self,
        span: Span,
        block: usize,
        inner_gap: usize,
        prev_flag: usize,
        requested: usize,
    ) -> (At, usize) {
        debug_assert!(inner_gap < MIN_BLOCK && inner_gap & FLAGS == 0);
        // SAFETY: the caller's contract. (Telling the compiler spares the
        // checks of `Span::inner` below.)
        unsafe { core::hint::assert_unchecked(inner_gap < MIN_BLOCK && inner_gap & FLAGS == 0) };
        // SAFETY: the caller's contract.
        let used = match unsafe { span.split(inner_gap + block) } {
            Some((used, tail)) => {
                // The block after `tail` keeps its PREV_FREE flag.
                self.region.set_word(tail.header(), tail.size());
                self.region.set_word(tail.tag(), tail.size());
                self.insert(tail);
                used
            }
            None => {
                // The next block's (or the end marker's) predecessor is
                // now used.
                let after = span.after();
                let next = self.region.word(after);
                self.region.set_word(after, next & !PREV_FREE);
                span
            }
        };
        let taken = used.size();
        let header = taken | USED | prev_flag;
        // The marker word sits just before the payload, after the header
        // (`GRANULE <= inner_gap < MIN_BLOCK`). It is written whatever the
        // gap: without one its word is the header's, which the header
        // overwrites below. No branch on the gap, which a third of the
        // aligned requests of workload 3 have, unpredictably (0.12
        // mispredicted branches per operation in cachegrind's model).
        let before_payload = used.inner(inner_gap).unwrap_or(used.header());
        self.region.set_word(before_payload, inner_gap | PREV_FREE);
        // `requested < taken <= MAX_END` fits the header's upper half.
        #[cfg(target_pointer_width = "64")]
        let header = header | requested << REQUESTED_SHIFT;
        #[cfg(not(target_pointer_width = "64"))]
        let header = {
            let slack = taken - WORD - inner_gap - requested;
            if slack != 0 {
                // The slack byte is the block's last byte, after the
                // requested bytes (`slack >= 1`).
                debug_assert!(slack <= u8::MAX as usize);
                self.region.set_last_byte(used, slack as u8);
                header | SLACK
            } else {
                header
            }
        };
        self.region.set_word(used.header(), header);
        (before_payload, taken)
    }

    // --- free ---

    /// Frees the block whose payload is `ptr`, at offset `payload` (any
    /// value with `payload - WORD < end`).
    #[inline(always)]
    fn free(&mut self, ptr: NonNull<u8>, payload: usize) -> Result<Released, AllocError> {
        let Some(block) = self.used_block(ptr) else {
            return Err(self.refusal(payload));
        };
        #[cfg(debug_assertions)]
        if !self.neighbours_plausible(block) {
            return Err(AllocError::ForeignPointer);
        }
        let released = self.released(block);
        self.release(block);
        Ok(released)
    }

    /// The used block whose payload is `ptr` (any pointer), if its header
    /// (behind an alignment marker, if any) is a used block's that fits in
    /// the region: the O(1) checks `free` always
    /// makes. Reads only words inside the region.
    #[inline(always)]
    fn used_block(&self, ptr: NonNull<u8>) -> Option<UsedBlock> {
        // Headers (and alignment markers) are granule-aligned: one check
        // for both that and the word alignment `At` needs.
        let mut at = self.region.header_before(ptr)?;
        let mut header = self.region.word(at);
        // (Only kept in debug builds and on 32-bit targets: `UsedBlock`.)
        #[cfg_attr(
            all(not(debug_assertions), target_pointer_width = "64"),
            expect(unused_assignments)
        )]
        let mut inner_gap = 0;
        if header & USED == 0 {
            // An alignment marker (PREV_FREE, the gap in the size bits): the
            // header is `gap` bytes before it. Anything else is refused.
            // Markers are exactly the words `gap | PREV_FREE` for a gap of
            // a granule multiple in `GRANULE..MIN_BLOCK`: less the smallest,
            // rotated right by the granule's bits (any low bit lands on
            // top), only those words give a value below the number of
            // such gaps. One compare for the four tests.
            let step = header.wrapping_sub(GRANULE | PREV_FREE);
            if step.rotate_right(GRANULE_LOG2) >= MIN_BLOCK / GRANULE - 1 {
                return None;
            }
            inner_gap = header & !FLAGS;
            at = at.back(inner_gap)?;
            header = self.region.word(at);
            // The payload starts inside the block. (Without a gap, any
            // block size does: `MIN_BLOCK > WORD`.)
            if header & USED == 0 || header & SIZE_MASK <= WORD + inner_gap {
                return None;
            }
        }
        let span = self.region.used_span(at, header & SIZE_MASK)?;
        Some(UsedBlock {
            span,
            header,
            #[cfg(any(debug_assertions, not(target_pointer_width = "64")))]
            inner_gap,
        })
    }

    /// Debug builds only: whether the neighbours of the used `block` are
    /// what a block `allocate` returned has: a next header without
    /// PREV_FREE, free neighbours whose tags and list links are in range,
    /// and a recorded requested size inside the block. Release builds trust the
    /// caller's contract for a block that passed `used_block`.
    #[cfg(debug_assertions)]
    fn neighbours_plausible(&self, block: UsedBlock) -> bool {
        let UsedBlock {
            span,
            header,
            inner_gap,
        } = block;
        let next = span.after();
        let next_header = self.region.word(next);
        if next_header & PREV_FREE != 0
            || (next_header & USED == 0 && self.checked_free(next).is_none())
        {
            return false;
        }
        // The request lies in the payload: at least one byte, and no more
        // than the block holds behind its header and gap.
        let requested = self.requested_of(block);
        if requested == 0 || requested > span.size() - WORD - inner_gap {
            return false;
        }
        if header & PREV_FREE != 0 {
            let Some(tag) = span.header().back(WORD) else {
                return false;
            };
            let prev_size = self.region.word(tag);
            return span
                .header()
                .back(prev_size)
                .and_then(|prev| self.checked_free(prev))
                .is_some_and(|prev| prev.span.size() == prev_size);
        }
        true
    }

    /// Frees the used `block`, merging it with its free neighbours. Release
    /// builds trust its neighbours: it came from `allocate` (the caller's
    /// contract), and debug builds have checked them.
    #[inline(always)]
    fn release(&mut self, block: UsedBlock) {
        let UsedBlock { span, .. } = block;
        let mut merged = span;
        let after = span.after();
        let next_header = self.region.word(after);
        // Each neighbour is dealt with at once, so that no header stays
        // live across the list work (fewer registers to save).
        if next_header & USED == 0 {
            // SAFETY: `span` is a block of the structure (its header checked
            // by `used_block`, its being a live block the caller's contract),
            // so a header after it without USED is a free block's.
            let next = unsafe { self.region.free_after(span, next_header) };
            // SAFETY: `next` starts where `span` ends.
            merged = unsafe { merged.join(next) };
            // Joined first: only the sum and the list the unlink computes
            // stay live, not both sizes (with the old header's write below,
            // no callee-saved register in `free`: 1.2 instructions per
            // operation on workload 3).
            self.unlink(next);
        } else {
            // After a merged successor, the next block is flagged already.
            self.region.set_word(after, next_header | PREV_FREE);
        }
        // The header read again rather than kept: the unlink above needs
        // every scratch register, and one more value live across it costs
        // a callee-saved register (two instructions) on every free.
        if self.region.word(span.header()) & PREV_FREE != 0 {
            // The old header, soon inside the merged free block, is marked
            // free so a second `free` of it is recognised. (Before the
            // unlink: then nothing of `span` is live across it.) Its
            // merged size with the successor, not its own: a size with no
            // flags that fits the region from there all the same
            // (`refusal` asks no more), and `span`'s size is then dead
            // after the successor's merge (one register fewer across that
            // unlink: no callee-saved register in `free`).
            self.region.set_word(span.header(), merged.size());
            // SAFETY: as above; its header says its predecessor is free
            // (the word before the header, its tag, is unchanged).
            let prev = unsafe { self.region.free_before(span) };
            self.unlink(prev);
            // SAFETY: `prev` ends where `span`, and so `merged`, starts.
            merged = unsafe { prev.join(merged) };
        }
        self.region.set_word(merged.header(), merged.size());
        self.region.set_word(merged.tag(), merged.size());
        self.insert_in(merged, class_of_flat(merged.size()));
    }

    /// The size requested for the used `block`: on 64-bit targets the
    /// header's upper half, on 32-bit its size less the header, the
    /// alignment gap and the slack (from the slack byte). Wraps rather than
    /// panics on a corrupted record (`Counters::freed` takes that).
    #[inline(always)]
    fn requested_of(&self, block: UsedBlock) -> usize {
        #[cfg(target_pointer_width = "64")]
        {
            block.header >> REQUESTED_SHIFT
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            let UsedBlock {
                span,
                header,
                inner_gap,
            } = block;
            let slack = if header & SLACK != 0 {
                self.region.last_byte(span) as usize
            } else {
                0
            };
            span.size()
                .wrapping_sub(WORD + inner_gap)
                .wrapping_sub(slack)
        }
    }

    /// What freeing the used `block` gives back: its requested size and
    /// the bytes it consumes.
    #[inline(always)]
    fn released(&self, block: UsedBlock) -> Released {
        Released {
            requested: self.requested_of(block),
            consumed: block.span.size(),
        }
    }

    // --- inspection ---

    /// The payload of the head of the highest non-empty list: what
    /// `allocate` serves at most right now.
    fn largest_free(&self) -> usize {
        if self.fl_bitmap == 0 {
            return 0;
        }
        let fl = self.fl_bitmap.ilog2() as usize;
        let list = (fl << SL_LOG2) + self.sl_bitmap[fl].ilog2() as usize;
        // The bits are set: the list holds a block.
        self.head(&Found { list }).size() - WORD
    }
}
