//! Internal tests: what the public API cannot reach in a test's lifetime
//! (generation exhaustion) and what `check` must catch (a corrupted table).

extern crate std;

use std::alloc::{Layout as StdLayout, alloc_zeroed};
use std::vec::Vec;

use super::table::{GEN_MASK, LIVE};
use super::*;
use crate::AllocError;
use core::alloc::Layout;

fn compact(capacity: usize, handles: usize) -> Compact {
    let bytes = Compact::bytes_for(capacity, handles);
    // Page-aligned: two allocators built alike lay out aligned blocks alike.
    let layout = StdLayout::from_size_align(bytes, 4096).unwrap();
    // SAFETY: non-zero size; the block is leaked and given to one allocator.
    let ptr = unsafe { alloc_zeroed(layout) };
    assert!(!ptr.is_null());
    // SAFETY: as above.
    Compact::new(unsafe { RawMemory::from_raw_parts(ptr, bytes) }, handles)
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// Sets the generation of slot `index` (not live) as if it had been freed
/// that many times.
fn age(c: &Compact, index: u32, generation: u32) {
    let slot = c.slot(c.geometry(), index).unwrap();
    let word = slot.state.load(Ordering::Relaxed);
    assert_eq!(word & LIVE, 0);
    slot.state
        .store((word & !GEN_MASK) | generation as u64, Ordering::Relaxed);
}

/// A size no memory could hold is refused, not wrapped to a small one.
#[test]
fn bytes_for_refuses_sizes_that_overflow() {
    for (capacity, handles) in [(usize::MAX, 0), (0, usize::MAX), (usize::MAX - 64, 16)] {
        let sized = std::panic::catch_unwind(|| Compact::bytes_for(capacity, handles));
        assert!(sized.is_err(), "{capacity} bytes, {handles} handles");
    }
}

#[test]
fn geometry_matches_bytes_for() {
    let c = compact(4096, 16);
    assert_eq!(c.capacity(), 4096);
    assert_eq!(c.max_handles(), 16);
    // A table larger than the memory is cut down to what fits.
    let tiny = compact(0, 4);
    assert_eq!(tiny.capacity(), 0);
    assert_eq!(tiny.max_handles(), 4);
    assert_eq!(
        tiny.allocate(layout(8)),
        Err(AllocError::TooLarge { size: 8, max: 0 })
    );
}

#[test]
fn exhausted_generation_retires_the_slot() {
    let c = compact(1024, 2);
    let first = c.allocate(layout(16)).unwrap();
    c.free(first).unwrap();
    age(&c, first.index, u32::MAX - 1);
    let a = c.allocate(layout(16)).unwrap();
    assert_eq!((a.index, a.generation), (first.index, u32::MAX - 1));
    c.free(a).unwrap();
    let b = c.allocate(layout(16)).unwrap();
    assert_eq!((b.index, b.generation), (first.index, u32::MAX));
    c.free(b).unwrap();
    // The slot is retired, not reused: its last handle stays stale forever.
    assert_eq!(c.compact_stats().retired_handles, 1);
    assert!(c.get(b).is_none());
    assert_eq!(c.free(b), Err(AllocError::DoubleFree));
    let d = c.allocate(layout(16)).unwrap();
    assert_ne!(d.index, first.index);
    assert_eq!(
        c.allocate(layout(16)),
        Err(AllocError::OutOfHandles { max: 2 })
    );
    c.check().unwrap();
}

#[test]
fn check_catches_a_corrupted_table() {
    let c = compact(1024, 4);
    let a = c.allocate(layout(64)).unwrap();
    let b = c.allocate(layout(64)).unwrap();
    c.check().unwrap();
    let g = c.geometry();
    let slot_b = c.slot(g, b.index).unwrap();
    // Block b claims the bytes of block a.
    slot_b.offset.store(8, Ordering::Relaxed);
    let err = c.check().unwrap_err();
    assert_eq!(
        err.what,
        "block overlaps its predecessor or leaves the data area"
    );
    slot_b.offset.store(64, Ordering::Relaxed);
    c.check().unwrap();
    // A length that disagrees with the counters.
    slot_b.len.store(72, Ordering::Relaxed);
    assert!(c.check().is_err());
    slot_b.len.store(64, Ordering::Relaxed);
    // A broken back link.
    c.links(g, a.index).prev.store(b.index, Ordering::Relaxed);
    assert_eq!(c.check().unwrap_err().what, "block list back link broken");
    c.links(g, a.index).prev.store(NIL, Ordering::Relaxed);
    c.check().unwrap();
}

#[test]
fn pins_saturate_instead_of_overflowing() {
    let c = compact(1024, 2);
    let h = c.allocate(layout(8)).unwrap();
    let slot = c.slot(c.geometry(), h.index).unwrap();
    // Pretend all but one of the possible pins are taken.
    slot.state
        .fetch_add((MAX_PINS - 1) * PIN, Ordering::Relaxed);
    let last = c.get(h).unwrap();
    assert!(c.get(h).is_none());
    drop(last);
    let again = c.get(h).unwrap();
    drop(again);
    slot.state
        .fetch_sub((MAX_PINS - 1) * PIN, Ordering::Relaxed);
    assert!(c.get_mut(h).is_some());
    c.free(h).unwrap();
}

#[test]
fn progress_callback_may_use_the_allocator() {
    let c = compact(4096, 16);
    let hs: Vec<Handle> = (0..8).map(|_| c.allocate(layout(100)).unwrap()).collect();
    for h in hs.iter().step_by(2) {
        c.free(*h).unwrap();
    }
    let mut steps = 0;
    let report = c.defragment_with(DefragBudget::UNLIMITED, |step| {
        steps += 1;
        assert!(step.moved && step.to < step.from);
        // No lock is held: pinning, allocating and freeing work here.
        assert_eq!(c.get(step.handle).unwrap().len(), 100);
        let extra = c.allocate(layout(8)).unwrap();
        c.free(extra).unwrap();
    });
    assert_eq!(steps, report.blocks_moved);
    // Evacuation moves the two top blocks into the two lowest holes; a
    // slide would have moved all four.
    assert_eq!(report.blocks_moved, 2);
    assert_eq!(c.compact_stats().holes, 0);
    assert!(report.done());
    c.check().unwrap();
}

#[test]
fn scope_count_sticks_instead_of_wrapping() {
    let c = compact(1024, 4);
    let gap = c.allocate(layout(64)).unwrap();
    let h = c.allocate(layout(64)).unwrap();
    c.free(gap).unwrap();
    // Pretend all but one of the possible scopes were leaked.
    c.scopes.store(u32::MAX - 1, Ordering::Relaxed);
    let last = c.pin_all();
    let extra = c.pin_all();
    assert_eq!(c.scopes.load(Ordering::Relaxed), u32::MAX);
    drop(extra);
    drop(last);
    // Stuck: every block stays pinned, nothing wraps to "no scope".
    assert_eq!(c.scopes.load(Ordering::Relaxed), u32::MAX);
    assert_eq!(c.defragment(DefragBudget::UNLIMITED).blocks_moved, 0);
    assert_eq!(c.free(h), Err(AllocError::Pinned));
    assert!(c.get_mut(h).is_none());
    assert_eq!(c.pin_all().get(h).map(<[u8]>::len), Some(64));
    c.scopes.store(0, Ordering::Relaxed);
    assert_eq!(c.defragment(DefragBudget::UNLIMITED).blocks_moved, 1);
    c.free(h).unwrap();
    c.check().unwrap();
}

/// A `Compact` filled with blocks of random sizes (up to 4 KiB; 512 bytes
/// under Miri, in an eighth of the memory) and alignments (8..=128), a
/// random half of them freed: the same one for the same seed.
fn fragmented(seed: u64) -> (Compact, Vec<Handle>) {
    let (capacity, max) = if cfg!(miri) {
        (8 * 1024, 512)
    } else {
        (64 * 1024, 4096)
    };
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let c = compact(capacity, 256);
    let mut live = Vec::new();
    loop {
        let size = 1 + (next() % max) as usize;
        let align = 8 << (next() % 5);
        let Ok(h) = c.allocate(Layout::from_size_align(size, align).unwrap()) else {
            break;
        };
        c.get_mut(h).unwrap().fill(h.index() as u8);
        live.push(h);
    }
    for _ in 0..live.len() / 2 {
        let i = (next() % live.len() as u64) as usize;
        c.free(live.swap_remove(i)).unwrap();
    }
    (c, live)
}

/// The claim of the batch planner (`batch` module) and of sliding in runs
/// (`slide` module): the same moves as planning each step and sliding one
/// block per step, in the same order, whatever the budget cuts.
#[test]
fn batched_planning_makes_the_step_by_step_moves() {
    let mut batches_planned_moves = 0;
    let mut runs = 0;
    for seed in 0..if cfg!(miri) { 2 } else { 400 } {
        let (a, live) = fragmented(seed);
        let (b, _) = fragmented(seed);
        let max_bytes = [256, 4096, 16 * 1024, usize::MAX][seed as usize % 4];
        let budget = DefragBudget {
            max_bytes,
            max_moves: [3, 8, 100][seed as usize % 3],
        };
        let record = |c: &Compact, batched: bool| {
            let mut steps = Vec::new();
            for _ in 0..200 {
                let report = c.defragment_planned(budget, |s| steps.push(*s), batched);
                if report.done() {
                    break;
                }
            }
            steps
        };
        let (batched, stepwise) = (record(&a, true), record(&b, false));
        assert_eq!(batched, stepwise, "seed {seed}");
        runs += a.state.with(|state| state.runs);
        assert_eq!(b.state.with(|state| state.runs), 0);
        batches_planned_moves += batched.len();
        assert_eq!(a.compact_stats().holes, b.compact_stats().holes);
        for c in [&a, &b] {
            c.check().unwrap();
            for &h in &live {
                assert!(c.get(h).unwrap().iter().all(|&x| x == h.index() as u8));
            }
        }
    }
    assert!(batches_planned_moves > if cfg!(miri) { 4 } else { 1000 });
    assert!(runs > if cfg!(miri) { 0 } else { 300 }, "{runs} runs");
}
