//! Model-based tests of `Compact`: random allocate / free / write / pin /
//! unpin / defragment / stale-handle sequences against a model that holds
//! every live block's contents. After every step every live handle's bytes
//! equal the model's, stale handles are refused, pinned blocks have not
//! moved, and the statistics (counters, holes, fragmented bytes, largest free
//! range) equal what the model derives from the blocks' observed addresses.
//! Placement is predicted exactly (first fit in address order), and after a
//! defragmentation that reports `done` every unpinned block sits at its
//! target. `PinnedAll` scopes open and close among the steps: while one
//! lives every block reads the model's bytes through it, and nothing moves,
//! is freed or is lent mutably.

mod common;

use std::alloc::Layout;

use common::{CASES, XorShift, leak_memory};

use flight_mem::{
    AllocError, AllocatorKind, Compact, DefragBudget, DefragReport, Handle, Pinned, PinnedAll,
    RawMemory,
};
use proptest::prelude::*;

// Under Miri one step costs seconds (every pin retags the block's bytes, and
// each step re-reads every block): one short sequence of the small region
// plus the deterministic tests keep this file near a minute there.
const MAX_OPS: usize = if cfg!(miri) { 16 } else { 300 };
const CASES_HERE: u32 = if cfg!(miri) { 1 } else { CASES };

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_log2: u8 },
    Free { pick: usize },
    Write { pick: usize, seed: u8 },
    Pin { pick: usize },
    Unpin { pick: usize },
    Defrag { max_bytes: usize, max_moves: usize },
    Stale { pick: usize },
    Forged { bits: u64 },
    PinAll,
    UnpinAll,
}

fn ops(max_size: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (1..=max_size, 0..=6u8).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(pick, seed)| Op::Write { pick, seed }),
        2 => any::<usize>().prop_map(|pick| Op::Pin { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Unpin { pick }),
        2 => (0..2 * max_size, 0..4usize).prop_map(|(max_bytes, max_moves)| Op::Defrag { max_bytes, max_moves }),
        1 => Just(Op::Defrag { max_bytes: usize::MAX, max_moves: usize::MAX }),
        1 => any::<usize>().prop_map(|pick| Op::Stale { pick }),
        1 => any::<u64>().prop_map(|bits| Op::Forged { bits }),
        1 => Just(Op::PinAll),
        1 => Just(Op::UnpinAll),
    ];
    proptest::collection::vec(op, 1..MAX_OPS)
}

struct Block {
    handle: Handle,
    align: usize,
    bytes: Vec<u8>,
}

/// The allocator under test, its model, and the pins the test holds.
struct Fixture<'a> {
    compact: &'a Compact,
    base: usize,
    live: Vec<Block>,
    stale: Vec<Handle>,
    pins: Vec<(Pinned<'a>, usize)>,
    scopes: Vec<PinnedAll<'a>>,
    allocations: u64,
    deallocations: u64,
    failures: u64,
}

fn extent(len: usize) -> usize {
    len.next_multiple_of(8)
}

impl<'a> Fixture<'a> {
    fn new(compact: &'a Compact, base: *mut u8) -> Self {
        Self {
            compact,
            base: base as usize,
            live: Vec::new(),
            stale: Vec::new(),
            pins: Vec::new(),
            scopes: Vec::new(),
            allocations: 0,
            deallocations: 0,
            failures: 0,
        }
    }

    /// Offset of a live block, read through a pin.
    fn offset(&self, handle: Handle) -> usize {
        self.compact
            .get(handle)
            .expect("live handle refused")
            .as_ptr() as usize
            - self.base
    }

    /// The live blocks as `(offset, extent, align)`, in address order.
    fn placed(&self) -> Vec<(usize, usize, usize)> {
        let mut placed: Vec<_> = self
            .live
            .iter()
            .map(|b| (self.offset(b.handle), extent(b.bytes.len()), b.align))
            .collect();
        placed.sort_unstable();
        placed
    }

    fn place(&self, end: usize, align: usize) -> usize {
        (self.base + end).next_multiple_of(align) - self.base
    }

    /// Where first fit puts `len` bytes aligned to `align`, if anywhere.
    fn first_fit(&self, len: usize, align: usize) -> Option<usize> {
        let mut end = 0;
        for (offset, ext, _) in self.placed() {
            let at = self.place(end, align);
            if at + extent(len) <= offset {
                return Some(at);
            }
            end = offset + ext;
        }
        let at = self.place(end, align);
        (at + extent(len) <= self.compact.capacity()).then_some(at)
    }

