//! Model tests and misuse tests for the buddy allocator.

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{
    CASES, XorShift, assert_hammer_counted, assert_pattern, assert_refused_unchanged,
    assert_unchanged, assert_vec_in_works, fill_until_first_failure, hammer_from_threads,
    leak_memory, ops, run_model,
};
use flight_mem::{AllocError, AllocatorKind, Arena, Buddy, RawMemory};
use proptest::prelude::*;

const MAX_OPS: usize = if cfg!(miri) { 30 } else { 300 };
/// Region lengths of the mixed model test (miri walks every tag per step).
const MAX_LEN: usize = if cfg!(miri) { 9_000 } else { 70_000 };
const WORD: usize = size_of::<usize>();

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// The capacity the module documentation promises for a region aligned to
/// the minimum block: `len / (min_block + 1)` blocks, the tags behind them.
fn expected_capacity(len: usize, min_block: usize) -> usize {
    len / (min_block + 1) * min_block
}

/// Asserts that an empty allocator hands out its largest top-level block
/// again, leaving exactly the smaller top-level blocks free.
fn assert_whole_again(buddy: &Buddy) {
    let stats = buddy.stats();
    assert_eq!(stats.used, 0);
    let capacity = buddy.capacity();
    if capacity == 0 {
        assert_eq!(stats.largest_free, 0);
        return;
    }
    let largest = 1usize << capacity.ilog2();
    assert_eq!(stats.largest_free, largest);
    let block = buddy
        .allocate(layout(largest, 1))
        .expect("largest top-level block");
    let after = buddy.stats();
    assert_eq!(after.used, largest);
    // The rest is the smaller top-level blocks: the lower bits of `capacity`.
    let rest = capacity - largest;
    let next = if rest == 0 { 0 } else { 1 << rest.ilog2() };
    assert_eq!(after.largest_free, next, "slack after the whole block");
    assert!(matches!(
        buddy.allocate(layout(largest, 1)),
        Err(AllocError::OutOfMemory { .. } | AllocError::TooLarge { .. })
    ));
    buddy.check().unwrap();
    // SAFETY: `block` is live and not used again.
    unsafe { buddy.free(block.cast()) }.unwrap();
    assert_eq!(buddy.stats().largest_free, largest);
    buddy.check().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Mixed sizes and alignments up to 512 over regions that are not a
    /// power of two, with every supported minimum block.
    #[test]
    fn model_mixed(
        len in 5_000usize..MAX_LEN,
        min_log2 in 4u32..8,
        ops in ops(3000, 9, 3, 1..MAX_OPS),
    ) {
        let min_block = 1 << min_log2;
        prop_assume!(min_block >= 2 * WORD);
        let buddy = Buddy::with_min_block(leak_memory(len, 4096), min_block);
        prop_assert_eq!(buddy.capacity(), expected_capacity(len, min_block));
        run_model(&buddy, &ops);
        assert_whole_again(&buddy);
    }

    /// Small blocks in a small region: deep splits, many merges, frequent
    /// exhaustion.
    #[test]
    fn model_small_blocks(len in 600usize..5_000, ops in ops(200, 5, 2, 1..MAX_OPS)) {
        let buddy = Buddy::new(leak_memory(len, 32));
        run_model(&buddy, &ops);
        assert_whole_again(&buddy);
    }

    /// Regions too small for any block, or for a few: everything fails
    /// cleanly.
    #[test]
    fn model_tiny_regions(len in 1usize..200, ops in ops(64, 0, 4, 1..40)) {
        let buddy = Buddy::new(leak_memory(len, 8));
        run_model(&buddy, &ops);
        assert_whole_again(&buddy);
    }

    /// A misaligned region start loses at most a minimum block to alignment.
    #[test]
    fn model_misaligned_region(skew in 1usize..32, ops in ops(500, 5, 3, 1..MAX_OPS)) {
        let memory = leak_memory(8192 + skew, 32);
        // SAFETY: a sub-range of leaked memory given to this allocator alone.
        let memory = unsafe { RawMemory::from_raw_parts(memory.as_ptr().add(skew), 8192) };
        let buddy = Buddy::new(memory);
        prop_assert_eq!(buddy.capacity(), expected_capacity(8192 - (32 - skew), 32));
        run_model(&buddy, &ops);
        assert_whole_again(&buddy);
    }
}

