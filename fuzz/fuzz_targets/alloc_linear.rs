//! `Linear` under arbitrary allocations, no-op frees, resets, checkpoints
//! and (nested) scopes, against the reference model and the exact bump
//! offset of `flight-mem/tests/model_linear.rs`.
#![no_main]

use core::alloc::Layout;
use core::ptr::NonNull;

use arbitrary::Arbitrary;
use flight_mem::{AllocError, Checkpoint, Linear, RawAllocator, Scope};
use flight_mem_fuzz::{Checker, MAX_OPS, Region, Request, Rules};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Request),
    /// Frees a live block: `Ok`, and nothing is reclaimed.
    Free {
        pick: u16,
    },
    Foreign {
        which: u8,
        distance: u16,
    },
    /// Any pointer into the memory: below the offset a no-op `Ok`, above
    /// it a double free.
    Inside {
        offset: u32,
    },
    Reset,
    Checkpoint,
    ResetTo {
        pick: u16,
    },
    /// A scope with these requests; `raw_after` interleaves a raw allocation
    /// after that many of them (which keeps the scope from rolling back);
    /// `nested` runs in an inner scope after the first request.
    Scope {
        requests: Vec<Request>,
        raw_after: Option<u8>,
        nested: Vec<Request>,
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

/// The checker plus the exact bump offset.
struct BumpModel<'a> {
    c: Checker<'a, Linear>,
    base: usize,
    len: usize,
    offset: usize,
    max_size: usize,
}

impl BumpModel<'_> {
    /// Checks an allocation's outcome against the predicted placement.
    fn record(
        &mut self,
        layout: Layout,
        before: flight_mem::AllocatorStats,
        result: Result<NonNull<[u8]>, AllocError>,
    ) -> bool {
        let start = (self.base + self.offset)
            .checked_next_multiple_of(layout.align())
            .map(|start| start - self.base);
        let end = start.and_then(|start| start.checked_add(layout.size()));
        let fits = layout.size() != 0 && end.is_some_and(|end| end <= self.len);
        match self.c.record(layout, before, result) {
            Some(live) => {
                assert!(fits, "{layout:?} beyond the end succeeded");
                assert_eq!(live.ptr.as_ptr() as usize, self.base + start.unwrap());
                self.offset = end.unwrap();
                true
            }
            None => {
                assert!(!fits, "{layout:?} that fits was refused");
                false
            }
        }
    }

    fn alloc(&mut self, linear: &Linear, request: Request) -> bool {
        let layout = request.layout(self.max_size);
        let before = RawAllocator::stats(linear);
        self.record(layout, before, RawAllocator::allocate(linear, layout))
    }

    fn scope_alloc(&mut self, linear: &Linear, scope: &Scope<'_>, request: Request) -> bool {
        let layout = request.layout(self.max_size);
        let before = RawAllocator::stats(linear);
        self.record(layout, before, scope.alloc_layout(layout))
    }

    /// Drops (pattern-checked) every block at or above `offset`.
    fn reclaim_from(&mut self, offset: usize) {
        while let Some(index) = self
            .c
            .model
            .live
            .iter()
            .position(|b| b.ptr.as_ptr() as usize >= self.base + offset)
        {
            let live = self.c.model.take(index);
            self.c.forget(&live);
        }
        self.offset = offset;
    }

    fn check(&self, linear: &Linear) {
        self.c.check();
        let stats = RawAllocator::stats(linear);
        assert_eq!(stats.used, self.offset, "used");
        assert_eq!(stats.largest_free, self.len - self.offset, "largest_free");
    }
}

