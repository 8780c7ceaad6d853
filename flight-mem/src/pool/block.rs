//! [`BlockPool`]: a lock-free pool of untyped fixed-size blocks.
//!
//! The algorithm, costs and layout are documented on the type.

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::allocator::check_request;
use crate::pool::free_slots::{self, FreeStack, LINK_ALIGN, LINK_SIZE, Links};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use crate::{
    AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawAllocator, RawMemory,
};

/// A lock-free, ABA-safe pool of untyped blocks of one size and alignment.
///
/// # Algorithm
///
/// The memory is cut into `slots` equal blocks followed by a side table of
/// one 4-byte link word per block; free blocks form a tagged Treiber stack
/// threaded through the side table, never through the blocks (see the
/// `free_stack` module for the ABA and data-race argument). Blocks never used
/// yet are handed out by a bump counter, so the memory needs no
/// initialisation: a `static` pool works on its first call from any thread.
/// The counter hands them out spread 16 blocks apart (block 0, 16, 32, …;
/// see the `spread` module), so that blocks in use close together never
/// share a cache line of link words (nor, for blocks of 4 bytes or more,
/// of block bytes): two threads through their own magazines then write no
/// common line.
///
/// * **Time:** allocation is one pop (one CAS of the head, retried only
///   under contention) or, when the stack is empty and unused blocks remain,
///   one bump; free is one push (one CAS of the head). No lock on either
///   path, and no other read-modify-write for blocks requested at their full
///   size: the counters are derived from the stack head and the bump
///   counter (see the `free_stack` module). A smaller request adds one relaxed
///   `fetch_add`/`fetch_sub` each way for `requested`; a pool of 65,536
///   blocks or more adds one relaxed `fetch_add` per free.
/// * **Per-block overhead:** nothing inside the block; 4 bytes of side table
///   per block, plus the block size rounded up to the block alignment (the
///   *stride*). `used` counts the stride of every live block.
/// * **Worst case:** a pop or push retries once per competing successful
///   operation (lock-free, not wait-free); with no contention both are O(1).
/// * **Alignment:** every block is aligned to `block_align`; requests with a
///   larger alignment are refused with [`AllocError::AlignmentTooLarge`],
///   requests larger than `block_size` with [`AllocError::TooLarge`].
/// * **Thread safety:** atomics only. The head is an `AtomicU64`; on targets
///   without native 64-bit atomics (thumbv7em, thumbv6m) `portable-atomic`
///   provides it with its lock-based or critical-section fallback. Statistics
///   are exact whenever no operation is in flight.
/// * **Checking:** [`RawAllocator::check`] walks the free stack (O(free
///   blocks)); it may run concurrently with allocation and frees, trusts only
///   walks during which the stack head did not move, and reports nothing if
///   it cannot get such a walk in a few attempts.
///
/// # Memory layout and sizing
///
/// `[ block 0 | block 1 | … | block n-1 ][pad][ link 0 | … | link n-1 ]`
///
/// The constructor is `const`, so it cannot see where the memory will be:
/// it computes the slot count assuming the memory starts on a `block_align`
/// boundary, as [`BlockPool::bytes_for`] does. That is what a static
/// [`Arena`](crate::Arena) (page-aligned) and the layout macro provide. Memory
/// that turns out to be misaligned at run time still works: the pool aligns
/// the first block up and keeps as many slots as then fit (possibly fewer,
/// possibly none).
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{Arena, BlockPool, RawAllocator, RawMemory};
///
/// const PACKET: usize = 1536;
/// static PACKET_MEMORY: Arena<{ BlockPool::bytes_for(PACKET, 64, 8) }> = Arena::new();
/// // SAFETY: PACKET_MEMORY is given to this pool and nothing else.
/// static PACKETS: BlockPool =
///     BlockPool::new(unsafe { RawMemory::from_arena(&PACKET_MEMORY) }, PACKET, 64);
///
/// assert_eq!(PACKETS.slots(), 8);
/// let block = PACKETS.allocate(Layout::from_size_align(1500, 64).unwrap()).unwrap();
/// assert_eq!(block.len(), PACKET);
/// assert_eq!(PACKETS.stats().used, PACKET);
/// // SAFETY: `block` came from PACKETS and is not used afterwards.
/// unsafe { PACKETS.free(block.cast()) }.unwrap();
/// assert_eq!(PACKETS.len(), 0);
/// ```
pub struct BlockPool {
    memory: RawMemory,
    pub(crate) block_size: usize,
    pub(crate) block_align: usize,
    /// `block_size` rounded up to `block_align`: the distance between blocks.
    pub(crate) stride: usize,
    /// Slots when the memory starts on a `block_align` boundary.
    aligned_slots: u32,
    /// Also the source of `allocations`, `deallocations`, `live` and `peak`
    /// (see `FreeStack::counts`).
    pub(crate) stack: FreeStack,
    pub(crate) failures: AtomicU64,
    /// Sum over live blocks of `block_size - requested size`; touched only
    /// by requests smaller than the block.
    pub(crate) slack: AtomicUsize,
    /// How a block offset becomes a slot index without a run-time division.
    divisor: Divisor,
    /// The correction magazines publish when they drop, added to both
    /// `allocations` and `deallocations` so that they count what users did,
    /// not the batches the magazines moved (wrapping; see `pool::local`).
    pub(crate) handle_correction: AtomicU64,
}

