//! Model tests of the pool magazines (`BlockPool::local`, `Pool::local`):
//! random allocations and frees through two magazines and the pool itself,
//! interleaved, against a reference model of the live blocks (contents,
//! disjointness, double frees refused) and of the exact statistics once the
//! magazines are gone; the whole capacity comes back; plus a two-thread test
//! and the cache-line separation of slots in use.

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{CASES, leak_memory, on_threads};
use flight_mem::{AllocError, BlockMagazine, BlockPool, Pool};
use proptest::prelude::*;

const MAX_OPS: usize = if cfg!(miri) { 16 } else { 300 };

#[derive(Clone, Debug)]
enum Op {
    /// Allocate `size` bytes through magazine `via` (2: the pool).
    Alloc { via: usize, size: usize },
    /// Free live block `pick` through `via` (2: the pool); with `twice`,
    /// free it again at once, which must be refused.
    Free {
        via: usize,
        pick: usize,
        twice: bool,
    },
    /// Drop magazine `h`.
    Drop { h: usize },
}

fn op(block: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 1..=block).prop_map(|(via, size)| Op::Alloc { via, size }),
        5 => (0..3usize, any::<usize>(), proptest::bool::weighted(0.1))
            .prop_map(|(via, pick, twice)| Op::Free { via, pick, twice }),
        1 => (0..2usize).prop_map(|h| Op::Drop { h }),
    ]
}

struct Live {
    ptr: NonNull<u8>,
    size: usize,
    pattern: u8,
}

fn magazine<'s, 'p>(
    slot: &'s mut Option<BlockMagazine<'p>>,
    pool: &'p BlockPool,
) -> &'s BlockMagazine<'p> {
    slot.get_or_insert_with(|| pool.local())
}

