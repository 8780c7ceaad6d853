//! Model tests of `BlockPool`: random allocate/free sequences against the
//! shared reference model, with the exact outcome a fixed-size pool must
//! give (too large, out of memory, or a block), plus misuse of `free`.
// Statics need const constructors, which loom builds do not have.
#![cfg(not(loom))]

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{Model, Op, leak_memory, ops, run_model};
use flight_mem::{AllocError, AllocatorKind, Arena, BlockPool, RawMemory};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(if cfg!(miri) { 5 } else { 256 })
}

const MAX_OPS: usize = if cfg!(miri) { 24 } else { 300 };

/// `ptr + bytes`, without claiming it is in bounds.
fn offset(ptr: NonNull<u8>, bytes: usize) -> NonNull<u8> {
    NonNull::new(ptr.as_ptr().wrapping_add(bytes)).unwrap()
}

/// A pool of `count` blocks over freshly leaked memory aligned to `align`.
fn pool(block_size: usize, align: usize, count: usize) -> &'static BlockPool {
    let bytes = BlockPool::bytes_for(block_size, align, count);
    Box::leak(Box::new(BlockPool::new(
        leak_memory(bytes, align),
        block_size,
        align,
    )))
}

/// Runs `ops` like `run_model`, and also checks each outcome is exactly the
/// one a pool of `slots` blocks of `block_size` bytes owes.
fn run_exact(pool: &BlockPool, ops: &[Op]) -> Model {
    let mut model = Model::default();
    for op in ops {
        match *op {
            Op::Alloc { size, align_log2 } => {
                let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                let result = pool.allocate(layout);
                if size > pool.block_size() {
                    assert_eq!(
                        result,
                        Err(AllocError::TooLarge {
                            size,
                            max: pool.block_size()
                        })
                    );
                } else if model.live.len() == pool.slots() {
                    assert!(
                        matches!(result, Err(AllocError::OutOfMemory { .. })),
                        "{result:?}"
                    );
                    assert_eq!(pool.stats().largest_free, 0);
                } else {
                    let block = result.expect("a free block");
                    assert_eq!(block.len(), pool.block_size());
                    assert_eq!(block.cast::<u8>().as_ptr() as usize % pool.block_align(), 0);
                }
                model.on_alloc(pool, layout, result);
            }
            Op::Free { pick } => {
                if model.live.is_empty() {
                    continue;
                }
                let live = model.take(pick % model.live.len());
                // SAFETY: `live` came from this pool and left the model.
                unsafe { pool.free(live.ptr) }.expect("free of a live block");
            }
        }
        model.check_stats(pool);
        assert_eq!(pool.available(), pool.slots() - model.live.len());
        let stats = pool.stats();
        let stride = pool.block_size().next_multiple_of(pool.block_align());
        assert_eq!(stats.used, model.live.len() * stride);
        assert_eq!(stats.capacity, pool.slots() * stride);
    }
    while !model.live.is_empty() {
        let live = model.take(model.live.len() - 1);
        // SAFETY: as above.
        unsafe { pool.free(live.ptr) }.expect("free of a live block");
    }
    model.check_stats(pool);
    model
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_sequences_match_the_model(
        block_size in 1usize..200,
        align_log2 in 0u8..7,
        // Up to 80 slots: pools from 33 slots on hand out fresh slots in
        // the spread order (`pool/spread.rs`), with a grid of 2 or 4 rows.
        count in 1usize..80,
        ops in ops(240, 6, 3, 0..MAX_OPS),
    ) {
        let align = 1 << align_log2;
        let pool = pool(block_size, align, count);
        prop_assert_eq!(pool.slots(), count);
        // The shared harness only issues alignments the pool supports.
        let ops: Vec<Op> = ops
            .into_iter()
            .map(|op| match op {
                Op::Alloc { size, align_log2: a } => Op::Alloc { size, align_log2: a.min(align_log2) },
                free => free,
            })
            .collect();
        let model = run_exact(pool, &ops);
        // Everything freed: the whole pool is available again.
        prop_assert_eq!(pool.len() + model.live.len(), 0);
        let again: Vec<_> = (0..count)
            .map(|_| pool.allocate(Layout::from_size_align(1, 1).unwrap()).expect("slot"))
            .collect();
        prop_assert!(pool.allocate(Layout::new::<u8>()).is_err());
        for block in again {
            // SAFETY: allocated just above, freed once.
            unsafe { pool.free(block.cast()) }.unwrap();
        }
        pool.check().unwrap();
    }

    /// Pools of 65,536 slots or more keep no depth in the stack head and
    /// count pushes instead; 65,535 is the largest pool with a depth field.
    /// Both must keep the statistics exact.
    #[test]
    fn large_pools_match_the_model(
        count in prop_oneof![Just(65_535usize), Just(65_536usize), Just(70_000usize)],
        ops in ops(1, 0, 3, 0..MAX_OPS),
    ) {
        let pool = pool(1, 1, count);
        prop_assert_eq!(pool.slots(), count);
        let model = run_exact(pool, &ops);
        prop_assert_eq!(pool.len() + model.live.len(), 0);
        let stats = pool.stats();
        prop_assert_eq!(stats.allocations, stats.deallocations);
        pool.check().unwrap();
    }

    #[test]
    fn shared_harness_accepts_the_pool(
        block_size in 1usize..100,
        count in 1usize..16,
        ops in ops(120, 3, 2, 0..MAX_OPS),
    ) {
        let pool = pool(block_size, 8, count);
        run_model(pool, &ops);
    }
}

