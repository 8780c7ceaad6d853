//! The harness every allocator fuzz target shares: memory with fenced
//! surroundings, requests decoded from fuzz bytes (bad ones included), and a
//! checker around the proptest suite's reference model
//! (`flight-mem/tests/common/mod.rs`, compiled in here unchanged) that adds
//! what arbitrary input can reach: bad requests and bad frees must be `Err`
//! and change nothing, double frees and foreign pointers are refused, bytes
//! around the allocator's memory are never written, a free gives back exactly
//! what its allocation consumed, and `largest_free` is the largest request
//! that succeeds.
//!
//! A target panics on the first disagreement; libFuzzer records the input.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::collections::HashMap;

use arbitrary::{Arbitrary, Unstructured};
use flight_mem::{AllocError, AllocatorStats, RawAllocator, RawMemory};

/// The proptest suite's model and checks (`Model::on_alloc`, `take`,
/// `check_stats`, `assert_unchanged`, `assert_refused_unchanged`).
#[allow(clippy::all, clippy::undocumented_unsafe_blocks)]
#[path = "../../flight-mem/tests/common/mod.rs"]
pub mod common;

#[cfg(feature = "wasm")]
pub mod wasm;

pub use common::{Live, Model};

/// Most operations a target runs per input: enough for deep states, few
/// enough that each execution stays in the low milliseconds.
pub const MAX_OPS: usize = 400;

/// Bytes before the memory (so its start can be aligned to anything up to a
/// page) and fenced bytes after it.
const BEFORE: usize = 4096;
const AFTER: usize = 64;
/// What the fenced bytes around the memory hold; any other value there means
/// the allocator wrote outside its memory.
const FENCE: u8 = 0xFD;
/// How many bytes in front of the memory are checked (the rest of `BEFORE`
/// is there for alignment only and is fenced too, but checking it all after
/// every step costs more than it finds).
const FENCE_CHECKED: usize = 256;

/// Heap memory for one allocator under test: `len` bytes that start
/// `misalign` bytes after a 4 KiB boundary, with fenced bytes on both sides.
pub struct Region {
    buffer: NonNull<u8>,
    layout: Layout,
    start: usize,
    len: usize,
}

/// A copy of `memory`'s range for a target that gives `memory` to its
/// allocator and keeps its own value to compute addresses with
/// (`RawMemory` is not `Copy`).
///
/// # Safety
///
/// Only one of the two values is given to an allocator; the other is read
/// for its address and length only.
pub unsafe fn alias(memory: &RawMemory) -> RawMemory {
    // SAFETY: the same range, under the caller's promise above.
    unsafe { RawMemory::from_raw_parts(memory.as_ptr(), memory.len()) }
}

impl Region {
    /// A fresh region; the allocator gets the returned `RawMemory`.
    pub fn new(len: usize, misalign: usize) -> (Self, RawMemory) {
        let misalign = misalign % BEFORE;
        let layout = Layout::from_size_align(BEFORE + len + AFTER, 4096).unwrap();
        // SAFETY: the size is at least `BEFORE`, not zero.
        let ptr = unsafe { std::alloc::alloc(layout) };
        let buffer = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        // SAFETY: the whole buffer was just allocated.
        unsafe { buffer.as_ptr().write_bytes(FENCE, layout.size()) };
        let start = BEFORE - misalign;
        // SAFETY: `start + len <= layout.size()`; the range is handed to one
        // allocator, and this harness touches only blocks it hands out and
        // the fenced bytes outside the range until `Region` is dropped
        // (after the allocator: targets declare the region first).
        let memory = unsafe { RawMemory::from_raw_parts(buffer.as_ptr().add(start), len) };
        (
            Self {
                buffer,
                layout,
                start,
                len,
            },
            memory,
        )
    }

    /// Panics if a byte around the memory changed.
    pub fn assert_fences_intact(&self) {
        // SAFETY: both ranges lie inside the buffer, outside the memory, and
        // are never written after `new`.
        let (before, after) = unsafe {
            (
                std::slice::from_raw_parts(
                    self.buffer
                        .as_ptr()
                        .add(self.start - FENCE_CHECKED.min(self.start)),
                    FENCE_CHECKED.min(self.start),
                ),
                std::slice::from_raw_parts(self.buffer.as_ptr().add(self.start + self.len), AFTER),
            )
        };
        assert!(
            before.iter().all(|&b| b == FENCE),
            "the allocator wrote in front of its memory"
        );
        assert!(
            after.iter().all(|&b| b == FENCE),
            "the allocator wrote past the end of its memory"
        );
    }

