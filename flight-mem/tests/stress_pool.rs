//! Many threads on one `static` pool: blocks keep their owner's pattern
//! until freed, no slot is ever handed to two threads at once, and the
//! counters are exact once the threads are joined.
// Statics need const constructors, which loom builds do not have.
#![cfg(not(loom))]

mod common;

use std::alloc::Layout;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use common::{XorShift, on_threads};
use flight_mem::{AllocError, Arena, BlockPool, Pool, PoolBox, RawMemory};

const THREADS: usize = 8;
const ROUNDS: usize = if cfg!(miri) { 30 } else { 20_000 };

type Value = [u64; 8];
const VALUES: usize = 48;

static VALUE_MEMORY: Arena<{ Pool::<Value>::bytes_for(VALUES) }> = Arena::new();
// SAFETY: VALUE_MEMORY belongs to this pool alone.
static VALUE_POOL: Pool<Value> = Pool::new(unsafe { RawMemory::from_arena(&VALUE_MEMORY) });

#[test]
fn threads_keep_their_patterns() {
    let refused: usize = on_threads(THREADS, |thread| {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (thread as u64 + 1));
        let mut held: Vec<(PoolBox<'static, Value>, u64)> = Vec::new();
        let mut refused = 0;
        for round in 0..ROUNDS {
            if held.len() < 8 && rng.below(3) != 0 {
                let tag = (thread as u64) << 32 | round as u64;
                match VALUE_POOL.alloc([tag; 8]) {
                    Ok(value) => held.push((value, tag)),
                    Err(value) => {
                        assert_eq!(value, [tag; 8]);
                        refused += 1;
                    }
                }
            } else if !held.is_empty() {
                let (mut value, tag) = held.swap_remove(rng.below(held.len()));
                assert_eq!(*value, [tag; 8], "thread {thread}: block overwritten");
                value[3] = !tag;
                assert_eq!(value[3], !tag);
            }
        }
        for (value, tag) in held {
            assert_eq!(*value, [tag; 8]);
        }
        refused
    })
    .into_iter()
    .sum();
    let stats = VALUE_POOL.stats();
    assert_eq!(stats.live, 0);
    assert_eq!(stats.used, 0);
    assert_eq!(stats.requested, 0);
    assert_eq!(stats.allocations, stats.deallocations);
    assert_eq!(stats.failures, refused as u64);
    assert!(stats.peak <= stats.capacity);
    assert_eq!(VALUE_POOL.available(), VALUES);
    VALUE_POOL.check().unwrap();
}

/// Fewer blocks than threads; the first word of every block is an owner
/// claim that must be free whenever the pool hands the block out.
const CLAIMED: usize = 3;
const CLAIMERS: usize = 8;
const BLOCK: usize = 40;

static CLAIM_MEMORY: Arena<{ BlockPool::bytes_for(BLOCK, 8, CLAIMED) }> = Arena::new();
// SAFETY: CLAIM_MEMORY belongs to this pool alone.
static CLAIM_POOL: BlockPool =
    BlockPool::new(unsafe { RawMemory::from_arena(&CLAIM_MEMORY) }, BLOCK, 8);

#[test]
fn exhausted_pool_never_hands_a_block_out_twice() {
    let (granted, refused) = on_threads(CLAIMERS, |thread| {
        let me = thread as u32 + 1;
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03 ^ u64::from(me));
        let (mut granted, mut refused) = (0u64, 0u64);
        for _ in 0..ROUNDS {
            let size = 4 + rng.below(BLOCK - 3);
            let block = match CLAIM_POOL.allocate(Layout::from_size_align(size, 4).unwrap()) {
                Ok(block) => block.cast::<u8>(),
                Err(AllocError::OutOfMemory { .. }) => {
                    refused += 1;
                    thread::yield_now();
                    continue;
                }
                Err(other) => panic!("unexpected {other:?}"),
            };
            granted += 1;
            // SAFETY: the block is ours, 8-aligned and at least 4
            // bytes; the claim word is only accessed atomically.
            let claim = unsafe { AtomicU32::from_ptr(block.cast::<u32>().as_ptr()) };
            assert_eq!(
                claim.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed),
                Ok(0),
                "block handed out while owned"
            );
            if size > 4 {
                // SAFETY: the rest of the requested bytes are ours.
                unsafe { block.add(4).write_bytes(me as u8, size - 4) };
            }
            thread::yield_now();
            assert_eq!(claim.load(Ordering::Relaxed), me);
            if size > 4 {
                // SAFETY: as above.
                let rest = unsafe { std::slice::from_raw_parts(block.add(4).as_ptr(), size - 4) };
                assert!(rest.iter().all(|&b| b == me as u8));
            }
            claim.store(0, Ordering::Release);
            // SAFETY: allocated above by this thread, freed once.
            unsafe { CLAIM_POOL.free(block) }.unwrap();
        }
        (granted, refused)
    })
    .into_iter()
    .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let stats = CLAIM_POOL.stats();
    assert_eq!(stats.allocations, granted);
    assert_eq!(stats.deallocations, granted);
    assert_eq!(stats.failures, refused);
    assert_eq!(granted + refused, (CLAIMERS * ROUNDS) as u64);
    assert_eq!((stats.live, stats.used, stats.requested), (0, 0, 0));
    assert!(stats.peak <= CLAIMED * BLOCK);
    CLAIM_POOL.check().unwrap();
    // Every block came back: all of them can be taken at once, and no more.
    let all: Vec<_> = (0..CLAIMED)
        .map(|_| CLAIM_POOL.allocate(Layout::new::<u64>()).unwrap())
        .collect();
    assert!(CLAIM_POOL.allocate(Layout::new::<u8>()).is_err());
    for block in all {
        // SAFETY: allocated just above.
        unsafe { CLAIM_POOL.free(block.cast()) }.unwrap();
    }
}
