//! See [`Buddy`].

use core::alloc::Layout;
use core::ptr::NonNull;

#[cfg(doc)]
use crate::AllocatorStats;
#[cfg(doc)]
use crate::allocator::RawAllocator;
use crate::allocator::check_request;
use crate::heap::locked::{Carved, HeapEngine, LockedHeap, Released, locked_heap_surface};
use crate::stats::Counters;
use crate::sync::const_fn;
use crate::{AllocError, AllocatorKind, InvariantViolation, RawMemory};

/// Tag bit: the block starting here is free.
const FREE: u8 = 0x80;
/// Tag bit: the allocated block starting here keeps its slack in its tail.
const SLACK: u8 = 0x40;
/// Tag bits: the block's order.
const ORDER: u8 = 0x3f;
/// Tag of a minimum block inside a larger block. `FREE | SLACK` never occur
/// together, so this is no block's tag.
const INTERIOR: u8 = 0xff;

/// End of a free list.
const NIL: usize = usize::MAX;
/// Orders are below `usize::BITS`: a block of order `k` spans `2^k` minimum
/// blocks, and there are fewer than `usize::MAX` of those.
const ORDERS: usize = usize::BITS as usize;
const WORD: usize = size_of::<usize>();

/// A binary buddy allocator over a [`RawMemory`] region. See the
///
/// A binary buddy allocator: power-of-two blocks that split on allocation
/// and merge with their buddy on free.
///
/// # Algorithm
///
/// The region is cut into a heap of `n` minimum blocks (32 bytes by default,
/// see [`Buddy::with_min_block`]) and a side table of `n` bytes behind it.
/// A block of order `k` is `min_block << k` bytes long and starts at a
/// multiple of its own size from the heap base; its buddy is the block whose
/// offset differs in bit `k` only. When `n` is not a power of two, the heap is
/// covered by several top-level blocks of decreasing order (the binary digits
/// of `n`), so no tail is wasted.
///
/// Each order has a doubly-linked intrusive free list (the links live in the
/// first two words of the free blocks) and one bit in a word-sized mask that
/// says whether the list is non-empty. The side table holds one tag byte per
/// minimum block: the order and free flag of the block starting there, or
/// "interior" when no block starts there. The tag recovers a block's order
/// from its pointer (frees need no size) and tells in O(1) whether a buddy is
/// free at the same order.
///
/// Callers' requested sizes (for [`AllocatorStats::requested`]) are kept in
/// the block's own slack, behind the bytes handed out: nothing when the
/// request fills the block, one byte for up to 255 bytes of slack, a byte and
/// a word beyond that. Returned slices are exactly as long as requested.
/// [`check`](RawAllocator::check) re-adds these sizes, so an overrun into the
/// slack is reported.
///
/// # Cost
///
/// * allocate: O(log n) — one bit scan finds the smallest non-empty order
///   that fits, then at most one split per order;
/// * free: O(log n) — at most one merge per order, each an O(1) unlink;
/// * [`stats`](RawAllocator::stats): O(1) (the largest free block is the
///   highest non-empty order);
/// * [`check`](RawAllocator::check): O(n), it walks every tag and list.
///
/// The first call of any method fills the side table (O(n), once).
///
/// # Overhead
///
/// * side table: one byte per minimum block, 1/33 of the region with the
///   default 32-byte blocks (3.0 %), plus up to `min_block - 1` bytes to
///   align the heap start; both are outside [`capacity`](RawAllocator::capacity);
/// * per block: no header; the size is rounded up to a power of two (at least
///   the minimum block), so the worst case is a request one byte above a power
///   of two, which consumes nearly twice its size. `used` counts whole blocks.
///
/// # Alignment
///
/// A request is served from a block of order at least `max(size, align)`,
/// which is naturally aligned relative to the heap base. Alignments up to
/// [`Buddy::max_align`] are supported: the largest top-level block, limited
/// by the alignment of the heap start (an [`Arena`](crate::Arena) is
/// page-aligned). Larger alignments are refused with
/// [`AllocError::AlignmentTooLarge`].
///
/// # Misuse
///
/// Every refused allocation (zero size, alignment, size, exhaustion) counts
/// in [`AllocatorStats::failures`] and changes nothing else. A free is
/// checked against the tags and changes nothing when refused: a pointer
/// outside the heap, not on a minimum-block boundary, or inside a live block
/// is an [`AllocError::ForeignPointer`]; the start of a free block, or a
/// pointer inside a free block (a block freed and merged since), is an
/// [`AllocError::DoubleFree`]. A double free after the memory was handed out
/// again at the same address cannot be detected.
///
/// # Layout of the region
///
/// The heap comes first and the tags last, so the heap keeps the region's
/// alignment (a page for an [`Arena`](crate::Arena)) and with it the largest
/// alignment blocks can offer.
///
/// # Thread safety
///
/// All state, and every access to the managed memory outside the blocks
/// handed out, is behind one internal `Lock` (a spin lock, or a critical
/// section on targets without compare-and-swap or with `irq-safe`). The lock
/// is held for O(log n) steps and never while user code runs.
///
/// # Example
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{Arena, Buddy, RawAllocator, RawMemory};
///
/// static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static HEAP: Buddy = Buddy::new(unsafe { RawMemory::from_arena(&ARENA) });
///
/// let block = HEAP.allocate(Layout::from_size_align(100, 8).unwrap()).unwrap();
/// assert_eq!(HEAP.stats().used, 128); // rounded up to a power of two
/// // SAFETY: `block` came from HEAP and is not used afterwards.
/// unsafe { HEAP.free(block.cast()) }.unwrap();
/// assert_eq!(HEAP.stats().used, 0);
/// ```
#[repr(transparent)]
pub struct Buddy(LockedHeap<State>);

