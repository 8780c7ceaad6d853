//! Shared test support: memory for allocators under test, and a model-based
//! checker that drives any `RawAllocator` with random operations and compares
//! it with a reference model.
#![allow(dead_code)]

use std::alloc::Layout;
use std::ptr::NonNull;

use flight_mem::{AllocError, RawAllocator, RawMemory};
use proptest::prelude::*;

/// `len` bytes of heap memory aligned to `align`, leaked for the rest of the
/// test process (allocators built over it may live in statics).
pub fn leak_memory(len: usize, align: usize) -> RawMemory {
    let layout = Layout::from_size_align(len, align).unwrap();
    // SAFETY: `layout` has a non-zero size (tests never ask for zero).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!ptr.is_null());
    // SAFETY: the block is fresh, zeroed, leaked, and handed to one allocator.
    unsafe { RawMemory::from_raw_parts(ptr, len) }
}

/// One step of a model test.
#[derive(Clone, Debug)]
pub enum Op {
    /// Allocate `size` bytes aligned to `1 << align_log2`.
    Alloc { size: usize, align_log2: u8 },
    /// Free the live block at index `pick % live.len()` (no-op when none).
    Free { pick: usize },
}

/// Random operations: sizes up to `max_size`, alignments up to
/// `1 << max_align_log2`, allocations `alloc_weight` times as likely as frees.
pub fn ops(
    max_size: usize,
    max_align_log2: u8,
    alloc_weight: u32,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        alloc_weight => (1..=max_size, 0..=max_align_log2)
            .prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        1 => any::<usize>().prop_map(|pick| Op::Free { pick }),
    ];
    proptest::collection::vec(op, len)
}

/// A live block in the model.
#[derive(Clone, Copy, Debug)]
pub struct Live {
    pub ptr: NonNull<u8>,
    pub size: usize,
    pub align: usize,
    pub pattern: u8,
}

/// The reference model: what must be true of any allocator after each step.
#[derive(Default, Debug)]
pub struct Model {
    pub live: Vec<Live>,
    pub allocations: u64,
    pub deallocations: u64,
    pub failures: u64,
    next_pattern: u8,
}

impl Model {
    pub fn requested(&self) -> usize {
        self.live.iter().map(|b| b.size).sum()
    }

    /// Records the outcome of an allocation and checks the block: inside the
    /// allocator, aligned, long enough, disjoint from every live block. The
    /// block is filled with a pattern checked again when it is freed.
    pub fn on_alloc<A: RawAllocator + ?Sized>(
        &mut self,
        alloc: &A,
        layout: Layout,
        result: Result<NonNull<[u8]>, AllocError>,
    ) -> Option<Live> {
        match result {
            Err(err) => {
                assert!(
                    matches!(err, AllocError::OutOfMemory { .. } | AllocError::TooLarge { .. }),
                    "unexpected error {err:?} for {layout:?}"
                );
                self.failures += 1;
                None
            }
            Ok(block) => {
                let ptr = block.cast::<u8>();
                assert!(block.len() >= layout.size(), "block shorter than requested");
                assert_eq!(ptr.as_ptr() as usize % layout.align(), 0, "misaligned block");
                assert!(alloc.owns(ptr), "block outside the allocator");
                // SAFETY: pointer arithmetic within the block just returned.
                let last = unsafe { ptr.add(layout.size() - 1) };
                assert!(alloc.owns(last), "block end outside the allocator");
                let (start, end) = (ptr.as_ptr() as usize, ptr.as_ptr() as usize + layout.size());
                for other in &self.live {
                    let (os, oe) = (other.ptr.as_ptr() as usize, other.ptr.as_ptr() as usize + other.size);
                    assert!(end <= os || oe <= start, "blocks overlap: {start:#x}..{end:#x} and {os:#x}..{oe:#x}");
                }
                self.next_pattern = self.next_pattern.wrapping_add(1);
                let live = Live { ptr, size: layout.size(), align: layout.align(), pattern: self.next_pattern };
                // SAFETY: the block is valid for writes of `layout.size()` bytes.
                unsafe { ptr.as_ptr().write_bytes(live.pattern, layout.size()) };
                self.live.push(live);
                self.allocations += 1;
                Some(live)
            }
        }
    }

    /// Checks the pattern of the live block at `index` and removes it from
    /// the model; the caller frees it.
    pub fn take(&mut self, index: usize) -> Live {
        let live = self.live.swap_remove(index);
        // SAFETY: the block is live and `size` bytes long.
        let bytes = unsafe { std::slice::from_raw_parts(live.ptr.as_ptr(), live.size) };
        assert!(bytes.iter().all(|&b| b == live.pattern), "block content was overwritten");
        self.deallocations += 1;
        live
    }

    /// Checks the allocator's counters against the model.
    pub fn check_stats<A: RawAllocator + ?Sized>(&self, alloc: &A) {
        let stats = alloc.stats();
        assert_eq!(stats.live, self.live.len(), "live blocks");
        assert_eq!(stats.requested, self.requested(), "requested bytes");
        assert_eq!(stats.allocations, self.allocations, "allocations");
        assert_eq!(stats.deallocations, self.deallocations, "deallocations");
        assert_eq!(stats.failures, self.failures, "failures");
        assert!(stats.used >= stats.requested, "used < requested");
        assert!(stats.used <= stats.capacity, "used > capacity");
        assert!(stats.peak >= stats.used, "peak < used");
        assert!(stats.largest_free <= stats.capacity - stats.used, "largest_free > free");
        assert_eq!(stats.capacity, alloc.capacity());
        alloc.check().expect("allocator invariants");
    }
}

/// Runs `ops` against `alloc` (freeing with `RawAllocator::free`), checking
/// the model after every step, then frees everything that is left.
pub fn run_model<A: RawAllocator + ?Sized>(alloc: &A, ops: &[Op]) -> Model {
    let mut model = Model::default();
    for op in ops {
        match *op {
            Op::Alloc { size, align_log2 } => {
                let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                let result = alloc.allocate(layout);
                model.on_alloc(alloc, layout, result);
            }
            Op::Free { pick } => {
                if model.live.is_empty() {
                    continue;
                }
                let live = model.take(pick % model.live.len());
                // SAFETY: `live` was allocated here and is removed from the model.
                unsafe { alloc.free(live.ptr) }.expect("free of a live block");
            }
        }
        model.check_stats(alloc);
    }
    while model.live.last().is_some() {
        let live = model.take(model.live.len() - 1);
        // SAFETY: as above.
        unsafe { alloc.free(live.ptr) }.expect("free of a live block");
    }
    model.check_stats(alloc);
    model
}