    /// Whether a `Pinned` of `handle` or any `PinnedAll` lives.
    fn is_pinned(&self, handle: Handle) -> bool {
        !self.scopes.is_empty() || self.pins.iter().any(|(p, _)| p.handle() == handle)
    }

    fn alloc(&mut self, size: usize, align_log2: u8) {
        let align = (1usize << align_log2).max(8);
        let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
        let expected = self.first_fit(size, align);
        let result = self.compact.allocate(layout);
        if self.live.len() == self.compact.max_handles() {
            assert_eq!(
                result,
                Err(AllocError::OutOfHandles {
                    max: self.compact.max_handles()
                })
            );
            self.failures += 1;
            return;
        }
        match (expected, result) {
            (Some(at), Ok(handle)) => {
                assert_eq!(self.offset(handle), at, "not first fit");
                let pin = self.compact.get(handle).unwrap();
                assert_eq!(pin.len(), size);
                assert!(pin.iter().all(|&b| b == 0), "new block not zeroed");
                drop(pin);
                self.allocations += 1;
                self.live.push(Block {
                    handle,
                    align,
                    bytes: vec![0; size],
                });
            }
            (
                None,
                Err(AllocError::OutOfMemory {
                    size: s,
                    largest_free,
                }),
            ) => {
                assert_eq!(s, size);
                assert_eq!(largest_free, self.compact.stats().largest_free);
                self.failures += 1;
            }
            (None, Err(AllocError::TooLarge { .. })) if size > self.compact.capacity() => {
                self.failures += 1;
            }
            (expected, result) => panic!("expected {expected:?}, got {result:?}"),
        }
    }

    fn free(&mut self, pick: usize) {
        if self.live.is_empty() {
            return;
        }
        let index = pick % self.live.len();
        let handle = self.live[index].handle;
        if self.is_pinned(handle) {
            assert_eq!(self.compact.free(handle), Err(AllocError::Pinned));
            return;
        }
        self.compact.free(handle).unwrap();
        self.live.swap_remove(index);
        self.stale.push(handle);
        self.deallocations += 1;
    }

    fn write(&mut self, pick: usize, seed: u8) {
        if self.live.is_empty() {
            return;
        }
        let index = pick % self.live.len();
        let handle = self.live[index].handle;
        let pinned = self.is_pinned(handle);
        match self.compact.get_mut(handle) {
            None => assert!(pinned, "get_mut refused an unpinned block"),
            Some(mut guard) => {
                assert!(!pinned, "get_mut granted while pinned");
                // A second pin of either kind is refused while it lives.
                assert!(self.compact.get(handle).is_none());
                assert!(self.compact.get_mut(handle).is_none());
                assert_eq!(self.compact.free(handle), Err(AllocError::Pinned));
                let bytes = &mut self.live[index].bytes;
                for (i, b) in guard.iter_mut().enumerate() {
                    *b = seed.wrapping_add((i as u8).wrapping_mul(13));
                }
                bytes.copy_from_slice(&guard);
            }
        }
    }

    fn pin(&mut self, pick: usize) {
        if self.live.is_empty() {
            return;
        }
        let handle = self.live[pick % self.live.len()].handle;
        let pin = self.compact.get(handle).expect("pin of a live block");
        let at = pin.as_ptr() as usize;
        self.pins.push((pin, at));
    }

    fn unpin(&mut self, pick: usize) {
        if !self.pins.is_empty() {
            let len = self.pins.len();
            self.pins.swap_remove(pick % len);
        }
    }