#[test]
fn double_free_is_refused_and_changes_nothing() {
    let pool = pool(48, 16, 4);
    let a = pool
        .allocate(Layout::from_size_align(40, 16).unwrap())
        .unwrap()
        .cast::<u8>();
    let b = pool
        .allocate(Layout::from_size_align(48, 16).unwrap())
        .unwrap()
        .cast::<u8>();
    // SAFETY: `a` is live.
    unsafe { pool.free(a) }.unwrap();
    let before = pool.stats();
    // SAFETY: the pool must detect this double free of an unreused block.
    assert_eq!(unsafe { pool.free(a) }, Err(AllocError::DoubleFree));
    assert_eq!(pool.stats(), before);
    pool.check().unwrap();
    // A slot that was never handed out is free too.
    let never = offset(b, 2 * 48);
    // SAFETY: slot 3 is inside the pool and was never handed out.
    let result = unsafe { pool.free(never) };
    assert_eq!(result, Err(AllocError::DoubleFree));
    assert_eq!(pool.stats(), before);
    // SAFETY: `b` is live.
    unsafe { pool.free(b) }.unwrap();
    assert_eq!(pool.stats().requested, 0);
    pool.check().unwrap();
}

#[test]
fn foreign_pointers_are_refused_and_change_nothing() {
    let pool = pool(24, 8, 3);
    let block = pool
        .allocate(Layout::from_size_align(24, 8).unwrap())
        .unwrap()
        .cast::<u8>();
    let before = pool.stats();
    let mut outside = 0u64;
    let candidates = [
        NonNull::from(&mut outside).cast::<u8>(),
        offset(block, 1),
        offset(block, 8),
        // The side table, after three 24-byte blocks.
        offset(block, 3 * 24),
    ];
    for ptr in candidates {
        // SAFETY: the pool must refuse pointers that are no block start.
        let result = unsafe { pool.free(ptr) };
        assert_eq!(result, Err(AllocError::ForeignPointer), "{ptr:p}");
        assert_eq!(pool.stats(), before);
    }
    pool.check().unwrap();
    // SAFETY: `block` is live.
    unsafe { pool.free(block) }.unwrap();
}

#[test]
fn bad_requests_are_refused_and_counted() {
    let pool = pool(64, 16, 2);
    assert_eq!(
        pool.allocate(Layout::from_size_align(0, 1).unwrap()),
        Err(AllocError::ZeroSize)
    );
    assert_eq!(
        pool.allocate(Layout::from_size_align(16, 32).unwrap()),
        Err(AllocError::AlignmentTooLarge { align: 32, max: 16 })
    );
    assert_eq!(
        pool.allocate(Layout::from_size_align(65, 1).unwrap()),
        Err(AllocError::TooLarge { size: 65, max: 64 })
    );
    assert_eq!(pool.stats().failures, 3);
    assert_eq!(pool.kind(), AllocatorKind::BlockPool);
}

