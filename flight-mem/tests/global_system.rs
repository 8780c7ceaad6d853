//! `System` behind `GlobalRegion` as this test binary's global allocator:
//! every `Box` and `Vec` below is freed through `System::free` with the
//! caller's pointer, which Miri (Stacked Borrows) checks for provenance.
#![cfg(feature = "std")]

use flight_mem::{GlobalRegion, System};

static PC: System = System::with_budget(256 << 20);

#[global_allocator]
static GLOBAL: GlobalRegion<System> = GlobalRegion::new(&PC);

#[test]
fn boxes_and_vecs_live_and_die_in_the_budgeted_system_allocator() {
    let before = PC.stats().allocations;
    let boxed = Box::new([3u64; 16]);
    let mut numbers: Vec<u32> = (0..500).collect();
    numbers.retain(|n| n % 3 == 0);
    let text: String = numbers.iter().map(|n| format!("{n},")).collect();
    assert!(text.starts_with("0,3,6,"));
    assert!(PC.owns(core::ptr::NonNull::from(&boxed[0]).cast()));
    assert!(PC.stats().allocations > before + 2);
    drop(boxed);
    drop(numbers);
    PC.check().unwrap();
}