impl Buddy {
    /// The minimum block of [`Buddy::new`], in bytes.
    pub const DEFAULT_MIN_BLOCK: usize = 32;

    const_fn! {
        /// A buddy allocator over `memory` with 32-byte minimum blocks.
        pub fn new(memory: RawMemory) -> Self {
            Self::with_min_block(memory, Self::DEFAULT_MIN_BLOCK)
        }
    }

    const_fn! {
        /// A buddy allocator over `memory` whose smallest block is
        /// `min_block` bytes.
        ///
        /// Larger minimum blocks shrink the side table (one byte per minimum
        /// block) and waste more on small requests.
        ///
        /// # Panics
        ///
        /// If `min_block` is not a power of two or is smaller than two words
        /// (the free-list links live in free blocks). In a `static`
        /// initialiser this is a compile-time error.
        pub fn with_min_block(memory: RawMemory, min_block: usize) -> Self {
            assert!(
                min_block.is_power_of_two() && min_block >= 2 * WORD,
                "Buddy: min_block must be a power of two of at least two words"
            );
            Self(LockedHeap::new(memory, min_block, State::new()))
        }
    }

    /// The smallest block, in bytes.
    pub fn min_block(&self) -> usize {
        self.0.config()
    }

    /// The largest alignment [`allocate`](RawAllocator::allocate) accepts:
    /// the largest top-level block, at most the alignment of the heap start
    /// (which is aligned to the minimum block), at least the minimum block.
    pub fn max_align(&self) -> usize {
        Geometry::new(self.0.memory(), self.min_block()).max_align()
    }
}

locked_heap_surface!(Buddy);