/// A block offset divided by the stride, precomputed: a shift for a
/// power-of-two stride, otherwise Lemire's multiplier `ceil(2^64 / stride)`,
/// exact for offsets and strides below 2^32 ("Faster Remainder by Direct
/// Computation", Lemire, Kaser, Kurz, 2019).
#[derive(Clone, Copy)]
struct Divisor {
    /// `stride - 1` when the stride is a power of two, else `usize::MAX`.
    pow2_mask: usize,
    shift: u32,
    /// 0 when neither trick applies (a stride of 2^32 or more): divide.
    magic: u64,
}

impl Divisor {
    const fn new(stride: usize) -> Self {
        if stride.is_power_of_two() {
            Self {
                pow2_mask: stride - 1,
                shift: stride.trailing_zeros(),
                magic: 0,
            }
        } else {
            let magic = if (stride as u64) < 1 << 32 {
                u64::MAX / stride as u64 + 1
            } else {
                0
            };
            Self {
                pow2_mask: usize::MAX,
                shift: 0,
                magic,
            }
        }
    }

    /// `offset / stride` when `offset` is a multiple of `stride`.
    #[inline(always)]
    fn exact_quotient(self, offset: usize, stride: usize) -> Option<usize> {
        if self.pow2_mask != usize::MAX {
            return (offset & self.pow2_mask == 0).then_some(offset >> self.shift);
        }
        if self.magic != 0 && (offset as u64) < 1 << 32 {
            let n = offset as u64;
            // `n * magic mod 2^64 < magic` exactly when `stride` divides `n`.
            if n.wrapping_mul(self.magic) > self.magic - 1 {
                return None;
            }
            return Some(((u128::from(self.magic) * u128::from(n)) >> 64) as usize);
        }
        Self::divide(offset, stride)
    }

    #[cold]
    fn divide(offset: usize, stride: usize) -> Option<usize> {
        offset.is_multiple_of(stride).then(|| offset / stride)
    }
}

/// Where the blocks and the side table are, worked out from the actual
/// address of the memory.
pub(crate) struct Geometry<'a> {
    pub(crate) blocks: *mut u8,
    pub(crate) links: Links<'a>,
}

impl Geometry<'_> {
    #[inline]
    fn slots(&self) -> u32 {
        self.links.len()
    }
}

/// Why a block geometry is impossible; `None` means it is fine.
const fn geometry_error(block_size: usize, block_align: usize) -> Option<&'static str> {
    if block_size == 0 {
        Some("flight-mem: a block pool's block size must not be zero")
    } else if !block_align.is_power_of_two() {
        Some("flight-mem: a block pool's alignment must be a power of two")
    } else if block_size > free_slots::MAX_BLOCK_SIZE {
        Some("flight-mem: a pool block must be smaller than 4 GiB - 2 bytes")
    } else if block_size.checked_next_multiple_of(block_align).is_none() {
        Some("flight-mem: a pool's block size rounded up to its alignment overflows usize")
    } else {
        None
    }
}

