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

/// Leaked zeroed bytes that a loom model rebuilds its allocator over in
/// every execution: a `RawMemory` is given away by value, and loom runs the
/// same closure once per interleaving.
#[derive(Clone, Copy)]
pub struct Leaked {
    addr: usize,
    len: usize,
}

impl Leaked {
    /// `len` bytes aligned to `align`, leaked for the rest of the process.
    pub fn new(len: usize, align: usize) -> Self {
        let memory = leak_memory(len, align);
        Self {
            addr: memory.as_ptr() as usize,
            len,
        }
    }

    /// The bytes as a `RawMemory` for this execution's allocator.
    ///
    /// # Safety
    ///
    /// No allocator built by an earlier call is still in use (loom runs
    /// executions one at a time, and each execution's allocator is dropped
    /// with the execution).
    pub unsafe fn memory(self) -> RawMemory {
        // SAFETY: the bytes were leaked by `new` and stay valid; the caller
        // promises that no other allocator over them is in use.
        unsafe { RawMemory::from_raw_parts(self.addr as *mut u8, self.len) }
    }
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
                    matches!(
                        err,
                        AllocError::OutOfMemory { .. } | AllocError::TooLarge { .. }
                    ),
                    "unexpected error {err:?} for {layout:?}"
                );
                self.failures += 1;
                None
            }
            Ok(block) => {
                let ptr = block.cast::<u8>();
                assert!(block.len() >= layout.size(), "block shorter than requested");
                assert_eq!(
                    ptr.as_ptr() as usize % layout.align(),
                    0,
                    "misaligned block"
                );
                assert!(alloc.owns(ptr), "block outside the allocator");
                // SAFETY: pointer arithmetic within the block just returned.
                let last = unsafe { ptr.add(layout.size() - 1) };
                assert!(alloc.owns(last), "block end outside the allocator");
                let (start, end) = (ptr.as_ptr() as usize, ptr.as_ptr() as usize + layout.size());
                for other in &self.live {
                    let (os, oe) = (
                        other.ptr.as_ptr() as usize,
                        other.ptr.as_ptr() as usize + other.size,
                    );
                    assert!(
                        end <= os || oe <= start,
                        "blocks overlap: {start:#x}..{end:#x} and {os:#x}..{oe:#x}"
                    );
                }
                self.next_pattern = self.next_pattern.wrapping_add(1);
                let live = Live {
                    ptr,
                    size: layout.size(),
                    align: layout.align(),
                    pattern: self.next_pattern,
                };
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
        assert!(
            bytes.iter().all(|&b| b == live.pattern),
            "block content was overwritten"
        );
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
        assert!(
            stats.largest_free <= stats.capacity - stats.used,
            "largest_free > free"
        );
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
    while !model.live.is_empty() {
        let live = model.take(model.live.len() - 1);
        // SAFETY: as above.
        unsafe { alloc.free(live.ptr) }.expect("free of a live block");
    }
    model.check_stats(alloc);
    model
}

/// Proptest cases per property: Miri runs a handful.
pub const CASES: u32 = if cfg!(miri) { 5 } else { 256 };

/// A small deterministic generator (xorshift64: no timing, no OS entropy).
/// The seed must not be zero.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Runs `work(thread)` for `threads` scoped threads, released together by a
/// barrier so that they really race, and returns the results in thread order.
pub fn on_threads<T: Send>(threads: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (start, work) = (&start, &work);
                scope.spawn(move || {
                    start.wait();
                    work(thread)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("thread panicked"))
            .collect()
    })
}

/// Asserts that the `size` bytes at `ptr` all still hold `pattern`.
///
/// # Safety
///
/// `ptr` is valid for reads of `size` bytes.
pub unsafe fn assert_pattern(ptr: NonNull<u8>, size: usize, pattern: u8, what: &str) {
    // SAFETY: the caller guarantees the range is readable.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), size) };
    assert!(bytes.iter().all(|&b| b == pattern), "{what} overwritten");
}

/// What one thread of [`hammer_from_threads`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HammerCounts {
    pub allocations: u64,
    pub frees: u64,
    pub failures: u64,
}

/// `threads` threads share `alloc` for `rounds` rounds each. In every round a
/// thread requests `layout(thread, round)`, checks the block (aligned, owned)
/// and fills it with its own pattern; then, when it holds more than
/// `max_held` blocks or on every third round, it frees one held block picked
/// at random, checking the pattern first. At the end it frees everything it
/// still holds. A refusal must be `OutOfMemory`.
///
/// Returns what each thread counted; [`assert_hammer_counted`] compares
/// them with the allocator.
pub fn hammer_from_threads<A: RawAllocator + Sync + ?Sized>(
    alloc: &'static A,
    threads: usize,
    rounds: usize,
    max_held: usize,
    layout: impl Fn(usize, usize) -> Layout + Sync,
) -> Vec<HammerCounts> {
    let free = |(ptr, size, pattern): (NonNull<u8>, usize, u8)| {
        // SAFETY: a live block of this thread, `size` bytes long.
        unsafe { assert_pattern(ptr, size, pattern, "block") };
        // SAFETY: allocated from `alloc` by this thread, freed once.
        unsafe { alloc.free(ptr) }.expect("free of a live block");
    };
    on_threads(threads, |thread| {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (thread as u64 + 1) << 32);
        let mut held: Vec<(NonNull<u8>, usize, u8)> = Vec::with_capacity(max_held + 1);
        let mut counts = HammerCounts::default();
        for round in 0..rounds {
            let layout = layout(thread, round);
            match alloc.allocate(layout) {
                Ok(block) => {
                    let ptr = block.cast::<u8>();
                    assert!(block.len() >= layout.size(), "block shorter than requested");
                    assert_eq!(ptr.as_ptr() as usize % layout.align(), 0, "misaligned");
                    assert!(alloc.owns(ptr), "block outside the allocator");
                    let pattern = (thread * 31 + round) as u8 | 1;
                    // SAFETY: the block is ours and `layout.size()` bytes long.
                    unsafe { ptr.as_ptr().write_bytes(pattern, layout.size()) };
                    held.push((ptr, layout.size(), pattern));
                    counts.allocations += 1;
                }
                Err(AllocError::OutOfMemory { .. }) => counts.failures += 1,
                Err(err) => panic!("unexpected {err:?} for {layout:?}"),
            }
            if !held.is_empty() && (held.len() > max_held || round % 3 == 0) {
                free(held.swap_remove(rng.below(held.len())));
                counts.frees += 1;
            }
        }
        for block in held {
            free(block);
            counts.frees += 1;
        }
        counts
    })
}