    fn defrag(&mut self, budget: DefragBudget) {
        let before: Vec<(Handle, usize, usize)> = self
            .live
            .iter()
            .map(|b| (b.handle, self.offset(b.handle), b.bytes.len()))
            .collect();
        let largest_before = self.compact.stats().largest_free;
        let mut steps = Vec::new();
        let report = self
            .compact
            .defragment_with(budget, |step| steps.push(*step));
        assert_eq!(report.largest_free_before, largest_before);
        assert_eq!(report.largest_free_after, self.compact.stats().largest_free);
        assert!(report.bytes_moved + report.bytes_abandoned <= budget.max_bytes);
        assert!(report.blocks_moved + report.abandoned <= budget.max_moves);
        // Single-threaded, no reader pins mid-copy.
        assert_eq!((report.abandoned, report.bytes_abandoned), (0, 0));
        assert_eq!(steps.len(), report.blocks_moved);
        assert!(steps.iter().all(|s| s.moved));
        assert_eq!(
            report.bytes_moved,
            steps.iter().map(|s| s.len).sum::<usize>()
        );
        // Each block's steps chain from where it was to where it is (an
        // evacuated block may slide later in the same call).
        for (handle, from, len) in before {
            let now = self.offset(handle);
            let mut at = from;
            for s in steps.iter().filter(|s| s.handle == handle) {
                assert_eq!((s.from, s.len), (at, len), "step does not chain");
                at = s.to;
            }
            assert_eq!(at, now, "block moved without a step");
            if now != from {
                assert!(!self.is_pinned(handle), "pinned block moved");
            }
        }
        if !self.scopes.is_empty() {
            // Every block is pinned: nothing to do, and that is all.
            assert_eq!(report.blocks_moved, 0);
            assert!(report.done(), "{report}");
            return;
        }
        if report.done() {
            self.assert_compacted(&report, budget.max_bytes);
        }
        if budget == DefragBudget::UNLIMITED {
            assert!(report.done(), "an unlimited budget leaves work: {report}");
        }
    }

    /// After a `done` defragmentation every unpinned block no longer than
    /// the budget's `max_bytes` sits right after its predecessor (aligned).
    fn assert_compacted(&self, report: &DefragReport, max_bytes: usize) {
        let pinned: Vec<usize> = self.pins.iter().map(|(_, at)| at - self.base).collect();
        let len_at = |offset: usize| {
            self.live
                .iter()
                .find(|b| self.offset(b.handle) == offset)
                .map(|b| b.bytes.len())
                .unwrap()
        };
        let mut end = 0;
        let mut oversized = 0;
        for (offset, ext, align) in self.placed() {
            let target = self.place(end, align);
            if offset != target && !pinned.contains(&offset) && len_at(offset) > max_bytes {
                oversized += 1;
            } else if !pinned.contains(&offset) {
                assert_eq!(offset, target, "not compacted: {report}");
            }
            end = offset + ext;
        }
        assert_eq!(oversized, report.oversized, "{report}");
    }

    fn stale(&self, pick: usize) {
        if self.stale.is_empty() {
            return;
        }
        let handle = self.stale[pick % self.stale.len()];
        assert!(self.compact.get(handle).is_none());
        assert!(self.compact.get_mut(handle).is_none());
        for scope in &self.scopes {
            assert!(scope.get(handle).is_none());
        }
        assert!(!self.compact.contains(handle));
        assert_eq!(self.compact.len_of(handle), None);
        assert_eq!(self.compact.free(handle), Err(AllocError::DoubleFree));
    }

    fn forged(&self, bits: u64) {
        let handle = Handle::from_bits(bits);
        assert_eq!(Handle::from_bits(handle.to_bits()), handle);
        let live = self.live.iter().find(|b| b.handle == handle);
        for scope in &self.scopes {
            assert_eq!(scope.get(handle), live.map(|b| &b.bytes[..]));
        }
        match self.compact.get(handle) {
            Some(pin) => assert_eq!(
                &*pin,
                &live.expect("forged handle reached a block").bytes[..]
            ),
            None => assert!(live.is_none() || self.live.iter().any(|_| false)),
        }
        if live.is_none() && handle.index() as usize >= self.compact.max_handles() {
            assert_eq!(self.compact.free(handle), Err(AllocError::ForeignPointer));
        }
    }