#[test]
fn rounding_and_overhead() {
    let buddy = Buddy::new(leak_memory(33 * 1024, 32 * 1024));
    // 1024 blocks of 32 bytes, 1024 tag bytes: one top-level block.
    assert_eq!(buddy.capacity(), 32 * 1024);
    assert_eq!(buddy.kind(), AllocatorKind::Buddy);
    assert_eq!(buddy.min_block(), 32);
    assert_eq!(buddy.max_align(), 32 * 1024);
    for (size, consumed) in [
        (1, 32),
        (32, 32),
        (33, 64),
        (64, 64),
        (100, 128),
        (4096, 4096),
        (4097, 8192),
    ] {
        let block = buddy.allocate(layout(size, 1)).unwrap();
        assert_eq!(block.len(), size);
        assert_eq!(buddy.stats().used, consumed, "{size} bytes");
        buddy.check().unwrap();
        // SAFETY: live, not used again.
        unsafe { buddy.free(block.cast()) }.unwrap();
    }
    // Alignment raises the order: 8 bytes aligned to 1024 take a 1 KiB block.
    let block = buddy.allocate(layout(8, 1024)).unwrap();
    assert_eq!(block.cast::<u8>().as_ptr() as usize % 1024, 0);
    assert_eq!(buddy.stats().used, 1024);
    assert_eq!(buddy.stats().requested, 8);
    buddy.check().unwrap();
    // SAFETY: live, not used again.
    unsafe { buddy.free(block.cast()) }.unwrap();
    assert_whole_again(&buddy);
}

#[test]
fn non_power_of_two_region_uses_every_block() {
    // 100 minimum blocks: top-level blocks of 64, 32 and 4.
    let buddy = Buddy::new(leak_memory(100 * 33, 4096));
    assert_eq!(buddy.capacity(), 3200);
    let blocks: Vec<_> = [2048, 1024, 128]
        .iter()
        .map(|&size| buddy.allocate(layout(size, 1)).unwrap())
        .collect();
    let stats = buddy.stats();
    assert_eq!(stats.used, 3200);
    assert_eq!(stats.largest_free, 0);
    assert!(matches!(
        buddy.allocate(layout(1, 1)),
        Err(AllocError::OutOfMemory {
            size: 1,
            largest_free: 0
        })
    ));
    buddy.check().unwrap();
    for block in blocks {
        // SAFETY: live, not used again.
        unsafe { buddy.free(block.cast()) }.unwrap();
    }
    // The three top-level blocks never merge with each other.
    assert_eq!(buddy.stats().largest_free, 2048);
    assert_whole_again(&buddy);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let buddy = Buddy::new(leak_memory(33 * 1024, 32 * 1024));
    let a = buddy.allocate(layout(100, 8)).unwrap();
    let b = buddy.allocate(layout(100, 8)).unwrap();
    // SAFETY: `b` is live, 100 bytes.
    unsafe { b.cast::<u8>().as_ptr().write_bytes(0xab, 100) };
    let before = buddy.stats();

    assert_eq!(buddy.allocate(layout(0, 1)), Err(AllocError::ZeroSize));
    assert_unchanged(&buddy, &before, 1);
    let huge = isize::MAX as usize;
    assert_eq!(
        buddy.allocate(layout(huge, 1)),
        Err(AllocError::TooLarge {
            size: huge,
            max: 32 * 1024
        })
    );
    assert_eq!(
        buddy.allocate(layout(32 * 1024 + 1, 1)),
        Err(AllocError::TooLarge {
            size: 32 * 1024 + 1,
            max: 32 * 1024
        })
    );
    assert_eq!(
        buddy.allocate(layout(8, 64 * 1024)),
        Err(AllocError::AlignmentTooLarge {
            align: 64 * 1024,
            max: 32 * 1024
        })
    );
    assert!(matches!(
        buddy.allocate(layout(32 * 1024, 1)),
        Err(AllocError::OutOfMemory { .. })
    ));
    assert_unchanged(&buddy, &before, 5);
    let before = buddy.stats();

    let local = 0u64;
    let outside = NonNull::from(&local).cast::<u8>();
    let a_ptr = a.cast::<u8>();
    let b_ptr = b.cast::<u8>();
    // SAFETY: each pointer below is invalid on purpose; the
    // allocator must refuse it without touching memory it does not own.
    unsafe {
        assert_refused_unchanged(&buddy, outside, AllocError::ForeignPointer);
        assert_refused_unchanged(&buddy, a_ptr.add(1), AllocError::ForeignPointer);
        // A minimum-block boundary inside a live 128-byte block.
        assert_refused_unchanged(&buddy, a_ptr.add(32), AllocError::ForeignPointer);
        assert_refused_unchanged(&buddy, b_ptr.add(64), AllocError::ForeignPointer);
        // One past the heap, in the tag table.
        let past = NonNull::new(a_ptr.as_ptr().add(32 * 1024)).unwrap();
        assert_refused_unchanged(&buddy, past, AllocError::ForeignPointer);
    }
    assert_unchanged(&buddy, &before, 0);
    // SAFETY: `b` is live and 100 bytes long.
    unsafe { assert_pattern(b_ptr, 100, 0xab, "live block next to refused pointers") };

    // SAFETY: `a` is live; afterwards it is freed on purpose twice.
    unsafe {
        buddy.free(a_ptr).unwrap();
        assert_refused_unchanged(&buddy, a_ptr, AllocError::DoubleFree);
        // `b` is `a`'s buddy: freeing it merges both into one block, and
        // `b`'s pointer now lies inside a free block.
        buddy.free(b_ptr).unwrap();
        assert_refused_unchanged(&buddy, b_ptr, AllocError::DoubleFree);
        assert_refused_unchanged(&buddy, a_ptr, AllocError::DoubleFree);
    }
    assert_whole_again(&buddy);
}

