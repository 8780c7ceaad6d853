//! See [`FreeList`].

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

const WORD: usize = size_of::<usize>();
/// Block sizes and user pointers are multiples of two words.
const GRANULE: usize = 2 * WORD;
/// Header, two links and footer of a free block.
const MIN_BLOCK: usize = 4 * WORD;

/// Header flag: the block is allocated.
const ALLOCATED: usize = 1;
/// Header flag: the physically previous block is allocated (so the word
/// before this header is not a footer).
const PREV_ALLOCATED: usize = 2;
/// Header flag: the block's last byte records its slack.
const HAS_SLACK: usize = 4;
const FLAGS: usize = ALLOCATED | PREV_ALLOCATED | HAS_SLACK;

/// End of a free list.
const NIL: usize = usize::MAX;

/// Block sizes of fewer granules than this each have a class of their own.
const EXACT_CLASSES: usize = 8;
/// Classes per power of two above the exact ones (as a shift).
const SUB_BITS: u32 = 2;
/// Number of size classes: enough for every block size a 32-bit target can
/// hold; on 64-bit targets the last class also takes everything larger
/// (blocks of 2^35 granules and up), which the in-class walk handles.
const CLASSES: usize = 128;
/// How many blocks of its own class first fit tries before it takes a block
/// of a larger class, which bounds its search when one exists.
const FIRST_FIT_PROBES: usize = 8;

/// How [`FreeList`] picks among free blocks that fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fit {
    /// Segregated first fit: the first block that fits among the newest 8
    /// of the request's own size class, else the newest block of the next
    /// larger non-empty class. Bounded and, because classes are narrow (a
    /// quarter of a power of two), close to best fit.
    #[default]
    First,
    /// Segregated best fit: the free block that leaves the smallest
    /// remainder within the smallest class that holds a fit (so the best fit
    /// overall for requests aligned to the granule), stopping early at an
    /// exact fit. Scans whole classes.
    Best,
}

