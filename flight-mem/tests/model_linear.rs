//! Model tests of `Linear`: random allocations, frees, resets, checkpoints
//! and (nested) scopes against an exact model of the bump offset, plus a
//! multi-threaded scope test.

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{CASES, Model, assert_pattern, leak_memory, on_threads};
use flight_mem::{AllocError, Linear, Scope};
use proptest::prelude::*;

/// Ops per case: Miri runs a few short sequences.
const MAX_OPS: usize = if cfg!(miri) { 12 } else { 80 };
const MAX_LEN: usize = if cfg!(miri) { 1024 } else { 4096 };
const MAX_SIZE: usize = if cfg!(miri) { 64 } else { 300 };

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        size: usize,
        align_log2: u8,
    },
    Free {
        pick: usize,
    },
    Reset,
    Checkpoint,
    ResetTo {
        pick: usize,
    },
    /// A scope with these allocations; `raw_after` interleaves a raw
    /// allocation after that many of them (which must block the rollback);
    /// `nested` opens an inner scope after the first allocation.
    Scope {
        allocs: Vec<(usize, u8)>,
        raw_after: Option<usize>,
        nested: Vec<(usize, u8)>,
    },
}

fn alloc_spec() -> impl Strategy<Value = (usize, u8)> {
    (1..=MAX_SIZE, 0u8..=6)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => alloc_spec().prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        2 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => Just(Op::Reset),
        2 => Just(Op::Checkpoint),
        2 => any::<usize>().prop_map(|pick| Op::ResetTo { pick }),
        4 => (
            proptest::collection::vec(alloc_spec(), 0..5),
            proptest::option::weighted(0.3, 0usize..5),
            proptest::collection::vec(alloc_spec(), 0..3),
        )
            .prop_map(|(allocs, raw_after, nested)| Op::Scope { allocs, raw_after, nested }),
    ]
}

/// The harness model plus the exact bump offset.
struct BumpModel {
    model: Model,
    base: usize,
    len: usize,
    offset: usize,
}

impl BumpModel {
    /// Checks an allocation result against the predicted placement.
    fn alloc(
        &mut self,
        linear: &Linear,
        layout: Layout,
        result: Result<NonNull<[u8]>, AllocError>,
    ) {
        let start = (self.base + self.offset).next_multiple_of(layout.align()) - self.base;
        let end = start + layout.size();
        if end <= self.len {
            let block = result.expect("allocation that fits must succeed");
            assert_eq!(
                block.cast::<u8>().as_ptr() as usize,
                self.base + start,
                "not placed at the aligned offset"
            );
            self.offset = end;
        } else {
            assert!(result.is_err(), "allocation beyond the end succeeded");
        }
        self.model.on_alloc(linear, layout, result);
    }

    /// Reclaims (and pattern-checks) every block at or above `offset`.
    fn reclaim_from(&mut self, offset: usize) {
        while let Some(index) = self
            .model
            .live
            .iter()
            .position(|b| b.ptr.as_ptr() as usize >= self.base + offset)
        {
            self.model.take(index);
        }
        self.offset = offset;
    }

    fn check(&self, linear: &Linear) {
        self.model.check_stats(linear);
        let stats = linear.stats();
        assert_eq!(stats.used, self.offset, "used");
        assert_eq!(stats.largest_free, self.len - self.offset, "largest_free");
    }
}

fn layout((size, align_log2): (usize, u8)) -> Layout {
    Layout::from_size_align(size, 1 << align_log2).unwrap()
}

fn scope_alloc(
    m: &mut BumpModel,
    linear: &Linear,
    scope: &Scope<'_>,
    spec: (usize, u8),
) -> Option<NonNull<u8>> {
    let layout = layout(spec);
    let result = scope.alloc_layout(layout);
    let ptr = result.ok().map(|b| b.cast::<u8>());
    m.alloc(linear, layout, result);
    ptr
}

