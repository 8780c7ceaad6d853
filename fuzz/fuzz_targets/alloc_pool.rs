//! `BlockPool` and `Pool<T>` under arbitrary operation sequences, against the
//! reference model and the exact outcomes of
//! `flight-mem/tests/model_block_pool.rs` (too large, full, or a block).
#![no_main]

use core::ptr::NonNull;

use arbitrary::Arbitrary;
use flight_mem::{AllocError, BlockPool, Pool, RawAllocator, RawMemory};
use flight_mem_fuzz::{Checker, MAX_OPS, Region, Request, Rules};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Request),
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
    /// Any pointer into the memory that is not a live block: the side table
    /// decides (a free slot's start is a double free, anything else foreign).
    Inside {
        offset: u32,
    },
    ProbeLargestFree,
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Blocks { size: u16, align_log2: u8 },
    U8,
    U64,
    Bytes24,
    Aligned64,
}

#[repr(C, align(64))]
struct Aligned64([u8; 96]);

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    count: u8,
    extra: u8,
    misalign: u16,
    ops: Vec<Op>,
}

/// The pool's geometry as its documentation gives it.
struct Shape {
    block_size: usize,
    block_align: usize,
    stride: usize,
    slots: usize,
}

fn run<A: RawAllocator>(pool: &A, region: &Region, memory: RawMemory, shape: Shape, ops: &[Op]) {
    let rules = Rules {
        double_free: Some(AllocError::DoubleFree),
        exact_free: true,
        exact_largest_free: true,
    };
    let blocks = memory.as_ptr() as usize + memory.as_ptr().align_offset(shape.block_align);
    let mut c = Checker::new(pool, Some(region), rules);
    for op in ops.iter().take(MAX_OPS) {
        match *op {
            Op::Alloc(request) => {
                let layout = request.layout(2 * shape.block_size);
                let full = c.model.live.len() == shape.slots;
                let result = c.alloc(layout);
                let fits = layout.size() != 0 && layout.align() <= shape.block_align;
                if fits && layout.size() > shape.block_size {
                    assert!(result.is_none(), "{layout:?} above the block size");
                } else if fits && full {
                    assert!(result.is_none(), "{layout:?} from a full pool");
                } else if fits {
                    let live = result.unwrap_or_else(|| panic!("{layout:?} refused"));
                    let at = live.ptr.as_ptr() as usize - blocks;
                    assert_eq!(at % shape.stride, 0, "not on a slot");
                    assert!(at / shape.stride < shape.slots, "beyond the last slot");
                }
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
                let slot_start = addr.checked_sub(blocks).is_some_and(|o| {
                    o.is_multiple_of(shape.stride) && o / shape.stride < shape.slots
                });
                let expected = if slot_start {
                    AllocError::DoubleFree
                } else {
                    AllocError::ForeignPointer
                };
                let ptr = NonNull::new(memory.as_ptr().wrapping_add(at)).unwrap();
                // SAFETY: not a live block: the pool decides from the slot
                // index and its side table, never from the blocks' bytes.
                unsafe { c.free_bad(ptr, &[expected]) };
            }
            Op::ProbeLargestFree => c.probe_largest_free(),
        }
        c.check();
        let stats = pool.stats();
        assert_eq!(stats.used, c.model.live.len() * shape.stride, "used");
        assert_eq!(stats.capacity, shape.slots * shape.stride, "capacity");
    }
    c.finish();
}

fn typed<T: Send>(input: &Input) {
    let count = 1 + usize::from(input.count % 64);
    let len = Pool::<T>::bytes_for(count) + usize::from(input.extra) % size_of::<T>();
    let (region, memory) = Region::new(len, usize::from(input.misalign) % (2 * align_of::<T>()));
    // SAFETY: the allocator gets the copy; `memory` only describes addresses.
    let pool = Pool::<T>::new(unsafe { flight_mem_fuzz::alias(&memory) });
    let shape = Shape {
        block_size: size_of::<T>(),
        block_align: align_of::<T>(),
        stride: size_of::<T>(),
        slots: pool.slots(),
    };
    if memory.as_ptr().align_offset(align_of::<T>()) == 0 {
        assert_eq!(
            pool.slots(),
            count,
            "bytes_for gave other than `count` slots"
        );
    }
    run(&pool, &region, memory, shape, &input.ops);
}

fuzz_target!(|input: Input| {
    match input.kind {
        Kind::Blocks { size, align_log2 } => {
            let block_size = 1 + usize::from(size) % 600;
            let block_align = 1 << (align_log2 % 8);
            let count = 1 + usize::from(input.count % 64);
            let stride = block_size.next_multiple_of(block_align);
            let len = BlockPool::bytes_for(block_size, block_align, count)
                + usize::from(input.extra) % stride;
            let misalign = usize::from(input.misalign) % (2 * block_align);
            let (region, memory) = Region::new(len, misalign);
            // SAFETY: the allocator gets the copy; `memory` only describes addresses.
            let pool = BlockPool::new(
                unsafe { flight_mem_fuzz::alias(&memory) },
                block_size,
                block_align,
            );
            if misalign.is_multiple_of(block_align) {
                assert_eq!(
                    pool.slots(),
                    count,
                    "bytes_for gave other than `count` slots"
                );
            }
            let shape = Shape {
                block_size,
                block_align,
                stride,
                slots: pool.slots(),
            };
            run(&pool, &region, memory, shape, &input.ops);
        }
        Kind::U8 => typed::<u8>(&input),
        Kind::U64 => typed::<u64>(&input),
        Kind::Bytes24 => typed::<[u8; 24]>(&input),
        Kind::Aligned64 => typed::<Aligned64>(&input),
    }
});