/// A first-fit or best-fit free-list allocator over a [`RawMemory`] region.
///
/// A general-purpose free-list allocator with first-fit or best-fit
/// placement and immediate coalescing through boundary tags.
///
/// # Algorithm
///
/// The region is one sequence of blocks, each starting with a one-word
/// header: the block size (a multiple of the granule, two words) and three
/// flags — allocated, previous block allocated, slack recorded. A free block
/// also holds its free-list links in its second and third words and repeats
/// its size in its last word (the footer). Allocated blocks need no footer:
/// a block's "previous allocated" flag says whether the word before its
/// header is a footer. So free finds both physical neighbours in O(1) and
/// merges them at once; no two free blocks are ever adjacent. A zero-sized,
/// allocated sentinel header ends the heap.
///
/// The free blocks are segregated by size into 128 classes: one per size
/// below eight granules, then four per power of two. Each class is a
/// doubly-linked list, newest first, and one bit per class says whether it is
/// empty. Allocation starts at the request's own class (whose blocks may be
/// too small) and moves up through the non-empty classes, found from the
/// bitmap with one trailing-zeros count: [`Fit::First`] takes the first
/// block that fits (trying only 8 blocks of the own class while a larger
/// class is non-empty), [`Fit::Best`] the one that leaves the smallest remainder
/// within the first class that has a fit (any block of a larger class is
/// larger still, so this is the best fit overall), stopping early at an exact
/// fit. Either way it then splits off the tail when that can hold a free
/// block and files the tail under its class. A free block that grows or
/// shrinks (coalescing, a split, an alignment gap) moves to its new class.
/// Alignments above the granule are found by placing the block inside the
/// free block: the leading gap, always made large enough to be a free block
/// of its own, stays free, filed under its class.
///
/// Callers' requested sizes (for [`AllocatorStats::requested`]) are kept as
/// one byte in the block's slack, behind the bytes handed out; returned
/// slices are exactly as long as requested. [`check`](RawAllocator::check)
/// re-adds these sizes, so an overrun into the slack is reported.
///
/// # Cost
///
/// * allocate, [`Fit::First`]: at most 8 blocks of the request's own class
///   (at most a quarter of a power of two wide), then the head of the next
///   non-empty class, found in O(1), which always fits a request aligned to
///   the granule: O(1). The own class is walked further only when no larger
///   class has a block (O(f<sub>c</sub>) for its `f`<sub>c</sub> blocks), or
///   when an over-aligned request fits no larger block (O(f) worst case for
///   `f` free blocks).
/// * allocate, [`Fit::Best`]: O(f<sub>c</sub> + f<sub>c'</sub>), the own class
///   plus the first larger class with a fit, both scanned whole unless an
///   exact fit stops it; O(f) worst case.
/// * free: O(1), including coalescing with both neighbours and moving the
///   merged block to its class;
/// * [`stats`](RawAllocator::stats): O(f<sub>top</sub>), it scans the
///   highest non-empty class for the largest block;
/// * [`check`](RawAllocator::check): O(blocks), a physical walk plus a list walk.
///
/// # Overhead
///
/// * per allocated block: one word of header (8 bytes on 64-bit targets,
///   4 on 32-bit) plus rounding up to the granule (16 / 8 bytes); the
///   smallest block is four words (32 / 16 bytes), so requests up to three
///   words cost a whole minimum block;
/// * a tail remainder smaller than the minimum block stays with the
///   allocation instead of becoming an unusable free block;
/// * per region: the sentinel word and up to a granule of alignment at each
///   end, outside [`capacity`](RawAllocator::capacity);
/// * per allocator: 128 list heads and a 128-bit class bitmap beside the
///   lock (1,040 bytes on 64-bit targets, 528 on 32-bit). When empty, one
///   allocation of `capacity - word` bytes succeeds.
///
/// Fragmentation is the usual free-list worst case: with an adversarial
/// pattern of frees the free memory may be split into minimum blocks. On the
/// random workload of `BENCHMARKS.md` (workload 4) both policies keep about as
/// much usable as TLSF does.
///
/// # Alignment
///
/// Every block is aligned to the granule (two words). Larger alignments, up
/// to [`FreeList::max_align`] (the largest power of two not above the
/// capacity), are placed inside a larger free block as described above.
///
/// # Misuse
///
/// Every refused allocation (zero size, alignment, size, exhaustion) counts
/// in [`AllocatorStats::failures`] and changes nothing else. A free checks
/// the pointer before it writes anything, reading only words at offsets
/// already proven inside the heap: it must be granule-aligned inside the
/// heap, its header must hold a plausible size, the next header must say
/// "previous allocated", and when the header says the previous block is free
/// that block's footer and header must agree. Failing that, the free is an
/// [`AllocError::ForeignPointer`]; a header marked free (freed before, and
/// possibly merged since, which leaves the header behind marked free) is an
/// [`AllocError::DoubleFree`]. Nothing changes when a free is refused. A
/// double free after the memory was handed out again cannot always be
/// detected.
///
/// # Thread safety
///
/// All state, and every header, footer and link in the managed memory, is
/// behind one internal `Lock` (a spin lock, or a critical section on
/// targets without compare-and-swap or with `irq-safe`). The lock is never
/// held while user code runs.
///
/// # Example
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{Arena, Fit, FreeList, RawAllocator, RawMemory};
///
/// static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static HEAP: FreeList = FreeList::with_fit(unsafe { RawMemory::from_arena(&ARENA) }, Fit::Best);
///
/// let word = size_of::<usize>();
/// let block = HEAP.allocate(Layout::from_size_align(100, 8).unwrap()).unwrap();
/// assert_eq!(HEAP.stats().used, (100 + word).next_multiple_of(2 * word));
/// // SAFETY: `block` came from HEAP and is not used afterwards.
/// unsafe { HEAP.free(block.cast()) }.unwrap();
/// assert_eq!(HEAP.stats().largest_free, HEAP.capacity() - word);
/// ```
#[repr(transparent)]
pub struct FreeList(LockedHeap<State>);

impl FreeList {
    const_fn! {
        /// A first-fit free-list allocator over `memory`.
        pub fn new(memory: RawMemory) -> Self {
            Self::with_fit(memory, Fit::First)
        }
    }