/// Worst-case padding between the last block and the side table, for
/// memory that starts on a `block_align` boundary.
const fn table_padding(block_align: usize) -> usize {
    // The blocks end on a `block_align` boundary (the stride is a multiple).
    LINK_ALIGN.saturating_sub(block_align)
}

/// How many blocks of `stride` bytes, with their links, fit in `len` bytes
/// that start on a `block_align` boundary.
const fn slots_fitting(len: usize, block_size: usize, block_align: usize, stride: usize) -> u32 {
    let usable = len.saturating_sub(table_padding(block_align));
    // `stride + LINK_SIZE` cannot overflow: `bytes_for` and the constructors
    // reject strides that close to `usize::MAX` before getting here.
    let fit = usable / (stride + LINK_SIZE);
    let max = free_slots::max_slots(block_size) as usize;
    if fit < max { fit as u32 } else { max as u32 }
}

impl BlockPool {
    crate::sync::const_fn! {
        /// A pool of `block_size`-byte blocks aligned to `block_align` in
        /// `memory`, with as many blocks as fit after the side table.
        ///
        /// # Panics
        ///
        /// If `block_size` is zero or at least 4 GiB − 2, if `block_align`
        /// is not a power of two, or if `memory` cannot hold one block and
        /// its link word. In a `static` these are compile errors.
        pub fn new(memory: RawMemory, block_size: usize, block_align: usize) -> Self {
            if let Some(message) = geometry_error(block_size, block_align) {
                panic!("{}", message);
            }
            let pool = Self::with_geometry(memory, block_size, block_align);
            assert!(
                pool.aligned_slots > 0,
                "flight-mem: a block pool's memory cannot hold one block and its 4-byte link"
            );
            pool
        }
    }

    crate::sync::const_fn! {
        /// A pool of 1-byte blocks over none of `memory` (its first zero
        /// bytes): no slots, so it never hands out a block and never touches
        /// memory. What a layout's static holds for a pool the macro's own
        /// assertion refuses (see `__private::block_pool`).
        pub(crate) fn without_slots(memory: RawMemory) -> Self {
            let empty = match memory.split_at(0) {
                Some((empty, _)) => empty,
                None => unreachable!(),
            };
            Self::with_geometry(empty, 1, 1)
        }
    }

    crate::sync::const_fn! {
        /// The pool over `memory` for a geometry `geometry_error` accepts.
        pub(crate) fn with_geometry(memory: RawMemory, block_size: usize, block_align: usize) -> Self {
            let stride = block_size.next_multiple_of(block_align);
            let aligned_slots = if stride > usize::MAX - LINK_SIZE {
                0
            } else {
                slots_fitting(memory.len(), block_size, block_align, stride)
            };
            let pool = Self {
                memory,
                block_size,
                block_align,
                stride,
                aligned_slots,
                stack: FreeStack::new(aligned_slots),
                failures: AtomicU64::new(0),
                slack: AtomicUsize::new(0),
                divisor: Divisor::new(stride),
                handle_correction: AtomicU64::new(0),
            };
            // Loom's atomics are objects that must be constructed before use;
            // real atomics are plain memory the stack writes before reading.
            #[cfg(loom)]
            pool.init_links_for_loom();
            pool
        }
    }

    /// Bytes of memory a pool needs for `count` blocks of `block_size` bytes
    /// aligned to `block_align`: the blocks (each rounded up to the
    /// alignment), 4 bytes of side table per block, and the worst-case
    /// padding before the table.
    ///
    /// Assumes the memory starts on a `block_align` boundary, as the
    /// constructor does.
    ///
    /// # Panics
    ///
    /// For a geometry [`BlockPool::new`] rejects, for `count` above the
    /// slot limit (`u32::MAX - 1 - block_size`), or if the result overflows
    /// `usize`. In a constant these are compile errors.
    pub const fn bytes_for(block_size: usize, block_align: usize, count: usize) -> usize {
        if let Some(message) = geometry_error(block_size, block_align) {
            panic!("{}", message);
        }
        assert!(
            count <= free_slots::max_slots(block_size) as usize,
            "flight-mem: too many pool slots for the 32-bit slot index"
        );
        if count == 0 {
            return 0;
        }
        let stride = block_size.next_multiple_of(block_align);
        match stride.checked_add(LINK_SIZE) {
            Some(per_slot) => match per_slot.checked_mul(count) {
                Some(bytes) => match bytes.checked_add(table_padding(block_align)) {
                    Some(total) => total,
                    None => panic!("flight-mem: pool size overflows usize"),
                },
                None => panic!("flight-mem: pool size overflows usize"),
            },
            None => panic!("flight-mem: pool size overflows usize"),
        }
    }

