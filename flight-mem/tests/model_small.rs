//! Model tests of the small-object front end (`SmallFront`, `SmallLocal`):
//! random allocations and frees of random sizes and alignments (small and
//! large) through two local handles and the shared front end, interleaved,
//! against a reference model of the live blocks (contents, disjointness,
//! alignment, double frees and wrong-class frees refused) and of the exact
//! statistics whenever no handle is alive; everything comes back to the
//! backing heap at the end; plus a two-thread test.

mod common;

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{CASES, leak_memory, on_threads};
use flight_mem::{AllocError, SmallFront, SmallLocal, Tlsf};
use proptest::prelude::*;

const MAX_OPS: usize = if cfg!(miri) { 24 } else { 400 };
/// Enough for every class to hold a slab or two, plus large blocks; small
/// enough that some runs exhaust it (refusals are part of the model).
const MEMORY: usize = if cfg!(miri) { 1 << 20 } else { 3 << 20 };

#[derive(Clone, Debug)]
enum Op {
    /// Allocate through handle `via` (2: the front end itself).
    Alloc {
        via: usize,
        size: usize,
        align: usize,
    },
    /// Free live block `pick` through `via`; with `twice`, free it again at
    /// once, which must be refused.
    Free {
        via: usize,
        pick: usize,
        twice: bool,
    },
    /// Free live block `pick` with the layout of another class, which must
    /// be refused, changing nothing.
    WrongClass { pick: usize },
    /// Drop handle `h`.
    Drop { h: usize },
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 1..=256usize,
        3 => 257..=4096usize,
        1 => 4097..=40_000usize,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, size(), prop::sample::select(vec![1usize, 8, 16, 64, 256, 8192]))
            .prop_map(|(via, size, align)| Op::Alloc { via, size, align }),
        5 => (0..3usize, any::<usize>(), proptest::bool::weighted(0.1))
            .prop_map(|(via, pick, twice)| Op::Free { via, pick, twice }),
        1 => any::<usize>().prop_map(|pick| Op::WrongClass { pick }),
        1 => (0..2usize).prop_map(|h| Op::Drop { h }),
    ]
}

/// Whether the front end serves `layout` from a slab.
fn is_small(layout: Layout) -> bool {
    layout.size().next_multiple_of(layout.align()) <= 4096
}

struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    len: usize,
    pattern: u8,
}

impl Live {
    fn check_contents(&self) {
        // SAFETY: the block is live and was filled with `pattern`.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) };
        assert!(
            bytes.iter().all(|&b| b == self.pattern),
            "contents of a live block changed"
        );
    }
}

fn handle<'s, 'f>(
    slot: &'s mut Option<SmallLocal<'f, Tlsf>>,
    front: &'f SmallFront<Tlsf>,
) -> &'s SmallLocal<'f, Tlsf> {
    slot.get_or_insert_with(|| front.local())
}

/// The exact counters the model expects.
#[derive(Default)]
struct Expected {
    allocations: u64,
    deallocations: u64,
    failures: u64,
}

fn check_stats(front: &SmallFront<Tlsf>, live: &[Live], expected: &Expected) {
    let stats = front.stats();
    assert_eq!(stats.live, live.len());
    assert_eq!(
        stats.requested,
        live.iter().map(|l| l.layout.size()).sum::<usize>()
    );
    assert_eq!(stats.allocations, expected.allocations);
    assert_eq!(stats.deallocations, expected.deallocations);
    assert_eq!(stats.failures, expected.failures);
    assert!(stats.used <= stats.capacity && stats.used <= stats.peak);
    assert!(stats.used >= live.iter().map(|l| l.layout.size()).sum::<usize>());
}

