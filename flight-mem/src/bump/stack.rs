//! See [`Stack`].

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::allocator::check_request;
use crate::sync::{AtomicU64, AtomicUsize, Ordering, const_fn};
use crate::{
    AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawAllocator, RawMemory,
};

/// Bytes of the header before every block: the previous `end` and `top`.
const HEADER: usize = 8;

/// `(end, top)`: the first unused byte and the data offset of the top block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Top {
    end: usize,
    top: usize,
}

impl Top {
    const EMPTY: Self = Self { end: 0, top: 0 };

    #[inline]
    fn pack(self) -> u64 {
        // Both are at most `len <= u32::MAX`.
        self.end as u64 | (self.top as u64) << 32
    }

    #[inline]
    fn unpack(word: u64) -> Self {
        Self {
            end: (word & 0xFFFF_FFFF) as usize,
            top: (word >> 32) as usize,
        }
    }
}

/// A position of a [`Stack`] to release back to with [`Stack::release_to`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackMarker(Top);

impl StackMarker {
    /// The bytes in use when the marker was taken.
    pub const fn used(&self) -> usize {
        self.0.end
    }
}

/// A lock-free LIFO allocator with [markers](Stack::marker).
///
/// * Allocation and `free` O(1) (one CAS each); only the top block can be
///   freed, anything else is refused with nothing changed;
///   [`release_to`](Stack::release_to) is O(blocks released).
/// * Per-block overhead: an 8-byte header ([`Stack::HEADER_SIZE`]) plus
///   alignment padding; any power-of-two alignment; less than 4 GiB.
///
/// A lock-free LIFO stack allocator with markers.
///
/// # Algorithm
///
/// Blocks are carved upwards from the start of the memory. The whole state is
/// one `AtomicU64` packing two 32-bit offsets: `end`, the first unused byte,
/// and `top`, where the data of the topmost block starts (0 when empty).
/// Every block is preceded by an 8-byte header holding the `(end, top)` the
/// stack had before the block was pushed:
///
/// ```text
/// | .. previous block | padding | header: prev end, prev top | data .. | end
///                                                            ^ top
/// ```
///
/// * `allocate` places the header and aligned data at `end` and publishes
///   `(data + size, data)` with a CAS, then writes the header into its own,
///   now reserved, bytes. O(1) plus CAS retries under contention.
/// * `free(ptr)` succeeds only when `ptr` is `top`: it reads the header and
///   swaps the state back to `(prev end, prev top)` with a CAS. O(1). Any
///   other pointer changes nothing: inside the used part it is
///   [`AllocError::OutOfOrder`], in the unused part [`AllocError::DoubleFree`]
///   (the block was freed already), outside the memory
///   [`AllocError::ForeignPointer`]. Only the top block's header is read: it is
///   the caller's own block, so no other thread writes there (reading other
///   headers could race a concurrent push). As a consequence an interior
///   pointer of a lower block reads as `OutOfOrder`.
/// * A block's header is written only while its bytes are reserved and read
///   only by the block's owner, and the header of a live block never changes,
///   so the `(end, top)` pair cannot suffer ABA: it names the same block with
///   the same header for as long as that block lives.
/// * [`Stack::marker`] records `(end, top)`; [`Stack::release_to`] walks the
///   headers from the top down to the marker (so that the statistics stay
///   exact), O(blocks released), and restores it.
///
/// # Limits and costs
///
/// * Per-block overhead: an 8-byte header plus alignment padding; a 64-byte
///   request aligned to 8 consumes 72 bytes when `end` is aligned.
/// * At most 4 GiB - 1 bytes (32-bit offsets); [`Stack::new`] rejects more.
/// * Alignment: any power of two; padding counts as used.
/// * Thread safety: lock-free on targets with 64-bit CAS (`portable-atomic`
///   emulates it on 32-bit targets). LIFO order is per stack, not per thread:
///   a thread can free its block only while nobody has pushed above it.
/// * [`RawAllocator::check`] validates the state word but does not walk the
///   headers, which a concurrent push may be writing.
///
/// # Example
///
/// ```
/// use flight_mem::{AllocError, Arena, RawAllocator, RawMemory, Stack};
/// use core::alloc::Layout;
///
/// static ARENA: Arena<4096> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static TEMP: Stack = Stack::new(unsafe { RawMemory::from_arena(&ARENA) });
///
/// let layout = Layout::new::<[u64; 8]>();
/// let a = TEMP.allocate(layout).unwrap().cast::<u8>();
/// let b = TEMP.allocate(layout).unwrap().cast::<u8>();
/// // SAFETY: `a` and `b` come from TEMP and are not used after being freed.
/// unsafe {
///     assert_eq!(TEMP.free(a), Err(AllocError::OutOfOrder));
///     TEMP.free(b).unwrap();
///     TEMP.free(a).unwrap();
/// }
/// assert_eq!(TEMP.stats().used, 0);
/// ```
pub struct Stack {
    memory: RawMemory,
    state: AtomicU64,
    requested: AtomicUsize,
    live: AtomicUsize,
    peak: AtomicUsize,
    allocations: AtomicU64,
    deallocations: AtomicU64,
    failures: AtomicU64,
}

