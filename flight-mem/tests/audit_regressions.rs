//! Regression tests for the holes an outside audit found in safe APIs. Each
//! failed (natively or under Miri) before its fix.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::panic::{AssertUnwindSafe, catch_unwind};

use flight_mem::allocator_api2::boxed::Box as ApiBox;
use flight_mem::allocator_api2::vec::Vec as ApiVec;
use flight_mem::{Frames, RawMemory, Stack, System};

/// `len` bytes of memory followed by `tail` canary bytes, which no allocator
/// over the first `len` bytes may touch.
fn memory_with_tail(len: usize, tail: usize) -> (RawMemory, &'static [u8]) {
    let buffer: &'static mut [u8] = Vec::leak(vec![0xA5; len + tail]);
    let ptr = buffer.as_mut_ptr();
    // SAFETY: the leaked buffer lives forever; only the first `len` bytes
    // are handed to one allocator, and the tail is read through a slice
    // made from the same pointer, never written after this point.
    unsafe {
        (
            RawMemory::from_raw_parts(ptr, len),
            core::slice::from_raw_parts(ptr.add(len), tail),
        )
    }
}

/// Hole 1: `Frames` over memory shorter than its records wrote the records
/// past the end on the first `stats()`. Now the constructor refuses it.
#[test]
fn frames_refuse_memory_shorter_than_their_records() {
    let (memory, tail) = memory_with_tail(16, 64);
    let built = catch_unwind(AssertUnwindSafe(|| Frames::new(memory, 4)));
    assert!(built.is_err(), "4 frame records do not fit 16 bytes");
    assert!(tail.iter().all(|&b| b == 0xA5));
}

/// The smallest memory that holds the records: safe calls stay inside it.
#[test]
fn frames_with_room_only_for_records_stay_in_bounds() {
    let len = 4 * Frames::RECORD_SIZE;
    let (memory, tail) = memory_with_tail(len, 64);
    let mut frames = Frames::new(memory, 4);
    assert_eq!(frames.frame_capacity(), 0);
    assert!(frames.allocate(Layout::new::<u8>()).is_err());
    assert_eq!(frames.stats().used, 0);
    frames.check().unwrap();
    frames.next_frame_mut();
    frames.check().unwrap();
    assert!(
        tail.iter().all(|&b| b == 0xA5),
        "a record was written past the memory"
    );
}

/// Hole 1 through a layout: the smallest frames the macro accepts keep the
/// next entry's allocator and the guard between them intact.
mod tiny_layout {
    flight_mem::memory_layout! {
        pub layout Tiny {
            budget = 64 KiB;
            guard = 64 B;
            frame scratch = [32 B; 4];
            region heap = 16 KiB;
        }
    }

    #[test]
    fn smallest_frames_leave_their_neighbours_intact() {
        let block = Tiny::alloc_heap(core::alloc::Layout::new::<[u64; 4]>()).unwrap();
        let _ = Tiny::scratch().stats();
        Tiny::scratch().check().unwrap();
        Tiny::heap().check().unwrap();
        assert!(Tiny::validate().is_ok(), "{}", Tiny::validate());
        // SAFETY: the block came from `heap` and is not used again.
        unsafe { Tiny::free_heap(block.cast(), core::alloc::Layout::new::<[u64; 4]>()) };
        assert_eq!(Tiny::heap().stats().live, 0);
    }
}

/// Hole 3: a collection over `&'static Stack` dropped out of LIFO order
/// panicked inside `deallocate` in debug builds. Now the refused free
/// changes nothing and the stack's release takes the block back.
#[test]
fn out_of_order_drops_over_a_stack_do_not_panic() {
    static STACK: Stack = Stack::new(common_memory());
    const fn common_memory() -> RawMemory {
        static ARENA: flight_mem::Arena<4096> = flight_mem::Arena::new();
        // SAFETY: ARENA is handed to this one allocator.
        unsafe { RawMemory::from_arena(&ARENA) }
    }
    let marker = STACK.marker();
    let mut first: ApiVec<u32, &'static Stack> = ApiVec::with_capacity_in(4, &STACK);
    first.extend([1, 2, 3, 4]);
    let mut second: ApiVec<u32, &'static Stack> = ApiVec::with_capacity_in(4, &STACK);
    second.extend([5, 6, 7, 8]);
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(first)));
    assert!(dropped.is_ok(), "deallocate must not panic");
    drop(second);
    assert_eq!(
        STACK.stats().live,
        1,
        "the refused block stays until a release"
    );
    // SAFETY: the marker is from this stack and no block above it is used.
    unsafe { STACK.release_to(marker) }.unwrap();
    assert_eq!(STACK.stats().live, 0);
}

/// Hole 4: `System::free` stepped back from the caller's pointer, whose
/// provenance (a `Box`'s) covers the block only; Miri reported it.
#[test]
fn boxes_and_vecs_on_system_free_with_the_allocation_provenance() {
    static PC: System = System::with_budget(1 << 20);
    let boxed = ApiBox::new_in([7u64; 8], &PC);
    assert_eq!(boxed[3], 7);
    let mut vec: ApiVec<u16, &'static System> = ApiVec::new_in(&PC);
    vec.extend(0..300);
    assert_eq!(
        vec.iter().map(|&x| u32::from(x)).sum::<u32>(),
        299 * 300 / 2
    );
    drop(boxed);
    drop(vec);
    assert_eq!(PC.stats().live, 0);
    PC.check().unwrap();
    let foreign = NonNull::from(&0u8);
    assert!(!PC.owns(foreign));
}