    /// What must hold after every step.
    fn verify(&self) {
        for block in &self.live {
            let pin = self.compact.get(block.handle).expect("live handle refused");
            assert_eq!(&*pin, &block.bytes[..], "content of {:?}", block.handle);
            assert_eq!(self.compact.len_of(block.handle), Some(block.bytes.len()));
            assert!(
                self.compact
                    .owns(std::ptr::NonNull::new(pin.as_ptr().cast_mut()).unwrap())
            );
        }
        for (pin, at) in &self.pins {
            assert_eq!(pin.as_ptr() as usize, *at, "pinned block moved");
            let block = self.live.iter().find(|b| b.handle == pin.handle()).unwrap();
            assert_eq!(&**pin, &block.bytes[..]);
        }
        for scope in &self.scopes {
            for block in &self.live {
                let bytes = scope.get(block.handle).expect("live handle refused");
                assert_eq!(bytes, &block.bytes[..]);
                assert_eq!(
                    bytes.as_ptr() as usize,
                    self.offset(block.handle) + self.base
                );
            }
        }
        let stats = self.compact.compact_stats();
        let s = stats.allocator;
        let placed = self.placed();
        assert_eq!(s.capacity, self.compact.capacity());
        assert_eq!(s.live, self.live.len());
        assert_eq!(
            s.requested,
            self.live.iter().map(|b| b.bytes.len()).sum::<usize>()
        );
        assert_eq!(s.used, placed.iter().map(|p| p.1).sum::<usize>());
        assert_eq!(s.allocations, self.allocations);
        assert_eq!(s.deallocations, self.deallocations);
        assert_eq!(s.failures, self.failures);
        assert!(s.peak >= s.used);
        let (mut end, mut holes, mut fragmented, mut largest) = (0, 0, 0, 0);
        for (offset, ext, _) in &placed {
            assert!(*offset >= end, "blocks overlap");
            if *offset > end {
                holes += 1;
                fragmented += offset - end;
                largest = largest.max(offset - end);
            }
            end = offset + ext;
        }
        largest = largest.max(s.capacity - end);
        assert_eq!((stats.holes, stats.fragmented), (holes, fragmented));
        assert_eq!(s.largest_free, largest);
        assert_eq!(s, self.compact.stats());
        self.compact.check().expect("invariants");
        self.compact.validate().expect("invariants");
    }
}

fn run(capacity: usize, handles: usize, ops: &[Op]) {
    let bytes = Compact::bytes_for(capacity, handles);
    let memory = leak_memory(bytes, 64);
    let base = memory.as_ptr();
    let compact = Compact::new(memory, handles);
    assert_eq!(compact.capacity(), capacity);
    assert_eq!(compact.kind(), AllocatorKind::Compact);
    let mut f = Fixture::new(&compact, base);
    for op in ops {
        match *op {
            Op::Alloc { size, align_log2 } => f.alloc(size, align_log2),
            Op::Free { pick } => f.free(pick),
            Op::Write { pick, seed } => f.write(pick, seed),
            Op::Pin { pick } => f.pin(pick),
            Op::Unpin { pick } => f.unpin(pick),
            Op::Defrag {
                max_bytes,
                max_moves,
            } => f.defrag(DefragBudget {
                max_bytes,
                max_moves,
            }),
            Op::Stale { pick } => f.stale(pick),
            Op::Forged { bits } => f.forged(bits),
            Op::PinAll => f.scopes.push(compact.pin_all()),
            Op::UnpinAll => drop(f.scopes.pop()),
        }
        f.verify();
    }
    // Unpinned and compacted, the free space is one range (up to alignment).
    f.pins.clear();
    f.scopes.clear();
    f.defrag(DefragBudget::UNLIMITED);
    f.verify();
    while let Some(block) = f.live.pop() {
        compact.free(block.handle).unwrap();
        f.deallocations += 1;
        f.stale.push(block.handle);
    }
    f.verify();
    assert_eq!(compact.stats().largest_free, capacity);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES_HERE))]

    /// A small region with few handles: handle exhaustion, out of memory
    /// and pins meet often.
    #[test]
    fn small_region_against_the_model(ops in ops(300)) {
        run(2048, 12, &ops);
    }

    /// A larger region with more handles and larger blocks (not under
    /// Miri: the small region covers the same code).
    #[test]
    #[cfg_attr(miri, ignore)]
    fn larger_region_against_the_model(ops in ops(2000)) {
        run(if cfg!(miri) { 4096 } else { 16 * 1024 }, 64, &ops);
    }
}

/// A deterministic long run: fragment, then defragment in small steps until
/// done; each block moves at most once per pass, content intact.
#[test]
fn fragment_then_defragment_in_steps() {
    let (capacity, handles) = if cfg!(miri) {
        (8 * 1024, 64)
    } else {
        (64 * 1024, 256)
    };
    let memory = leak_memory(Compact::bytes_for(capacity, handles), 64);
    let base = memory.as_ptr();
    let compact = Compact::new(memory, handles);
    let mut f = Fixture::new(&compact, base);
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let (rounds, max) = if cfg!(miri) { (16, 300) } else { (400, 700) };
    for round in 0..rounds {
        f.alloc(1 + rng.below(max), rng.below(4) as u8);
        f.write(rng.below(usize::MAX), round as u8);
        if round % 3 == 0 {
            f.free(rng.below(usize::MAX));
        }
    }
    f.verify();
    let mut calls = 0;
    loop {
        let before = compact.compact_stats();
        f.defrag(DefragBudget {
            max_bytes: 2048,
            max_moves: 4,
        });
        f.verify();
        calls += 1;
        let after = compact.compact_stats();
        if after.blocks_moved == before.blocks_moved {
            break;
        }
        assert!(calls < 10_000, "defragmentation does not converge");
    }
    let report = compact.defragment(DefragBudget::bytes(0));
    assert!(report.done(), "{report}");
    // Alignment padding is all that can be left.
    assert!(compact.compact_stats().fragmented < 64 * compact.stats().live.max(1));
}

