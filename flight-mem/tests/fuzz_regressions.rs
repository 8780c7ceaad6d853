//! Regression tests for what `cargo fuzz` found (fuzz/, see its README):
//! each is the minimised input of one finding, as a plain test.

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use flight_mem::{AllocError, System};

/// alloc_system: a refused free (a foreign pointer, an interior pointer, a
/// second free) counted a failure, though a refused free must change
/// nothing (`RawAllocator::free`) and `failures` counts refused requests.
#[cfg(feature = "std")]
#[test]
fn system_refused_free_changes_nothing() {
    let system = System::with_budget(4096);
    let local = 0u8;
    // SAFETY: a pointer `System` never handed out: refused unread.
    unsafe {
        common::assert_refused_unchanged(&system, NonNull::from(&local), AllocError::ForeignPointer)
    };
    let block = system
        .allocate(Layout::from_size_align(16, 8).unwrap())
        .unwrap()
        .cast::<u8>();
    // SAFETY: inside a live block, not its start: refused unread.
    unsafe { common::assert_refused_unchanged(&system, block.add(1), AllocError::ForeignPointer) };
    // SAFETY: a live block, freed once.
    unsafe { system.free(block) }.unwrap();
    // SAFETY: freed above: the live list no longer holds it.
    unsafe { common::assert_refused_unchanged(&system, block, AllocError::ForeignPointer) };
    assert_eq!(system.stats().failures, 0);
}