    const_fn! {
        /// A free-list allocator over `memory` with the given placement policy.
        pub fn with_fit(memory: RawMemory, fit: Fit) -> Self {
            Self(LockedHeap::new(memory, fit, State::new()))
        }
    }

    /// The placement policy.
    pub fn fit(&self) -> Fit {
        self.0.config()
    }

    /// The largest alignment [`allocate`](RawAllocator::allocate) accepts:
    /// the largest power of two not above the capacity, at least the granule.
    pub fn max_align(&self) -> usize {
        Geometry::new(self.0.memory()).max_align()
    }
}

locked_heap_surface!(FreeList);

// SAFETY: blocks are carved from `first..end` of the memory given to `init`
// and tracked by boundary tags, so live blocks are disjoint and inside it;
// the user part of a block starts one word after its header, is at least
// `size` bytes (the block is at least `size + WORD`) and is aligned to
// `align` (granule alignment, or a placement chosen for `align`). The
// allocator writes a live block only beyond the returned length (the slack
// byte). Before `init` the geometry is empty, so every request is too large
// and every pointer foreign, with no memory read.
unsafe impl HeapEngine for State {
    type Config = Fit;
    const NAME: &'static str = "FreeList";
    const CONFIG_FIELD: Option<&'static str> = Some("fit");
    const KIND: AllocatorKind = AllocatorKind::FreeList;

    fn capacity(memory: &RawMemory, _: Fit) -> usize {
        Geometry::new(memory).capacity()
    }

    fn init(&mut self, memory: &RawMemory, _: Fit) {
        self.init(memory.as_ptr(), Geometry::new(memory));
    }