    /// A pointer outside the memory (never dereferenced by a correct
    /// allocator): just in front of it, just past it, further away in the
    /// fenced bytes, or addresses far from any memory.
    pub fn foreign(&self, which: u8, distance: u16) -> NonNull<u8> {
        let base = self.buffer.as_ptr();
        let ptr = match which % 6 {
            0 => base.wrapping_add(self.start - 1 - usize::from(distance) % self.start),
            1 => base.wrapping_add(self.start + self.len),
            2 => base.wrapping_add(self.start + self.len + usize::from(distance) % AFTER),
            3 => core::ptr::without_provenance_mut(1 + usize::from(distance)),
            4 => core::ptr::without_provenance_mut(usize::MAX - usize::from(distance)),
            _ => base.wrapping_add(self.start).wrapping_sub(usize::MAX / 2),
        };
        NonNull::new(ptr).unwrap_or(NonNull::dangling())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.buffer.as_ptr(), self.layout) };
    }
}

/// An allocation request as fuzz bytes choose it: mostly ordinary, sometimes
/// one no allocator can serve.
#[derive(Clone, Copy, Debug)]
pub enum Request {
    /// `1 + size % max_size` bytes aligned to `1 << (align_log2 % 13)`.
    Normal { size: u16, align_log2: u8 },
    /// Zero bytes: always `ZeroSize`.
    Zero { align_log2: u8 },
    /// An alignment from 1 MiB up to half the address space.
    HugeAlign { size: u16, align_log2: u8 },
    /// A size within `below` bytes of the largest `Layout` allows.
    HugeSize { align_log2: u8, below: u16 },
}

impl<'a> Arbitrary<'a> for Request {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // Ordinary requests dominate, so states get deep.
        Ok(match u.arbitrary::<u8>()? {
            0..=3 => Request::Zero {
                align_log2: u.arbitrary()?,
            },
            4..=7 => Request::HugeAlign {
                size: u.arbitrary()?,
                align_log2: u.arbitrary()?,
            },
            8..=11 => Request::HugeSize {
                align_log2: u.arbitrary()?,
                below: u.arbitrary()?,
            },
            _ => Request::Normal {
                size: u.arbitrary()?,
                align_log2: u.arbitrary()?,
            },
        })
    }
}

impl Request {
    /// The layout, with ordinary sizes in `1..=max_size`.
    pub fn layout(self, max_size: usize) -> Layout {
        let (size, align) = match self {
            Request::Normal { size, align_log2 } => (
                1 + usize::from(size) % max_size.max(1),
                1usize << (align_log2 % 13),
            ),
            Request::Zero { align_log2 } => (0, 1 << (align_log2 % 13)),
            Request::HugeAlign { size, align_log2 } => (
                1 + usize::from(size),
                1 << (20 + u32::from(align_log2) % (usize::BITS - 21)),
            ),
            Request::HugeSize { align_log2, below } => {
                let align = 1usize << (align_log2 % 13);
                let largest = isize::MAX as usize - (align - 1);
                (largest - usize::from(below), align)
            }
        };
        Layout::from_size_align(size, align).expect("sizes are chosen to fit `Layout`")
    }
}

/// How an allocator answers misuse, where allocators differ.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// What a second free of a block (no allocation since) returns; `None`
    /// when a free reclaims nothing (bump allocators).
    pub double_free: Option<AllocError>,
    /// A free gives back exactly the bytes its allocation consumed.
    pub exact_free: bool,
    /// `largest_free` is exactly the largest alignment-1 request that
    /// succeeds.
    pub exact_largest_free: bool,
}

