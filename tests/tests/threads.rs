//! First use from several threads at once (no initialisation call), and
//! concurrent allocation from one entry.

use core::alloc::Layout;
use std::sync::Barrier;

use flight_mem::memory_layout;

memory_layout! {
    layout Shared for Desktop {
        budget = 8 MiB;
        region heap = 2 MiB;
        region blocks = 1 MiB { allocator: buddy };
        pool nodes = [[u64; 4]; 4096];
    }
}

const THREADS: usize = 8;
const ROUNDS: usize = if cfg!(miri) { 30 } else { 2000 };

#[test]
fn first_use_and_churn_from_many_threads() {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let barrier = &barrier;
            scope.spawn(move || {
                // Every thread's first call races the others' first call.
                barrier.wait();
                let layout = Layout::from_size_align(16 + t * 8, 16).unwrap();
                let mut held = Vec::new();
                for round in 0..ROUNDS {
                    let block = Shared::alloc_heap(layout).unwrap();
                    // SAFETY: the block is `layout.size()` bytes, live, and ours.
                    unsafe {
                        block
                            .cast::<u8>()
                            .as_ptr()
                            .write_bytes(t as u8, layout.size())
                    };
                    held.push(block);
                    let node = Shared::alloc_nodes([t as u64; 4]).unwrap();
                    assert_eq!(*node, [t as u64; 4]);
                    let small = Shared::alloc_blocks(Layout::new::<[u8; 24]>()).unwrap();
                    // SAFETY: freed once, straight after allocation.
                    unsafe { Shared::free_blocks(small.cast(), Layout::new::<[u8; 24]>()) };
                    if round % 3 == 2 {
                        for block in held.drain(..) {
                            // SAFETY: each block is checked untouched by
                            // other threads, then freed once.
                            unsafe {
                                assert!(
                                    core::slice::from_raw_parts(
                                        block.cast::<u8>().as_ptr(),
                                        layout.size()
                                    )
                                    .iter()
                                    .all(|&b| b == t as u8)
                                );
                                Shared::free_heap(block.cast(), layout);
                            }
                        }
                    }
                }
                for block in held {
                    // SAFETY: freed once.
                    unsafe { Shared::free_heap(block.cast(), layout) };
                }
            });
        }
    });
    let stats = Shared::stats();
    for row in stats.entries() {
        assert_eq!(row.stats.live, 0, "{}", row.info.name);
        assert_eq!(row.stats.failures, 0, "{}", row.info.name);
    }
    let heap = stats.entry("heap").unwrap().stats;
    assert_eq!(heap.allocations, (THREADS * ROUNDS) as u64);
    assert_eq!(heap.deallocations, heap.allocations);
    assert_eq!(
        stats.entry("nodes").unwrap().stats.allocations,
        (THREADS * ROUNDS) as u64
    );
}
