//! See [`Tlsf`]. The public type and its block format live here, the size
//! classes in `classes`, the algorithm behind the lock in `engine`, its typed
//! offsets into the region in `raw`.

mod classes;
mod engine;
mod raw;
#[cfg(test)]
mod tests;

use core::mem::size_of;

use classes::MAX_END;
use engine::State;

use crate::RawMemory;
use crate::heap::locked::{LockedHeap, locked_heap_surface};
use crate::sync::const_fn;
#[cfg(doc)]
use crate::{AllocError, AllocatorStats, RawAllocator};

/// The header word of every block, and the boundary tag of free blocks.
const WORD: usize = size_of::<usize>();
/// Block sizes and payload alignment.
const GRANULE: usize = 8;
const GRANULE_LOG2: u32 = GRANULE.trailing_zeros();
/// The low bits of a header word, free because sizes are granule multiples.
const FLAGS: usize = GRANULE - 1;
/// The block is allocated.
const USED: usize = 1;
/// The physically previous block is free; its size is the word before this
/// header.
const PREV_FREE: usize = 2;
/// 32-bit targets: the last byte of this used block holds the count of
/// unrequested payload bytes (1..=255); without the flag the request filled
/// the payload.
#[cfg(not(target_pointer_width = "64"))]
const SLACK: usize = 4;
/// 64-bit targets: the upper half of a used block's header holds the
/// requested size. Block sizes fit the lower half (`MAX_END < 4 GiB`), and
/// so does a request (smaller than its block), so `free` reads the exact
/// requested size with the header it reads anyway: no slack byte to look
/// up, and no sum of header, gap and slack to subtract.
#[cfg(target_pointer_width = "64")]
const REQUESTED_SHIFT: u32 = 32;
/// The size bits of a header word (a free block's header and tag are its
/// size alone).
#[cfg(target_pointer_width = "64")]
const SIZE_MASK: usize = (u32::MAX as usize) & !FLAGS;
/// The size bits of a header word.
#[cfg(not(target_pointer_width = "64"))]
const SIZE_MASK: usize = !FLAGS;
// A word with PREV_FREE but not USED is never a header, since a free block
// never has a free predecessor. Such a word right before a payload marks an
// alignment gap inside its block: its size bits are the gap, and the header
// sits that far before the marker.
/// Free-list link: the offset from the region start of a block's links
/// (its header offset plus a word), or [`NIL`]. Zero is no block's, so the
/// end of a list is a test for zero, with no constant to load.
type Link = u32;
const NIL: Link = 0;
/// Header, two links and the boundary tag, rounded to the granule.
const MIN_BLOCK: usize = (WORD + 2 * size_of::<Link>() + WORD).next_multiple_of(GRANULE);
/// The smallest rest `allocate` splits off a free block as a free block of
/// its own; a smaller rest stays in the used block. On 64-bit targets two
/// cache lines, not a minimum block: a rest of 24..=120 bytes is too small
/// for most requests (it mostly waits for a neighbour's free to merge
/// with), and listing it costs an insert now and, when a neighbour is
/// freed, an unlink whose list neighbours are cache misses. Workload 3
/// (16..=4096 B, align 8/16/64), against the minimum block: 108.4 → 104.9
/// instructions per operation at 64 and 1.83 → 1.35 mispredicted branches
/// (cachegrind); 128 takes another 1.2 instructions and 0.14
/// mispredictions off, and in six alternated quiet runs (lead, session 8)
/// Tlsf / rlsf time went from 1.14–1.16× at 64 to 1.11–1.13× (rlsf with
/// no lock; 1.05–1.08× → 1.02–1.04× with rlsf behind a spin lock).
/// Workload 4: 99.3 % usable at 75 % allocations (99.4 % at 64; rlsf
/// 99.2 %), 96.7 % at 60 % (unchanged; rlsf 96.5 %). The price: a block may
/// hold up to `SPLIT_MIN - GRANULE` bytes more than [`Tlsf::block_size`]
/// (120, against 16 with the minimum block), counted as used. 32-bit
/// targets keep the minimum block, where RAM is scarcer.
#[cfg(target_pointer_width = "64")]
const SPLIT_MIN: usize = 128;
/// The smallest rest split off a free block (see the 64-bit definition).
#[cfg(not(target_pointer_width = "64"))]
const SPLIT_MIN: usize = MIN_BLOCK;
const _: () = assert!(SPLIT_MIN >= MIN_BLOCK && SPLIT_MIN & FLAGS == 0);
/// Where the blocks start and end inside `memory`: the offset of the first
/// header (chosen so payloads are granule-aligned) and the offset, relative
/// to that header, of the end marker, which is also the capacity.
fn geometry(memory: &RawMemory) -> (usize, usize) {
    let addr = memory.as_ptr().addr();
    let lead = addr.wrapping_add(WORD).wrapping_neg() & FLAGS;
    let Some(room) = memory.len().checked_sub(lead + WORD) else {
        return (0, 0);
    };
    let end = room & !FLAGS;
    let end = if end > MAX_END { MAX_END } else { end };
    if end < MIN_BLOCK {
        (lead, 0)
    } else {
        (lead, end)
    }
}