/// After [`hammer_from_threads`]: the allocator counted exactly what the
/// threads did (one request per round), and is empty and consistent again.
pub fn assert_hammer_counted<A: RawAllocator + ?Sized>(
    alloc: &A,
    counts: &[HammerCounts],
    rounds: usize,
) {
    let total = counts
        .iter()
        .fold(HammerCounts::default(), |sum, c| HammerCounts {
            allocations: sum.allocations + c.allocations,
            frees: sum.frees + c.frees,
            failures: sum.failures + c.failures,
        });
    let stats = alloc.stats();
    assert_eq!(stats.allocations, total.allocations, "allocations");
    assert_eq!(stats.deallocations, total.frees, "deallocations");
    assert_eq!(stats.failures, total.failures, "failures");
    assert_eq!(total.allocations, total.frees, "every block freed");
    assert_eq!(
        total.allocations + total.failures,
        (counts.len() * rounds) as u64,
        "one request per round"
    );
    assert_eq!((stats.live, stats.used, stats.requested), (0, 0, 0));
    assert!(stats.peak <= stats.capacity, "peak > capacity");
    alloc
        .check()
        .expect("allocator invariants after the threads");
}

/// An `allocator_api2` `Vec` on a static allocator: 1000 `u32` pushed one by
/// one (so the vector grows by reallocation to 1024 elements) keep their
/// values, one block of 4096 requested bytes is live, and dropping the
/// vector frees it. Returns the stats while the vector was live, for the
/// allocator-specific figures.
pub fn assert_vec_in_works<A>(alloc: &'static A) -> flight_mem::AllocatorStats
where
    A: RawAllocator + ?Sized,
    &'static A: flight_mem::allocator_api2::alloc::Allocator,
{
    let mut v = flight_mem::allocator_api2::vec::Vec::new_in(alloc);
    for i in 0..1000u32 {
        v.push(i);
    }
    assert!(v.iter().copied().eq(0..1000));
    let stats = alloc.stats();
    assert_eq!(stats.live, 1);
    assert_eq!(stats.requested, 4096, "1024 u32 after doubling growth");
    alloc.check().unwrap();
    drop(v);
    let after = alloc.stats();
    assert_eq!((after.live, after.requested), (0, 0));
    assert_eq!(after.deallocations, after.allocations);
    alloc.check().unwrap();
    stats
}

/// Asserts that since `before`, nothing changed but `failures`, which grew
/// by `failed`, and that the allocator is consistent.
pub fn assert_unchanged<A: RawAllocator + ?Sized>(
    alloc: &A,
    before: &flight_mem::AllocatorStats,
    failed: u64,
) {
    let mut expected = *before;
    expected.failures += failed;
    assert_eq!(alloc.stats(), expected);
    alloc.check().expect("allocator invariants");
}

/// Frees `ptr`, which must be refused with `expected` and change nothing.
///
/// # Safety
///
/// `ptr` is misuse the allocator documents as detected (foreign, interior,
/// detectably double-freed or out-of-order), so refusing it touches no
/// memory the allocator does not own.
pub unsafe fn assert_refused_unchanged<A: RawAllocator + ?Sized>(
    alloc: &A,
    ptr: NonNull<u8>,
    expected: AllocError,
) {
    let before = alloc.stats();
    // SAFETY: the caller guarantees the misuse is detected before any access.
    assert_eq!(unsafe { alloc.free(ptr) }, Err(expected), "{ptr:?}");
    assert_unchanged(alloc, &before, 0);
}

/// Requests random sizes in `sizes` (alignment 8) until the first refusal,
/// checks the allocator, and returns its stats at that point.
pub fn fill_until_first_failure<A: RawAllocator + ?Sized>(
    alloc: &A,
    rng: &mut XorShift,
    sizes: std::ops::RangeInclusive<usize>,
) -> flight_mem::AllocatorStats {
    let (min, span) = (*sizes.start(), sizes.end() - sizes.start() + 1);
    while alloc
        .allocate(Layout::from_size_align(min + rng.below(span), 8).unwrap())
        .is_ok()
    {}
    alloc.check().expect("allocator invariants when full");
    alloc.stats()
}