// SAFETY: blocks are carved from the heap part of the memory given to `init`
// only and tracked by tags, so live blocks are disjoint and inside it; a
// block is at least `size` bytes (its order is at least `log2(size)`) and
// aligned to `align` (order at least `log2(align)`, natural alignment
// relative to a base aligned to `max_align >= align`). The allocator writes
// a live block only beyond the returned length (the slack record). Before
// `init` the heap has no blocks: every request is too large and every
// pointer foreign, with no memory read.
unsafe impl HeapEngine for State {
    /// The minimum block.
    type Config = usize;
    const NAME: &'static str = "Buddy";
    const CONFIG_FIELD: Option<&'static str> = Some("min_block");
    const KIND: AllocatorKind = AllocatorKind::Buddy;

    fn capacity(memory: &RawMemory, min_block: usize) -> usize {
        Geometry::new(memory, min_block).heap_len()
    }

    fn init(&mut self, memory: &RawMemory, min_block: usize) {
        self.init(Geometry::new(memory, min_block));
    }

    #[inline]
    fn allocate(&mut self, layout: Layout, _: usize) -> Result<Carved, AllocError> {
        self.allocate(layout)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<Released, AllocError> {
        self.free(ptr)
    }

    fn largest_free(&self) -> usize {
        self.largest_free()
    }

    fn check(&self, counters: &Counters, capacity: usize) -> Result<(), InvariantViolation> {
        self.check(counters, capacity)
    }
}

/// Where the heap and the side table lie in the region.
#[derive(Clone, Copy)]
struct Geometry {
    /// The heap, `blocks << min_log2` bytes, aligned to the minimum block.
    heap: *mut u8,
    /// One tag per minimum block, right behind the heap.
    tags: *mut u8,
    blocks: usize,
    min_log2: u32,
}

impl Geometry {
    fn new(memory: &RawMemory, min_block: usize) -> Self {
        let pad = memory.as_ptr().align_offset(min_block).min(memory.len());
        // Each minimum block costs `min_block` heap bytes and one tag byte.
        let blocks = (memory.len() - pad) / (min_block + 1);
        let heap = memory.as_ptr().wrapping_add(pad);
        Self {
            heap,
            // `pad + blocks * (min_block + 1) <= len`: inside the region.
            tags: heap.wrapping_add(blocks * min_block),
            blocks,
            min_log2: min_block.trailing_zeros(),
        }
    }

    fn heap_len(&self) -> usize {
        self.blocks << self.min_log2
    }

    /// Order of the largest top-level block, if the heap has any block.
    fn top_order(&self) -> Option<u32> {
        self.blocks.checked_ilog2()
    }

    fn max_align(&self) -> usize {
        match self.top_order() {
            // Nothing fits anyway; let requests fail as `TooLarge`.
            None => 1 << self.min_log2,
            Some(top) => {
                let base_align = 1usize << self.heap.addr().trailing_zeros();
                (1usize << (top + self.min_log2)).min(base_align)
            }
        }
    }
}

/// The bookkeeping behind the lock.
pub(crate) struct State {
    geometry: Geometry,
    max_align: usize,
    /// First free block of each order, as a minimum-block index.
    heads: [usize; ORDERS],
    /// Bit `k` is set iff `heads[k]` is not `NIL`.
    non_empty: usize,
}

// SAFETY: the geometry's pointers point into the region the `Buddy` owns,
// which may be used from any thread; the lock serialises every access
// through them.
unsafe impl Send for State {}

impl State {
    /// A state to be built by [`init`](Self::init) on first use (computing
    /// the geometry needs address arithmetic that is not `const`). It has no
    /// blocks, so it refuses every request and pointer meanwhile.
    const fn new() -> Self {
        Self {
            geometry: Geometry {
                heap: core::ptr::null_mut(),
                tags: core::ptr::null_mut(),
                blocks: 0,
                min_log2: 0,
            },
            max_align: 1,
            heads: [NIL; ORDERS],
            non_empty: 0,
        }
    }

