//! The workloads, untimed: the bench targets wrap them in their clocks and
//! the callgrind driver counts their instructions.
//!
//! Every pointer handed out goes through `black_box`, so the compiler cannot
//! drop an allocation whose result is unused.

use core::hint::black_box;

use crate::plan::{Churn, FragOp, LINEAR_LAYOUT, POOL_LAYOUT, Step};
use crate::{Reset, Subject};

/// Workload 1: `count` allocations of 64 bytes, then one reset. Returns how
/// many allocations succeeded.
#[inline(never)]
pub fn linear<S: Reset>(subject: &mut S, count: usize) -> usize {
    let mut served = 0;
    for _ in 0..count {
        if let Some(block) = subject.alloc(LINEAR_LAYOUT) {
            black_box(&block);
            served += 1;
        }
    }
    subject.reset();
    served
}

/// Workload 2a: `pairs` LIFO allocate-then-free pairs of 64 bytes. Returns
/// how many allocations succeeded.
#[inline(never)]
pub fn pool_lifo<S: Subject>(subject: &mut S, pairs: usize) -> usize {
    let mut served = 0;
    for _ in 0..pairs {
        if let Some(block) = subject.alloc(POOL_LAYOUT) {
            black_box(&block);
            // SAFETY: the block was just allocated by `subject`.
            unsafe { subject.free(block) };
            served += 1;
        }
    }
    served
}

/// Fills `live` with the churn's initial allocations. Returns false if the
/// subject refused one.
pub fn fill<S: Subject>(subject: &mut S, churn: &Churn, live: &mut Vec<S::Block>) -> bool {
    for &layout in &churn.initial {
        match subject.alloc(layout) {
            Some(block) => live.push(block),
            None => return false,
        }
    }
    true
}

/// Runs churn steps over a live set made by [`fill`]: each frees a random
/// live block and allocates a new one. Returns the number of refused
/// allocations (zero for every contender that can hold the live set).
#[inline(never)]
pub fn churn_steps<S: Subject>(subject: &mut S, steps: &[Step], live: &mut Vec<S::Block>) -> usize {
    let mut refused = 0;
    for step in steps {
        if !live.is_empty() {
            let index = step.victim as usize % live.len();
            let victim = live.swap_remove(index);
            // SAFETY: every block in `live` came from `subject` and is live.
            unsafe { subject.free(victim) };
        }
        match subject.alloc(step.layout) {
            Some(block) => live.push(black_box(block)),
            None => refused += 1,
        }
    }
    refused
}

/// Frees every block in `live`.
pub fn drain<S: Subject>(subject: &mut S, live: &mut Vec<S::Block>) {
    for block in live.drain(..) {
        // SAFETY: every block in `live` came from `subject` and is live.
        unsafe { subject.free(block) };
    }
}

/// Fills `subject` with `churn`'s initial blocks, times `steps` churn steps
/// (repeating the plan when asked for more) and drains it again: the timed
/// part of a criterion `iter_custom` over workload 3 or 2b.
pub fn timed_churn<S: Subject>(
    subject: &mut S,
    churn: &Churn,
    live: &mut Vec<S::Block>,
    steps: usize,
) -> std::time::Duration {
    assert!(fill(subject, churn, live), "the initial blocks fit");
    let mut elapsed = std::time::Duration::ZERO;
    let mut remaining = steps;
    while remaining > 0 {
        let chunk = &churn.steps[..remaining.min(churn.steps.len())];
        let start = std::time::Instant::now();
        black_box(churn_steps(subject, chunk, live));
        elapsed += start.elapsed();
        remaining -= chunk.len();
    }
    drain(subject, live);
    elapsed
}

/// What workload 4 found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Utilisation {
    /// Sum of the requested sizes of the live blocks when the first
    /// allocation was refused.
    pub live_bytes: usize,
    /// Allocations served before that.
    pub allocations: usize,
}

/// Workload 4: follows `ops` until the first refused allocation and reports
/// the bytes live at that moment. Frees everything afterwards.
pub fn fragmentation<S: Subject>(subject: &mut S, ops: &[FragOp]) -> Utilisation {
    let mut live: Vec<(S::Block, usize)> = Vec::with_capacity(8192);
    let mut live_bytes = 0;
    let mut allocations = 0;
    for op in ops {
        match *op {
            FragOp::Alloc(size) => {
                let layout = core::alloc::Layout::from_size_align(size, 8).expect("valid layout");
                match subject.alloc(layout) {
                    Some(block) => {
                        live.push((block, size));
                        live_bytes += size;
                        allocations += 1;
                    }
                    None => break,
                }
            }
            FragOp::Free(victim) => {
                if !live.is_empty() {
                    let (block, size) = live.swap_remove(victim as usize % live.len());
                    live_bytes -= size;
                    // SAFETY: every block in `live` came from `subject` and is live.
                    unsafe { subject.free(block) };
                }
            }
        }
    }
    for (block, _) in live {
        // SAFETY: as above.
        unsafe { subject.free(block) };
    }
    Utilisation {
        live_bytes,
        allocations,
    }
}

/// How many `size`-byte, 8-aligned blocks fit before the first refusal
/// (capped at `limit`); the arena divided by it is the bytes one allocation
/// consumes. Frees everything afterwards.
pub fn fill_count<S: Subject>(subject: &mut S, size: usize, limit: usize) -> usize {
    let layout = core::alloc::Layout::from_size_align(size, 8).expect("valid layout");
    let mut live = Vec::new();
    while live.len() < limit {
        match subject.alloc(layout) {
            Some(block) => live.push(block),
            None => break,
        }
    }
    let count = live.len();
    drain(subject, &mut live);
    count
}

/// Workload 5: allocates every layout in order, then frees them in `order`.
/// Returns how many allocations were refused.
#[inline(never)]
pub fn buddy<S: Subject>(
    subject: &mut S,
    layouts: &[core::alloc::Layout],
    order: &[usize],
) -> usize {
    let mut blocks: Vec<Option<S::Block>> = Vec::with_capacity(layouts.len());
    let mut refused = 0;
    for &layout in layouts {
        let block = subject.alloc(layout);
        refused += usize::from(block.is_none());
        blocks.push(block);
    }
    for &index in order {
        if let Some(block) = blocks[index].take() {
            // SAFETY: every block in `blocks` came from `subject` and is
            // freed once (`take`).
            unsafe { subject.free(block) };
        }
    }
    refused
}