#[test]
fn bytes_for_gives_exactly_the_slots_asked_for() {
    for (size, align) in [
        (1, 1),
        (3, 2),
        (5, 1),
        (8, 8),
        (100, 4),
        (1536, 64),
        (33, 32),
    ] {
        for count in [1, 2, 7, if cfg!(miri) { 9 } else { 64 }] {
            let bytes = BlockPool::bytes_for(size, align, count);
            let memory = leak_memory(bytes, align.max(1));
            assert_eq!(
                BlockPool::new(memory, size, align).slots(),
                count,
                "{size} {align}"
            );
            if count > 1 {
                let smaller = leak_memory(bytes - 1, align);
                assert_eq!(BlockPool::new(smaller, size, align).slots(), count - 1);
            }
        }
    }
    // 4 bytes of side table per block, nothing else for aligned 4-byte multiples.
    assert_eq!(BlockPool::bytes_for(64, 8, 10), 10 * (64 + 4));
    assert_eq!(BlockPool::bytes_for(100, 64, 1), 128 + 4);
}

#[test]
fn misaligned_memory_is_aligned_up_at_run_time() {
    // 33 and 97 slots: the spread fresh order's grid (32 and 64 slots) must
    // still fit the table when misalignment costs a slot.
    for count in [6, 33, 97] {
        misaligned_pool_of(count);
    }
}

fn misaligned_pool_of(count: usize) {
    let bytes = BlockPool::bytes_for(32, 16, count);
    let base = leak_memory(bytes + 16, 16);
    for shift in [1, 4, 8, 15, 16] {
        // SAFETY: a sub-range of leaked memory, given to this pool only.
        let memory = unsafe { RawMemory::from_raw_parts(base.as_ptr().add(shift), bytes) };
        let start = memory.as_ptr() as usize;
        let inside = |ptr: *mut u8| (ptr as usize).wrapping_sub(start) < bytes;
        let pool = BlockPool::new(memory, 32, 16);
        let slots = pool.slots();
        assert!(
            slots == count || (shift % 16 != 0 && slots == count - 1),
            "{shift}: {slots}"
        );
        let blocks: Vec<_> = (0..slots)
            .map(|_| {
                pool.allocate(Layout::from_size_align(32, 16).unwrap())
                    .unwrap()
            })
            .collect();
        for block in &blocks {
            assert_eq!(block.cast::<u8>().as_ptr() as usize % 16, 0);
            assert!(inside(block.cast::<u8>().as_ptr()));
            // SAFETY: the last byte of a block just handed out.
            assert!(inside(unsafe { block.cast::<u8>().as_ptr().add(31) }));
        }
        assert!(pool.allocate(Layout::new::<u8>()).is_err());
        for block in blocks {
            // SAFETY: allocated above, freed once.
            unsafe { pool.free(block.cast()) }.unwrap();
        }
        pool.check().unwrap();
    }
}

#[test]
#[should_panic(expected = "block size must not be zero")]
fn zero_block_size_panics() {
    BlockPool::new(leak_memory(64, 8), 0, 8);
}

#[test]
#[should_panic(expected = "power of two")]
fn bad_alignment_panics() {
    BlockPool::bytes_for(16, 12, 1);
}

#[test]
#[should_panic(expected = "cannot hold one block")]
fn too_little_memory_panics() {
    BlockPool::new(leak_memory(67, 64), 64, 64);
}

static PACKET_MEMORY: Arena<{ BlockPool::bytes_for(256, 16, 8) }> = Arena::new();
// SAFETY: PACKET_MEMORY belongs to this pool alone.
static PACKETS: BlockPool =
    BlockPool::new(unsafe { RawMemory::from_arena(&PACKET_MEMORY) }, 256, 16);

#[test]
fn static_pool_serves_allocator_api2() {
    use flight_mem::allocator_api2::vec::Vec;
    let mut packet: Vec<u8, _> = Vec::with_capacity_in(200, &PACKETS);
    packet.extend((0..200).map(|i| i as u8));
    assert_eq!(PACKETS.len(), 1);
    assert_eq!(PACKETS.stats().requested, 200);
    assert!(packet.iter().enumerate().all(|(i, &b)| b == i as u8));
    drop(packet);
    assert_eq!(PACKETS.len(), 0);
    PACKETS.check().unwrap();
}
