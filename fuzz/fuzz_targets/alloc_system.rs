//! `System` (with a budget) under arbitrary operation sequences, against the
//! reference model.
#![no_main]

use core::ptr::NonNull;

use arbitrary::Arbitrary;
use flight_mem::{AllocError, System};
use flight_mem_fuzz::{Checker, MAX_OPS, Request, Rules};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Request),
    AllocZeroed(Request),
    Free {
        pick: u16,
    },
    /// A second free: the live list no longer holds the block.
    DoubleFree {
        pick: u16,
    },
    /// A pointer inside a live block (not its start), or next to one.
    Interior {
        pick: u16,
        offset: u16,
    },
    Foreign {
        distance: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    budget: u16,
    size_scale: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let budget = 1 + usize::from(input.budget) * 4;
    let system = System::with_budget(budget);
    // Freeing a block twice cannot be told from a foreign pointer here: the
    // block has left the live list.
    let rules = Rules {
        double_free: Some(AllocError::ForeignPointer),
        exact_free: true,
        exact_largest_free: false,
    };
    let max_size = 16 << (input.size_scale % 12);
    let mut c = Checker::new(&system, None, rules);
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
            Op::Interior { pick, offset } => {
                if c.model.live.is_empty() {
                    continue;
                }
                let block = c.model.live[usize::from(pick) % c.model.live.len()];
                let at = 1 + usize::from(offset) % block.size.max(1);
                let ptr = NonNull::new(block.ptr.as_ptr().wrapping_add(at)).unwrap();
                if c.model.live.iter().any(|b| b.ptr == ptr) {
                    continue;
                }
                // SAFETY: `System` looks pointers up in its live list and
                // reads nothing behind a pointer it does not find there.
                unsafe { c.free_bad(ptr, &[AllocError::ForeignPointer]) };
            }
            Op::Foreign { distance } => {
                let local = 0u8;
                let ptr = NonNull::from(&local)
                    .as_ptr()
                    .wrapping_add(usize::from(distance));
                // SAFETY: not a block of this allocator: refused unread.
                unsafe { c.free_bad(NonNull::new(ptr).unwrap(), &[AllocError::ForeignPointer]) };
            }
        }
        c.check();
    }
    c.finish();
});
