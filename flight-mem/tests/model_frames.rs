//! Model tests of `Frames`: allocations, scopes and frame switches across N
//! frames against an exact model; blocks of retained frames must keep their
//! patterns until their frame is reset. Plus a multi-threaded test where
//! `next_frame` races allocations.

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{CASES, Model, assert_pattern, leak_memory, on_threads};
use flight_mem::{AllocError, Frames};
use proptest::prelude::*;

/// Ops per case: Miri runs a few short sequences.
const MAX_OPS: usize = if cfg!(miri) { 12 } else { 80 };
const MAX_LEN: usize = if cfg!(miri) { 1024 } else { 4096 };
const MAX_SIZE: usize = if cfg!(miri) { 64 } else { 200 };

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_log2: u8 },
    Free { pick: usize },
    NextFrame,
    Scope { allocs: Vec<(usize, u8)> },
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1..=MAX_SIZE, 0u8..=6).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        1 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        3 => Just(Op::NextFrame),
        2 => proptest::collection::vec((1..=MAX_SIZE, 0u8..=6), 0..5).prop_map(|allocs| Op::Scope { allocs }),
        1 => Just(Op::Reset),
    ]
}

/// The harness model plus every frame's exact offset.
struct FramesModel {
    model: Model,
    base: usize,
    frame_len: usize,
    offsets: Vec<usize>,
    current: usize,
}

impl FramesModel {
    fn alloc(
        &mut self,
        frames: &Frames,
        layout: Layout,
        result: Result<NonNull<[u8]>, AllocError>,
    ) {
        let frame_base = self.base + self.current * self.frame_len;
        let offset = self.offsets[self.current];
        let start = (frame_base + offset).next_multiple_of(layout.align()) - frame_base;
        if start + layout.size() <= self.frame_len {
            let block = result.expect("allocation that fits must succeed");
            assert_eq!(
                block.cast::<u8>().as_ptr() as usize,
                frame_base + start,
                "not placed at the aligned offset"
            );
            self.offsets[self.current] = start + layout.size();
        } else {
            assert!(result.is_err(), "allocation beyond the frame succeeded");
        }
        self.model.on_alloc(frames, layout, result);
    }

    /// Reclaims (and pattern-checks) the blocks of `frame` from `offset` on.
    fn reclaim(&mut self, frame: usize, offset: usize) {
        let (from, to) = (
            self.base + frame * self.frame_len + offset,
            self.base + (frame + 1) * self.frame_len,
        );
        while let Some(index) = self
            .model
            .live
            .iter()
            .position(|b| (from..to).contains(&(b.ptr.as_ptr() as usize)))
        {
            self.model.take(index);
        }
        self.offsets[frame] = offset;
    }

    fn check(&self, frames: &Frames) {
        self.model.check_stats(frames);
        let stats = frames.stats();
        assert_eq!(frames.current_frame(), self.current, "current frame");
        assert_eq!(stats.used, self.offsets.iter().sum::<usize>(), "used");
        assert_eq!(
            stats.largest_free,
            self.frame_len - self.offsets[self.current],
            "largest_free"
        );
    }
}