fn run(ops: &[Op], len: usize) {
    let memory = leak_memory(len, 64);
    let base = memory.as_ptr() as usize;
    let linear = Linear::new(memory);
    let mut m = BumpModel {
        model: Model::default(),
        base,
        len,
        offset: 0,
    };
    let mut checkpoints = Vec::new();
    for op in ops {
        match op {
            &Op::Alloc { size, align_log2 } => {
                let layout = layout((size, align_log2));
                m.alloc(&linear, layout, linear.allocate(layout));
            }
            &Op::Free { pick } => {
                if !m.model.live.is_empty() {
                    let block = m.model.live[pick % m.model.live.len()];
                    // SAFETY: a live block of `linear`; free reclaims nothing,
                    // so the model keeps it until the next reset.
                    unsafe { linear.free(block.ptr) }.expect("free of a live block");
                }
            }
            Op::Reset => {
                // Drops every block from the model, checking its pattern.
                m.reclaim_from(0);
                // SAFETY: the model no longer uses any block and no scope is
                // open.
                unsafe { linear.reset() };
                checkpoints.clear();
            }
            Op::Checkpoint => {
                let checkpoint = linear.checkpoint();
                assert_eq!(checkpoint.offset(), m.offset);
                checkpoints.push(checkpoint);
            }
            &Op::ResetTo { pick } => {
                if !checkpoints.is_empty() {
                    let index = pick % checkpoints.len();
                    let checkpoint = checkpoints[index];
                    checkpoints.truncate(index + 1);
                    m.reclaim_from(checkpoint.offset());
                    // SAFETY: the blocks after the checkpoint are dropped from
                    // the model; nothing older was reclaimed since (later
                    // checkpoints are discarded, resets clear the list).
                    unsafe { linear.reset_to(checkpoint) };
                }
            }
            Op::Scope {
                allocs,
                raw_after,
                nested,
            } => {
                // The model offset before the scope's first successful
                // allocation: where a rollback returns to.
                let mut checkpoint = None;
                let mut blocked = false;
                linear.scope(|scope| {
                    for (i, &spec) in allocs.iter().enumerate() {
                        if *raw_after == Some(i) {
                            let layout = Layout::new::<u32>();
                            let result = linear.allocate(layout);
                            // Only a raw block after the scope's first one
                            // keeps the scope from rolling back.
                            blocked |= result.is_ok() && checkpoint.is_some();
                            m.alloc(&linear, layout, result);
                        }
                        let offset = m.offset;
                        if scope_alloc(&mut m, &linear, scope, spec).is_some() {
                            checkpoint = checkpoint.or(Some(offset));
                        }
                        if i == 0 {
                            let mut inner_checkpoint = None;
                            scope.scope(|inner| {
                                for &spec in nested {
                                    let offset = m.offset;
                                    if scope_alloc(&mut m, &linear, inner, spec).is_some() {
                                        inner_checkpoint = inner_checkpoint.or(Some(offset));
                                    }
                                }
                            });
                            // The inner scope rolled back alone.
                            if let Some(offset) = inner_checkpoint {
                                m.reclaim_from(offset);
                            }
                            m.check(&linear);
                        }
                    }
                });
                if let Some(offset) = checkpoint
                    && !blocked
                {
                    m.reclaim_from(offset);
                }
            }
        }
        m.check(&linear);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn linear_matches_model(ops in proptest::collection::vec(op(), 1..MAX_OPS), len in 256usize..MAX_LEN) {
        run(&ops, len);
    }
}

/// Eight threads open nested scopes on one static `Linear` and mix in raw
/// allocations; every block keeps its thread's pattern (blocks are disjoint
/// and no rollback releases another thread's bytes) and the counters add up.
#[test]
fn threads_share_scopes_and_raw_blocks() {
    use flight_mem::{Arena, RawMemory};

    static ARENA: Arena<{ 1 << 20 }> = Arena::new();
    // SAFETY: ARENA is handed to this one allocator and nothing else.
    static LINEAR: Linear = Linear::new(unsafe { RawMemory::from_arena(&ARENA) });
    const THREADS: usize = 8;
    const ROUNDS: usize = if cfg!(miri) { 6 } else { 400 };

    let results = on_threads(THREADS, |thread| {
        let thread = thread as u8;
        let mut raw = Vec::new();
        let mut allocations = 0u64;
        for round in 0..ROUNDS {
            let pattern = thread << 5 | (round % 32) as u8;
            LINEAR.scope(|scope| {
                let outer = scope.alloc_slice_fill(16 + round % 7, pattern).unwrap();
                allocations += 1;
                scope.scope(|inner| {
                    let value = inner.alloc([!pattern; 12]).unwrap();
                    allocations += 1;
                    assert!(value.iter().all(|&b| b == !pattern));
                });
                if round % 5 == 0 {
                    let block = LINEAR
                        .allocate(Layout::new::<[u8; 24]>())
                        .unwrap()
                        .cast::<u8>();
                    // SAFETY: a fresh block of 24 bytes.
                    unsafe { block.as_ptr().write_bytes(pattern ^ 0x55, 24) };
                    raw.push((block, pattern ^ 0x55));
                    allocations += 1;
                }
                let last = scope.alloc_str("flight-mem").unwrap();
                allocations += 1;
                assert!(
                    outer.iter().all(|&b| b == pattern),
                    "scope block overwritten"
                );
                assert_eq!(last, "flight-mem");
            });
        }
        for &(block, pattern) in &raw {
            // SAFETY: the raw blocks are never reclaimed in this test.
            unsafe { assert_pattern(block, 24, pattern, "raw block") };
        }
        (
            raw.iter()
                .map(|(block, _)| block.as_ptr().addr())
                .collect::<Vec<_>>(),
            allocations,
        )
    });
    let mut blocks = Vec::new();
    let mut allocations = 0;
    for (raw, count) in results {
        blocks.extend(raw);
        allocations += count;
    }
    blocks.sort_unstable();
    assert!(
        blocks.windows(2).all(|w| w[1] - w[0] >= 24),
        "raw blocks overlap"
    );
    let stats = LINEAR.stats();
    LINEAR.check().unwrap();
    assert_eq!(stats.allocations, allocations);
    assert_eq!(stats.live as u64, stats.allocations - stats.deallocations);
    assert!(stats.live >= blocks.len());
    assert_eq!(stats.failures, 0);
}