/// Blocks longer than the budget are reported, not moved, and stay like
/// pinned ones: `done` becomes true, so a `while !done()` loop ends; a
/// larger budget moves them. Pinned blocks are skipped and the rest slide up
/// to them.
#[test]
fn oversized_and_pinned_blocks() {
    // A 32-byte hole, then the big block; too little room elsewhere for
    // evacuation to help, so only sliding the big block closes the hole.
    let memory = leak_memory(Compact::bytes_for(680, 8), 64);
    let compact = Compact::new(memory, 8);
    let l = |n| Layout::from_size_align(n, 8).unwrap();
    let a = compact.allocate(l(32)).unwrap();
    let big = compact.allocate(l(512)).unwrap();
    let b = compact.allocate(l(64)).unwrap();
    let c = compact.allocate(l(64)).unwrap();
    compact.free(a).unwrap();
    let at = |h| compact.get(h).unwrap().as_ptr() as usize;
    let big_at = at(big);
    let mut calls = 0;
    let report = loop {
        let report = compact.defragment(DefragBudget::bytes(256));
        assert!(report.bytes_moved <= 256);
        calls += 1;
        if report.done() {
            break report;
        }
        assert!(calls < 10, "done never comes: {report}");
    };
    assert_eq!((report.oversized, report.blocks_moved, calls), (1, 0, 1));
    assert_eq!(at(big), big_at);
    // Again: nothing more this budget can do, and it says so at once.
    let again = compact.defragment(DefragBudget::bytes(256));
    assert!(again.done() && again.oversized == 1 && again.blocks_moved == 0);
    // A larger budget moves it (and the two behind it).
    let report = compact.defragment(DefragBudget::bytes(1024));
    assert_eq!(
        (report.oversized, report.blocks_moved, report.bytes_moved),
        (0, 3, 640)
    );
    assert!(report.done());
    assert_eq!(at(big), big_at - 32);
    assert_eq!(compact.compact_stats().holes, 0);
    // The same layout again for the pinned half of the test.
    for h in [big, b, c] {
        compact.free(h).unwrap();
    }
    let a = compact.allocate(l(32)).unwrap();
    let big = compact.allocate(l(512)).unwrap();
    let b = compact.allocate(l(64)).unwrap();
    let c = compact.allocate(l(64)).unwrap();
    compact.free(a).unwrap();
    let pin = compact.get(big).unwrap();
    let report = compact.defragment(DefragBudget::UNLIMITED);
    assert_eq!((report.skipped_pinned, report.blocks_moved), (1, 0));
    assert!(report.done(), "only pinned blocks left to move");
    drop(pin);
    let report = compact.defragment(DefragBudget::UNLIMITED);
    assert_eq!((report.blocks_moved, report.bytes_moved), (3, 640));
    assert_eq!(compact.compact_stats().holes, 0);
    for h in [big, b, c] {
        compact.free(h).unwrap();
    }
    compact.check().unwrap();
}

/// A `Compact` is shared between threads as a `static`; guards may move to
/// (and drop on) other threads like the references they stand for.
#[test]
fn compact_and_guards_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Compact>();
    send_sync::<flight_mem::Pinned<'static>>();
    send_sync::<flight_mem::PinnedMut<'static>>();
    send_sync::<Handle>();

    static MEMORY: flight_mem::Arena<{ Compact::bytes_for(1024, 4) }> = flight_mem::Arena::new();
    // SAFETY: MEMORY is given to this one allocator.
    static STATIC: Compact = Compact::new(unsafe { RawMemory::from_arena(&MEMORY) }, 4);
    let h = STATIC
        .allocate(Layout::from_size_align(100, 8).unwrap())
        .unwrap();
    let pin = STATIC.get(h).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || assert_eq!(pin.len(), 100));
    });
    assert_eq!(STATIC.free(h), Ok(()));
    assert_eq!(STATIC.capacity(), 1024);
}
