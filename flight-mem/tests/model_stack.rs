//! Model tests of `Stack`: pushes, LIFO frees, refused out-of-order and
//! foreign frees (which change nothing), markers and releases against an
//! exact model; plus threads sharing one stack.

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{CASES, Model, assert_pattern, assert_refused_unchanged, leak_memory, on_threads};
use flight_mem::{AllocError, Stack, StackMarker};
use proptest::prelude::*;

/// Ops per case: Miri runs a few short sequences.
const MAX_OPS: usize = if cfg!(miri) { 12 } else { 80 };
const MAX_LEN: usize = if cfg!(miri) { 1024 } else { 4096 };
const MAX_SIZE: usize = if cfg!(miri) { 64 } else { 200 };
const HEADER: usize = Stack::HEADER_SIZE;

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        size: usize,
        align_log2: u8,
    },
    FreeTop,
    /// Frees a block below the top, or (`interior`) a pointer inside the top
    /// block: both must be refused with nothing changed.
    FreeOutOfOrder {
        pick: usize,
        interior: bool,
    },
    FreeForeign,
    Marker,
    ReleaseTo {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..=MAX_SIZE, 0u8..=6).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        4 => Just(Op::FreeTop),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, interior)| Op::FreeOutOfOrder { pick, interior }),
        1 => Just(Op::FreeForeign),
        2 => Just(Op::Marker),
        2 => any::<usize>().prop_map(|pick| Op::ReleaseTo { pick }),
    ]
}

struct StackModel {
    model: Model,
    base: usize,
    len: usize,
    end: usize,
    /// The `end` before each live block was pushed, in push order (parallel
    /// to `model.live`, which only ever loses its last element).
    prev_ends: Vec<usize>,
    /// Markers with the number of live blocks when they were taken.
    markers: Vec<(StackMarker, usize)>,
    /// Markers whose blocks were freed since: `release_to` must refuse them
    /// while the stack is below them.
    stale: Vec<StackMarker>,
}

impl StackModel {
    fn alloc(&mut self, stack: &Stack, layout: Layout, result: Result<NonNull<[u8]>, AllocError>) {
        let data = (self.base + self.end + HEADER).next_multiple_of(layout.align()) - self.base;
        if data + layout.size() <= self.len {
            let block = result.expect("push that fits must succeed");
            assert_eq!(
                block.cast::<u8>().as_ptr() as usize,
                self.base + data,
                "not placed after its header"
            );
            self.prev_ends.push(self.end);
            self.end = data + layout.size();
        } else {
            assert!(result.is_err(), "push beyond the end succeeded");
        }
        self.model.on_alloc(stack, layout, result);
    }

    /// Pops the top block from the model (checking its pattern).
    fn pop(&mut self) -> NonNull<u8> {
        let live = self.model.take(self.model.live.len() - 1);
        self.end = self.prev_ends.pop().unwrap();
        let depth = self.model.live.len();
        let (keep, stale): (Vec<_>, Vec<_>) =
            self.markers.drain(..).partition(|&(_, live)| live <= depth);
        self.markers = keep;
        self.stale
            .extend(stale.into_iter().map(|(marker, _)| marker));
        live.ptr
    }

    fn check(&self, stack: &Stack) {
        self.model.check_stats(stack);
        let stats = stack.stats();
        assert_eq!(stats.used, self.end, "used");
        assert_eq!(
            stats.largest_free,
            self.len.saturating_sub(self.end + HEADER),
            "largest_free"
        );
    }
}

/// Runs a refused free and checks that it changed nothing, the top of the
/// stack included.
fn refused(stack: &Stack, ptr: NonNull<u8>, expected: AllocError) {
    let marker = stack.marker();
    // SAFETY: every caller passes a pointer the stack detects as misuse
    // (foreign, interior, not on top, or above the top) without reading
    // memory it does not own.
    unsafe { assert_refused_unchanged(stack, ptr, expected) };
    assert_eq!(stack.marker(), marker);
}