fn run(ops: &[Op], slots: usize, block: usize) {
    let pool = BlockPool::new(
        leak_memory(BlockPool::bytes_for(block, 8, slots), 64),
        block,
        8,
    );
    assert_eq!(pool.slots(), slots);
    let mut live: Vec<Live> = Vec::new();
    let (mut allocations, mut deallocations, mut pattern) = (0u64, 0u64, 0u8);
    {
        let mut magazines: [Option<BlockMagazine<'_>>; 2] = [None, None];
        for op in ops {
            match *op {
                Op::Alloc { via, size } => {
                    let layout = Layout::from_size_align(size, 8).unwrap();
                    let result = match via {
                        2 => pool.allocate(layout),
                        h => magazine(&mut magazines[h], &pool).allocate(layout),
                    };
                    match result {
                        Ok(block_ptr) => {
                            assert_eq!(block_ptr.len(), block);
                            let ptr = block_ptr.cast::<u8>();
                            let addr = ptr.as_ptr() as usize;
                            assert_eq!(addr % 8, 0);
                            for other in &live {
                                let start = other.ptr.as_ptr() as usize;
                                assert!(addr + block <= start || start + block <= addr, "overlap");
                            }
                            pattern = pattern.wrapping_add(1);
                            // SAFETY: a fresh block of `block` bytes.
                            unsafe { ptr.as_ptr().write_bytes(pattern, size) };
                            live.push(Live { ptr, size, pattern });
                            allocations += 1;
                        }
                        Err(AllocError::OutOfMemory { .. }) => {
                            // Slots cached by the other magazine are out of
                            // reach until it flushes or drops.
                            let cached: usize =
                                magazines.iter().flatten().map(BlockMagazine::cached).sum();
                            assert_eq!(live.len() + cached, slots, "refused with free slots");
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                Op::Free { via, pick, twice } => {
                    if live.is_empty() {
                        continue;
                    }
                    let gone = live.swap_remove(pick % live.len());
                    // SAFETY: a live block of this test.
                    let bytes = unsafe { std::slice::from_raw_parts(gone.ptr.as_ptr(), gone.size) };
                    assert!(
                        bytes.iter().all(|&b| b == gone.pattern),
                        "block overwritten"
                    );
                    let mut free = |ptr| match via {
                        // SAFETY: a block of this pool, allocated before,
                        // not used after (the second call is the refused
                        // double free the test is about).
                        2 => unsafe { pool.free(ptr) },
                        // SAFETY: as above.
                        h => unsafe { magazine(&mut magazines[h], &pool).free(ptr) },
                    };
                    assert_eq!(free(gone.ptr), Ok(()));
                    deallocations += 1;
                    if twice {
                        assert_eq!(free(gone.ptr), Err(AllocError::DoubleFree));
                    }
                }
                Op::Drop { h } => magazines[h] = None,
            }
            for block in &live {
                // SAFETY: live blocks of this test.
                let bytes = unsafe { std::slice::from_raw_parts(block.ptr.as_ptr(), block.size) };
                assert!(
                    bytes.iter().all(|&b| b == block.pattern),
                    "block overwritten"
                );
            }
            pool.check().unwrap();
        }
    }
    let stats = pool.stats();
    assert_eq!(stats.live, live.len(), "live");
    assert_eq!(stats.allocations, allocations, "allocations");
    assert_eq!(stats.deallocations, deallocations, "deallocations");
    assert_eq!(
        stats.requested,
        live.iter().map(|b| b.size).sum::<usize>(),
        "requested"
    );
    assert_eq!(stats.used, live.len() * block);
    // Free the rest and take the whole capacity back.
    for block in live.drain(..) {
        // SAFETY: live blocks of this pool.
        unsafe { pool.free(block.ptr) }.unwrap();
    }
    let local = pool.local();
    let taken: Vec<_> = (0..slots)
        .map(|_| {
            local
                .allocate(Layout::from_size_align(block, 8).unwrap())
                .unwrap()
        })
        .collect();
    assert!(
        local
            .allocate(Layout::from_size_align(1, 1).unwrap())
            .is_err()
    );
    for block in taken {
        // SAFETY: allocated just above.
        unsafe { local.free(block.cast()) }.unwrap();
    }
    drop(local);
    assert_eq!(pool.stats().live, 0);
    pool.check().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// A power-of-two stride (free by shift).
    #[test]
    fn magazines_agree_with_the_model(ops in proptest::collection::vec(op(64), 1..MAX_OPS), slots in 1usize..70) {
        run(&ops, slots, 64);
    }

    /// A stride of 24 bytes (free by multiplier).
    #[test]
    fn odd_strides_agree_with_the_model(ops in proptest::collection::vec(op(24), 1..MAX_OPS), slots in 1usize..70) {
        run(&ops, slots, 24);
    }
}

/// A pointer inside a block, or outside the pool, is refused by the
/// division-free index for both kinds of stride.
#[test]
fn interior_and_foreign_pointers_are_refused() {
    for block in [24usize, 64, 40, 8] {
        let pool = BlockPool::new(leak_memory(BlockPool::bytes_for(block, 8, 8), 64), block, 8);
        let local = pool.local();
        let ptr = local
            .allocate(Layout::from_size_align(8, 8).unwrap())
            .unwrap()
            .cast::<u8>();
        for offset in [1usize, 8, block - 1] {
            if offset % block == 0 {
                continue;
            }
            // SAFETY: refused before anything is touched.
            let refused =
                unsafe { local.free(NonNull::new(ptr.as_ptr().wrapping_add(offset)).unwrap()) };
            assert_eq!(
                refused,
                Err(AllocError::ForeignPointer),
                "block {block} offset {offset}"
            );
            // SAFETY: as above.
            let refused =
                unsafe { pool.free(NonNull::new(ptr.as_ptr().wrapping_add(offset)).unwrap()) };
            assert_eq!(
                refused,
                Err(AllocError::ForeignPointer),
                "block {block} offset {offset}"
            );
        }
        let outside = NonNull::new(ptr.as_ptr().wrapping_add(9 * block + 64)).unwrap();
        // SAFETY: refused before anything is touched.
        let refused = unsafe { local.free(outside) };
        assert_eq!(refused, Err(AllocError::ForeignPointer));
        // SAFETY: allocated above.
        unsafe { local.free(ptr) }.unwrap();
    }
}

/// Typed magazines drop the value and keep the slot; counts are exact after.
#[test]
fn typed_magazine_round_trip() {
    let pool: Pool<String> = Pool::new(leak_memory(Pool::<String>::bytes_for(40), 64));
    let local = pool.local();
    let mut boxes = Vec::new();
    for i in 0..40 {
        boxes.push(local.alloc(format!("value {i}")).unwrap());
    }
    assert!(local.alloc(String::new()).is_err());
    for (i, b) in boxes.iter().enumerate() {
        assert_eq!(**b, format!("value {i}"));
    }
    let half = boxes.split_off(20);
    for b in boxes {
        local.free(b);
    }
    drop(half); // through the pool
    assert_eq!(local.cached(), 20);
    drop(local);
    let stats = pool.stats();
    assert_eq!(
        (stats.live, stats.allocations, stats.deallocations),
        (0, 40, 40)
    );
    pool.check().unwrap();
}

/// Two threads, each with its own magazine, churn one pool: blocks never
/// overlap (each thread checks its pattern), and everything comes back.
#[test]
fn two_threads_with_magazines() {
    let rounds = if cfg!(miri) { 30 } else { 20_000 };
    let pool = BlockPool::new(leak_memory(BlockPool::bytes_for(64, 8, 64), 64), 64, 8);
    let layout = Layout::from_size_align(64, 8).unwrap();
    on_threads(2, |thread| {
        let local = pool.local();
        let mut held = Vec::new();
        for round in 0..rounds {
            if held.len() < 20 && round % 3 != 2 {
                if let Ok(block) = local.allocate(layout) {
                    let ptr = block.cast::<u8>();
                    // SAFETY: a fresh block of 64 bytes.
                    unsafe { ptr.as_ptr().write_bytes(thread as u8 + 1, 64) };
                    held.push(ptr);
                }
            } else if let Some(ptr) = held.pop() {
                // SAFETY: ours since allocation.
                let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), 64) };
                assert!(bytes.iter().all(|&b| b == thread as u8 + 1));
                // SAFETY: allocated by this thread, not used after.
                unsafe { local.free(ptr) }.unwrap();
            }
        }
        for ptr in held {
            // SAFETY: as above.
            unsafe { local.free(ptr) }.unwrap();
        }
    });
    let stats = pool.stats();
    assert_eq!(stats.live, 0);
    assert_eq!(stats.allocations, stats.deallocations);
    pool.check().unwrap();
}

/// The property two-thread scaling relies on (`pool/spread.rs`): while a
/// pool's peak stays below its spread grid's row count (128 for 4,096
/// slots), no two slots in use have link words in one 64-byte cache line,
/// whatever mix of shared calls, magazine refills from fresh slots and from
/// the stack handed them out. Link words are 4 bytes, slot `i`'s at byte
/// `4 i` of the side table, so slot indices at least 16 apart suffice. In
/// index order this fails at once (two magazines' first refills are slots
/// `0..16` and `16..32`, and the shared calls' slots 0 and 1 are neighbours).
#[test]
fn slots_in_use_never_share_a_line_of_link_words() {
    const SLOTS: usize = 4_096;
    let memory = leak_memory(BlockPool::bytes_for(64, 8, SLOTS), 64);
    let base = memory.as_ptr() as usize;
    let pool = BlockPool::new(memory, 64, 8);
    let layout = Layout::from_size_align(64, 8).unwrap();
    let index = |block: NonNull<u8>| (block.as_ptr() as usize - base) / 64;
    let separated = |live: &[NonNull<u8>]| {
        for (n, &a) in live.iter().enumerate() {
            for &b in &live[n + 1..] {
                let words = index(a).abs_diff(index(b));
                assert!(words >= 16, "slots {} and {}", index(a), index(b));
            }
        }
    };
    // As in the scaling bench: the shared path first, on its own.
    let shared: Vec<_> = (0..2).map(|_| pool.allocate(layout).unwrap()).collect();
    separated(&shared.iter().map(|b| b.cast()).collect::<Vec<_>>());
    for block in shared {
        // SAFETY: allocated above, freed once.
        unsafe { pool.free(block.cast()) }.unwrap();
    }
    let rounds = if cfg!(miri) { 2 } else { 6 };
    for round in 0..rounds {
        let (a, b) = (pool.local(), pool.local());
        let mut live: Vec<NonNull<u8>> = Vec::new();
        // Interleaved, with frees between, so that later rounds refill from
        // a stack in the order earlier rounds left it.
        for step in 0..40 + 4 * round {
            let via = if step % 3 == 0 { &b } else { &a };
            live.push(via.allocate(layout).unwrap().cast());
            if step % 5 == 4 {
                let block = live.swap_remove(step % live.len());
                // SAFETY: allocated above, freed once.
                unsafe { via.free(block) }.unwrap();
            }
            separated(&live);
        }
        // `peak` is in bytes: fewer than 128 slots out of the stack at once.
        assert!(pool.stats().peak < 128 * 64);
        for block in live {
            // SAFETY: as above.
            unsafe { a.free(block) }.unwrap();
        }
    }
    assert_eq!(pool.stats().live, 0);
    pool.check().unwrap();
}
