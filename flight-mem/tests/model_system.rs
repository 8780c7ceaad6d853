//! The system allocator behind the flight-mem interface: model, budget,
//! ownership and bad input.
#![cfg(feature = "std")]

mod common;

use core::alloc::Layout;
use core::ptr::NonNull;

use flight_mem::{AllocError, System};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 128 }))]

    #[test]
    fn matches_the_model(ops in common::ops(512, 7, 3, 1..if cfg!(miri) { 24 } else { 160 })) {
        let system = System::with_budget(64 * 1024);
        common::run_model(&system, &ops);
        let stats = system.stats();
        prop_assert_eq!(stats.used, 0);
        prop_assert_eq!(stats.largest_free, 64 * 1024);
    }
}

#[test]
fn the_budget_is_enforced_with_headers_counted() {
    let system = System::with_budget(1024);
    let big = system
        .allocate(Layout::from_size_align(900, 8).unwrap())
        .unwrap();
    let err = system
        .allocate(Layout::from_size_align(200, 8).unwrap())
        .unwrap_err();
    assert!(matches!(err, AllocError::OutOfMemory { size: 200, .. }));
    assert_eq!(system.stats().failures, 1);
    // SAFETY: `big` came from `system`.
    unsafe { system.free(big.cast()).unwrap() };
    assert!(
        system
            .allocate(Layout::from_size_align(200, 8).unwrap())
            .is_ok()
    );
}

#[test]
fn foreign_and_interior_pointers_are_refused_unread() {
    let system = System::new();
    let block = system
        .allocate(Layout::from_size_align(64, 64).unwrap())
        .unwrap()
        .cast::<u8>();
    assert_eq!(block.as_ptr() as usize % 64, 0);
    let mut local = 0u64;
    let foreign = NonNull::from(&mut local).cast::<u8>();
    assert!(!system.owns(foreign));
    // SAFETY: the pointer is foreign; `free` must refuse it without reading it.
    let refused = unsafe { system.free(foreign) };
    assert_eq!(refused, Err(AllocError::ForeignPointer));
    // SAFETY: 8 bytes into a live 64-byte block.
    let interior = unsafe { block.add(8) };
    assert!(system.owns(interior));
    // SAFETY: an interior pointer is refused without any change.
    let refused = unsafe { system.free(interior) };
    assert_eq!(refused, Err(AllocError::ForeignPointer));
    assert_eq!(system.stats().live, 1);
    // SAFETY: `block` came from `system`.
    unsafe { system.free(block).unwrap() };
    // SAFETY: a second free finds the block missing from the live list (the
    // system allocator cannot tell a double free from a foreign pointer).
    let refused = unsafe { system.free(block) };
    assert_eq!(refused, Err(AllocError::ForeignPointer));
    system.check().unwrap();
}

#[test]
fn zero_size_is_an_error() {
    let system = System::new();
    assert_eq!(
        system.allocate(Layout::from_size_align(0, 1).unwrap()),
        Err(AllocError::ZeroSize)
    );
}

#[test]
fn a_static_instance_serves_allocator_api2_collections() {
    static HEAP: System = System::with_budget(1 << 20);
    let mut v = flight_mem::allocator_api2::vec::Vec::new_in(&HEAP);
    v.extend(0..1000u32);
    assert!(HEAP.stats().live >= 1);
    drop(v);
    assert_eq!(HEAP.stats().live, 0);
}