    /// [`bytes_for`](Self::bytes_for), or `None` where it would panic: for
    /// generated code, whose own assertion then names the entry.
    pub(crate) const fn checked_bytes_for(
        block_size: usize,
        block_align: usize,
        count: usize,
    ) -> Option<usize> {
        if geometry_error(block_size, block_align).is_some()
            || count > free_slots::max_slots(block_size) as usize
        {
            return None;
        }
        if count == 0 {
            return Some(0);
        }
        let stride = block_size.next_multiple_of(block_align);
        match stride.checked_add(LINK_SIZE) {
            Some(per_slot) => match per_slot.checked_mul(count) {
                Some(bytes) => bytes.checked_add(table_padding(block_align)),
                None => None,
            },
            None => None,
        }
    }

    /// A per-thread magazine: a cache of free blocks refilled from and
    /// flushed to this pool in batches of 16 with one CAS each (see
    /// [`BlockMagazine`](crate::BlockMagazine)).
    pub fn local(&self) -> crate::BlockMagazine<'_> {
        crate::BlockMagazine::new(self)
    }

    /// The size of every block.
    #[inline]
    pub const fn block_size(&self) -> usize {
        self.block_size
    }

    /// The alignment of every block.
    #[inline]
    pub const fn block_align(&self) -> usize {
        self.block_align
    }

    /// How many blocks the pool holds.
    #[inline]
    pub fn slots(&self) -> usize {
        self.geometry().slots() as usize
    }

    /// Live blocks.
    #[inline]
    pub fn len(&self) -> usize {
        self.live()
    }

    /// Whether no block is live.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks that can still be allocated.
    #[inline]
    pub fn available(&self) -> usize {
        self.slots() - self.live()
    }

    /// Live blocks according to the free stack (exact when quiescent).
    #[inline]
    fn live(&self) -> usize {
        // In-flight operations can make the count overshoot for a moment.
        let slots = self.geometry().slots();
        (self.stack.counts(slots).live as usize).min(slots as usize)
    }

    /// Where blocks and links are for the memory's actual address.
    #[inline]
    pub(crate) fn geometry(&self) -> Geometry<'_> {
        let start = self.memory.as_ptr();
        let misalignment = start.addr() & (self.block_align - 1);
        let (blocks, slots) = if misalignment == 0 {
            (start, self.aligned_slots)
        } else {
            self.misaligned_geometry(misalignment)
        };
        let blocks_end = blocks.wrapping_add(slots as usize * self.stride);
        let table_pad = blocks_end.addr().wrapping_neg() & (LINK_ALIGN - 1);
        let table = blocks_end
            .wrapping_add(table_pad)
            .cast::<crate::sync::AtomicU32>();
        // SAFETY: with `slots` blocks from `blocks`, the padding and the
        // table fit in the memory (`slots_fitting` reserved the worst-case
        // padding, and `blocks` is `block_align`-aligned either way), so the
        // table is inside the memory the pool owns, aligned, and only ever
        // accessed atomically. The memory pointer is not null unless
        // `slots == 0`, when the table is never dereferenced; `dangling`
        // covers that case.
        let links =
            unsafe { Links::new(NonNull::new(table).unwrap_or(NonNull::dangling()), slots) };
        Geometry { blocks, links }
    }

    #[cold]
    fn misaligned_geometry(&self, misalignment: usize) -> (*mut u8, u32) {
        let pad = self.block_align - misalignment;
        let len = self.memory.len().saturating_sub(pad);
        let slots = slots_fitting(len, self.block_size, self.block_align, self.stride);
        (
            self.memory.as_ptr().wrapping_add(pad),
            slots.min(self.aligned_slots),
        )
    }

    #[cfg(loom)]
    fn init_links_for_loom(&self) {
        // SAFETY: the table is inside the pool's memory (see `geometry`) and
        // nothing has accessed it yet.
        unsafe { self.geometry().links.init_for_loom() };
    }

    /// Takes a block for a request of `block_size - slack` bytes.
    #[inline(always)]
    #[cfg_attr(feature = "track", track_caller)]
    pub(crate) fn acquire(&self, slack: usize) -> Option<NonNull<u8>> {
        let geometry = self.geometry();
        let Some(index) = self
            .stack
            .pop(geometry.links, free_slots::live_mark(slack as u32))
        else {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        // `allocations`, `live` and `peak` follow from the stack's own state.
        if slack != 0 {
            self.slack.fetch_add(slack, Ordering::Relaxed);
        }
        let block = geometry.blocks.wrapping_add(index as usize * self.stride);
        // SAFETY: `index < slots`, so the block lies inside the pool's memory,
        // whose start is not null when it holds any slot.
        let block = unsafe { NonNull::new_unchecked(block) };
        let requested = self.block_size - slack;
        let tracked = crate::track::allocated(
            self,
            requested,
            Ok(NonNull::slice_from_raw_parts(block, requested)),
        );
        tracked.ok().map(NonNull::cast)
    }

    /// Returns the block at `ptr`. `stride` is `Some(self.stride)` as a
    /// constant (a typed pool's, which the compiler turns into a cheap
    /// division) or `None`, for the precomputed shift or multiplier.
    ///
    /// # Safety
    ///
    /// If `ptr` is a block this pool handed out, that allocation happened
    /// before this call (see `FreeStack::push`).
    #[inline]
    pub(crate) unsafe fn release(
        &self,
        ptr: NonNull<u8>,
        stride: Option<usize>,
    ) -> Result<(), AllocError> {
        // SAFETY: forwarded from the caller.
        crate::track::freed(self, ptr, || unsafe { self.release_untracked(ptr, stride) })
    }

    /// `release` without the `track` hook.
    ///
    /// # Safety
    ///
    /// As for `release`.
    #[inline(always)]
    unsafe fn release_untracked(
        &self,
        ptr: NonNull<u8>,
        stride: Option<usize>,
    ) -> Result<(), AllocError> {
        let geometry = self.geometry();
        let offset = ptr.as_ptr().addr().wrapping_sub(geometry.blocks.addr());
        let index = match stride {
            Some(stride) => {
                // A typed pool without slots has the stride 1 whatever its
                // `T`: any index is refused below all the same.
                debug_assert!(stride == self.stride || self.aligned_slots == 0);
                offset.is_multiple_of(stride).then(|| offset / stride)
            }
            None => self.slot_index(offset),
        };
        let index = match index {
            Some(index) if index < geometry.slots() as usize => index,
            _ => return Err(AllocError::ForeignPointer),
        };
        // SAFETY: `index < slots`; the ordering promise is the caller's.
        let slack = unsafe { self.stack.push(geometry.links, index as u32) }?;
        if slack != 0 {
            self.slack.fetch_sub(slack as usize, Ordering::Relaxed);
        }
        Ok(())
    }

    /// `RawAllocator::allocate` for this geometry: a whole block for any
    /// request that fits it.
    #[inline(always)]
    #[cfg_attr(feature = "track", track_caller)]
    pub(crate) fn allocate_layout(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        check_request(layout, self.block_align).map_err(|e| self.refuse(e))?;
        if layout.size() > self.block_size {
            return Err(self.refuse(AllocError::TooLarge {
                size: layout.size(),
                max: self.block_size,
            }));
        }
        match self.acquire(self.block_size - layout.size()) {
            Some(block) => Ok(NonNull::slice_from_raw_parts(block, self.block_size)),
            None => Err(AllocError::OutOfMemory {
                size: layout.size(),
                largest_free: 0,
            }),
        }
    }

    /// The slot whose block starts `offset` bytes after the first block, if
    /// `offset` is a block start (no division at run time).
    #[inline(always)]
    pub(crate) fn slot_index(&self, offset: usize) -> Option<usize> {
        self.divisor.exact_quotient(offset, self.stride)
    }

    /// Counts a request refused before it reached the stack.
    #[inline]
    fn refuse(&self, error: AllocError) -> AllocError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        error
    }

    /// Slots when the memory starts on a `block_align` boundary.
    #[inline]
    pub(crate) const fn aligned_slots(&self) -> u32 {
        self.aligned_slots
    }

    /// The statistics snapshot shared by `BlockPool` and `Pool`.
    pub(crate) fn snapshot(&self) -> AllocatorStats {
        let slots = self.slots();
        let counts = self.stack.counts(slots as u32);
        let live = (counts.live as usize).min(slots);
        let mut stats = AllocatorStats::empty(slots * self.stride);
        stats.used = live * self.stride;
        stats.peak = (counts.peak as usize).min(slots) * self.stride;
        stats.requested =
            (live * self.block_size).saturating_sub(self.slack.load(Ordering::Relaxed));
        stats.live = live;
        let correction = self.handle_correction.load(Ordering::Relaxed);
        stats.allocations = counts.allocations.wrapping_add(correction);
        stats.deallocations = counts.deallocations.wrapping_add(correction);
        stats.failures = self.failures.load(Ordering::Relaxed);
        stats.largest_free = if live < slots { self.block_size } else { 0 };
        stats
    }

    /// The invariant walk shared by `BlockPool` and `Pool`.
    pub(crate) fn verify(&self) -> Result<(), InvariantViolation> {
        let geometry = self.geometry();
        let violation = |what, slot: u32| InvariantViolation {
            what,
            offset: geometry
                .blocks
                .addr()
                .wrapping_sub(self.memory.as_ptr().addr())
                + slot as usize * self.stride,
        };
        let fresh = self.stack.fresh(geometry.slots());
        if fresh > geometry.slots() {
            return Err(violation("more slots handed out than exist", fresh));
        }
        self.stack
            .check(geometry.links)
            .map_err(|v| violation(v.what, v.slot))?;
        Ok(())
    }
}

