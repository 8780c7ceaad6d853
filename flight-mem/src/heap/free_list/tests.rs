//! Unit tests of the size classes, the head table's place in the region and
//! the allocator's own size. Small enough for Miri, which checks every head
//! and tag access against the region's bounds and alignment.

extern crate std;

use std::alloc::{alloc_zeroed, dealloc};
use std::vec::Vec;

use super::engine::{MAX_CLASSES, MIN_BLOCK};
use super::*;

const WORD: usize = size_of::<usize>();
const GRANULE: usize = 2 * WORD;

/// `len` zeroed bytes at `offset` past a 64-aligned allocation, freed on drop.
struct Region {
    ptr: *mut u8,
    layout: Layout,
    offset: usize,
    len: usize,
}

impl Region {
    fn new(len: usize, offset: usize) -> Self {
        let layout = Layout::from_size_align(len + offset, 64).unwrap();
        // SAFETY: the size is not zero (tests ask for at least a byte).
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Self {
            ptr,
            layout,
            offset,
            len,
        }
    }

    /// The bytes as memory for one allocator, which must be dropped before
    /// the region.
    fn memory(&self) -> RawMemory {
        // SAFETY: `offset..offset + len` lies inside the live allocation,
        // and each test hands it to one allocator that it drops before the
        // region.
        unsafe { RawMemory::from_raw_parts(self.ptr.add(self.offset), self.len) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Geometry of a region at `addr` of `len` bytes, without touching memory.
fn geometry(addr: usize, len: usize) -> Geometry {
    // SAFETY: never accessed; `Geometry::new` only reads the numbers.
    let memory = unsafe { RawMemory::from_raw_parts(core::ptr::without_provenance_mut(addr), len) };
    Geometry::new(&memory)
}

/// What `size_of::<FreeList>()` was on main before the size classes
/// (a4b9cc0): 128 bytes on x86_64, 76 on i686, 88 on thumbv6m/thumbv7m.
/// The 128 class heads beside the lock had made it 1,168 / 620 / 632, which
/// overflowed the stack of the micro:bit scenario firmware.
const PLAIN_LIST_SIZE: usize = if cfg!(target_pointer_width = "64") {
    128
} else if cfg!(target_arch = "x86") {
    76
} else {
    88
};

#[test]
fn the_allocator_is_no_larger_than_the_plain_list() {
    assert!(
        size_of::<FreeList>() <= PLAIN_LIST_SIZE,
        "{} > {PLAIN_LIST_SIZE}",
        size_of::<FreeList>()
    );
    assert!(size_of::<State>() <= 5 * WORD);
}

#[test]
fn classes_grow_with_the_region_within_the_table_budget() {
    // A granule-aligned region: the first header sits one word in.
    for (len, classes) in [
        (64, 1),
        (1024, 1),
        (4096, if WORD == 8 { 3 } else { 7 }),
        (6 * 1024, if WORD == 8 { 5 } else { 11 }),
        (16 << 20, MAX_CLASSES),
    ] {
        let g = geometry(4096, len);
        assert_eq!(g.classes(), classes, "{len} B");
        // The heads sit below the first header, inside the region.
        assert!(g.capacity() > 0);
        let table = classes * WORD;
        assert!(g.first() >= table);
        assert!(g.capacity() + table + WORD <= len, "{len} B");
        // Less than a granule of padding around the table.
        assert!(g.capacity() + table + WORD + GRANULE > len, "{len} B");
    }
    // One class fits in the word of padding in front of the first header,
    // so small regions keep the capacity they had without classes.
    assert_eq!(geometry(4096, 1024).capacity(), 1024 - 2 * WORD);
    // Regions too small for a table word and a minimum block hold nothing.
    assert_eq!(geometry(4096, MIN_BLOCK).classes(), 0);
    assert_eq!(geometry(4096, MIN_BLOCK).capacity(), 0);
    assert_eq!(geometry(4096, 0).capacity(), 0);
    assert_eq!(geometry(4096 + WORD, 2 * WORD + MIN_BLOCK).capacity(), 0);
    assert_eq!(geometry(4096, 2 * WORD + MIN_BLOCK).capacity(), MIN_BLOCK);
}

#[test]
fn class_boundaries_are_monotonic_and_capped() {
    let mut last = 0;
    let limit = if cfg!(miri) { 1 << 12 } else { 1 << 20 };
    for size in (MIN_BLOCK..limit).step_by(GRANULE) {
        let class = engine::natural_class(size);
        assert!(class >= last && class <= last + 1, "{size}");
        last = class;
    }
    // Exact classes from the minimum block up, then four per power of two.
    assert_eq!(engine::natural_class(MIN_BLOCK), 0);
    assert_eq!(engine::natural_class(7 * GRANULE), 5);
    assert_eq!(engine::natural_class(8 * GRANULE), 6);
    assert_eq!(engine::natural_class(10 * GRANULE), 7);
    assert_eq!(engine::natural_class(16 * GRANULE), 10);
    // 16 MiB on a 64-bit target: blocks of 2.5 MiB and up share the last
    // class; 5 KiB and up on a 32-bit target.
    let top = geometry(4096, 16 << 20).classes() - 1;
    let shared = if WORD == 8 { 5 << 19 } else { 5 << 10 };
    assert_eq!(engine::natural_class(shared - GRANULE), top - 1);
    assert_eq!(engine::natural_class(shared), top);
}

/// Allocations of every class and alignment, frees in an order that
/// coalesces in both directions, `check` after each step; at several region
/// offsets, so the head table and headers land at every word alignment.
#[test]
fn churn_through_the_classes_at_every_offset() {
    let lens = if cfg!(miri) {
        [3000, 12_000]
    } else {
        [3000, 100_000]
    };
    for len in lens {
        for offset in [0, 1, WORD, WORD + 3, GRANULE - 1] {
            for fit in [Fit::First, Fit::Best] {
                let region = Region::new(len, offset);
                let heap = FreeList::with_fit(region.memory(), fit);
                let capacity = heap.capacity();
                let mut live = Vec::new();
                let mut seed = 0x9e37_79b9_usize;
                let steps = if cfg!(miri) { 60 } else { 2000 };
                for step in 0..steps {
                    seed ^= seed << 7;
                    seed ^= seed >> 9;
                    let size = 1 + (seed >> 3) % (len / 16);
                    let align = 1 << ((seed >> 20) % 8);
                    if seed % 5 < 3 || live.is_empty() {
                        if let Ok(block) =
                            heap.allocate(Layout::from_size_align(size, align).unwrap())
                        {
                            let ptr = block.cast::<u8>();
                            assert!((ptr.as_ptr() as usize).is_multiple_of(align));
                            // SAFETY: the block is live and `size` bytes long.
                            unsafe { ptr.as_ptr().write_bytes(step as u8, size) };
                            live.push(ptr);
                        }
                    } else {
                        let block = live.swap_remove(seed % live.len());
                        // SAFETY: live, not used again.
                        unsafe { heap.free(block) }.unwrap();
                    }
                    heap.check().unwrap();
                }
                for block in live {
                    // SAFETY: live, not used again.
                    unsafe { heap.free(block) }.unwrap();
                }
                heap.check().unwrap();
                // Everything merged back into one block.
                assert_eq!(heap.stats().largest_free, capacity - WORD);
                let whole = heap
                    .allocate(Layout::from_size_align(capacity - WORD, 1).unwrap())
                    .unwrap();
                // SAFETY: live, not used again.
                unsafe { heap.free(whole.cast()) }.unwrap();
            }
        }
    }
}

/// A corrupted bitmap or head is reported by `check`, not followed.
#[test]
fn check_reports_a_damaged_head_table() {
    let region = Region::new(8192, 0);
    let heap = FreeList::new(region.memory());
    let block = heap
        .allocate(Layout::from_size_align(100, 8).unwrap())
        .unwrap();
    heap.check().unwrap();
    let base = region.memory().as_ptr();
    let first = Geometry::new(&region.memory()).first();
    // Point the empty head of the smallest class at the live block.
    let head = first - WORD;
    // SAFETY: the head word lies in the region (see `Geometry::new`) and
    // nothing else reads it while this test holds the only handle.
    unsafe { base.add(head).cast::<usize>().write(first) };
    let error = heap.check().unwrap_err();
    assert_eq!(error.what, "class bitmap disagrees with the class lists");
    // SAFETY: as above; restores the empty head.
    unsafe { base.add(head).cast::<usize>().write(usize::MAX) };
    heap.check().unwrap();
    // SAFETY: live, not used again.
    unsafe { heap.free(block.cast()) }.unwrap();
}