fn run(ops: &[Op]) {
    let front = SmallFront::new(Tlsf::new(leak_memory(MEMORY, 4096)));
    let mut live: Vec<Live> = Vec::new();
    let mut expected = Expected::default();
    let mut pattern = 0u8;
    {
        let mut handles: [Option<SmallLocal<'_, Tlsf>>; 2] = [None, None];
        for op in ops {
            match *op {
                Op::Alloc { via, size, align } => {
                    let layout = Layout::from_size_align(size, align).unwrap();
                    let result = match via {
                        2 => front.allocate(layout),
                        h => handle(&mut handles[h], &front).allocate(layout),
                    };
                    match result {
                        Ok(block) => {
                            let ptr = block.cast::<u8>();
                            let (start, len) = (ptr.as_ptr() as usize, block.len());
                            assert!(len >= size && start.is_multiple_of(align));
                            assert!(front.owns(ptr));
                            for other in &live {
                                let o = other.ptr.as_ptr() as usize;
                                assert!(start + len <= o || o + other.len <= start, "overlap");
                            }
                            pattern = pattern.wrapping_add(1);
                            // SAFETY: a fresh block of at least `size` bytes.
                            unsafe { ptr.as_ptr().write_bytes(pattern, size) };
                            live.push(Live {
                                ptr,
                                layout,
                                len,
                                pattern,
                            });
                            expected.allocations += 1;
                        }
                        Err(AllocError::OutOfMemory { .. }) => expected.failures += 1,
                        Err(error) => panic!("unexpected refusal {error:?} of {layout:?}"),
                    }
                }
                Op::Free { via, pick, twice } => {
                    if live.is_empty() {
                        continue;
                    }
                    let block = live.swap_remove(pick % live.len());
                    block.check_contents();
                    if via < 2 {
                        handle(&mut handles[via], &front);
                    }
                    let free = |ptr, layout| match via {
                        // SAFETY: a live block of this front end and its
                        // layout (or, the second time, a small block just
                        // freed, whose slab, if returned, is still memory of
                        // the backing heap, which nothing else uses).
                        2 => unsafe { front.free(ptr, layout) },
                        // SAFETY: as above.
                        h => unsafe { handles[h].as_ref().unwrap().free(ptr, layout) },
                    };
                    assert_eq!(free(block.ptr, block.layout), Ok(()));
                    expected.deallocations += 1;
                    // A second free of a small block must be refused; a large
                    // block's second free is the backing heap's business (its
                    // memory may already be reused), so it is not tried.
                    if twice && is_small(block.layout) {
                        let again = free(block.ptr, block.layout);
                        if via < 2 {
                            // In the handle's cache, its slab held.
                            assert_eq!(again, Err(AllocError::DoubleFree));
                        } else {
                            // Back in its slab, which may have gone back to
                            // the backing heap (whose links then overwrote
                            // the slab header).
                            assert!(matches!(
                                again,
                                Err(AllocError::DoubleFree | AllocError::ForeignPointer)
                            ));
                        }
                    }
                }
                Op::WrongClass { pick } => {
                    if live.is_empty() {
                        continue;
                    }
                    let block = &live[pick % live.len()];
                    if !is_small(block.layout) {
                        continue;
                    }
                    // A small layout of another class.
                    let other = if block.len == 16 { 32 } else { 16 };
                    let layout = Layout::from_size_align(other, 1).unwrap();
                    // SAFETY: the pointer is a live block of the front end,
                    // so the slab header the check reads is held.
                    let refused = unsafe { front.free(block.ptr, layout) };
                    assert_eq!(refused, Err(AllocError::ForeignPointer));
                    block.check_contents();
                }
                Op::Drop { h } => handles[h] = None,
            }
            front.check().unwrap();
            if handles.iter().all(Option::is_none) {
                check_stats(&front, &live, &expected);
            }
        }
    }
    check_stats(&front, &live, &expected);
    for block in live.drain(..) {
        block.check_contents();
        // SAFETY: a live block of this front end, with its layout.
        unsafe { front.free(block.ptr, block.layout) }.unwrap();
        expected.deallocations += 1;
    }
    check_stats(&front, &live, &expected);
    front.check().unwrap();
    front.release_empty();
    let stats = front.stats();
    assert_eq!(
        (stats.used, stats.live),
        (0, 0),
        "slabs not returned: {stats}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn interleaved_handles_match_the_model(ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        run(&ops);
    }
}

/// Fills one class far past a slab through a handle and frees everything
/// through the other handle: refills and flushes cross slabs, and every slab
/// but the retained one goes back to the backing heap.
#[test]
fn slabs_fill_and_return() {
    let front = SmallFront::new(Tlsf::new(leak_memory(MEMORY, 4096)));
    let layout = Layout::from_size_align(48, 16).unwrap();
    let count = if cfg!(miri) { 1_500 } else { 5_000 };
    let (a, b) = (front.local(), front.local());
    let blocks: Vec<_> = (0..count).map(|_| a.allocate(layout).unwrap()).collect();
    let held = front.stats().used;
    assert!(held >= count * 48, "{held}");
    for block in &blocks {
        // SAFETY: live blocks of this front end, with their layout.
        unsafe { b.free(block.cast(), layout) }.unwrap();
    }
    drop((a, b));
    front.check().unwrap();
    let stats = front.stats();
    assert_eq!((stats.live, stats.requested), (0, 0));
    // One empty slab of 64 KiB is retained until `release_empty`.
    assert!(stats.used >= 64 << 10 && stats.used < held, "{stats}");
    front.release_empty();
    assert_eq!(front.stats().used, 0);
}

/// A backing heap too small for a slab refuses small requests (never
/// serving them from the heap, which would break routing by layout) and
/// still serves large ones.
#[test]
fn small_requests_need_a_slab() {
    let front = SmallFront::new(Tlsf::new(leak_memory(48 << 10, 4096)));
    let small = Layout::from_size_align(32, 8).unwrap();
    assert!(matches!(
        front.allocate(small),
        Err(AllocError::OutOfMemory { size: 32, .. })
    ));
    assert!(matches!(
        front.local().allocate(small),
        Err(AllocError::OutOfMemory { size: 32, .. })
    ));
    let large = Layout::from_size_align(8000, 8).unwrap();
    let block = front.allocate(large).unwrap();
    // SAFETY: a live block with its layout.
    unsafe { front.free(block.cast(), large) }.unwrap();
    assert_eq!(front.stats().failures, 2);
    assert_eq!(
        front.allocate(Layout::from_size_align(0, 8).unwrap()),
        Err(AllocError::ZeroSize)
    );
}

/// A live block handed from a worker thread back to the test.
struct Block(NonNull<u8>);
// SAFETY: the block is owned by whoever holds this; the front end is `Sync`.
unsafe impl Send for Block {}

/// Two threads, each through its own handle (one also through the shared
/// path), allocate and free at once, keep half their blocks for the main
/// thread to check and free through the shared front end after the handles
/// dropped: contents intact and the counts exact.
#[test]
fn two_threads_with_handles() {
    // Each thread keeps ~1 MB of blocks spread over 21 classes.
    let front = SmallFront::new(Tlsf::new(leak_memory(16 << 20, 4096)));
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    let leftovers = on_threads(2, |thread| {
        let local = front.local();
        let mut kept = Vec::new();
        for i in 0..rounds {
            let layout = Layout::from_size_align(16 + (i * 37 + thread * 11) % 2000, 8).unwrap();
            // Thread 1 also takes the shared path every third round, so
            // both paths run at once on the same classes.
            let shared = thread == 1 && i % 3 == 0;
            let block = if shared {
                front.allocate(layout)
            } else {
                local.allocate(layout)
            };
            let block = block.unwrap().cast::<u8>();
            // SAFETY: a fresh block of at least `layout.size()` bytes.
            unsafe { block.as_ptr().write_bytes(thread as u8, layout.size()) };
            if i % 2 == 0 {
                let freed = if shared {
                    // SAFETY: a live block of this front end with its layout.
                    unsafe { front.free(block, layout) }
                } else {
                    // SAFETY: as above.
                    unsafe { local.free(block, layout) }
                };
                freed.unwrap();
            } else {
                kept.push((Block(block), layout));
            }
        }
        kept
    });
    for (thread, kept) in leftovers.into_iter().enumerate() {
        for (Block(ptr), layout) in kept {
            // SAFETY: the block is live and was filled by its thread.
            let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), layout.size()) };
            assert!(bytes.iter().all(|&b| b == thread as u8));
            // SAFETY: a live block of this front end with its layout.
            unsafe { front.free(ptr, layout) }.unwrap();
        }
    }
    let stats = front.stats();
    assert_eq!((stats.live, stats.requested), (0, 0));
    assert_eq!(stats.allocations, 2 * rounds as u64);
    assert_eq!(stats.deallocations, 2 * rounds as u64);
    front.check().unwrap();
}