// SAFETY: all shared state is atomics; the blocks are handed to one owner at
// a time by the free stack, whose `Release` push / `Acquire` pop order one
// owner's accesses before the next's (see `free_stack`). The memory is owned
// by the pool (`RawMemory`'s contract), and blocks are untyped bytes, so no
// value of any type crosses threads through the pool itself.
unsafe impl Sync for BlockPool {}

// SAFETY: `allocate` returns `block_size` bytes at a `block_align`-aligned
// block start (so at least `layout.size()` bytes, aligned to
// `layout.align()`), inside the memory the pool owns; the free stack hands a
// slot to one owner until it is pushed again, so live blocks are disjoint.
unsafe impl RawAllocator for BlockPool {
    #[inline]
    #[cfg_attr(feature = "track", track_caller)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_layout(layout)
    }

    #[inline]
    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        // SAFETY: `free`'s contract: `ptr` came from `allocate`, which
        // happened before this call.
        unsafe { self.release(ptr, None) }
    }

    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.memory.contains(ptr.as_ptr())
    }

    fn capacity(&self) -> usize {
        self.slots() * self.stride
    }

    fn stats(&self) -> AllocatorStats {
        self.snapshot()
    }

    fn kind(&self) -> AllocatorKind {
        AllocatorKind::BlockPool
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        self.verify()
    }
}

crate::allocator::impl_allocator_api2!(BlockPool);
crate::allocator::inherent_surface!(BlockPool);
// SAFETY: `free` pushes any live block back on the free stack whatever the order; it never panics.
unsafe impl crate::allocator::FreesInAnyOrder for BlockPool {}

impl fmt::Debug for BlockPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockPool")
            .field("block_size", &self.block_size)
            .field("block_align", &self.block_align)
            .field("slots", &self.slots())
            .field("stats", &self.snapshot())
            .finish()
    }
}
