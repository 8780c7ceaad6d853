//! allocator-api2 collections on generated entries: `Vec::new_in(Game::heap())`.

use flight_mem::allocator_api2::boxed::Box;
use flight_mem::allocator_api2::vec::Vec;
use flight_mem::memory_layout;

memory_layout! {
    layout Game for Desktop {
        budget = 4 MiB;
        region heap = 1 MiB;
        region buddy = 256 KiB { allocator: buddy };
        stack temp = 64 KiB;
        pool packets = [256 B; 16];
    }
}

fn heap_used() -> usize {
    Game::stats().entry("heap").unwrap().stats.used
}

#[test]
fn vec_on_a_region_counts_against_its_budget() {
    let used_before = heap_used();
    let mut numbers: Vec<u32, _> = Vec::new_in(Game::heap());
    numbers.extend(0..10_000u32);
    assert_eq!(
        numbers.iter().map(|&n| u64::from(n)).sum::<u64>(),
        49_995_000
    );
    assert!(heap_used() >= used_before + 40_000);
    assert_eq!(
        Game::owner_of(core::ptr::NonNull::from(&numbers[0]).cast())
            .unwrap()
            .name,
        "heap"
    );
    drop(numbers);
    assert_eq!(heap_used(), used_before);
}

#[test]
fn a_region_refuses_what_does_not_fit() {
    let mut big: Vec<u8, _> = Vec::new_in(Game::buddy());
    assert!(
        big.try_reserve_exact(512 * 1024).is_err(),
        "the buddy region holds 256 KiB"
    );
    big.try_reserve_exact(64 * 1024).unwrap();
}

#[test]
fn boxes_on_stack_and_block_pool() {
    let a = Box::new_in([1u64; 8], Game::temp());
    let b = Box::new_in([2u64; 8], Game::temp());
    assert_eq!(a[0] + b[0], 3);
    drop(b);
    drop(a);
    let packet = Box::new_in([7u8; 200], Game::packets());
    assert_eq!(
        Game::owner_of(core::ptr::NonNull::from(&*packet).cast())
            .unwrap()
            .name,
        "packets"
    );
}