/// The model of `common` plus what the fuzz targets check beyond it.
pub struct Checker<'a, A: RawAllocator + ?Sized> {
    pub alloc: &'a A,
    pub model: Model,
    pub region: Option<&'a Region>,
    rules: Rules,
    /// Bytes each live block consumed (`used` after minus before), by address.
    pub consumed: HashMap<usize, usize>,
    /// Blocks freed since the last successful allocation: freeing one again
    /// is a double free the allocator must detect.
    pub freed: Vec<NonNull<u8>>,
    /// The largest alignment the allocator reported supporting.
    max_align: Option<usize>,
}

impl<'a, A: RawAllocator + ?Sized> Checker<'a, A> {
    pub fn new(alloc: &'a A, region: Option<&'a Region>, rules: Rules) -> Self {
        let checker = Self {
            alloc,
            model: Model::default(),
            region,
            rules,
            consumed: HashMap::new(),
            freed: Vec::new(),
            max_align: None,
        };
        checker.check();
        checker
    }

    /// Requests `layout` and checks the outcome: a bad request is the right
    /// `Err` and changes nothing but `failures`; a block is inside the
    /// memory, aligned, long enough and disjoint from every live block (the
    /// model fills it with a pattern checked when it is freed).
    pub fn alloc(&mut self, layout: Layout) -> Option<Live> {
        let before = self.alloc.stats();
        let result = self.alloc.allocate(layout);
        self.record(layout, before, result)
    }

    /// As [`alloc`](Self::alloc), through `allocate_zeroed`: the block must
    /// read as zeros before the model fills it.
    pub fn alloc_zeroed(&mut self, layout: Layout) -> Option<Live> {
        let before = self.alloc.stats();
        let result = self.alloc.allocate_zeroed(layout);
        if let Ok(block) = result {
            // SAFETY: a fresh block, valid for reads of its length.
            let bytes =
                unsafe { std::slice::from_raw_parts(block.cast::<u8>().as_ptr(), block.len()) };
            assert!(
                bytes.iter().all(|&b| b == 0),
                "allocate_zeroed gave non-zero bytes"
            );
        }
        self.record(layout, before, result)
    }

    /// Checks and records the outcome of a request made by other means (a
    /// scope's `alloc_layout`), given the stats before it.
    pub fn record(
        &mut self,
        layout: Layout,
        before: AllocatorStats,
        result: Result<NonNull<[u8]>, AllocError>,
    ) -> Option<Live> {
        if layout.size() == 0 {
            assert_eq!(result, Err(AllocError::ZeroSize), "a zero-sized request");
        }
        match result {
            Err(err) => {
                match err {
                    AllocError::ZeroSize => assert_eq!(layout.size(), 0, "{err:?}"),
                    AllocError::AlignmentTooLarge { align, max } => {
                        assert_eq!(align, layout.align());
                        assert!(align > max, "{err:?} for an alignment within the maximum");
                        let first = *self.max_align.get_or_insert(max);
                        assert_eq!(first, max, "the largest alignment changed");
                    }
                    AllocError::SizeOverflow { size } | AllocError::TooLarge { size, .. } => {
                        assert_eq!(size, layout.size())
                    }
                    AllocError::OutOfMemory { size, .. } => assert_eq!(size, layout.size()),
                    other => panic!("{other:?} for {layout:?}"),
                }
                self.model.failures += 1;
                common::assert_unchanged(self.alloc, &before, 1);
                None
            }
            Ok(block) => {
                if let Some(max) = self.max_align {
                    assert!(layout.align() <= max, "{layout:?} served above max {max}");
                }
                let live = self
                    .model
                    .on_alloc(self.alloc, layout, Ok(block))
                    .expect("a block");
                let after = self.alloc.stats();
                let consumed = after.used - before.used;
                assert!(consumed >= layout.size(), "consumed less than requested");
                self.consumed.insert(live.ptr.as_ptr() as usize, consumed);
                self.freed.clear();
                Some(live)
            }
        }
    }

    /// Frees the live block at `pick % live`: the pattern must be intact and
    /// the free must succeed (and give back what the block consumed, where
    /// the allocator reclaims on free).
    pub fn free(&mut self, pick: usize) {
        if self.model.live.is_empty() {
            return;
        }
        let live = self.model.take(pick % self.model.live.len());
        self.free_taken(live);
    }