/// The handle and the front end as `allocator_api2` allocators.
#[test]
fn collections_through_the_handle() {
    use flight_mem::allocator_api2::vec::Vec as AVec;
    let front = SmallFront::new(Tlsf::new(leak_memory(4 << 20, 4096)));
    {
        let local = front.local();
        let mut v = AVec::new_in(&local);
        let mut w = AVec::new_in(&front);
        for i in 0..if cfg!(miri) { 300 } else { 3000u32 } {
            v.push(i);
            w.push(u64::from(i));
        }
        assert_eq!(v.iter().map(|&x| u64::from(x)).sum::<u64>(), w.iter().sum());
    }
    assert_eq!(front.stats().live, 0);
    front.check().unwrap();
}

/// The `GlobalAlloc` interface: allocation, growth across classes and into
/// the backing heap (`realloc` copies), and frees with the layout.
#[test]
fn global_alloc_interface() {
    use std::alloc::GlobalAlloc;
    let front = SmallFront::new(Tlsf::new(leak_memory(MEMORY, 4096)));
    let mut layout = Layout::from_size_align(24, 8).unwrap();
    // SAFETY: a non-zero layout.
    let mut ptr = unsafe { front.alloc(layout) };
    assert!(!ptr.is_null());
    // SAFETY: 24 writable bytes.
    unsafe { ptr.write_bytes(0xa5, 24) };
    for size in [100, 1000, 4096, 9000, 40] {
        // SAFETY: `ptr` is live with `layout`; `size` is non-zero.
        ptr = unsafe { front.realloc(ptr, layout, size) };
        assert!(!ptr.is_null());
        // SAFETY: the first 24 bytes were copied along.
        let head = unsafe { std::slice::from_raw_parts(ptr, 24) };
        assert!(head.iter().all(|&b| b == 0xa5));
        layout = Layout::from_size_align(size, 8).unwrap();
    }
    // SAFETY: live with `layout`.
    unsafe { front.dealloc(ptr, layout) };
    let stats = front.stats();
    assert_eq!((stats.live, stats.requested, stats.allocations), (0, 0, 6));
    front.check().unwrap();
}

