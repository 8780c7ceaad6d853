//! `Buddy` under arbitrary operation sequences, against the reference model.
#![no_main]

use core::ptr::NonNull;

use arbitrary::Arbitrary;
use flight_mem::{AllocError, Buddy, RawAllocator};
use flight_mem_fuzz::{Checker, MAX_OPS, Region, Request, Rules};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Request),
    AllocZeroed(Request),
    Free {
        pick: u16,
    },
    DoubleFree {
        pick: u16,
    },
    Foreign {
        which: u8,
        distance: u16,
    },
    /// Any pointer into the memory that is not a live block's start: the
    /// tags decide, so the answer is exact whatever the blocks hold.
    Inside {
        offset: u32,
    },
    ProbeLargestFree,
}

#[derive(Arbitrary, Debug)]
struct Input {
    len: u16,
    misalign: u16,
    /// The minimum block is `2 words << min_scale % 4`.
    min_scale: u8,
    size_scale: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let (region, memory) = Region::new(usize::from(input.len), usize::from(input.misalign));
    let min_block = (2 * size_of::<usize>()) << (input.min_scale % 4);
    // SAFETY: the allocator gets the copy; `memory` only describes addresses.
    let buddy = Buddy::with_min_block(unsafe { flight_mem_fuzz::alias(&memory) }, min_block);
    let rules = Rules {
        double_free: Some(AllocError::DoubleFree),
        exact_free: true,
        exact_largest_free: true,
    };
    let max_size = 16 << (input.size_scale % 12);
    // The documented geometry: the heap starts at the first minimum-block
    // boundary and holds `capacity` bytes; the tags follow.
    let heap = memory.as_ptr() as usize + memory.as_ptr().align_offset(min_block).min(memory.len());
    let heap_end = heap + RawAllocator::capacity(&buddy);
    let mut c = Checker::new(&buddy, Some(&region), rules);
    for op in input.ops.iter().take(MAX_OPS) {
        match *op {
            Op::Alloc(request) => {
                c.alloc(request.layout(max_size));
            }
            Op::AllocZeroed(request) => {
                c.alloc_zeroed(request.layout(max_size));
            }
            Op::Free { pick } => c.free(pick.into()),
            Op::DoubleFree { pick } => c.double_free(pick.into()),
            Op::Foreign { which, distance } => c.free_foreign(which, distance),
            Op::Inside { offset } => {
                if memory.is_empty() {
                    continue;
                }
                let at = offset as usize % memory.len();
                let addr = memory.as_ptr() as usize + at;
                if c.model.live.iter().any(|b| b.ptr.as_ptr() as usize == addr) {
                    continue;
                }
                let in_live = c.model.live.iter().any(|b| {
                    let start = b.ptr.as_ptr() as usize;
                    (start..start + c.consumed[&start]).contains(&addr)
                });
                let expected = if !(heap..heap_end).contains(&addr)
                    || !(addr - heap).is_multiple_of(min_block)
                    || in_live
                {
                    AllocError::ForeignPointer
                } else {
                    AllocError::DoubleFree
                };
                let ptr = NonNull::new(memory.as_ptr().wrapping_add(at)).unwrap();
                // SAFETY: the buddy allocator decides from its tags, outside
                // the blocks, before touching anything (its documented
                // misuse detection).
                unsafe { c.free_bad(ptr, &[expected]) };
            }
            Op::ProbeLargestFree => c.probe_largest_free(),
        }
        c.check();
    }
    c.finish();
    // Empty again: the largest top-level block is free.
    let capacity = RawAllocator::capacity(&buddy);
    let largest = if capacity == 0 {
        0
    } else {
        1 << capacity.ilog2()
    };
    assert_eq!(RawAllocator::stats(&buddy).largest_free, largest);
});