fn run(ops: &[Op], len: usize) {
    let memory = leak_memory(len, 64);
    let start = memory.as_ptr();
    let base = start as usize;
    let stack = Stack::new(memory);
    let mut m = StackModel {
        model: Model::default(),
        base,
        len,
        end: 0,
        prev_ends: Vec::new(),
        markers: Vec::new(),
        stale: Vec::new(),
    };
    for op in ops {
        match *op {
            Op::Alloc { size, align_log2 } => {
                let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                m.alloc(&stack, layout, stack.allocate(layout));
            }
            Op::FreeTop => {
                if !m.model.live.is_empty() {
                    let ptr = m.pop();
                    // SAFETY: the top block, dropped from the model.
                    unsafe { stack.free(ptr) }.expect("free of the top block");
                    // Freeing it again is a detected double free.
                    refused(&stack, ptr, AllocError::DoubleFree);
                }
            }
            Op::FreeOutOfOrder { pick, interior } => {
                let live = &m.model.live;
                if interior && live.last().is_some_and(|b| b.size > 1) {
                    let top = live.last().unwrap();
                    // SAFETY: inside the top block.
                    refused(
                        &stack,
                        unsafe { top.ptr.add(1 + pick % (top.size - 1)) },
                        AllocError::OutOfOrder,
                    );
                } else if live.len() >= 2 {
                    refused(
                        &stack,
                        live[pick % (live.len() - 1)].ptr,
                        AllocError::OutOfOrder,
                    );
                }
            }
            Op::FreeForeign => {
                let local = 0u8;
                refused(&stack, NonNull::from(&local), AllocError::ForeignPointer);
                refused(
                    &stack,
                    NonNull::new(start).unwrap(),
                    AllocError::ForeignPointer,
                );
                if m.end + 1 < len {
                    // SAFETY: inside the memory.
                    let unused = unsafe { NonNull::new(start).unwrap().add(len - 1) };
                    refused(&stack, unused, AllocError::DoubleFree);
                }
            }
            Op::Marker => {
                let marker = stack.marker();
                assert_eq!(marker.used(), m.end);
                m.markers.push((marker, m.model.live.len()));
            }
            Op::ReleaseTo { pick } => {
                if let Some(&stale) = m.stale.iter().find(|s| s.used() > m.end) {
                    let before = stack.stats();
                    // SAFETY: a stale marker is refused before anything changes.
                    let result = unsafe { stack.release_to(stale) };
                    assert_eq!(result, Err(AllocError::OutOfOrder));
                    assert_eq!(stack.stats(), before);
                }
                if !m.markers.is_empty() {
                    let (marker, depth) = m.markers[pick % m.markers.len()];
                    while m.model.live.len() > depth {
                        m.pop();
                    }
                    // SAFETY: the blocks above the marker were dropped from
                    // the model (their patterns checked).
                    unsafe { stack.release_to(marker) }.expect("release to a live marker");
                }
            }
        }
        m.check(&stack);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn stack_matches_model(ops in proptest::collection::vec(op(), 1..MAX_OPS), len in 16usize..MAX_LEN) {
        run(&ops, len);
    }
}

#[test]
fn header_overhead() {
    let stack = Stack::new(leak_memory(1024, 64));
    stack
        .allocate(Layout::from_size_align(64, 8).unwrap())
        .unwrap();
    assert_eq!(stack.stats().used, 64 + HEADER);
    stack
        .allocate(Layout::from_size_align(1, 1).unwrap())
        .unwrap();
    assert_eq!(stack.stats().used, 64 + 1 + 2 * HEADER);
}

/// Eight threads share a static stack: each pushes a block, checks its
/// pattern and pops it, retrying while another thread's block is above (the
/// top block's owner can always pop, so the test always finishes).
#[test]
fn threads_share_one_stack() {
    use flight_mem::{Arena, RawMemory};

    static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
    // SAFETY: ARENA is handed to this one allocator and nothing else.
    static STACK: Stack = Stack::new(unsafe { RawMemory::from_arena(&ARENA) });
    const THREADS: usize = 8;
    const ROUNDS: usize = if cfg!(miri) { 5 } else { 500 };

    on_threads(THREADS, |thread| {
        let thread = thread as u8;
        for round in 0..ROUNDS {
            let pattern = thread << 5 | (round % 32) as u8;
            let size = 1 + (round * 7 + usize::from(thread)) % 100;
            let block = STACK
                .allocate(Layout::from_size_align(size, 4).unwrap())
                .unwrap()
                .cast::<u8>();
            // SAFETY: a fresh block of `size` bytes.
            unsafe { block.as_ptr().write_bytes(pattern, size) };
            // SAFETY: as above; only this thread writes it.
            unsafe { assert_pattern(block, size, pattern, "block") };
            loop {
                // SAFETY: this thread's block, not used afterwards.
                match unsafe { STACK.free(block) } {
                    Ok(()) => break,
                    Err(AllocError::OutOfOrder) => std::thread::yield_now(),
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
        }
    });
    let stats = STACK.stats();
    STACK.check().unwrap();
    assert_eq!((stats.used, stats.live, stats.requested), (0, 0, 0));
    assert_eq!(stats.allocations, (THREADS * ROUNDS) as u64);
    assert_eq!(stats.deallocations, stats.allocations);
}
