//! The allocation hooks without the `track` feature: they compile to nothing.

use core::ptr::NonNull;

use crate::AllocError;

#[inline(always)]
pub(crate) fn allocated<A: ?Sized>(
    _allocator: &A,
    _size: usize,
    result: Result<NonNull<[u8]>, AllocError>,
) -> Result<NonNull<[u8]>, AllocError> {
    result
}

#[inline(always)]
pub(crate) fn forget_range(_memory: &crate::RawMemory) {}

#[inline(always)]
pub(crate) fn freed<A: crate::RawAllocator + ?Sized>(
    _allocator: &A,
    _ptr: NonNull<u8>,
    free: impl FnOnce() -> Result<(), AllocError>,
) -> Result<(), AllocError> {
    free()
}