    /// Tags every minimum block and frees the top-level blocks.
    fn init(&mut self, geometry: Geometry) {
        self.geometry = geometry;
        self.max_align = geometry.max_align();
        // SAFETY: `tags` is `blocks` bytes of the region, reserved for the
        // tags and accessed only under the lock that `self` is behind.
        unsafe { geometry.tags.write_bytes(INTERIOR, geometry.blocks) };
        let mut start = 0;
        for order in (0..usize::BITS).rev() {
            if geometry.blocks & (1 << order) != 0 {
                self.push(start, order);
                start += 1 << order;
            }
        }
    }

    fn tag(&self, index: usize) -> u8 {
        assert!(index < self.geometry.blocks);
        // SAFETY: `index` is in bounds of the `blocks`-byte tag table, which
        // only this state touches.
        unsafe { self.geometry.tags.add(index).read() }
    }

    fn set_tag(&mut self, index: usize, tag: u8) {
        assert!(index < self.geometry.blocks);
        // SAFETY: as in `tag`, and `&mut self` proves exclusive access.
        unsafe { self.geometry.tags.add(index).write(tag) }
    }

    /// The first byte of the block starting at minimum block `index`.
    fn block_ptr(&self, index: usize) -> *mut u8 {
        self.geometry
            .heap
            .wrapping_add(index << self.geometry.min_log2)
    }

    /// The (next, prev) links of the free block at `index`.
    fn links(&self, index: usize) -> (usize, usize) {
        assert!(index < self.geometry.blocks);
        let words = self.block_ptr(index).cast::<usize>();
        // SAFETY: a free block is at least two words (the minimum block), is
        // word-aligned (the heap and all blocks are aligned to the minimum
        // block), lies in the heap, and belongs to no caller; the lock gives
        // this thread exclusive access to it.
        unsafe { (words.read(), words.add(1).read()) }
    }

    fn set_links(&mut self, index: usize, next: usize, prev: usize) {
        assert!(index < self.geometry.blocks);
        let words = self.block_ptr(index).cast::<usize>();
        // SAFETY: as in `links`.
        unsafe {
            words.write(next);
            words.add(1).write(prev);
        }
    }

    /// Puts the block at `index` on the free list of `order` and tags it free.
    fn push(&mut self, index: usize, order: u32) {
        let head = self.heads[order as usize];
        self.set_links(index, head, NIL);
        if head != NIL {
            let (head_next, _) = self.links(head);
            self.set_links(head, head_next, index);
        }
        self.heads[order as usize] = index;
        self.non_empty |= 1 << order;
        self.set_tag(index, FREE | order as u8);
    }

    /// Takes the free block at `index` off the list of `order` (its tag is
    /// the caller's to rewrite).
    fn unlink(&mut self, index: usize, order: u32) {
        let (next, prev) = self.links(index);
        if prev == NIL {
            self.heads[order as usize] = next;
        } else {
            let (_, prev_prev) = self.links(prev);
            self.set_links(prev, next, prev_prev);
        }
        if next != NIL {
            let (next_next, _) = self.links(next);
            self.set_links(next, next_next, prev);
        }
        if self.heads[order as usize] == NIL {
            self.non_empty &= !(1 << order);
        }
    }

    fn largest_free(&self) -> usize {
        match self.non_empty.checked_ilog2() {
            Some(order) => 1 << (order + self.geometry.min_log2),
            None => 0,
        }
    }

