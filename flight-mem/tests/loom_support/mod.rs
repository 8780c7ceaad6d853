//! What the loom models share: a registry of live blocks that checks
//! disjointness, the model builder, and a block pool with a loom shadow cell
//! per slot. Each `loom_*.rs` includes it with `mod loom_support;` (a
//! directory module, so cargo does not build it as a test of its own).
#![allow(dead_code)]

use std::alloc::Layout;
use std::ops::Range;
use std::ptr::NonNull;

use flight_mem::{BlockPool, RawMemory};
use loom::cell::UnsafeCell;
use loom::sync::{Arc, Mutex};

/// The live blocks of a model run; every registration checks disjointness.
#[derive(Default)]
pub struct Registry(Mutex<Vec<(Range<usize>, &'static str)>>);

impl Registry {
    pub fn add(&self, block: NonNull<[u8]>, owner: &'static str) -> Range<usize> {
        let start = block.cast::<u8>().as_ptr() as usize;
        let range = start..start + block.len();
        let mut live = self.0.lock().unwrap();
        for (other, who) in live.iter() {
            assert!(
                range.end <= other.start || other.end <= range.start,
                "{owner}'s block {range:?} overlaps {who}'s live block {other:?}"
            );
        }
        live.push((range.clone(), owner));
        range
    }

    pub fn remove(&self, range: &Range<usize>) {
        self.0.lock().unwrap().retain(|(r, _)| r != range);
    }
}

pub fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder
}

/// The block size of the pool fixtures.
pub const BLOCK: usize = 8;

/// A pool of `slots` blocks and one shadow cell per slot.
pub struct Fixture {
    pub pool: BlockPool,
    pub base: usize,
    pub shadows: Vec<UnsafeCell<u32>>,
}

// SAFETY: the shadow cells are loom cells whose accesses loom itself checks
// for races; sharing them is the point of the test.
unsafe impl Sync for Fixture {}
// SAFETY: as above.
unsafe impl Send for Fixture {}

impl Fixture {
    pub fn new(slots: usize) -> Arc<Self> {
        let bytes = BlockPool::bytes_for(BLOCK, BLOCK, slots);
        // Loom's atomics are larger than 4 bytes and may need more alignment.
        let layout = Layout::from_size_align(bytes, 64).unwrap();
        // SAFETY: non-zero size; the block is leaked and given to one pool.
        let memory = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!memory.is_null());
        // SAFETY: as above.
        let pool = BlockPool::new(
            unsafe { RawMemory::from_raw_parts(memory, bytes) },
            BLOCK,
            BLOCK,
        );
        assert_eq!(pool.slots(), slots);
        Arc::new(Self {
            pool,
            base: memory as usize,
            shadows: (0..slots).map(|_| UnsafeCell::new(0)).collect(),
        })
    }

    /// The slot index of `block`.
    pub fn slot(&self, block: NonNull<u8>) -> usize {
        (block.as_ptr() as usize - self.base) / BLOCK
    }
}