/// A two-level segregated fit allocator over one region: the default
/// general-purpose heap.
///
/// * `allocate` and `free` are O(1) with a bounded worst case: two bitmap
///   searches, at most two unlinks and two inserts, no loop over lists or
///   blocks. Freed blocks merge with free neighbours at once.
/// * A used block costs one header word ([`HEADER_SIZE`](Self::HEADER_SIZE))
///   and rounding to 8 bytes: a 64-byte request consumes 72 bytes on 64-bit
///   and 32-bit targets. Requests up to 16 bytes (12 on 32-bit) take a
///   minimum block of [`MIN_BLOCK_SIZE`](Self::MIN_BLOCK_SIZE) bytes. When
///   the free block a request is carved from would leave a rest under 64
///   bytes (on 64-bit; under a minimum block on 32-bit), the rest stays in
///   the used block instead of becoming a free fragment.
/// * Payloads are 8-aligned; any power-of-two alignment up to the region
///   length is accepted. Above 8, the gap in front of the payload is kept in
///   the block (behind a one-word marker) or returned as a free block; a
///   large alignment may need a free block of `size + align` bytes.
/// * Regions up to 4 GiB ([`MAX_CAPACITY`](Self::MAX_CAPACITY)), at any
///   address; an 8-aligned region of a multiple of 8 bytes has a capacity
///   of its length less 8 (the end marker).
/// * [`stats`](Self::stats) is exact and O(1); its `largest_free` is the
///   largest request `allocate` serves now, within 1/33 (1/17 on 32-bit)
///   of the largest free block. [`check`](Self::check) walks everything.
/// * `free` refuses foreign, interior and already-freed pointers it can
///   detect in O(1) with an `Err`, changing nothing; debug builds also
///   check the neighbours of a block before merging it (see the module
///   documentation).
/// * All state is behind one internal lock (spin lock, or critical section
///   on targets without CAS or with `irq-safe`), built on first use: a
///   `static` needs no initialisation call.
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{Arena, RawMemory, Tlsf};
///
/// static ARENA: Arena<4096> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static HEAP: Tlsf = Tlsf::new(unsafe { RawMemory::from_arena(&ARENA) });
///
/// assert_eq!(HEAP.capacity(), 4096 - 8);
/// let block = HEAP.allocate(Layout::from_size_align(100, 64).unwrap()).unwrap();
/// assert_eq!(block.cast::<u8>().as_ptr() as usize % 64, 0);
/// // SAFETY: `block` came from HEAP and is not used again.
/// unsafe { HEAP.free(block.cast()) }.unwrap();
/// ```
///
/// Two-level segregated fit: the general-purpose region allocator.
///
/// # Algorithm
///
/// TLSF (Masmano, Ripoll, Crespo and Real, 2004). Free blocks sit in
/// segregated lists indexed by two levels: the first level is the power of
/// two of the block size, the second splits each power of two into 32
/// equal ranges on 64-bit targets, as rlsf's default does (blocks under 256
/// bytes get one exact list per 8-byte size), and into 16 on smaller
/// targets, where the bookkeeping's RAM counts more (one exact list per
/// 8-byte size under 128 bytes). Two bitmaps record which lists are non-empty, so a fitting
/// list is found with two find-first-set instructions. The request is rounded
/// up to the next list boundary first ("good fit"), so the head of any list
/// found fits without looking further; only when that fails is the head of
/// the request's own list tried. Freed blocks merge immediately with free
/// physical neighbours (boundary tags), so no two free blocks are ever
/// adjacent.
///
/// # Cost
///
/// * `allocate` and `free`: O(1), with no loop over list lengths or block
///   counts — a handful of bitmap operations, at most two list unlinks and
///   two list inserts. The worst case is this bound, independent of the
///   heap's history.
/// * Alignment above 8 bytes: the search asks for `size + align - 8` bytes,
///   which any block found holds aligned (when no list of such blocks has
///   one, the head of the request's own list is taken if it fits once
///   aligned). The gap in front of the payload is
///   split off as a free block when it is large enough (16 or more bytes on
///   32-bit, 24 on 64-bit), or else kept inside the block behind a one-word
///   marker, so an allocation consumes at most `gap + block` bytes. Still, a
///   large alignment may need a free block of `size + align` bytes to
///   succeed, and leaves free fragments in front of the blocks it aligns:
///   alignments far above the typical request size are better served by a
///   dedicated pool or region.
/// * [`stats`](RawAllocator::stats): O(1). `largest_free` is read from the
///   head of the highest non-empty list: it is exactly the largest request
///   that `allocate` serves now (which never scans a list), and at least
///   32/33 (16/17 on 32-bit) of the largest free block.
/// * [`check`](RawAllocator::check): O(blocks + lists).
///
/// # Layout and overhead
///
/// Block sizes are multiples of 8 bytes ([`Tlsf::GRANULARITY`]) and payloads
/// are 8-aligned on every target. A used block carries one header word in
/// front of its payload ([`Tlsf::HEADER_SIZE`]: 8 bytes on 64-bit, 4 on
/// 32-bit): a 64-byte request consumes 72 bytes on both. The header holds
/// the block size and the flags used and previous block free, and how
/// [`AllocatorStats::requested`] is kept exact without a second word: on
/// 64-bit targets the requested size in the header's upper half (sizes fit
/// the lower), on 32-bit a third flag, "the last byte of the block records
/// how many bytes of the payload were not requested". A free block additionally stores two `u32` list links after
/// its header and its size in its last word (the boundary tag that lets the
/// next block find it), hence the minimum block of [`Tlsf::MIN_BLOCK_SIZE`]
/// bytes (24 on 64-bit, 16 on 32-bit): requests up to 16 (12) bytes consume a
/// minimum block. A free block is split for a request only when its rest is
/// at least 64 bytes on 64-bit targets (a minimum block on 32-bit): a
/// smaller rest would be a fragment almost no request fits, and every
/// free of a neighbour would pay for its list work, so the used block keeps
/// it (and [`AllocatorStats::used`] counts it).
///
/// The links are `u32` offsets from the region start, so a `Tlsf` manages at
/// most 4 GiB ([`Tlsf::MAX_CAPACITY`]); a larger region is used up to that
/// size. The region may start at any address and have any length: the
/// allocator aligns the start internally and places a one-word end marker
/// after the last block, so [`capacity`](RawAllocator::capacity) is the
/// region length minus 8 bytes for an 8-aligned region whose length is a
/// multiple of 8 (such as an [`Arena`](crate::Arena)), and minus at most 22
/// bytes (18 on 32-bit) otherwise. A region too small to hold one minimum
/// block besides has no capacity at all.
///
/// The bookkeeping (bitmaps and 25 × 32 list heads, about 3.3 KiB on 64-bit;
/// 26 × 16, about 1.8 KiB, on 32-bit) lives in the `Tlsf` value itself, not
/// in the region.
///
/// # Alignment
///
/// Any power of two up to the region length is accepted (larger ones are
/// [`AllocError::AlignmentTooLarge`]); whether a large one can be served
/// depends on the free space, as described under *Cost*.
///
/// # Freeing bad pointers
///
/// [`free`](RawAllocator::free) refuses pointers outside the region or not
/// on an 8-byte payload boundary, and pointers whose header (behind an
/// alignment marker, if any) is not a used block's with a size inside the
/// region ([`AllocError::ForeignPointer`]), and pointers whose block is
/// already free ([`AllocError::DoubleFree`]), changing nothing. These checks
/// are O(1) and read only words inside the region.
///
/// A pointer that passes them is trusted to be what the safety contract of
/// `free` says it is, a block returned by `allocate`: release builds then
/// follow its neighbours' boundary tags and list links as they are. Builds
/// with `debug_assertions` also check those (the next header's flag, free
/// neighbours' tags and in-region links, the recorded requested size) and refuse the
/// pointer as foreign when they are implausible, so a forged or corrupted
/// header is reported there instead of corrupting the heap. Like any
/// allocator with in-band headers, neither can tell a header forged inside
/// a live block's payload from a real one, nor a block freed, reused and
/// freed again through a stale pointer. Nor can they tell the payload of a
/// block allocated with an alignment above 8 from the 8-byte alignment gap
/// before it: a pointer into that gap has the block's own header before it
/// and frees the block (the header has no spare bit to record the gap).
///
/// # Thread safety
///
/// All state sits behind one internal lock (a spin lock, or a critical
/// section on targets without compare-and-swap or with the `irq-safe`
/// feature), held for the O(1) operation only. The block structure is built
/// on first use inside the lock, so a `static` needs no initialisation call.
///
/// # Example
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{Arena, RawMemory, Tlsf};
///
/// static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static HEAP: Tlsf = Tlsf::new(unsafe { RawMemory::from_arena(&ARENA) });
///
/// let block = HEAP.allocate(Layout::from_size_align(64, 8).unwrap()).unwrap();
/// // 64 bytes plus one header word, in 8-byte granules: 72 on 64- and 32-bit.
/// assert_eq!(HEAP.stats().used, 72);
/// // SAFETY: `block` came from HEAP and is not used again.
/// unsafe { HEAP.free(block.cast()) }.unwrap();
/// assert_eq!(HEAP.stats().largest_free, HEAP.capacity() - Tlsf::HEADER_SIZE);
/// HEAP.check().unwrap();
/// ```
#[repr(transparent)]
pub struct Tlsf(LockedHeap<State>);