    fn allocate(&mut self, layout: Layout) -> Result<Carved, AllocError> {
        check_request(layout, self.max_align)?;
        let size = layout.size();
        let largest = match self.geometry.top_order() {
            Some(top) => 1 << (top + self.geometry.min_log2),
            None => 0,
        };
        if size > largest {
            return Err(AllocError::TooLarge { size, max: largest });
        }
        // `size` and `align` are at most `largest`, a power of two, so the
        // rounding cannot overflow.
        let block_size = size.max(layout.align()).next_power_of_two();
        let order = block_size
            .trailing_zeros()
            .saturating_sub(self.geometry.min_log2);
        let fitting = self.non_empty & (usize::MAX << order);
        if fitting == 0 {
            return Err(AllocError::OutOfMemory {
                size,
                largest_free: self.largest_free(),
            });
        }
        let mut found = fitting.trailing_zeros();
        let index = self.heads[found as usize];
        self.unlink(index, found);
        while found > order {
            found -= 1;
            self.push(index + (1 << found), found);
        }

        let block_size = 1usize << (order + self.geometry.min_log2);
        let slack = block_size - size;
        let block = self.block_ptr(index);
        // SAFETY: the tail `block_size - slack..block_size` of the block just
        // taken off the free lists lies in the heap, behind the caller's
        // `size` bytes, and the lock gives exclusive access.
        unsafe { write_slack(block, block_size, slack) };
        self.set_tag(index, order as u8 | if slack > 0 { SLACK } else { 0 });

        // SAFETY: `block` points into the heap, whose base is non-null.
        let payload = unsafe { NonNull::new_unchecked(block) };
        Ok(Carved {
            payload,
            consumed: block_size,
        })
    }

    /// The minimum-block index and order of the live block at `ptr`.
    fn live_block(&self, ptr: NonNull<u8>) -> Result<(usize, u32), AllocError> {
        let offset = ptr.as_ptr().addr().wrapping_sub(self.geometry.heap.addr());
        if offset >= self.geometry.heap_len() || offset & ((1 << self.geometry.min_log2) - 1) != 0 {
            return Err(AllocError::ForeignPointer);
        }
        let index = offset >> self.geometry.min_log2;
        let tag = self.tag(index);
        if tag == INTERIOR {
            // Inside some block: the first tagged start found by clearing
            // low bits is the block containing `ptr` (blocks are aligned to
            // their size). A pointer into a free block is most likely a
            // block freed before and merged since.
            let container = (1..usize::BITS)
                .map(|order| index & (usize::MAX << order))
                .map(|start| self.tag(start))
                .find(|&tag| tag != INTERIOR);
            return match container {
                Some(tag) if tag & FREE != 0 => Err(AllocError::DoubleFree),
                _ => Err(AllocError::ForeignPointer),
            };
        }
        if tag & FREE != 0 {
            return Err(AllocError::DoubleFree);
        }
        Ok((index, u32::from(tag & ORDER)))
    }

    /// The requested size of the live block at `index`, from its slack record.
    fn requested_size(&self, index: usize, order: u32) -> usize {
        let block_size = 1usize << (order + self.geometry.min_log2);
        if self.tag(index) & SLACK == 0 {
            return block_size;
        }
        // SAFETY: the block is live and `block_size` bytes long; its tail
        // holds the slack record that `allocate` wrote behind the caller's
        // bytes, and the lock gives exclusive access to the allocator's part.
        let slack = unsafe { read_slack(self.block_ptr(index), block_size) };
        // A caller that wrote past its block may have clobbered the record;
        // keep the counter plausible (`check` reports the mismatch).
        block_size - slack.clamp(1, block_size - 1)
    }

    fn free(&mut self, ptr: NonNull<u8>) -> Result<Released, AllocError> {
        let (mut index, mut order) = self.live_block(ptr)?;
        let block_size = 1usize << (order + self.geometry.min_log2);
        let requested = self.requested_size(index, order);

        loop {
            let span = 1usize << order;
            let merged = index & !span;
            if merged + 2 * span > self.geometry.blocks {
                break; // a top-level block: its buddy would leave the heap
            }
            let buddy = index ^ span;
            if self.tag(buddy) != FREE | order as u8 {
                break;
            }
            self.unlink(buddy, order);
            self.set_tag(merged + span, INTERIOR);
            index = merged;
            order += 1;
        }
        self.push(index, order);
        Ok(Released {
            requested,
            consumed: block_size,
        })
    }