// SAFETY: the shared state is atomics; headers are written by the pusher into
// bytes its CAS reserved and read only by the block's owner (`free`) or under
// `release_to`'s contract that the released blocks are dead.
unsafe impl Sync for Stack {}
// SAFETY: the allocator owns its memory range; moving it moves that ownership.
unsafe impl Send for Stack {}

impl Stack {
    /// Bytes of bookkeeping before every block.
    pub const HEADER_SIZE: usize = HEADER;

    const_fn! {
        /// A stack over `memory`.
        ///
        /// # Panics
        ///
        /// When `memory` is 4 GiB or longer (at compile time in a `static`).
        pub fn new(memory: RawMemory) -> Self {
            assert!(
                memory.len() as u64 <= u32::MAX as u64,
                "flight-mem: a `Stack` manages less than 4 GiB (its offsets are 32 bits)"
            );
            Self {
                memory,
                state: AtomicU64::new(0),
                requested: AtomicUsize::new(0),
                live: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                allocations: AtomicU64::new(0),
                deallocations: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }
        }
    }

    #[inline]
    fn load(&self) -> Top {
        Top::unpack(self.state.load(Ordering::Acquire))
    }

    /// The data offset and end of `layout` pushed on `end`, if it fits.
    #[inline]
    fn place(&self, end: usize, layout: Layout) -> Option<(usize, usize)> {
        let header_end = end.checked_add(HEADER)?;
        let addr = self.memory.as_ptr().addr().wrapping_add(header_end);
        let data = header_end.checked_add(addr.wrapping_neg() & (layout.align() - 1))?;
        let new_end = data.checked_add(layout.size())?;
        (new_end <= self.memory.len()).then_some((data, new_end))
    }

    /// The current position, to release back to with [`Stack::release_to`].
    pub fn marker(&self) -> StackMarker {
        StackMarker(self.load())
    }

    /// Frees every block pushed after `marker` was taken.
    ///
    /// Refuses with [`AllocError::OutOfOrder`], changing nothing, a marker
    /// that is no longer on the stack (a block below it was freed).
    ///
    /// # Safety
    ///
    /// `marker` was taken on this stack; no block pushed after it is used
    /// after this call, and every access to those blocks (and every push of
    /// them) happens before it.
    pub unsafe fn release_to(&self, marker: StackMarker) -> Result<(), AllocError> {
        let target = marker.0;
        let mut current = self.load();
        loop {
            let (mut block, mut released, mut requested) = (current, 0usize, 0usize);
            while block != target {
                if block.end <= target.end || block.top < HEADER || block.top > block.end {
                    return Err(AllocError::OutOfOrder);
                }
                // SAFETY: `HEADER <= top <= end <= len`, so the header lies
                // inside the memory; the block is above the marker, so by the
                // contract its push (which wrote the header) happened before
                // this call and no one writes there any more.
                let below = unsafe { self.read_header(block.top) };
                if !Self::header_fits_below(below, block.top) {
                    return Err(AllocError::OutOfOrder);
                }
                released += 1;
                requested += block.end - block.top;
                block = below;
            }
            match self.state.compare_exchange(
                current.pack(),
                target.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.live.fetch_sub(released, Ordering::Relaxed);
                    self.requested.fetch_sub(requested, Ordering::Relaxed);
                    self.deallocations
                        .fetch_add(released as u64, Ordering::Relaxed);
                    return Ok(());
                }
                Err(seen) => current = Top::unpack(seen),
            }
        }
    }

    /// Frees every block: safe, as `&mut self` proves no one else uses the
    /// stack. Raw pointers from [`RawAllocator::allocate`] become dangling.
    pub fn reset_mut(&mut self) {
        let live = self.live.swap(0, Ordering::Relaxed);
        self.state.store(Top::EMPTY.pack(), Ordering::Release);
        self.requested.store(0, Ordering::Relaxed);
        self.deallocations.fetch_add(live as u64, Ordering::Relaxed);
    }

    /// Whether a header read at data offset `top` can belong to a block
    /// there: it points strictly below its own header.
    #[inline]
    fn header_fits_below(below: Top, top: usize) -> bool {
        below.end <= top - HEADER && below.top <= below.end && (below.top == 0) == (below.end == 0)
    }

    /// # Safety
    ///
    /// `HEADER <= top <= len`, and the header of the block at `top` was
    /// written before this call with no write racing it.
    unsafe fn read_header(&self, top: usize) -> Top {
        let at = self
            .memory
            .as_ptr()
            .wrapping_add(top - HEADER)
            .cast::<[u32; 2]>();
        // SAFETY: the caller guarantees the 8 bytes are inside the memory and
        // not concurrently written; unaligned reads need no alignment.
        let [end, top] = unsafe { at.read_unaligned() };
        Top {
            end: end as usize,
            top: top as usize,
        }
    }
}

