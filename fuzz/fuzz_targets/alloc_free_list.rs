//! `FreeList` (first and best fit) under arbitrary operation sequences,
//! against the reference model.
#![no_main]

use core::ptr::NonNull;

use arbitrary::Arbitrary;
use flight_mem::{AllocError, Fit, FreeList, RawAllocator};
use flight_mem_fuzz::{Checker, MAX_OPS, Region, Request, Rules};
use libfuzzer_sys::fuzz_target;

const WORD: usize = size_of::<usize>();
const GRANULE: usize = 2 * WORD;

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
    /// A pointer into the memory off the granule grid: refused whatever the
    /// blocks hold (on the grid, a word inside a live block could pass for a
    /// header, which the type does not promise to detect).
    OffGrid {
        offset: u16,
        skew: u8,
    },
    ProbeLargestFree,
}

#[derive(Arbitrary, Debug)]
struct Input {
    len: u16,
    misalign: u16,
    best_fit: bool,
    size_scale: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let (region, memory) = Region::new(usize::from(input.len), usize::from(input.misalign));
    let fit = if input.best_fit {
        Fit::Best
    } else {
        Fit::First
    };
    // SAFETY: the allocator gets the copy; `memory` only describes addresses.
    let heap = FreeList::with_fit(unsafe { flight_mem_fuzz::alias(&memory) }, fit);
    let rules = Rules {
        double_free: Some(AllocError::DoubleFree),
        exact_free: true,
        exact_largest_free: true,
    };
    let max_size = 16 << (input.size_scale % 12);
    let mut c = Checker::new(&heap, Some(&region), rules);
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
            Op::OffGrid { offset, skew } => {
                if memory.len() < 2 {
                    continue;
                }
                let at = usize::from(offset) % memory.len();
                let mut addr = memory.as_ptr() as usize + at;
                if addr.is_multiple_of(GRANULE) {
                    addr += 1 + usize::from(skew) % (GRANULE - 1);
                }
                let ptr = memory
                    .as_ptr()
                    .wrapping_add(addr - memory.as_ptr() as usize);
                if let Some(ptr) = NonNull::new(ptr).filter(|p| RawAllocator::owns(&heap, *p)) {
                    // SAFETY: off the granule grid: refused before any read.
                    unsafe { c.free_bad(ptr, &[AllocError::ForeignPointer]) };
                }
            }
            Op::ProbeLargestFree => c.probe_largest_free(),
        }
        c.check();
    }
    c.finish();
    // Empty again: one free block of the whole capacity.
    let capacity = RawAllocator::capacity(&heap);
    assert_eq!(
        RawAllocator::stats(&heap).largest_free,
        capacity.saturating_sub(WORD)
    );
});
