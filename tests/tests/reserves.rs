//! Reserves: only critical requests and allocations at `Critical` pressure
//! reach them, and only after the normal route failed.

use core::alloc::Layout;
use std::sync::{Mutex, MutexGuard};

use flight_mem::{AllocError, AllocationRequest, PressureLevel, memory_layout};

memory_layout! {
    layout Spare {
        budget = 256 KiB;
        guard = 0 B;
        region heap = 64 KiB;
        reserve emergency = 32 KiB;
    }
}

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn reserve_live() -> usize {
    Spare::stats().entry("emergency").unwrap().stats.live
}

#[test]
fn critical_requests_use_the_region_while_it_has_room() {
    let _turn = turn();
    let allocation = Spare::allocate(&AllocationRequest::new(1024).critical()).unwrap();
    assert_eq!(allocation.region.name, "heap");
    assert!(!allocation.fell_back);
    assert_eq!(reserve_live(), 0);
    // SAFETY: from `allocate`, not used again.
    unsafe { Spare::deallocate(allocation.as_non_null()) }.unwrap();
}

#[test]
fn only_critical_requests_reach_the_reserve_below_critical_pressure() {
    let _turn = turn();
    // A third of the heap is used: no pressure, yet a 48 KiB block does not
    // fit what is left.
    let third = Spare::alloc_heap(Layout::from_size_align(20 * 1024, 8).unwrap()).unwrap();
    assert_eq!(Spare::pressure(), PressureLevel::None);
    let big = AllocationRequest::new(24 * 1024).align(8);
    let too_big = AllocationRequest::new(48 * 1024);
    assert!(matches!(
        Spare::allocate(&too_big),
        Err(AllocError::OutOfMemory { .. })
    ));
    assert_eq!(reserve_live(), 0, "a normal request never touches it");

    let critical = Spare::allocate(&big.critical()).unwrap();
    assert_eq!(critical.region.name, "heap", "the region first");
    let served = Spare::allocate(&too_big.critical()).unwrap_err();
    assert!(
        matches!(
            served,
            AllocError::OutOfMemory { .. } | AllocError::TooLarge { .. }
        ),
        "48 KiB do not fit the 32 KiB reserve either: {served:?}"
    );
    let spare = Spare::allocate(&AllocationRequest::new(22 * 1024).critical()).unwrap();
    assert_eq!(spare.region.name, "emergency");
    assert!(spare.fell_back);
    // Its use shows in the layout's statistics.
    let row = Spare::stats().entry("emergency").unwrap().stats;
    assert_eq!((row.live, row.allocations), (1, row.allocations.max(1)));
    assert!(row.used >= 22 * 1024);

    // SAFETY: every block came from this layout and is not used again.
    unsafe {
        Spare::deallocate(spare.as_non_null()).unwrap();
        Spare::deallocate(critical.as_non_null()).unwrap();
        Spare::free_heap(third.cast(), Layout::from_size_align(20 * 1024, 8).unwrap());
    }
    assert_eq!(reserve_live(), 0);
}

#[test]
fn at_critical_pressure_every_request_may_use_the_reserve() {
    let _turn = turn();
    let kib = Layout::from_size_align(1024, 8).unwrap();
    let mut held = Vec::new();
    while Spare::pressure() < PressureLevel::Critical {
        held.push(Spare::alloc_heap(kib).unwrap());
    }
    // Take the rest too, so the normal route fails.
    while let Ok(block) = Spare::alloc_heap(Layout::from_size_align(64, 8).unwrap()) {
        held.push(block);
    }
    let request = AllocationRequest::new(4096);
    let spare = Spare::allocate(&request).unwrap();
    assert_eq!(spare.region.name, "emergency");
    assert!(spare.fell_back);
    assert_eq!(reserve_live(), 1);
    // SAFETY: as above.
    unsafe { Spare::deallocate(spare.as_non_null()) }.unwrap();
    for block in held {
        // SAFETY: from `alloc_heap`, not used again.
        unsafe { Spare::deallocate(block.cast()) }.unwrap();
    }
    assert_eq!(Spare::pressure(), PressureLevel::None);
    assert_eq!(reserve_live(), 0);
}

#[test]
fn the_reserve_accessor_is_a_tlsf_of_its_size() {
    let _turn = turn();
    let reserve: &'static flight_mem::Tlsf = Spare::emergency();
    assert!(flight_mem::RawAllocator::capacity(reserve) <= 32 * 1024);
    assert!(flight_mem::RawAllocator::capacity(reserve) > 31 * 1024);
}