    #[inline]
    fn allocate(&mut self, layout: Layout, fit: Fit) -> Result<Carved, AllocError> {
        self.allocate(layout, fit)
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

/// Where the blocks lie, as byte offsets from the region start.
#[derive(Clone, Copy)]
struct Geometry {
    /// The first block's header; user pointers (`header + WORD`) are
    /// granule-aligned.
    first: usize,
    /// The sentinel header; `end - first` is the capacity. Both are zero
    /// when the region cannot hold a block.
    end: usize,
}

impl Geometry {
    fn new(memory: &RawMemory) -> Self {
        let base = memory.as_ptr().addr();
        // Headers sit one word below a granule boundary.
        let first = base.wrapping_add(WORD).wrapping_neg() & (GRANULE - 1);
        // The highest header position whose word fits in the region.
        let end = memory.len().checked_sub(WORD).and_then(|last_word| {
            let misalignment = base.wrapping_add(last_word).wrapping_sub(WORD) & (GRANULE - 1);
            last_word.checked_sub(misalignment)
        });
        let end = match end {
            Some(end) if end >= first && end - first >= MIN_BLOCK => end,
            _ => return Self { first: 0, end: 0 },
        };
        Self { first, end }
    }

    fn capacity(&self) -> usize {
        self.end - self.first
    }

    fn max_align(&self) -> usize {
        match self.capacity().checked_ilog2() {
            Some(log2) => (1usize << log2).max(GRANULE),
            None => GRANULE,
        }
    }
}

/// The bookkeeping behind the lock.
pub(crate) struct State {
    /// The region's first byte; offsets count from here.
    base: *mut u8,
    geometry: Geometry,
    /// Per size class, the header offset of its most recently freed block.
    heads: [usize; CLASSES],
    /// Bit `c` is set when class `c` is not empty.
    nonempty: u128,
    free_blocks: usize,
}

// SAFETY: `base` points into the region the `FreeList` owns, which may be
// used from any thread; the lock serialises every access through it.
unsafe impl Send for State {}

impl State {
    /// A state to be built by [`init`](Self::init) on first use (computing
    /// the geometry needs address arithmetic that is not `const`). Its empty
    /// geometry refuses every request and pointer meanwhile.
    const fn new() -> Self {
        Self {
            base: core::ptr::null_mut(),
            geometry: Geometry { first: 0, end: 0 },
            heads: [NIL; CLASSES],
            nonempty: 0,
            free_blocks: 0,
        }
    }

    /// Makes the whole heap one free block followed by the sentinel.
    fn init(&mut self, base: *mut u8, geometry: Geometry) {
        self.base = base;
        self.geometry = geometry;
        let capacity = geometry.capacity();
        if capacity > 0 {
            self.set_word(geometry.end, ALLOCATED);
            self.set_word(geometry.first, capacity | PREV_ALLOCATED);
            self.set_word(geometry.end - WORD, capacity);
            self.push(geometry.first, capacity);
        }
    }

    fn word(&self, offset: usize) -> usize {
        assert!(offset >= self.geometry.first && offset < self.geometry.end + WORD);
        // SAFETY: `offset` is inside `first..=end` of the region, where all
        // headers, links and footers lie; those offsets are word-aligned
        // (headers sit one word below a granule boundary, block sizes are
        // granules) and the lock gives exclusive access to them.
        unsafe { self.base.add(offset).cast::<usize>().read() }
    }

    fn set_word(&mut self, offset: usize, value: usize) {
        assert!(offset >= self.geometry.first && offset < self.geometry.end + WORD);
        // SAFETY: as in `word`; `&mut self` proves exclusive access.
        unsafe { self.base.add(offset).cast::<usize>().write(value) }
    }

    /// Writes the header and footer of a free block.
    fn set_free(&mut self, block: usize, size: usize) {
        self.set_word(block, size | PREV_ALLOCATED);
        self.set_word(block + size - WORD, size);
    }

    fn next_free(&self, block: usize) -> usize {
        self.word(block + WORD)
    }

    fn prev_free(&self, block: usize) -> usize {
        self.word(block + 2 * WORD)
    }

    /// Files the free block at `block` of `size` bytes under its class.
    fn push(&mut self, block: usize, size: usize) {
        let class = class_of(size);
        let head = self.heads[class];
        self.set_word(block + WORD, head);
        self.set_word(block + 2 * WORD, NIL);
        if head != NIL {
            self.set_word(head + 2 * WORD, block);
        }
        self.heads[class] = block;
        self.nonempty |= 1 << class;
        self.free_blocks += 1;
    }

    /// Takes the free block at `block`, filed with `size` bytes, off its
    /// class list.
    fn unlink(&mut self, block: usize, size: usize) {
        let (next, prev) = (self.next_free(block), self.prev_free(block));
        if prev == NIL {
            let class = class_of(size);
            self.heads[class] = next;
            if next == NIL {
                self.nonempty &= !(1 << class);
            }
        } else {
            self.set_word(prev + WORD, next);
        }
        if next != NIL {
            self.set_word(next + 2 * WORD, prev);
        }
        self.free_blocks -= 1;
    }

    /// Re-files a free block that changed from `old` to `new` bytes, when
    /// that moves it to another class.
    fn refile(&mut self, block: usize, old: usize, new: usize) {
        if class_of(old) != class_of(new) {
            self.unlink(block, old);
            self.push(block, new);
        }
    }

    /// The gap before a block of `need` bytes placed in the free block at
    /// `block` of `size` bytes so that its user pointer is `align`-aligned,
    /// or `None` when it does not fit. A gap is zero or a whole free block.
    fn placement(&self, block: usize, size: usize, need: usize, align: usize) -> Option<usize> {
        let user = self.base.addr().wrapping_add(block + WORD);
        let mut gap = user.wrapping_neg() & (align - 1);
        if gap != 0 && gap < MIN_BLOCK {
            // `align > GRANULE` here, so `align >= MIN_BLOCK`.
            gap += align;
        }
        (gap.checked_add(need)? <= size).then_some(gap)
    }

    /// Every larger class holds only larger blocks, so the largest block is
    /// in the highest non-empty class.
    fn largest_free(&self) -> usize {
        if self.nonempty == 0 {
            return 0;
        }
        let top = CLASSES - 1 - self.nonempty.leading_zeros() as usize;
        let (mut largest, mut node) = (0, self.heads[top]);
        while node != NIL {
            largest = largest.max(self.word(node) & !FLAGS);
            node = self.next_free(node);
        }
        largest.saturating_sub(WORD)
    }

    /// Walks at most `limit` blocks of a class list from `node`, keeping in
    /// `chosen` (block, its size, gap before the new block) the best
    /// placement of `need` bytes aligned to `align` so far. Returns whether
    /// the search is over (a first fit, or an exact fit) and the block where
    /// the limit stopped the walk (`NIL` at the end of the list).
    fn walk(
        &self,
        mut node: usize,
        limit: usize,
        need: usize,
        align: usize,
        fit: Fit,
        chosen: &mut Option<(usize, usize, usize)>,
    ) -> (bool, usize) {
        let mut walked = 0;
        while node != NIL {
            if walked == limit {
                return (false, node);
            }
            walked += 1;
            let block_size = self.word(node) & !FLAGS;
            if let Some(gap) = self.placement(node, block_size, need, align) {
                let better = match *chosen {
                    None => true,
                    Some((_, best_size, best_gap)) => block_size - gap < best_size - best_gap,
                };
                if better {
                    *chosen = Some((node, block_size, gap));
                }
                if fit == Fit::First || block_size - gap - need < MIN_BLOCK {
                    return (true, NIL);
                }
            }
            node = self.next_free(node);
        }
        (false, NIL)
    }

    fn allocate(&mut self, layout: Layout, fit: Fit) -> Result<Carved, AllocError> {
        check_request(layout, self.geometry.max_align())?;
        let size = layout.size();
        let max = self.geometry.capacity().saturating_sub(WORD);
        if size > max {
            return Err(AllocError::TooLarge { size, max });
        }
        // `size + WORD <= capacity`, so nothing here overflows.
        let need = (size + WORD).max(MIN_BLOCK).next_multiple_of(GRANULE);
        let align = layout.align().max(GRANULE);

        let mut chosen = None;
        let own = class_of(need);
        // Classes below the request's hold only smaller blocks.
        let mut classes = self.nonempty & (u128::MAX << own);
        // Where first fit left its own class unfinished.
        let mut own_rest = NIL;
        while classes != 0 {
            let class = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            // First fit gives up on its own class (whose blocks may all be
            // too small) after a few blocks when a larger class can serve.
            let limit = if fit == Fit::First && class == own && classes != 0 {
                FIRST_FIT_PROBES
            } else {
                usize::MAX
            };
            let (done, rest) = self.walk(self.heads[class], limit, need, align, fit, &mut chosen);
            if class == own {
                own_rest = rest;
            }
            // Every block of a larger class is larger than any of this one.
            if done || chosen.is_some() {
                break;
            }
        }
        if chosen.is_none() && own_rest != NIL {
            // Only over-aligned requests get here: no larger block could
            // be placed, so the rest of the own class is the last chance.
            self.walk(own_rest, usize::MAX, need, align, fit, &mut chosen);
        }
        let Some((free_block, free_size, gap)) = chosen else {
            return Err(AllocError::OutOfMemory {
                size,
                largest_free: self.largest_free(),
            });
        };

        let (block, prev_flag) = if gap == 0 {
            let prev_flag = self.word(free_block) & PREV_ALLOCATED;
            self.unlink(free_block, free_size);
            (free_block, prev_flag)
        } else {
            // The leading gap stays a free block, possibly of another class.
            self.refile(free_block, free_size, gap);
            self.set_free(free_block, gap);
            (free_block + gap, 0)
        };
        let rest = free_size - gap - need;
        let block_size = if rest >= MIN_BLOCK {
            self.set_free(block + need, rest);
            self.push(block + need, rest);
            need
        } else {
            let after = block + free_size - gap;
            let after_header = self.word(after);
            self.set_word(after, after_header | PREV_ALLOCATED);
            free_size - gap
        };
        let slack = block_size - WORD - size;
        // At most a granule of rounding, a minimum block of padding for tiny
        // requests and a tail too small to split.
        let slack_byte = u8::try_from(slack).expect("free list slack fits a byte");
        let slack_flag = if slack > 0 { HAS_SLACK } else { 0 };
        self.set_word(block, block_size | ALLOCATED | prev_flag | slack_flag);
        if slack > 0 {
            // SAFETY: the block's last byte is inside the heap (the block ends
            // at or before the sentinel) and behind the caller's `size`
            // bytes, so it is the allocator's; the lock gives exclusive access.
            unsafe { self.base.add(block + block_size - 1).write(slack_byte) };
        }

        // SAFETY: the user pointer lies inside the non-null region.
        let payload = unsafe { NonNull::new_unchecked(self.base.add(block + WORD)) };
        Ok(Carved {
            payload,
            consumed: block_size,
        })
    }

    /// The header offset of the live block whose user pointer is `ptr`,
    /// after plausibility checks that read only words proven in the heap.
    fn live_block(&self, ptr: NonNull<u8>) -> Result<usize, AllocError> {
        let Geometry { first, end } = self.geometry;
        let user = ptr.as_ptr().addr().wrapping_sub(self.base.addr());
        if user < first + WORD || user >= end || !(user - WORD - first).is_multiple_of(GRANULE) {
            return Err(AllocError::ForeignPointer);
        }
        let block = user - WORD;
        let header = self.word(block);
        let size = header & !FLAGS;
        if size < MIN_BLOCK || !size.is_multiple_of(GRANULE) || size > end - block {
            return Err(AllocError::ForeignPointer);
        }
        if header & ALLOCATED == 0 {
            return Err(AllocError::DoubleFree);
        }
        if self.word(block + size) & PREV_ALLOCATED == 0 {
            return Err(AllocError::ForeignPointer);
        }
        if header & PREV_ALLOCATED == 0 {
            if block == first {
                return Err(AllocError::ForeignPointer);
            }
            let prev_size = self.word(block - WORD);
            if prev_size < MIN_BLOCK
                || !prev_size.is_multiple_of(GRANULE)
                || prev_size > block - first
            {
                return Err(AllocError::ForeignPointer);
            }
            let prev_header = self.word(block - prev_size);
            if prev_header & !FLAGS != prev_size || prev_header & ALLOCATED != 0 {
                return Err(AllocError::ForeignPointer);
            }
        }
        Ok(block)
    }

    /// The requested size of the live block at `block`, from its slack byte.
    fn requested_size(&self, block: usize) -> usize {
        let header = self.word(block);
        let usable = (header & !FLAGS) - WORD;
        if header & HAS_SLACK == 0 {
            return usable;
        }
        // SAFETY: the block's last byte is inside the heap and is the
        // allocator's slack byte; the lock gives exclusive access.
        let slack = unsafe { self.base.add(block + usable + WORD - 1).read() };
        // A caller that wrote past its block may have clobbered the byte;
        // keep the counter plausible (`check` reports the mismatch).
        usable - usize::from(slack).clamp(1, usable - 1)
    }

    fn free(&mut self, ptr: NonNull<u8>) -> Result<Released, AllocError> {
        let block = self.live_block(ptr)?;
        let header = self.word(block);
        let size = header & !FLAGS;
        let requested = self.requested_size(block);

        // A stale header left inside a merged block must read as free, so a
        // second free of this pointer is reported.
        self.set_word(block, header & !(ALLOCATED | HAS_SLACK));
        let (mut start, mut merged) = (block, size);
        let next = block + size;
        let next_header = self.word(next);
        if next_header & ALLOCATED == 0 {
            let next_size = next_header & !FLAGS;
            self.unlink(next, next_size);
            merged += next_size;
        }
        let prev_is_free = header & PREV_ALLOCATED == 0;
        if prev_is_free {
            // Already on a list: it grows, and may change class.
            let prev_size = self.word(block - WORD);
            start -= prev_size;
            merged += prev_size;
            self.refile(start, prev_size, merged);
        } else {
            self.push(start, merged);
        }
        self.set_free(start, merged);
        let after = start + merged;
        let after_header = self.word(after);
        self.set_word(after, after_header & !PREV_ALLOCATED);
        Ok(Released {
            requested,
            consumed: size,
        })
    }

    fn check(&self, counters: &Counters, capacity: usize) -> Result<(), InvariantViolation> {
        let violation = |what, offset| Err(InvariantViolation { what, offset });
        let Geometry { first, end } = self.geometry;
        if end == first {
            return if self.nonempty == 0 && self.free_blocks == 0 && counters.used == 0 {
                Ok(())
            } else {
                violation("an empty heap has blocks", 0)
            };
        }

        // Physical walk: sizes tile the heap, flags agree with neighbours,
        // free blocks have footers and never touch.
        let mut recount = Counters::new();
        let mut free_blocks = 0;
        let mut prev_allocated = true;
        let mut block = first;
        while block < end {
            let header = self.word(block);
            let size = header & !FLAGS;
            if size < MIN_BLOCK || !size.is_multiple_of(GRANULE) || size > end - block {
                return violation("block size out of range", block);
            }
            if (header & PREV_ALLOCATED != 0) != prev_allocated {
                return violation(
                    "previous-allocated flag disagrees with the previous block",
                    block,
                );
            }
            if header & ALLOCATED == 0 {
                if !prev_allocated {
                    return violation("adjacent free blocks not coalesced", block);
                }
                if header & HAS_SLACK != 0 || self.word(block + size - WORD) != size {
                    return violation("free block footer disagrees with its header", block);
                }
                free_blocks += 1;
            } else {
                recount.allocated(self.requested_size(block), size);
            }
            prev_allocated = header & ALLOCATED != 0;
            block += size;
        }
        let sentinel = self.word(end);
        if sentinel & !PREV_ALLOCATED != ALLOCATED
            || (sentinel & PREV_ALLOCATED != 0) != prev_allocated
        {
            return violation("sentinel header damaged", end);
        }

        // The list holds exactly the free blocks, with consistent back links.
        if free_blocks != self.free_blocks {
            return violation("free block count disagrees with the heap", 0);
        }
        // Each class list holds free blocks of that class only, the bitmap
        // marks the non-empty ones, and the lists hold `free_blocks` in all
        // (bounding the walk even if a list has a cycle).
        let mut listed = 0;
        for (class, &head) in self.heads.iter().enumerate() {
            if (head != NIL) != (self.nonempty & (1 << class) != 0) {
                return violation("class bitmap disagrees with the class lists", 0);
            }
            let (mut prev, mut node) = (NIL, head);
            while node != NIL {
                if listed == free_blocks {
                    return violation(
                        "free lists longer than the free blocks (cycle?)",
                        node.min(end),
                    );
                }
                if node < first || node >= end || !(node - first).is_multiple_of(GRANULE) {
                    return violation("free list link outside the heap", node.min(end));
                }
                let header = self.word(node);
                if header & ALLOCATED != 0 {
                    return violation("allocated block on the free list", node);
                }
                if class_of(header & !FLAGS) != class {
                    return violation("free block filed under the wrong size class", node);
                }
                if self.prev_free(node) != prev {
                    return violation("free list back link broken", node);
                }
                listed += 1;
                (prev, node) = (node, self.next_free(node));
            }
        }
        if listed != free_blocks {
            return violation("free lists miss some free blocks", 0);
        }

        counters
            .check_against(&recount, capacity)
            .or_else(|what| violation(what, 0))
    }
}

/// The size class of a block of `size` bytes (a multiple of the granule, at
/// least a minimum block): one class per granule count below
/// [`EXACT_CLASSES`], then `1 << SUB_BITS` classes per power of two, the last
/// class open-ended. Classes are monotonic in the size, so a block of a
/// larger class than a request's is larger than the request.
fn class_of(size: usize) -> usize {
    let granules = size / GRANULE;
    if granules < EXACT_CLASSES {
        return granules;
    }
    // `granules >= 8`, so `log2 >= 3 > SUB_BITS`.
    let log2 = granules.ilog2();
    let sub = (granules >> (log2 - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    let class = EXACT_CLASSES + (((log2 - 3) as usize) << SUB_BITS) + sub;
    class.min(CLASSES - 1)
}
