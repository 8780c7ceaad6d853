//! Model tests of the per-thread bump handles (`Linear::local`,
//! `Frames::local`): random local allocations, scopes, checkpoints, handle
//! drops and interleaved shared allocations against a reference model of
//! the live blocks (contents, alignment, disjointness) and of the exact
//! statistics once the handles are gone; plus a two-thread test.

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{CASES, leak_memory, on_threads};
use flight_mem::{Frames, Linear, LocalBump, LocalCheckpoint, LocalScope};
use proptest::prelude::*;

const MAX_OPS: usize = if cfg!(miri) { 10 } else { 120 };
const MAX_SIZE: usize = if cfg!(miri) { 48 } else { 200 };

#[derive(Clone, Debug)]
enum Op {
    /// Allocate through handle `h` (created on first use).
    Local {
        h: usize,
        size: usize,
        align_log2: u8,
    },
    /// Allocate from the shared allocator.
    Shared { size: usize, align_log2: u8 },
    /// Drop handle `h`.
    Drop { h: usize },
    /// A scope on handle `h` with these allocations and a nested scope
    /// after the first.
    Scope {
        h: usize,
        allocs: Vec<(usize, u8)>,
        nested: Vec<(usize, u8)>,
    },
    /// Take a checkpoint of handle `h`, allocate, and return to it.
    Rewind { h: usize, allocs: Vec<(usize, u8)> },
}

fn spec(max_align_log2: u8) -> impl Strategy<Value = (usize, u8)> {
    (1..=MAX_SIZE, 0u8..=max_align_log2)
}

