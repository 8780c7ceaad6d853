//! What can go wrong with an allocation request.

use core::fmt;

/// Why an allocator refused a request.
///
/// Every bad request ends here instead of in undefined behaviour: zero sizes,
/// sizes that overflow, impossible alignments, pointers the allocator does not
/// own, double frees it can detect and out-of-order stack frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllocError {
    /// A request for zero bytes. Allocators hand out no zero-sized blocks:
    /// a dangling, aligned pointer serves those without touching the budget.
    ZeroSize,
    /// The size, rounded up for alignment and block overhead, overflows
    /// `usize` (or the allocator's internal offset width).
    SizeOverflow {
        /// The requested size in bytes.
        size: usize,
    },
    /// The alignment is not a power of two.
    BadAlignment {
        /// The requested alignment.
        align: usize,
    },
    /// The alignment is larger than this allocator can ever provide.
    AlignmentTooLarge {
        /// The requested alignment.
        align: usize,
        /// The largest alignment this allocator supports.
        max: usize,
    },
    /// The request is larger than anything this allocator can hold, even
    /// when empty (a block pool's block size, or the region's capacity).
    TooLarge {
        /// The requested size in bytes.
        size: usize,
        /// The largest request that could ever succeed.
        max: usize,
    },
    /// Not enough free memory right now (exhausted pool, fragmented heap).
    OutOfMemory {
        /// The requested size in bytes.
        size: usize,
        /// The largest block that was free when the request failed.
        largest_free: usize,
    },
    /// The pointer lies outside every block this allocator manages, or not
    /// on a block boundary.
    ForeignPointer,
    /// The block is already free.
    DoubleFree,
    /// A stack block was freed that is not the top of the stack.
    OutOfOrder,
    /// A [`Compact`](crate::Compact) block cannot be freed while a guard
    /// pins it.
    Pinned,
    /// Every handle of a [`Compact`](crate::Compact) allocator's table is
    /// in use.
    OutOfHandles {
        /// The size of the handle table.
        max: usize,
    },
    /// No entry of a layout can serve the request (memory type, flags or
    /// alignment match nothing, and no fallback is allowed).
    NoRoute,
    /// The entry hands out no raw blocks: a component segment declared
    /// with `allocator: none` or a shared region is used whole, and a
    /// `compact` region's blocks move, so they are reached through handles.
    NoAllocator,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ZeroSize => f.write_str("zero-sized allocation request"),
            Self::SizeOverflow { size } => {
                write!(
                    f,
                    "size {size} overflows once rounded for alignment and overhead"
                )
            }
            Self::BadAlignment { align } => write!(f, "alignment {align} is not a power of two"),
            Self::AlignmentTooLarge { align, max } => {
                write!(
                    f,
                    "alignment {align} exceeds the largest supported alignment {max}"
                )
            }
            Self::TooLarge { size, max } => {
                write!(
                    f,
                    "request of {size} bytes exceeds the largest possible block of {max} bytes"
                )
            }
            Self::OutOfMemory { size, largest_free } => write!(
                f,
                "out of memory: {size} bytes requested, largest free block is {largest_free} bytes"
            ),
            Self::ForeignPointer => f.write_str("pointer does not belong to this allocator"),
            Self::DoubleFree => f.write_str("block is already free (double free)"),
            Self::OutOfOrder => f.write_str("stack block freed out of LIFO order"),
            Self::Pinned => f.write_str("block is pinned by a live guard"),
            Self::OutOfHandles { max } => write!(f, "all {max} handles are in use"),
            Self::NoRoute => f.write_str("no entry of the layout can serve this request"),
            Self::NoAllocator => {
                f.write_str("this entry has no allocator; its memory is used whole")
            }
        }
    }
}

impl core::error::Error for AllocError {}

impl From<AllocError> for allocator_api2::alloc::AllocError {
    fn from(_: AllocError) -> Self {
        allocator_api2::alloc::AllocError
    }
}

/// An allocator's internal bookkeeping is inconsistent (a corrupted header,
/// a free list that loops, counters that disagree): reported by
/// [`RawAllocator::check`](crate::RawAllocator::check).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InvariantViolation {
    /// Which invariant failed, in a few words.
    pub what: &'static str,
    /// The byte offset into the allocator's memory where it was found.
    pub offset: usize,
}

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {:#x})", self.what, self.offset)
    }
}

impl core::error::Error for InvariantViolation {}