fuzz_target!(|input: Input| {
    let (region, memory) = Region::new(usize::from(input.len), usize::from(input.misalign));
    // SAFETY: the allocator gets the copy; `memory` only describes addresses.
    let linear = Linear::new(unsafe { flight_mem_fuzz::alias(&memory) });
    let rules = Rules {
        double_free: None,
        exact_free: false,
        exact_largest_free: true,
    };
    let mut m = BumpModel {
        c: Checker::new(&linear, Some(&region), rules),
        base: memory.as_ptr() as usize,
        len: memory.len(),
        offset: 0,
        max_size: 16 << (input.size_scale % 12),
    };
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    for op in input.ops.iter().take(MAX_OPS) {
        match op {
            &Op::Alloc(request) => {
                m.alloc(&linear, request);
            }
            &Op::Free { pick } => {
                if !m.c.model.live.is_empty() {
                    let block = m.c.model.live[usize::from(pick) % m.c.model.live.len()];
                    let before = RawAllocator::stats(&linear);
                    // SAFETY: a live block; `free` reclaims nothing, so the
                    // model keeps it until a reset.
                    unsafe { RawAllocator::free(&linear, block.ptr) }
                        .expect("free of a live block");
                    assert_eq!(RawAllocator::stats(&linear), before);
                }
            }
            &Op::Foreign { which, distance } => m.c.free_foreign(which, distance),
            &Op::Inside { offset } => {
                if memory.is_empty() {
                    continue;
                }
                let at = offset as usize % memory.len();
                let ptr = NonNull::new(memory.as_ptr().wrapping_add(at)).unwrap();
                let before = RawAllocator::stats(&linear);
                // SAFETY: `free` compares the pointer with the offset and
                // touches nothing.
                let result = unsafe { RawAllocator::free(&linear, ptr) };
                let expected = if at < m.offset {
                    Ok(())
                } else {
                    Err(AllocError::DoubleFree)
                };
                assert_eq!(result, expected, "free at offset {at}");
                assert_eq!(RawAllocator::stats(&linear), before);
            }
            Op::Reset => {
                m.reclaim_from(0);
                // SAFETY: the model dropped every block; no scope is open.
                unsafe { linear.reset() };
                checkpoints.clear();
            }
            Op::Checkpoint => {
                let checkpoint = linear.checkpoint();
                assert_eq!(checkpoint.offset(), m.offset);
                checkpoints.push(checkpoint);
            }
            &Op::ResetTo { pick } => {
                if checkpoints.is_empty() {
                    continue;
                }
                let index = usize::from(pick) % checkpoints.len();
                let checkpoint = checkpoints[index];
                checkpoints.truncate(index + 1);
                m.reclaim_from(checkpoint.offset());
                // SAFETY: the blocks after the checkpoint left the model;
                // nothing older was reclaimed since (later checkpoints are
                // dropped, resets clear the list, scopes roll back only
                // their own blocks, above every checkpoint taken before).
                unsafe { linear.reset_to(checkpoint) };
            }
            Op::Scope {
                requests,
                raw_after,
                nested,
            } => {
                // The offset before the scope's first successful allocation:
                // where its rollback returns to.
                let mut rollback_to = None;
                let mut blocked = false;
                linear.scope(|scope| {
                    for (i, &request) in requests.iter().take(16).enumerate() {
                        if raw_after.map(usize::from) == Some(i) {
                            let ok = m.alloc(
                                &linear,
                                Request::Normal {
                                    size: 3,
                                    align_log2: 2,
                                },
                            );
                            // Only a raw block after the scope's first one
                            // keeps the scope from rolling back.
                            blocked |= ok && rollback_to.is_some();
                        }
                        let offset = m.offset;
                        if m.scope_alloc(&linear, scope, request) {
                            rollback_to = rollback_to.or(Some(offset));
                        }
                        if i == 0 {
                            let mut inner_rollback = None;
                            scope.scope(|inner| {
                                for &request in nested.iter().take(16) {
                                    let offset = m.offset;
                                    if m.scope_alloc(&linear, inner, request) {
                                        inner_rollback = inner_rollback.or(Some(offset));
                                    }
                                }
                            });
                            if let Some(offset) = inner_rollback {
                                m.reclaim_from(offset);
                            }
                            m.check(&linear);
                        }
                    }
                });
                if let Some(offset) = rollback_to
                    && !blocked
                {
                    m.reclaim_from(offset);
                }
            }
            Op::ProbeLargestFree => {
                // A bump allocator reclaims nothing on free: probe inside a
                // scope, whose rollback gives the bytes back.
                let largest = RawAllocator::stats(&linear).largest_free;
                let offset = m.offset;
                linear.scope(|scope| {
                    if largest > 0 {
                        let layout = Layout::from_size_align(largest, 1).unwrap();
                        let before = RawAllocator::stats(&linear);
                        let ok = m.record(layout, before, scope.alloc_layout(layout));
                        assert!(ok, "largest_free {largest} was refused");
                    }
                    let layout = Layout::from_size_align(largest + 1, 1).unwrap();
                    let before = RawAllocator::stats(&linear);
                    assert!(!m.record(layout, before, scope.alloc_layout(layout)));
                });
                if largest > 0 {
                    m.reclaim_from(offset);
                }
            }
        }
        m.check(&linear);
    }
    m.reclaim_from(0);
    // SAFETY: the model dropped every block.
    unsafe { linear.reset() };
    m.check(&linear);
});