fn op(handles: usize, shared: bool, max_align_log2: u8) -> impl Strategy<Value = Op> {
    let h = 0..handles;
    prop_oneof![
        10 => (h.clone(), spec(max_align_log2))
            .prop_map(|(h, (size, align_log2))| Op::Local { h, size, align_log2 }),
        if shared { 3 } else { 0 } => spec(max_align_log2)
            .prop_map(|(size, align_log2)| Op::Shared { size, align_log2 }),
        1 => h.clone().prop_map(|h| Op::Drop { h }),
        3 => (
            h.clone(),
            proptest::collection::vec(spec(max_align_log2), 0..5),
            proptest::collection::vec(spec(max_align_log2), 0..3),
        )
            .prop_map(|(h, allocs, nested)| Op::Scope { h, allocs, nested }),
        2 => (h, proptest::collection::vec(spec(max_align_log2), 0..4))
            .prop_map(|(h, allocs)| Op::Rewind { h, allocs }),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Block {
    addr: usize,
    ptr: *mut u8,
    size: usize,
    pattern: u8,
}

/// What must hold of the blocks handed out and of the statistics.
#[derive(Default)]
struct Model {
    /// Blocks still reachable by the test; checked byte for byte.
    live: Vec<Block>,
    /// Allocated and not reclaimed (includes blocks of scopes that could not
    /// roll back, which the test can no longer reach).
    counted: Vec<Block>,
    allocations: u64,
    deallocations: u64,
    next_pattern: u8,
    /// Scope blocks from the shared bump, forgotten when their scope ends.
    deferred: Vec<Block>,
    base: usize,
    len: usize,
}

impl Model {
    fn on_alloc(&mut self, layout: Layout, block: NonNull<[u8]>) -> Block {
        let addr = block.cast::<u8>().as_ptr() as usize;
        assert!(block.len() >= layout.size(), "short block");
        assert_eq!(addr % layout.align(), 0, "misaligned block");
        assert!(
            addr >= self.base && addr + layout.size() <= self.base + self.len,
            "block outside the memory"
        );
        for other in &self.counted {
            assert!(
                addr + layout.size() <= other.addr || other.addr + other.size <= addr,
                "block {addr:#x}+{} overlaps {other:?}",
                layout.size()
            );
        }
        self.next_pattern = self.next_pattern.wrapping_add(1);
        let new = Block {
            addr,
            ptr: block.cast::<u8>().as_ptr(),
            size: layout.size(),
            pattern: self.next_pattern,
        };
        // SAFETY: a fresh block of at least `size` bytes, ours alone.
        unsafe { new.ptr.write_bytes(new.pattern, new.size) };
        self.live.push(new);
        self.counted.push(new);
        self.allocations += 1;
        new
    }

    fn check_contents(&self) {
        for block in &self.live {
            // SAFETY: a live block of this test.
            let bytes = unsafe { std::slice::from_raw_parts(block.ptr, block.size) };
            assert!(
                bytes.iter().all(|&b| b == block.pattern),
                "block {block:?} was overwritten"
            );
        }
    }

    /// The test can no longer reach `blocks`; with `reclaimed` the allocator
    /// took them back.
    fn forget(&mut self, blocks: &[Block], reclaimed: bool) {
        for block in blocks {
            self.live.retain(|b| b.addr != block.addr);
            if reclaimed {
                self.counted.retain(|b| b.addr != block.addr);
                self.deallocations += 1;
            }
        }
    }
}

fn layout((size, align_log2): (usize, u8)) -> Layout {
    Layout::from_size_align(size, 1 << align_log2).unwrap()
}

/// Allocates through `handle`; `Some(block)` for a block from its chunk,
/// tagged with whether it came from the chunk (true) or the shared bump.
fn local_alloc(m: &mut Model, handle: &LocalBump<'_>, spec: (usize, u8)) -> Option<(Block, bool)> {
    let before = handle.checkpoint();
    let layout = layout(spec);
    let block = handle.allocate(layout).ok()?;
    let from_chunk = handle.checkpoint() != before;
    Some((m.on_alloc(layout, block), from_chunk))
}

/// Allocates in `scope`; blocks the handle sent to the shared bump never
/// roll back, so they are forgotten (out of reach, still counted) at once.
fn scope_alloc(
    m: &mut Model,
    scope: &LocalScope<'_, '_>,
    spec: (usize, u8),
    first: &mut Option<(u32, usize)>,
) -> Option<Block> {
    let before = scope.checkpoint();
    let layout = layout(spec);
    let block = scope.alloc_layout(layout).ok()?;
    let block = m.on_alloc(layout, block);
    let after = scope.checkpoint();
    if after == before {
        m.deferred.push(block);
        return None;
    }
    if first.is_none() {
        // The position the scope returns to: before this block, in the chunk
        // it landed in (a fresh one when this block claimed it).
        *first = Some(if after.chunk() == before.chunk() {
            (before.chunk(), before.allocations())
        } else {
            (after.chunk(), 0)
        });
    }
    Some(block)
}

/// Whether a scope whose first local block went to `first` rolled back.
fn rolled_back(first: Option<(u32, usize)>, now: LocalCheckpoint) -> bool {
    first.is_some_and(|first| first == (now.chunk(), now.allocations()))
}

/// Runs `ops` on a fresh `Linear` of `len` bytes and checks the exact
/// statistics once every handle is gone.
fn run(ops: &[Op], len: usize, handles: usize) -> Linear {
    let memory = leak_memory(len, 64);
    let base = memory.as_ptr() as usize;
    let mut linear = Linear::new(memory);
    let mut m = Model {
        base,
        len,
        ..Model::default()
    };
    {
        let linear = &linear;
        let mut locals: Vec<Option<LocalBump<'_>>> = (0..handles).map(|_| None).collect();
        for op in ops {
            match op {
                Op::Local {
                    h,
                    size,
                    align_log2,
                } => {
                    let handle = locals[*h].get_or_insert_with(|| linear.local());
                    local_alloc(&mut m, handle, (*size, *align_log2));
                }
                Op::Shared { size, align_log2 } => {
                    let layout = layout((*size, *align_log2));
                    if let Ok(block) = linear.allocate(layout) {
                        m.on_alloc(layout, block);
                    }
                }
                Op::Drop { h } => locals[*h] = None,
                Op::Scope { h, allocs, nested } => {
                    let handle = locals[*h].get_or_insert_with(|| linear.local());
                    let mut outer = Vec::new();
                    let mut first = None;
                    handle.scope(|scope| {
                        for (i, spec) in allocs.iter().enumerate() {
                            outer.extend(scope_alloc(&mut m, scope, *spec, &mut first));
                            if i == 0 && !nested.is_empty() {
                                let mut inner_first = None;
                                let inner_blocks = scope.scope(|inner| {
                                    let mut blocks = Vec::new();
                                    for spec in nested {
                                        blocks.extend(scope_alloc(
                                            &mut m,
                                            inner,
                                            *spec,
                                            &mut inner_first,
                                        ));
                                    }
                                    m.check_contents();
                                    blocks
                                });
                                // The inner scope ended: its blocks are out of
                                // reach, and back when the position is too.
                                if rolled_back(inner_first, scope.checkpoint()) {
                                    m.forget(&inner_blocks, true);
                                } else {
                                    m.forget(&inner_blocks, false);
                                    // The outer scope's rollback covers them
                                    // only if it allocated before them.
                                    if first.is_some() {
                                        outer.extend(inner_blocks);
                                    }
                                }
                            }
                        }
                        m.check_contents();
                    });
                    // Rolled back exactly when the handle is where it was.
                    let back = rolled_back(first, handle.checkpoint());
                    m.forget(&outer, back);
                    let deferred = std::mem::take(&mut m.deferred);
                    m.forget(&deferred, false);
                }
                Op::Rewind { h, allocs } => {
                    let handle = locals[*h].get_or_insert_with(|| linear.local());
                    let checkpoint = handle.checkpoint();
                    let mut from_chunk = Vec::new();
                    let mut direct = Vec::new();
                    for spec in allocs {
                        match local_alloc(&mut m, handle, *spec) {
                            Some((block, true)) => from_chunk.push(block),
                            Some((block, false)) => direct.push(block),
                            None => {}
                        }
                    }
                    m.check_contents();
                    // SAFETY: the blocks allocated since are forgotten below
                    // and never touched again; no scope is open.
                    unsafe { handle.reset_to(checkpoint) };
                    let rolled_back = handle.checkpoint() == checkpoint;
                    m.forget(&from_chunk, rolled_back);
                    m.forget(&direct, false);
                }
            }
            m.check_contents();
            assert!(linear.check().is_ok());
        }
    }
    m.check_contents();
    // Every handle is gone: the statistics are exact, up to chunks that a
    // scope emptied and that could not be given back (one live block each).
    let stats = linear.stats();
    let requested: usize = m.counted.iter().map(|b| b.size).sum();
    assert_eq!(stats.requested, requested, "requested");
    assert_eq!(stats.deallocations, m.deallocations, "deallocations");
    let empty_chunks = stats.live as u64 - m.counted.len() as u64;
    assert_eq!(
        stats.allocations,
        m.allocations + empty_chunks,
        "allocations"
    );
    assert!(empty_chunks <= ops.len() as u64);
    assert!(stats.used <= len && stats.used >= requested);
    linear.reset_mut();
    // The whole capacity is back.
    assert_eq!(linear.stats().used, 0);
    assert!(
        linear
            .allocate(Layout::from_size_align(len, 1).unwrap())
            .is_ok()
    );
    linear
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Two handles and the shared allocator, interleaved.
    #[test]
    fn handles_and_shared_calls_agree_with_the_model(
        ops in proptest::collection::vec(op(2, true, 6), 1..MAX_OPS),
        len in 256usize..8192,
    ) {
        run(&ops, len, 2);
    }

    /// One handle alone with alignments up to 8: after the handle drops, the
    /// bytes used are exactly the blocks (each rounded up to 8) that were not
    /// reclaimed, so the unused tail came back, and no empty chunk stays.
    #[test]
    fn a_lone_handle_gives_its_tail_back(
        ops in proptest::collection::vec(op(1, false, 3), 1..MAX_OPS),
        len in 512usize..8192,
    ) {
        // Sizes up to 200 stay below a quarter of the first chunk (at
        // least 1024 / 4 for memory of 8 KiB; smaller memory makes some go
        // to the shared bump, which is still exact).
        let ops: Vec<Op> = ops
            .into_iter()
            .filter(|op| !matches!(op, Op::Shared { .. }))
            .collect();
        run(&ops, len, 1);
    }
}

/// A handle without interference: used bytes are the rounded blocks.
#[test]
fn lone_handle_used_bytes_are_its_blocks() {
    let linear = Linear::new(leak_memory(16 * 1024, 64));
    let mut local = linear.local();
    let mut expected = 0;
    for size in [1usize, 7, 8, 64, 100, 3, 250] {
        local
            .allocate(Layout::from_size_align(size, 1).unwrap())
            .unwrap();
        expected += size.next_multiple_of(8);
    }
    local.scope(|scope| {
        scope.alloc_slice_fill(300, 0u8).unwrap();
    });
    let held = linear.stats();
    assert_eq!(held.live, 1, "the chunk counts as one block while held");
    assert!(held.used >= 1024);
    drop(local);
    let stats = linear.stats();
    assert_eq!(stats.used, expected);
    assert_eq!(stats.live, 7);
    assert_eq!(stats.allocations, 8);
    assert_eq!(stats.deallocations, 1);
    assert_eq!(stats.requested, 1 + 7 + 8 + 64 + 100 + 3 + 250);
}

/// Chunks grow and the handle still fills the whole memory.
#[test]
fn handle_fills_the_whole_capacity() {
    let len = 64 * 1024;
    let linear = Linear::new(leak_memory(len, 64));
    let local = linear.local();
    let mut count = 0;
    while local.allocate(Layout::new::<[u64; 8]>()).is_ok() {
        count += 1;
    }
    assert_eq!(count, len / 64);
    assert!(local.allocate(Layout::new::<u8>()).is_err());
    drop(local);
    let stats = linear.stats();
    assert_eq!((stats.used, stats.live, stats.failures), (len, len / 64, 2));
}

/// The most a handle holds claimed but unused (its chunk's free tail), while
/// it allocates 64-byte blocks until `fill` bytes: the chunk size it reached.
fn largest_unused_chunk_part(len: usize, fill: usize) -> usize {
    let linear = Linear::new(leak_memory(len, 64));
    let local = linear.local();
    let mut unused = 0;
    for allocated in (64..=fill).step_by(64) {
        local.allocate(Layout::new::<[u64; 8]>()).unwrap();
        unused = unused.max(linear.stats().used - allocated);
    }
    unused
}

/// Chunks grow to 64 KiB (and a quarter of the frame); past 64 KiB only to
/// a sixteenth of the frame, at most 256 KiB, so what one handle holds back
/// from the others stays small against the frame.
#[test]
fn chunk_size_is_bounded_by_the_frame() {
    if cfg!(miri) {
        return; // 16k allocations with a stats read each: minutes under Miri
    }
    let small = largest_unused_chunk_part(512 * 1024, 400 * 1024);
    assert!((32 * 1024..64 * 1024).contains(&small), "{small}");
    let middle = largest_unused_chunk_part(2 << 20, 1 << 20);
    assert!((64 * 1024..128 * 1024).contains(&middle), "{middle}");
    let large = largest_unused_chunk_part(8 << 20, 1 << 20);
    assert!((128 * 1024..256 * 1024).contains(&large), "{large}");
}

/// A frame's handle allocates in the current frame; after it drops and the
/// frame changes, the next handle allocates in the new frame.
#[test]
fn frames_handles_follow_the_current_frame() {
    let mut frames = Frames::new(leak_memory(2 * 4096 + 64, 64), 2);
    let frame_len = frames.frame_capacity();
    let base = {
        let local = frames.local();
        let block = local.allocate(Layout::new::<u64>()).unwrap();
        block.cast::<u8>().as_ptr() as usize
    };
    assert_eq!(frames.stats().used, 8);
    frames.next_frame_mut();
    let local = frames.local();
    let block = local.allocate(Layout::new::<u64>()).unwrap();
    assert_eq!(block.cast::<u8>().as_ptr() as usize, base + frame_len);
    drop(local);
    let stats = frames.stats();
    assert_eq!((stats.used, stats.live, stats.allocations), (16, 2, 2));
    frames.reset_mut();
    assert_eq!(frames.stats().used, 0);
}

/// Two threads, each through its own handle, get disjoint blocks that keep
/// their contents, and the counts add up exactly once both handles drop.
#[test]
fn two_threads_with_handles_get_disjoint_blocks() {
    let per_thread = if cfg!(miri) { 20 } else { 5_000 };
    let len = 2 * per_thread * 64 + 64 * 1024;
    let linear = Linear::new(leak_memory(len, 64));
    let ranges = on_threads(2, |thread| {
        let local = linear.local();
        let mut blocks = Vec::new();
        for _ in 0..per_thread {
            let block = local.allocate(Layout::new::<[u64; 8]>()).unwrap();
            let ptr = block.cast::<u64>().as_ptr();
            // SAFETY: a fresh block of 64 bytes.
            unsafe { ptr.write_bytes((thread * 2 + 1) as u8, 8) };
            blocks.push((ptr as usize, ptr));
        }
        for &(_, ptr) in &blocks {
            // SAFETY: still ours.
            let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), 64) };
            assert!(bytes.iter().all(|&b| b == (thread * 2 + 1) as u8));
        }
        blocks.into_iter().map(|(addr, _)| addr).collect::<Vec<_>>()
    });
    let mut all: Vec<usize> = ranges.into_iter().flatten().collect();
    all.sort_unstable();
    assert!(
        all.windows(2).all(|w| w[0] + 64 <= w[1]),
        "overlapping blocks"
    );
    let stats = linear.stats();
    assert_eq!(stats.live, 2 * per_thread);
    assert_eq!(stats.requested, 2 * per_thread * 64);
    assert!(linear.check().is_ok());
}