#[test]
fn overrun_into_slack_is_reported_by_check() {
    let buddy = Buddy::new(leak_memory(33 * 1024, 32 * 1024));
    let block = buddy.allocate(layout(100, 1)).unwrap();
    buddy.check().unwrap();
    // SAFETY: the last byte of the 128-byte block: the slack record.
    let slack = unsafe { block.cast::<u8>().as_ptr().add(127) };
    // SAFETY: deliberately overwrites the record to simulate an overrun, and
    // puts it back before the block is freed.
    unsafe {
        let saved = slack.read();
        slack.write(saved + 1);
        let violation = buddy.check().unwrap_err();
        assert!(violation.what.contains("requested"), "{violation}");
        slack.write(saved);
    }
    buddy.check().unwrap();
    // SAFETY: live, not used again.
    unsafe { buddy.free(block.cast()) }.unwrap();
    buddy.check().unwrap();
}

#[test]
#[should_panic(expected = "min_block must be a power of two")]
fn min_block_must_be_a_power_of_two() {
    let _ = Buddy::with_min_block(leak_memory(1024, 64), 48);
}

#[test]
#[should_panic(expected = "min_block must be a power of two")]
fn min_block_must_hold_two_words() {
    let _ = Buddy::with_min_block(leak_memory(1024, 64), WORD);
}

const ARENA_SIZE: usize = if cfg!(miri) { 16 * 1024 } else { 256 * 1024 };

#[test]
fn static_instance_first_used_from_many_threads() {
    static ARENA: Arena<ARENA_SIZE> = Arena::new();
    // SAFETY: ARENA is given to this allocator alone.
    static HEAP: Buddy = Buddy::new(unsafe { RawMemory::from_arena(&ARENA) });
    const THREADS: usize = 4;
    const ROUNDS: usize = if cfg!(miri) { 20 } else { 500 };

    let counts = hammer_from_threads(&HEAP, THREADS, ROUNDS, 4, |thread, round| {
        layout(1 + (round * 37 + thread * 101) % 700, 8)
    });
    assert_hammer_counted(&HEAP, &counts, ROUNDS);
    assert_whole_again(&HEAP);
}

#[test]
fn allocator_api2_vec_on_a_static_instance() {
    static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
    // SAFETY: ARENA is given to this allocator alone.
    static HEAP: Buddy = Buddy::new(unsafe { RawMemory::from_arena(&ARENA) });

    let stats = assert_vec_in_works(&HEAP);
    assert_eq!(stats.used, 4096, "no overhead: 4096 is a power of two");
    assert_whole_again(&HEAP);
}

/// Fill until the first failure with random sizes 16..=65536: the share of
/// the capacity that callers got (the rest is power-of-two rounding).
#[test]
fn utilisation_fill_until_first_failure() {
    let len = if cfg!(miri) { 1 << 19 } else { 4 << 20 };
    let mut shares = Vec::new();
    for seed in 1u64..=if cfg!(miri) { 1 } else { 8 } {
        let buddy = Buddy::new(leak_memory(len, 4096));
        let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let stats = fill_until_first_failure(&buddy, &mut rng, 16..=65536);
        shares.push(stats.requested as f64 / stats.capacity as f64);
    }
    let worst = shares.iter().copied().fold(1.0, f64::min);
    eprintln!(
        "buddy utilisation (requested / capacity): worst {:.1} %, all {shares:.3?}",
        worst * 100.0
    );
    // Rounding to a power of two wastes less than half of every block.
    assert!(worst > 0.5);
}