impl Tlsf {
    /// Payload alignment and block size granularity: 8 bytes on every target.
    pub const GRANULARITY: usize = GRANULE;
    /// Bytes a used block spends in front of its payload: one word.
    pub const HEADER_SIZE: usize = WORD;
    /// The smallest block, free or used (24 bytes on 64-bit, 16 on 32-bit).
    pub const MIN_BLOCK_SIZE: usize = MIN_BLOCK;
    /// The largest capacity a `Tlsf` manages (4 GiB minus 8 bytes); the rest
    /// of a larger region is left unused.
    pub const MAX_CAPACITY: usize = MAX_END;

    const_fn! {
        /// An allocator over `memory`. Nothing is written to the memory
        /// until first use.
        pub fn new(memory: RawMemory) -> Self {
            let max_align = match memory.len() {
                0 => 1,
                len => 1 << len.ilog2(),
            };
            Self(LockedHeap::new(memory, max_align, State::new()))
        }
    }

    /// Bytes of the region a request of `size` bytes with alignment up to
    /// [`GRANULARITY`](Self::GRANULARITY) consumes: the payload and header
    /// rounded up to the granularity, at least [`MIN_BLOCK_SIZE`](Self::MIN_BLOCK_SIZE).
    /// (The allocator may give a block up to 56 bytes larger on 64-bit
    /// targets, `MIN_BLOCK_SIZE - 8` on 32-bit, rather than split off a
    /// free fragment too small to serve almost any request.)
    pub const fn block_size(size: usize) -> Option<usize> {
        match size.checked_add(WORD + FLAGS) {
            Some(padded) if padded & !FLAGS >= MIN_BLOCK => Some(padded & !FLAGS),
            Some(_) => Some(MIN_BLOCK),
            None => None,
        }
    }
}

locked_heap_surface!(Tlsf);