// SAFETY: a block is the range `data..data + size` that one successful CAS
// moved `end` across: inside the memory, aligned by `place`, disjoint from
// every block below (which ends at or before its header) and above (pushed
// after it). It is valid until it is freed or released, which happens only
// when it is on top or above a marker.
unsafe impl RawAllocator for Stack {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if let Err(err) = check_request(layout, usize::MAX) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(err);
        }
        let mut current = self.load();
        loop {
            let Some((data, new_end)) = self.place(current.end, layout) else {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let max = self.place(
                    0,
                    Layout::from_size_align(1, layout.align()).unwrap_or(Layout::new::<u8>()),
                );
                let max = max.map_or(0, |(data, _)| self.memory.len() - data);
                return Err(if layout.size() > max {
                    AllocError::TooLarge {
                        size: layout.size(),
                        max,
                    }
                } else {
                    AllocError::OutOfMemory {
                        size: layout.size(),
                        largest_free: self.memory.len().saturating_sub(current.end + HEADER),
                    }
                });
            };
            let next = Top {
                end: new_end,
                top: data,
            };
            match self.state.compare_exchange_weak(
                current.pack(),
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let header = self
                        .memory
                        .as_ptr()
                        .wrapping_add(data - HEADER)
                        .cast::<[u32; 2]>();
                    // SAFETY: `current.end <= data - HEADER` and `data <= len`:
                    // the header is inside the memory, in bytes the CAS just
                    // reserved for this block, so no one else accesses them.
                    unsafe { header.write_unaligned([current.end as u32, current.top as u32]) };
                    self.allocations.fetch_add(1, Ordering::Relaxed);
                    self.live.fetch_add(1, Ordering::Relaxed);
                    self.requested.fetch_add(layout.size(), Ordering::Relaxed);
                    self.peak.fetch_max(new_end, Ordering::Relaxed);
                    // SAFETY: `data < len`: inside the memory, so not null.
                    let ptr =
                        unsafe { NonNull::new_unchecked(self.memory.as_ptr().wrapping_add(data)) };
                    return Ok(NonNull::slice_from_raw_parts(ptr, layout.size()));
                }
                Err(seen) => current = Top::unpack(seen),
            }
        }
    }

    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        if !self.memory.contains(ptr.as_ptr()) {
            return Err(AllocError::ForeignPointer);
        }
        let offset = ptr.as_ptr().addr() - self.memory.as_ptr().addr();
        if offset < HEADER {
            return Err(AllocError::ForeignPointer);
        }
        let mut current = self.load();
        loop {
            if offset != current.top {
                return Err(if offset < current.end {
                    AllocError::OutOfOrder
                } else {
                    AllocError::DoubleFree
                });
            }
            // SAFETY: `HEADER <= offset == top <= end <= len`; by `free`'s
            // contract the block is the caller's, whose push wrote the header
            // before handing it out, and nobody writes a live block's header.
            let below = unsafe { self.read_header(offset) };
            if !Self::header_fits_below(below, offset) {
                return Err(AllocError::ForeignPointer);
            }
            match self.state.compare_exchange(
                current.pack(),
                below.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.live.fetch_sub(1, Ordering::Relaxed);
                    self.requested
                        .fetch_sub(current.end - offset, Ordering::Relaxed);
                    self.deallocations.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(seen) => current = Top::unpack(seen),
            }
        }
    }

    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.memory.contains(ptr.as_ptr())
    }

    fn capacity(&self) -> usize {
        self.memory.len()
    }

    fn stats(&self) -> AllocatorStats {
        let current = self.load();
        let capacity = self.memory.len();
        let mut stats = AllocatorStats::empty(capacity);
        stats.used = current.end;
        stats.peak = self.peak.load(Ordering::Relaxed).max(current.end);
        stats.requested = self.requested.load(Ordering::Relaxed);
        stats.live = self.live.load(Ordering::Relaxed);
        stats.allocations = self.allocations.load(Ordering::Relaxed);
        stats.deallocations = self.deallocations.load(Ordering::Relaxed);
        stats.failures = self.failures.load(Ordering::Relaxed);
        stats.largest_free = capacity.saturating_sub(current.end + HEADER);
        stats
    }

    fn kind(&self) -> AllocatorKind {
        AllocatorKind::Stack
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        let Top { end, top } = self.load();
        let what = if end > self.memory.len() {
            "stack end beyond the memory"
        } else if top > end {
            "top block beyond the stack end"
        } else if (top == 0) != (end == 0) || (top != 0 && top < HEADER) {
            "top block and stack end disagree"
        } else {
            return Ok(());
        };
        Err(InvariantViolation { what, offset: end })
    }
}

crate::allocator::impl_allocator_api2!(Stack);
crate::allocator::inherent_surface!(Stack);
