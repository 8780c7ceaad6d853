//! A static bank's storage: a plain page-aligned `Arena` when no entry asks
//! for more than a page, an `Arena` in a more aligned wrapper otherwise;
//! both start on their bank's alignment and serve allocations.

use core::alloc::Layout;

use flight_mem::memory_layout;

memory_layout! {
    layout Paged {
        budget = 64 KiB;
        region heap = 16 KiB;
        pool blocks = [64 B; 8];
    }
}

memory_layout! {
    layout Huge {
        budget = 256 KiB;
        region big = 32 KiB { align: 65536 };
        stack temp = 4 KiB;
    }
}

fn bank_start<L: flight_mem::Layout>() -> usize {
    L::banks()[0].start() as usize
}

#[test]
fn storage_starts_on_the_bank_alignment_and_serves_blocks() {
    assert_eq!(bank_start::<Paged>() % 4096, 0);
    assert_eq!(bank_start::<Huge>() % 65536, 0);
    let big = Huge::regions().iter().find(|r| r.name == "big").unwrap();
    assert_eq!((bank_start::<Huge>() + big.offset) % 65536, 0);

    let block = Paged::alloc_heap(Layout::from_size_align(256, 8).unwrap()).unwrap();
    // SAFETY: just allocated from `heap`, not used again.
    unsafe { Paged::free_heap(block.cast(), Layout::from_size_align(256, 8).unwrap()) };
    let slot = Paged::alloc_blocks(Layout::new::<[u8; 64]>()).unwrap();
    // SAFETY: just allocated from `blocks`, not used again.
    unsafe { Paged::free_blocks(slot.cast(), Layout::new::<[u8; 64]>()) };
    let block = Huge::alloc_big(Layout::from_size_align(1024, 16).unwrap()).unwrap();
    // SAFETY: just allocated from `big`, not used again.
    unsafe { Huge::free_big(block.cast(), Layout::from_size_align(1024, 16).unwrap()) };
}