    fn check(&self, counters: &Counters, capacity: usize) -> Result<(), InvariantViolation> {
        let violation = |what, index: usize| {
            Err(InvariantViolation {
                what,
                offset: index << self.geometry.min_log2,
            })
        };
        let blocks = self.geometry.blocks;

        // Physical walk: every minimum block is the start or the inside of
        // exactly one block.
        let mut free_per_order = [0usize; ORDERS];
        let mut recount = Counters::new();
        let mut index = 0;
        while index < blocks {
            let tag = self.tag(index);
            if tag == INTERIOR {
                return violation("block start tagged as interior", index);
            }
            let order = u32::from(tag & ORDER);
            let span = 1usize.checked_shl(order).unwrap_or(usize::MAX);
            if order >= usize::BITS || !index.is_multiple_of(span) || span > blocks - index {
                return violation("block order does not fit its position", index);
            }
            if (index + 1..index + span).any(|inner| self.tag(inner) != INTERIOR) {
                return violation("block interior holds a block tag", index);
            }
            if tag & FREE != 0 {
                free_per_order[order as usize] += 1;
                let merged = index & !span;
                if merged + 2 * span <= blocks && self.tag(index ^ span) == tag {
                    return violation("free buddies not coalesced", index);
                }
            } else {
                recount.allocated(
                    self.requested_size(index, order),
                    span << self.geometry.min_log2,
                );
            }
            index += span;
        }

        // Free lists: well linked, tagged free at their order, and holding
        // exactly the free blocks of the walk.
        for (order, (&head, &free)) in self.heads.iter().zip(&free_per_order).enumerate() {
            if (head != NIL) != (self.non_empty & (1 << order) != 0) {
                return violation("non-empty mask disagrees with free list", head.min(blocks));
            }
            let (mut prev, mut node, mut count) = (NIL, head, 0usize);
            while node != NIL {
                if node >= blocks || self.tag(node) != FREE | order as u8 {
                    return violation(
                        "free list node not a free block of its order",
                        node.min(blocks),
                    );
                }
                count += 1;
                if count > free {
                    return violation("free list longer than the free blocks (cycle?)", node);
                }
                let (next, back) = self.links(node);
                if back != prev {
                    return violation("free list back link broken", node);
                }
                (prev, node) = (node, next);
            }
            if count != free {
                return violation("free block missing from its free list", 0);
            }
        }

        counters
            .check_against(&recount, capacity)
            .or_else(|what| violation(what, 0))
    }
}

/// Records `slack` in the last bytes of the block: nothing for 0, one byte
/// for 1..=255, else a zero byte preceded by the slack as an unaligned word.
///
/// # Safety
///
/// The last `slack` bytes of the `block_size`-byte block at `block` are valid
/// for writes and belong to the allocator.
unsafe fn write_slack(block: *mut u8, block_size: usize, slack: usize) {
    // SAFETY: `slack > 0` implies `block_size >= 1`; the byte (and for
    // `slack > 255`, the `WORD` bytes before it) lie in the last `slack`
    // bytes, which the caller lends us.
    unsafe {
        let last = block.add(block_size - 1);
        match u8::try_from(slack) {
            Ok(0) => {}
            Ok(small) => last.write(small),
            Err(_) => {
                last.write(0);
                last.sub(WORD).cast::<usize>().write_unaligned(slack);
            }
        }
    }
}

/// Reads what [`write_slack`] recorded for a non-zero slack.
///
/// # Safety
///
/// The last `WORD + 1` bytes of the block, or all of it when shorter, are
/// valid for reads.
unsafe fn read_slack(block: *mut u8, block_size: usize) -> usize {
    // SAFETY: the caller guarantees the tail is readable; the word is read
    // only when the block is longer than it.
    unsafe {
        let last = block.add(block_size - 1);
        match last.read() {
            0 if block_size > WORD => last.sub(WORD).cast::<usize>().read_unaligned(),
            small => usize::from(small),
        }
    }
}
