//! `Tlsf` under arbitrary operation sequences, against the reference model.
#![no_main]

use arbitrary::Arbitrary;
use flight_mem::{AllocError, RawAllocator, Tlsf};

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
    /// A pointer into the memory off the 8-byte payload grid: refused
    /// whatever the bytes around it hold (a pointer on the grid inside a
    /// live block is a forged header the type documents as undetectable).
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
    /// Requests are up to `16 << size_scale % 12` bytes.
    size_scale: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let (region, memory) = Region::new(usize::from(input.len), usize::from(input.misalign));
    // SAFETY: the allocator gets the copy; `memory` only describes addresses.
    let tlsf = Tlsf::new(unsafe { flight_mem_fuzz::alias(&memory) });
    let rules = Rules {
        double_free: Some(AllocError::DoubleFree),
        exact_free: true,
        exact_largest_free: true,
    };
    let max_size = 16 << (input.size_scale % 12);
    let mut c = Checker::new(&tlsf, Some(&region), rules);
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
                let mut addr = memory.as_ptr() as usize + usize::from(offset) % memory.len();
                if addr.is_multiple_of(Tlsf::GRANULARITY) {
                    addr += 1 + usize::from(skew) % (Tlsf::GRANULARITY - 1);
                }
                let ptr = memory
                    .as_ptr()
                    .wrapping_add(addr - memory.as_ptr() as usize);
                if let Some(ptr) =
                    core::ptr::NonNull::new(ptr).filter(|p| RawAllocator::owns(&tlsf, *p))
                {
                    // SAFETY: off the payload grid, refused before any read
                    // (the type's documented check).
                    unsafe { c.free_bad(ptr, &[AllocError::ForeignPointer]) };
                }
            }
            Op::ProbeLargestFree => c.probe_largest_free(),
        }
        c.check();
    }
    c.finish();
    // Empty again: one free block holds the whole capacity.
    let stats = RawAllocator::stats(&tlsf);
    assert_eq!(
        stats.largest_free,
        stats.capacity.saturating_sub(Tlsf::HEADER_SIZE)
    );
});