fn run(ops: &[Op], count: usize, len: usize) {
    let memory = leak_memory(len, 64);
    let base = memory.as_ptr() as usize;
    let mut frames = Frames::new(memory, count);
    let frame_len = frames.frame_capacity();
    assert_eq!(frames.frame_count(), count);
    assert_eq!(frame_len % 16, 0);
    assert!(frame_len * count <= len && len - frame_len * count < count * (16 + 16));
    assert_eq!(frames.capacity(), frame_len * count);
    let mut m = FramesModel {
        model: Model::default(),
        base,
        frame_len,
        offsets: vec![0; count],
        current: 0,
    };
    for op in ops {
        match *op {
            Op::Alloc { size, align_log2 } => {
                let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                m.alloc(&frames, layout, frames.allocate(layout));
            }
            Op::Free { pick } => {
                if !m.model.live.is_empty() {
                    let block = m.model.live[pick % m.model.live.len()];
                    // SAFETY: a live block; free reclaims nothing.
                    unsafe { frames.free(block.ptr) }.expect("free of a live block");
                }
            }
            Op::NextFrame => {
                let next = (m.current + 1) % count;
                // Checks the patterns of the frame about to be reset: its
                // blocks were untouched for `count - 1` frame switches.
                m.reclaim(next, 0);
                // SAFETY: the model dropped every block of the next frame.
                unsafe { frames.next_frame() };
                m.current = next;
            }
            Op::Scope { ref allocs } => {
                let mut checkpoint = None;
                frames.scope(|scope| {
                    for &(size, align_log2) in allocs {
                        let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                        let offset = m.offsets[m.current];
                        let result = scope.alloc_layout(layout);
                        if result.is_ok() {
                            checkpoint = checkpoint.or(Some(offset));
                        }
                        m.alloc(&frames, layout, result);
                    }
                });
                if let Some(offset) = checkpoint {
                    m.reclaim(m.current, offset);
                }
            }
            Op::Reset => {
                for frame in 0..count {
                    m.reclaim(frame, 0);
                }
                m.current = 0;
                frames.reset_mut();
            }
        }
        m.check(&frames);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn frames_match_model(
        ops in proptest::collection::vec(op(), 1..MAX_OPS),
        count in 1usize..=4,
        len in 64usize..MAX_LEN,
    ) {
        run(&ops, count, len);
    }
}

#[test]
fn scope_spanning_a_frame_switch_keeps_its_blocks() {
    let mut frames = Frames::new(leak_memory(1024, 64), 2);
    frames.scope(|scope| {
        scope.alloc(1u64).unwrap();
        // SAFETY: frame 1, the one reset, holds no blocks yet.
        unsafe { frames.next_frame() };
        scope.alloc(2u64).unwrap();
    });
    // Neither frame rolled back: the scope's allocations saw two epochs.
    let stats = frames.stats();
    assert_eq!(stats.live, 2);
    assert_eq!(stats.used, 16);
    frames.reset_mut();
    assert_eq!(frames.stats().used, 0);
    assert_eq!(frames.stats().deallocations, 2);
}

#[test]
fn constructor_limits() {
    static ARENA: flight_mem::Arena<4096> = flight_mem::Arena::new();
    // SAFETY: ARENA is handed to this one allocator and nothing else.
    static FRAMES: Frames = Frames::new(unsafe { flight_mem::RawMemory::from_arena(&ARENA) }, 255);
    assert_eq!(FRAMES.frame_count(), 255);
    assert_eq!(FRAMES.frame_capacity(), 0);
    assert!(matches!(
        FRAMES.allocate(Layout::new::<u8>()),
        Err(AllocError::TooLarge { max: 0, .. })
    ));
    assert!(std::panic::catch_unwind(|| Frames::new(leak_memory(64, 8), 0)).is_err());
    assert!(std::panic::catch_unwind(|| Frames::new(leak_memory(64, 8), 256)).is_err());
}

/// Eight threads allocate raw blocks and nested scopes from one static
/// `Frames` in rounds; thread 0 calls `next_frame` in the middle of each
/// round, racing the others. Each thread keeps its blocks of the current and
/// the previous round (three frames retain them) and checks their patterns.
#[test]
fn threads_allocate_while_frames_advance() {
    use flight_mem::{Arena, RawMemory};
    use std::sync::Barrier;

    static ARENA: Arena<{ 3 * 64 * 1024 + 4096 }> = Arena::new();
    // SAFETY: ARENA is handed to this one allocator and nothing else.
    static FRAMES: Frames = Frames::new(unsafe { RawMemory::from_arena(&ARENA) }, 3);
    const THREADS: usize = 8;
    const ROUNDS: usize = if cfg!(miri) { 4 } else { 60 };
    const PER_ROUND: usize = if cfg!(miri) { 3 } else { 20 };
    let round_done = Barrier::new(THREADS);

    on_threads(THREADS, |thread| {
        let thread = thread as u8;
        let mut previous: Vec<(NonNull<u8>, usize, u8)> = Vec::new();
        for round in 0..ROUNDS {
            let mut current = Vec::new();
            for i in 0..PER_ROUND {
                if thread == 0 && i == PER_ROUND / 2 {
                    // SAFETY: the frame being reset held blocks of
                    // round - 2 at the latest, which every thread
                    // dropped before the barrier ending round - 1.
                    unsafe { FRAMES.next_frame() };
                }
                let pattern = thread << 5 | (round % 32) as u8;
                let size = 8 + (i * 13 + usize::from(thread)) % 40;
                let block = FRAMES
                    .allocate(Layout::from_size_align(size, 8).unwrap())
                    .unwrap()
                    .cast::<u8>();
                // SAFETY: a fresh block of `size` bytes.
                unsafe { block.as_ptr().write_bytes(pattern, size) };
                current.push((block, size, pattern));
                FRAMES.scope(|scope| {
                    let a = scope.alloc_slice_fill(size, !pattern).unwrap();
                    scope.scope(|inner| {
                        let b = inner.alloc([pattern; 16]).unwrap();
                        assert!(b.iter().all(|&x| x == pattern));
                    });
                    assert!(a.iter().all(|&x| x == !pattern), "scope block overwritten");
                });
            }
            for &(block, size, pattern) in previous.iter().chain(&current) {
                // SAFETY: blocks of this and the previous round live
                // in frames not reset yet (see the safety comment on
                // `next_frame` above).
                unsafe { assert_pattern(block, size, pattern, "retained block") };
            }
            previous = current;
            round_done.wait();
        }
    });
    FRAMES.check().unwrap();
    let stats = FRAMES.stats();
    assert_eq!(stats.failures, 0);
    assert_eq!(stats.live as u64, stats.allocations - stats.deallocations);
    assert_eq!(FRAMES.current_frame(), ROUNDS % 3);
}
