//! See [`FreeList`]. The public type lives here, the block format and the
//! algorithm behind the lock in `engine`.

mod engine;
#[cfg(test)]
mod tests;

use core::alloc::Layout;
use core::ptr::NonNull;

#[cfg(doc)]
use crate::AllocatorStats;
#[cfg(doc)]
use crate::allocator::RawAllocator;
use crate::heap::locked::{Carved, HeapEngine, LockedHeap, Released, locked_heap_surface};
use crate::stats::Counters;
use crate::sync::const_fn;
use crate::{AllocError, AllocatorKind, InvariantViolation, RawMemory};
use engine::{Geometry, State};

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
/// The free blocks are segregated by size into classes: one per size
/// below eight granules, then four per power of two, the last class taking
/// every larger block. Each class is a doubly-linked list, newest first, and
/// one bit per class (a word beside the lock) says whether it is empty; the
/// list heads live in the region (see *Overhead*). Allocation starts at the
/// request's own class (whose blocks may be
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
/// * per region: the class heads, one word each, carved from the start of
///   the region in front of the first block (and outside the capacity), so
///   the allocator's own size does not grow with them. A region gets as
///   many classes as its largest possible block needs, at most one head
///   word per 128 words of region (the table ≤ 1/128 of it) and at most 64
///   (32 on 32-bit targets, where blocks of 5 KiB and up share the last): a
///   16 MiB region on a 64-bit target has 64 classes (512 bytes; blocks of
///   2.5 MiB and up share the last), a 6 KiB region on a
///   32-bit target 11 (44 bytes), and a region under 2 KiB (1 KiB on
///   32-bit) one class, the plain first-fit list, whose head word fits in the
///   alignment padding of a granule-aligned region;
/// * per allocator: the lock, the counters, the region and five words of
///   state (region start, first and end block, last class, the class
///   bitmap), the same as before size classes. When empty, one allocation of
///   `capacity - word` bytes succeeds.
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