    /// Frees a block already taken out of the model.
    pub fn free_taken(&mut self, live: Live) {
        let before = self.alloc.stats();
        // SAFETY: `live` was allocated here and has left the model.
        unsafe { self.alloc.free(live.ptr) }.expect("free of a live block");
        let consumed = self.consumed.remove(&(live.ptr.as_ptr() as usize));
        if self.rules.exact_free {
            let after = self.alloc.stats();
            assert_eq!(
                before.used - after.used,
                consumed.expect("a recorded block"),
                "a free gave back other than what its allocation consumed"
            );
        }
        if self.rules.double_free.is_some() {
            self.freed.push(live.ptr);
        }
    }

    /// Frees a block the model dropped when the allocator reclaimed it by a
    /// reset or rollback (bump allocators).
    pub fn forget(&mut self, live: &Live) {
        self.consumed.remove(&(live.ptr.as_ptr() as usize));
    }

    /// Frees a block freed before (no allocation since): refused, unchanged.
    pub fn double_free(&mut self, pick: usize) {
        let Some(expected) = self.rules.double_free else {
            return;
        };
        if self.freed.is_empty() {
            return;
        }
        let ptr = self.freed[pick % self.freed.len()];
        // SAFETY: a block this allocator freed and has not handed out since:
        // a detected double free, refused before anything is written.
        unsafe { common::assert_refused_unchanged(self.alloc, ptr, expected) };
    }

    /// Frees a pointer outside the allocator's memory: refused, unchanged.
    pub fn free_foreign(&mut self, which: u8, distance: u16) {
        let Some(region) = self.region else { return };
        let ptr = region.foreign(which, distance);
        assert!(!self.alloc.owns(ptr), "owns a pointer outside its memory");
        // SAFETY: a pointer outside the memory must be refused unread.
        unsafe { common::assert_refused_unchanged(self.alloc, ptr, AllocError::ForeignPointer) };
    }

    /// Frees `ptr`, which is not a live block's start, expecting one of
    /// `allowed` and no change.
    ///
    /// # Safety
    ///
    /// The allocator documents this misuse as detected whatever the bytes
    /// of the live blocks hold.
    pub unsafe fn free_bad(&mut self, ptr: NonNull<u8>, allowed: &[AllocError]) {
        assert!(
            !self.model.live.iter().any(|b| b.ptr == ptr),
            "not a bad pointer: a live block"
        );
        let before = self.alloc.stats();
        // SAFETY: forwarded from the caller.
        let result = unsafe { self.alloc.free(ptr) };
        match result {
            Err(err) if allowed.contains(&err) => {}
            other => {
                panic!("free of {ptr:?} (not a block) gave {other:?}, expected one of {allowed:?}")
            }
        }
        common::assert_unchanged(self.alloc, &before, 0);
    }

    /// `largest_free` is a request that succeeds now (it is freed at once),
    /// and, where exact, one byte more fails.
    pub fn probe_largest_free(&mut self) {
        let largest = self.alloc.stats().largest_free;
        if largest > 0 {
            let layout = Layout::from_size_align(largest, 1).unwrap();
            let live = self
                .alloc(layout)
                .unwrap_or_else(|| panic!("largest_free {largest} was refused"));
            let index = self
                .model
                .live
                .iter()
                .position(|b| b.ptr == live.ptr)
                .unwrap();
            let live = self.model.take(index);
            self.free_taken(live);
        }
        if self.rules.exact_largest_free {
            let layout = Layout::from_size_align(largest + 1, 1).unwrap();
            assert!(
                self.alloc(layout).is_none(),
                "a request above largest_free {largest} succeeded"
            );
        }
    }

    /// The model's stats and `check()`, and the fences.
    pub fn check(&self) {
        self.model.check_stats(self.alloc);
        if let Some(region) = self.region {
            region.assert_fences_intact();
        }
    }

    /// Frees every live block (patterns checked) and checks the empty state.
    pub fn finish(mut self) {
        while !self.model.live.is_empty() {
            let live = self.model.take(self.model.live.len() - 1);
            self.free_taken(live);
        }
        self.check();
        let stats = self.alloc.stats();
        assert_eq!((stats.used, stats.requested, stats.live), (0, 0, 0));
    }
}
