//! A component segment without an allocator: the memory a WebAssembly
//! linear memory or a component's own allocator lives in.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::{
    AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawAllocator, RawMemory,
};

/// A segment used whole by one component (`component NAME = size {
/// allocator: none }`): it hands out no blocks; the component reaches its
/// bytes through its token.
///
/// It still answers what a layout asks of every entry: `owns`, `capacity`,
/// `stats` (the whole segment counts as used) and `check`.
#[derive(Debug)]
pub struct Segment {
    memory: RawMemory,
}

impl Segment {
    /// A segment over `memory`.
    pub const fn new(memory: RawMemory) -> Self {
        Self { memory }
    }

    /// The segment's bytes as a raw pointer; reading or writing through it
    /// is the caller's `unsafe` business.
    pub fn as_ptr(&self) -> NonNull<[u8]> {
        let start = NonNull::new(self.memory.as_ptr()).unwrap_or(NonNull::dangling());
        NonNull::slice_from_raw_parts(start, self.memory.len())
    }

    /// The segment's bytes as a range to build an allocator or a
    /// WebAssembly memory on.
    ///
    /// # Safety
    ///
    /// As [`RawMemory::from_raw_parts`]: for as long as the result is used,
    /// nothing else accesses the segment (the component's token is the only
    /// other way in, so its holder calls this once).
    pub const unsafe fn raw(&self) -> RawMemory {
        // SAFETY: the range is the segment's, valid for the program's
        // lifetime; exclusivity is the caller's promise.
        unsafe { RawMemory::from_raw_parts(self.memory.as_ptr(), self.memory.len()) }
    }

    /// The segment's length in bytes.
    pub const fn len(&self) -> usize {
        self.memory.len()
    }

    /// Whether the segment is empty.
    pub const fn is_empty(&self) -> bool {
        self.memory.is_empty()
    }
}

// SAFETY: `allocate` never returns a block, so there is no block contract to
// keep; `free` refuses every pointer.
unsafe impl RawAllocator for Segment {
    fn allocate(&self, _layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        Err(AllocError::NoAllocator)
    }

    unsafe fn free(&self, _ptr: NonNull<u8>) -> Result<(), AllocError> {
        Err(AllocError::NoAllocator)
    }

    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.memory.contains(ptr.as_ptr())
    }

    fn capacity(&self) -> usize {
        self.memory.len()
    }

    fn stats(&self) -> AllocatorStats {
        let mut stats = AllocatorStats::empty(self.memory.len());
        // The component holds the whole segment.
        stats.used = self.memory.len();
        stats.peak = self.memory.len();
        stats.requested = self.memory.len();
        stats.live = 1;
        stats.allocations = 1;
        stats.largest_free = 0;
        stats
    }

    fn kind(&self) -> AllocatorKind {
        AllocatorKind::Segment
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        Ok(())
    }
}

crate::allocator::inherent_surface!(Segment);
