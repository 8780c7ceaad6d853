//! `Stack` under arbitrary pushes, pops, misuse, markers and releases,
//! against the reference model and the exact placement of
//! `flight-mem/tests/model_stack.rs`.
#![no_main]

use core::alloc::Layout;
use core::ptr::NonNull;

use arbitrary::Arbitrary;
use flight_mem::{AllocError, RawAllocator, Stack, StackMarker};
use flight_mem_fuzz::{Checker, MAX_OPS, Region, Request, Rules};
use libfuzzer_sys::fuzz_target;

const HEADER: usize = Stack::HEADER_SIZE;

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Request),
    FreeTop,
    DoubleFree {
        pick: u16,
    },
    Foreign {
        which: u8,
        distance: u16,
    },
    /// Any pointer into the memory but the top block's: the state word
    /// decides (out of order below the end, double free above it).
    Inside {
        offset: u32,
    },
    Marker,
    ReleaseTo {
        pick: u16,
    },
    /// Releases to a marker whose blocks were popped since: refused.
    ReleaseStale {
        pick: u16,
    },
    ProbeLargestFree,
}

#[derive(Arbitrary, Debug)]
struct Input {
    len: u16,
    misalign: u16,
    size_scale: u8,
    ops: Vec<Op>,
}

struct StackModel<'a> {
    c: Checker<'a, Stack>,
    base: usize,
    len: usize,
    /// The first unused byte (`used`).
    end: usize,
    /// `end` before each live block was pushed, in push order.
    prev_ends: Vec<usize>,
    /// Markers, with the live blocks when each was taken.
    markers: Vec<(StackMarker, usize)>,
    /// Markers whose blocks were popped since.
    stale: Vec<StackMarker>,
}

impl StackModel<'_> {
    fn alloc(&mut self, layout: Layout) {
        let predicted = (self.base + self.end + HEADER)
            .checked_next_multiple_of(layout.align())
            .map(|data| data - self.base)
            .filter(|data| {
                data.checked_add(layout.size())
                    .is_some_and(|end| end <= self.len)
            })
            .filter(|_| layout.size() != 0);
        let placed = self.c.alloc(layout);
        match (predicted, placed) {
            (Some(data), Some(live)) => {
                assert_eq!(
                    live.ptr.as_ptr() as usize,
                    self.base + data,
                    "not behind its header"
                );
                self.prev_ends.push(self.end);
                self.end = data + layout.size();
            }
            (None, None) => {}
            (predicted, placed) => panic!("{layout:?}: predicted {predicted:?}, got {placed:?}"),
        }
    }

    /// Pops the top block from the model, checking its pattern.
    fn pop(&mut self) -> flight_mem_fuzz::Live {
        let live = self.c.model.take(self.c.model.live.len() - 1);
        self.end = self.prev_ends.pop().unwrap();
        let depth = self.c.model.live.len();
        let (keep, stale): (Vec<_>, Vec<_>) =
            self.markers.drain(..).partition(|&(_, live)| live <= depth);
        self.markers = keep;
        self.stale
            .extend(stale.into_iter().map(|(marker, _)| marker));
        live
    }

    fn check(&self, stack: &Stack) {
        self.c.check();
        let stats = RawAllocator::stats(stack);
        assert_eq!(stats.used, self.end, "used");
        assert_eq!(
            stats.largest_free,
            self.len.saturating_sub(self.end + HEADER)
        );
    }
}

fuzz_target!(|input: Input| {
    let (region, memory) = Region::new(usize::from(input.len), usize::from(input.misalign));
    // SAFETY: the allocator gets the copy; `memory` only describes addresses.
    let stack = Stack::new(unsafe { flight_mem_fuzz::alias(&memory) });
    let rules = Rules {
        double_free: Some(AllocError::DoubleFree),
        exact_free: true,
        exact_largest_free: true,
    };
    let max_size = 16 << (input.size_scale % 12);
    let mut m = StackModel {
        c: Checker::new(&stack, Some(&region), rules),
        base: memory.as_ptr() as usize,
        len: memory.len(),
        end: 0,
        prev_ends: Vec::new(),
        markers: Vec::new(),
        stale: Vec::new(),
    };
    for op in input.ops.iter().take(MAX_OPS) {
        match *op {
            Op::Alloc(request) => m.alloc(request.layout(max_size)),
            Op::FreeTop => {
                if !m.c.model.live.is_empty() {
                    let live = m.pop();
                    m.c.free_taken(live);
                }
            }
            Op::DoubleFree { pick } => m.c.double_free(pick.into()),
            Op::Foreign { which, distance } => m.c.free_foreign(which, distance),
            Op::Inside { offset } => {
                if memory.is_empty() {
                    continue;
                }
                let at = offset as usize % memory.len();
                let top =
                    m.c.model
                        .live
                        .last()
                        .map(|b| b.ptr.as_ptr() as usize - m.base);
                if top == Some(at) {
                    continue;
                }
                let expected = if at < HEADER {
                    AllocError::ForeignPointer
                } else if at < m.end {
                    AllocError::OutOfOrder
                } else {
                    AllocError::DoubleFree
                };
                let ptr = NonNull::new(memory.as_ptr().wrapping_add(at)).unwrap();
                // SAFETY: not the top block: the stack refuses it from its
                // state word alone, reading no header.
                unsafe { m.c.free_bad(ptr, &[expected]) };
            }
            Op::Marker => {
                let marker = stack.marker();
                assert_eq!(marker.used(), m.end);
                m.markers.push((marker, m.c.model.live.len()));
            }
            Op::ReleaseTo { pick } => {
                if m.markers.is_empty() {
                    continue;
                }
                let (marker, depth) = m.markers[usize::from(pick) % m.markers.len()];
                let before = RawAllocator::stats(&stack);
                let mut released = 0;
                while m.c.model.live.len() > depth {
                    let live = m.pop();
                    m.c.forget(&live);
                    released += 1;
                }
                // SAFETY: the blocks above the marker left the model (their
                // patterns checked) and are not used again.
                unsafe { stack.release_to(marker) }.expect("release to a live marker");
                let after = RawAllocator::stats(&stack);
                assert_eq!(after.deallocations, before.deallocations + released);
                // Released blocks are double frees now, as after pops.
                m.c.freed.clear();
            }
            Op::ReleaseStale { pick } => {
                // Only a marker above the end is detectably stale: pushes
                // since may have rebuilt the very state word a stale marker
                // holds, and releasing to that is releasing nothing.
                let above: Vec<StackMarker> = m
                    .stale
                    .iter()
                    .copied()
                    .filter(|s| s.used() > m.end)
                    .collect();
                if above.is_empty() {
                    continue;
                }
                let stale = above[usize::from(pick) % above.len()];
                let before = RawAllocator::stats(&stack);
                // SAFETY: a marker above the end is refused before anything
                // changes.
                let result = unsafe { stack.release_to(stale) };
                assert_eq!(result, Err(AllocError::OutOfOrder));
                assert_eq!(RawAllocator::stats(&stack), before);
            }
            Op::ProbeLargestFree => m.c.probe_largest_free(),
        }
        m.check(&stack);
    }
    while !m.c.model.live.is_empty() {
        let live = m.pop();
        m.c.free_taken(live);
    }
    m.check(&stack);
    m.c.finish();
});
