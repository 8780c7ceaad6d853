//! A `Compact` as one entry of a layout: what the layout's tables, reports
//! and validation ask of every entry. Its blocks move, so it hands out no
//! raw pointers through this interface: allocation is by handle.

use core::alloc::Layout;
use core::ptr::NonNull;

use super::Compact;
use crate::{AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawAllocator};

// SAFETY: `allocate` never returns a block, so there is no block contract to
// keep; `free` refuses every pointer (blocks are freed by handle); the
// queries forward to `Compact`'s own, which are sound for any caller.
unsafe impl RawAllocator for Compact {
    fn allocate(&self, _layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        Err(AllocError::NoAllocator)
    }

    unsafe fn free(&self, _ptr: NonNull<u8>) -> Result<(), AllocError> {
        Err(AllocError::NoAllocator)
    }

    fn owns(&self, ptr: NonNull<u8>) -> bool {
        Compact::owns(self, ptr)
    }

    fn capacity(&self) -> usize {
        Compact::capacity(self)
    }

    fn stats(&self) -> AllocatorStats {
        Compact::stats(self)
    }

    fn kind(&self) -> AllocatorKind {
        AllocatorKind::Compact
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        Compact::check(self)
    }
}