/// The front end over the other general heaps: a churn of small and large
/// blocks with contents checked, then everything back.
// Not under Miri: building an 8 MiB buddy and free list there takes minutes,
// and the front end's own paths are the ones the Tlsf tests above run.
#[test]
#[cfg_attr(miri, ignore)]
fn over_buddy_and_free_list() {
    use flight_mem::{Buddy, FreeList, FreesInAnyOrder};
    fn churn<A: FreesInAnyOrder>(front: &SmallFront<A>) {
        let local = front.local();
        let mut live = Vec::new();
        let rounds = 3_000;
        for i in 0..rounds {
            let layout = Layout::from_size_align(1 + (i * 97) % 9000, 8).unwrap();
            let block = local.allocate(layout).unwrap().cast::<u8>();
            // SAFETY: a fresh block of at least `layout.size()` bytes.
            unsafe { block.as_ptr().write_bytes(i as u8, layout.size()) };
            live.push((block, layout, i as u8));
            if i % 3 != 0 {
                let (block, layout, fill) = live.swap_remove((i * 7) % live.len());
                // SAFETY: a live block filled with `fill`.
                let bytes = unsafe { std::slice::from_raw_parts(block.as_ptr(), layout.size()) };
                assert!(bytes.iter().all(|&b| b == fill));
                // SAFETY: a live block of this front end with its layout.
                unsafe { front.free(block, layout) }.unwrap();
            }
        }
        for (block, layout, _) in live {
            // SAFETY: as above.
            unsafe { local.free(block, layout) }.unwrap();
        }
        drop(local);
        front.check().unwrap();
        front.release_empty();
        let stats = front.stats();
        assert_eq!((stats.live, stats.used), (0, 0), "{stats}");
    }
    churn(&SmallFront::new(Buddy::new(leak_memory(32 << 20, 1 << 16))));
    churn(&SmallFront::new(FreeList::new(leak_memory(32 << 20, 4096))));
}
