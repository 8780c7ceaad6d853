//! Session-6 adversarial audit of the per-thread handles (`Linear::local`,
//! `Frames::local`, `Pool::local`, `BlockPool::local`, `SmallFront::local`) and
//! the locked heaps (`Tlsf`, `Buddy`, `FreeList`) through their public API:
//! handles interleaved with shared scopes, forgotten and sent to other
//! threads, boxes freed through the wrong pool, slabs released under a cache,
//! tiny and misaligned memories, extreme layouts, refused frees. Each test
//! asserts the safe outcome; Miri runs the file. `Compact` is in `audit6.rs`.

mod audit6_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use audit6_support::{Fenced, Rng, layout};
use flight_mem::{AllocError, Linear, RawAllocator, RawMemory, SmallFront, Tlsf};

// ---------------------------------------------------------------------
// Per-thread handles.
// ---------------------------------------------------------------------

fn linear(len: usize) -> (Fenced, Linear) {
    let (fence, memory) = Fenced::new(len, 0, 32);
    (fence, Linear::new(memory))
}

/// Local handles, shared scopes that roll back, and a forgotten handle,
/// interleaved: no two live blocks overlap and none is overwritten.
#[test]
fn local_bumps_and_shared_scopes_never_share_bytes() {
    let (fence, lin) = linear(64 * 1024);
    let mut kept: Vec<(*mut u8, usize, u8)> = Vec::new();
    let write = |p: *mut u8, n: usize, v: u8| {
        // SAFETY: `p..p + n` is a live block of `lin`, ours alone.
        unsafe { p.write_bytes(v, n) }
    };
    let a = lin.local();
    let b = lin.local();
    for round in 0..if cfg!(miri) { 12u8 } else { 40 } {
        let size = 8 + round as usize * 5;
        let x = a.allocate(layout(size, 8)).unwrap().cast::<u8>().as_ptr();
        write(x, size, round);
        kept.push((x, size, round));
        // A shared scope allocates and rolls back between local claims.
        lin.scope(|s| {
            let t = s
                .alloc_layout(layout(300, 8))
                .unwrap()
                .cast::<u8>()
                .as_ptr();
            write(t, 300, 0xEE);
        });
        let y = b
            .allocate(layout(size + 3, 16))
            .unwrap()
            .cast::<u8>()
            .as_ptr();
        write(y, size + 3, round ^ 0x80);
        kept.push((y, size + 3, round ^ 0x80));
        if round % 7 == 0 {
            // A forgotten handle keeps its chunk (a leak, not a hazard).
            let lost = lin.local();
            let z = lost.allocate(layout(64, 8)).unwrap().cast::<u8>().as_ptr();
            write(z, 64, round.wrapping_add(0x40));
            kept.push((z, 64, round.wrapping_add(0x40)));
            core::mem::forget(lost);
        }
    }
    drop((a, b));
    lin.scope(|s| {
        let t = s
            .alloc_layout(layout(1000, 8))
            .unwrap()
            .cast::<u8>()
            .as_ptr();
        write(t, 1000, 0xDD);
    });
    for &(p, n, v) in &kept {
        // SAFETY: as above; nothing was reset.
        let bytes = unsafe { core::slice::from_raw_parts(p, n) };
        assert!(bytes.iter().all(|&x| x == v), "block {v} overwritten");
    }
    lin.check().unwrap();
    assert!(fence.intact());
}

/// Nested local scopes used out of order (the outer scope allocating
/// inside the inner one's closure): blocks of the still-open outer scope
/// are never given back early.
#[test]
fn local_scopes_interleaved_keep_the_outer_blocks() {
    let (fence, lin) = linear(16 * 1024);
    let mut local = lin.local();
    local.scope(|outer| {
        let first = outer.alloc_slice_copy(&[1u8; 24]).unwrap();
        let mut later = Vec::new();
        for round in 0..20u8 {
            outer.scope(|inner| {
                let i = inner.alloc_slice_copy(&[0xEEu8; 40]).unwrap();
                // The outer scope allocates while the inner one is open.
                let o = outer.alloc_slice_copy(&[round; 16]).unwrap();
                i.fill(0xEF);
                later.push(o.as_ptr());
            });
            // The inner scope could not roll back over the outer's block:
            // write more and check nothing of the outer's changed.
            outer.scope(|inner| inner.alloc_slice_copy(&[0xCCu8; 64]).unwrap().fill(0xCD));
        }
        assert!(first.iter().all(|&x| x == 1));
        for (round, &p) in later.iter().enumerate() {
            // SAFETY: the outer scope is still open; its blocks are live.
            let bytes = unsafe { core::slice::from_raw_parts(p, 16) };
            assert!(bytes.iter().all(|&x| x == round as u8), "round {round}");
        }
    });
    drop(local);
    lin.check().unwrap();
    assert!(fence.intact());
}

/// Local handles over small and misaligned `Linear`s and `Frames`, with
/// requests of every alignment up to 256 and sizes that straddle the
/// chunk rules (exact claims near the end, direct requests to the shared
/// bump): blocks lie inside the memory, aligned, disjoint, and keep their
/// bytes; the canaries around the memory are intact.
#[test]
fn local_handles_over_small_memories_stay_in_bounds() {
    let lens: &[usize] = if cfg!(miri) {
        &[40, 1500]
    } else {
        &[0, 1, 8, 40, 63, 64, 65, 200, 1024, 1500, 4096, 9000]
    };
    let check = |blocks: &[(*mut u8, usize, u8)], memory: (usize, usize)| {
        let mut sorted: Vec<(usize, usize)> = blocks.iter().map(|b| (b.0.addr(), b.1)).collect();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlap {w:?}");
        }
        for &(p, n, v) in blocks {
            assert!(
                p.addr() >= memory.0 && p.addr() + n <= memory.0 + memory.1,
                "outside"
            );
            // SAFETY: a live block of `n` bytes, written below.
            let bytes = unsafe { core::slice::from_raw_parts(p, n) };
            assert!(bytes.iter().all(|&x| x == v));
        }
    };
    for &len in lens {
        let misaligns: &[usize] = if cfg!(miri) {
            &[0, 3]
        } else {
            &[0, 1, 3, 8, 13]
        };
        for &misalign in misaligns {
            for frames in [0usize, 1, 3] {
                if cfg!(miri) && frames == 1 {
                    continue;
                }
                let (fence, memory) = Fenced::new(len, misalign, 32);
                let span = (memory.as_ptr().addr(), memory.len());
                let linear;
                let framed;
                let local = if frames == 0 {
                    linear = Linear::new(memory);
                    linear.local()
                } else {
                    if len < frames * flight_mem::Frames::RECORD_SIZE {
                        continue;
                    }
                    framed = flight_mem::Frames::new(memory, frames);
                    framed.local()
                };
                let mut rng = Rng(len as u64 * 31 + misalign as u64);
                let mut blocks = Vec::new();
                for i in 0..if cfg!(miri) { 30u32 } else { 200 } {
                    let align = 1 << rng.below(9);
                    let size = [1, 7, 8, 24, 100, 300, 2000][rng.below(7)];
                    let Ok(b) = local.allocate(layout(size, align)) else {
                        continue;
                    };
                    let p = b.cast::<u8>().as_ptr();
                    assert_eq!(p.addr() % align, 0);
                    assert!(b.len() >= size);
                    // SAFETY: a fresh block of at least `size` bytes.
                    unsafe { p.write_bytes(i as u8, size) };
                    blocks.push((p, size, i as u8));
                }
                check(&blocks, span);
                drop(local);
                check(&blocks, span);
                assert!(
                    fence.intact(),
                    "len {len}, misalign {misalign}, frames {frames}"
                );
            }
        }
    }
}

/// A `PoolBox` of another pool freed through a magazine goes back to its
/// own pool; foreign and double frees through a magazine are refused.
#[test]
fn magazines_route_foreign_boxes_and_refuse_bad_frees() {
    use flight_mem::{BlockPool, Pool};
    let (_fa, ma) = Fenced::new(4096, 0, 16);
    let (_fb, mb) = Fenced::new(4096, 0, 16);
    let pa: Pool<[u64; 4]> = Pool::new(ma);
    let pb: Pool<[u64; 4]> = Pool::new(mb);
    let mag = pa.local();
    let foreign = pb.alloc([9; 4]).unwrap();
    let own = mag.alloc([1; 4]).unwrap();
    mag.free(foreign);
    assert_eq!(pb.stats().live, 0, "the foreign box went back to its pool");
    assert!(mag.cached() > 0);
    mag.free(own);
    drop(mag);
    assert_eq!(pa.stats().live, 0);
    pa.check().unwrap();
    pb.check().unwrap();

    let (_fc, mc) = Fenced::new(4096, 0, 16);
    let (_fd, md) = Fenced::new(4096, 0, 16);
    let bp = BlockPool::new(mc, 32, 8);
    let other = BlockPool::new(md, 32, 8);
    let mag = bp.local();
    let x = mag.allocate(layout(32, 8)).unwrap().cast::<u8>();
    let y = other.allocate(layout(32, 8)).unwrap().cast::<u8>();
    // SAFETY: `y` is a live block of `other`; the magazine's documented
    // check refuses it without touching it.
    assert_eq!(unsafe { mag.free(y) }, Err(AllocError::ForeignPointer));
    // SAFETY: `x` came from this pool and is not used again.
    assert_eq!(unsafe { mag.free(x) }, Ok(()));
    // SAFETY: the second free of `x`, ordered after the first: the
    // documented double-free check refuses it.
    assert_eq!(unsafe { mag.free(x) }, Err(AllocError::DoubleFree));
    // SAFETY: as above, through the pool itself while the magazine caches it.
    assert_eq!(unsafe { bp.free(x) }, Err(AllocError::DoubleFree));
    drop(mag);
    bp.check().unwrap();
    // SAFETY: `y` came from `other` and is not used again.
    unsafe { other.free(y) }.unwrap();
}

/// A magazine holding cached slots and live blocks is sent to another
/// thread, used and dropped there; the pool's figures are exact after.
#[test]
fn a_magazine_sent_to_another_thread_returns_everything() {
    use flight_mem::BlockPool;
    let (_f, m) = Fenced::new(8192, 0, 16);
    let pool: &'static BlockPool = Box::leak(Box::new(BlockPool::new(m, 64, 8)));
    let mag = pool.local();
    let kept = mag.allocate(layout(64, 8)).unwrap().cast::<u8>();
    let gone = mag.allocate(layout(64, 8)).unwrap().cast::<u8>();
    // SAFETY: `gone` came from this pool and is not used again.
    unsafe { mag.free(gone) }.unwrap();
    let kept_addr = kept.as_ptr().addr();
    std::thread::spawn(move || {
        let b = mag.allocate(layout(64, 8)).unwrap().cast::<u8>();
        assert_ne!(b.as_ptr().addr(), kept_addr);
        // SAFETY: `b` came from this pool and is not used again.
        unsafe { mag.free(b) }.unwrap();
        drop(mag);
    })
    .join()
    .unwrap();
    assert_eq!(pool.stats().live, 1);
    // SAFETY: `kept` came from this pool and is not used again.
    unsafe { pool.free(kept) }.unwrap();
    assert_eq!(pool.stats().live, 0);
    pool.check().unwrap();
}

/// Blocks cached in a `SmallLocal` keep their slab: `release_empty` does
/// not hand it back to the heap under the cache.
#[test]
fn release_empty_keeps_slabs_whose_blocks_a_handle_caches() {
    // Large enough to reuse a released slab's memory.
    const BIG: usize = 100 * 1024;
    let (fence, memory) = Fenced::new(256 * 1024, 0, 32);
    let front = SmallFront::new(Tlsf::new(memory));
    let l = layout(48, 8);
    let local = front.local();
    let blocks: Vec<_> = (0..6).map(|_| local.allocate(l).unwrap()).collect();
    for b in &blocks {
        // SAFETY: each block came from `local` with `l` and is not used again.
        unsafe { local.free(b.cast(), l) }.unwrap();
    }
    assert!(local.cached() > 0);
    front.release_empty();
    // Handed out again from the cache: its slab must still be ours.
    let again = local.allocate(l).unwrap().cast::<u8>();
    // SAFETY: a live block of 48 bytes.
    unsafe { again.as_ptr().write_bytes(0x5A, 48) };
    let big = front.allocate(layout(BIG, 8)).unwrap().cast::<u8>();
    // SAFETY: a live block of `BIG` bytes.
    unsafe { big.as_ptr().write_bytes(0x11, BIG) };
    // SAFETY: a live block of 48 bytes.
    let kept = unsafe { core::slice::from_raw_parts(again.as_ptr(), 48) };
    assert!(kept.iter().all(|&x| x == 0x5A));
    // SAFETY: each came from this front end with its layout.
    unsafe {
        local.free(again, l).unwrap();
        front.free(big, layout(BIG, 8)).unwrap();
    }
    drop(local);
    front.release_empty();
    front.check().unwrap();
    assert_eq!(front.stats().live, 0);
    assert!(fence.intact());
}

/// Extreme layouts through the small front end, its handle and the
/// compact and bump handles are errors, never panics.
#[test]
fn extreme_layouts_are_errors_everywhere() {
    let (_f, memory) = Fenced::new(128 * 1024, 0, 32);
    let front = SmallFront::new(Tlsf::new(memory));
    let local = front.local();
    let (_g, lm) = Fenced::new(4096, 0, 32);
    let lin = Linear::new(lm);
    let bump = lin.local();
    let huge = [
        layout(isize::MAX as usize - 4096, 1),
        layout(isize::MAX as usize / 2, 1 << 20),
        layout(1, 1 << 30),
        layout(4097, 4096),
        layout(4096, 8192),
        layout(0, 1 << 20),
    ];
    for l in huge {
        let r = catch_unwind(AssertUnwindSafe(|| {
            (
                front.allocate(l).is_err(),
                local.allocate(l).is_err(),
                bump.allocate(l).is_err(),
            )
        }));
        let (a, b, c) = r.unwrap_or_else(|_| panic!("{l:?} panicked"));
        if l.size() > 128 * 1024 || l.align() > 128 * 1024 {
            assert!(a && b && c, "{l:?} served");
        }
    }
    drop((local, bump));
    front.check().unwrap();
    lin.check().unwrap();
}

/// Slabs empty out of allocation order and go back to the backing heap:
/// with a backing that frees in any order (a `Stack` backing no longer
/// compiles: the audit found `release_empty` over one panicking in debug
/// builds and losing the slab in release builds, see the compile-fail
/// example on `SmallFront`), the slab below another is returned and nothing
/// stays live.
#[test]
fn release_empty_returns_a_slab_below_another() {
    let (fence, memory) = Fenced::new(320 * 1024, 0, 32);
    let front = SmallFront::new(Tlsf::new(memory));
    let small = layout(16, 8);
    let large = layout(1024, 8);
    // Two slabs, of two classes: the first is below the second.
    let a = front.allocate(small).unwrap().cast::<u8>();
    let b = front.allocate(large).unwrap().cast::<u8>();
    // SAFETY: `a` came from `front` with `small` and is not used again. Its
    // slab empties and is kept (one empty slab per class).
    unsafe { front.free(a, small) }.unwrap();
    let held = front.stats().used;
    let released = catch_unwind(AssertUnwindSafe(|| front.release_empty()));
    assert!(released.is_ok(), "release_empty panicked");
    // SAFETY: `b` came from `front` with `large` and is not used again.
    unsafe { front.free(b, large) }.unwrap();
    front.release_empty();
    front.check().unwrap();
    // Everything was freed and both slabs went back: the backing heap holds
    // nothing (`used` is the backing heap's), and no block is live.
    let stats = front.stats();
    assert!(held > 0);
    assert_eq!((stats.live, stats.used), (0, 0), "a slab was not returned");
    assert!(fence.intact());
}

// ---------------------------------------------------------------------
// Tlsf.
// ---------------------------------------------------------------------

/// Requests at the edges are errors; the documented free checks refuse
/// pointers outside the region, off a payload boundary, and a second free.
#[test]
fn tlsf_edges_and_refused_frees() {
    let (fence, memory) = Fenced::new(8192, 3, 32);
    let heap = Tlsf::new(memory);
    assert!(heap.allocate(layout(0, 8)).is_err());
    assert!(heap.allocate(layout(8, 1 << 20)).is_err());
    assert!(heap.allocate(layout(isize::MAX as usize - 64, 8)).is_err());
    assert!(heap.allocate(layout(heap.capacity() + 1, 8)).is_err());
    let a = heap.allocate(layout(100, 64)).unwrap().cast::<u8>();
    assert_eq!(a.as_ptr().addr() % 64, 0);
    let b = heap.allocate(layout(40, 8)).unwrap().cast::<u8>();
    let c = heap.allocate(layout(40, 8)).unwrap().cast::<u8>();
    // SAFETY: (all frees below) each pointer is either a block of `heap`
    // freed once, or one the documented O(1) checks refuse without writing
    // (outside the region, off an 8-byte payload boundary, already free
    // with no reuse in between).
    unsafe {
        let mut outside = 0u64;
        assert!(
            heap.free(core::ptr::NonNull::from(&mut outside).cast())
                .is_err()
        );
        assert!(heap.free(b.add(3)).is_err());
        heap.free(b).unwrap();
        assert_eq!(heap.free(b), Err(AllocError::DoubleFree));
        // `c` merges with the free `b` in front of it; `b`'s old header now
        // lies inside a free block.
        heap.free(c).unwrap();
        assert!(heap.free(b).is_err());
        assert!(heap.free(c).is_err());
        heap.free(a).unwrap();
        assert!(heap.free(a).is_err());
    }
    heap.check().unwrap();
    assert_eq!(heap.stats().live, 0);
    assert!(fence.intact());
}

/// Many alignments and sizes in a small heap, with allocator_api2 vectors
/// growing through the default grow (allocate, copy, free): bytes survive
/// and nothing leaves the region.
#[test]
fn tlsf_vectors_grow_and_shrink_in_bounds() {
    use flight_mem::allocator_api2::vec::Vec as ApiVec;
    let (fence, memory) = Fenced::new(16 * 1024, 5, 32);
    // `&'static Tlsf` is the allocator type collections take.
    let heap: &'static Tlsf = Box::leak(Box::new(Tlsf::new(memory)));
    let mut vecs: Vec<ApiVec<u32, &Tlsf>> = (0..6).map(|_| ApiVec::new_in(heap)).collect();
    for i in 0..if cfg!(miri) { 150 } else { 600 } {
        let v = &mut vecs[i % 6];
        if v.try_reserve(1).is_ok() {
            v.push(i as u32);
        }
        if i % 97 == 0 {
            v.shrink_to_fit();
        }
    }
    for (k, v) in vecs.iter().enumerate() {
        assert!(v.iter().all(|&x| x as usize % 6 == k));
    }
    drop(vecs);
    heap.check().unwrap();
    assert_eq!(heap.stats().live, 0);
    assert!(fence.intact());
}

/// `Tlsf`, `Buddy` and `FreeList` (the heaps behind the locked wrapper)
/// over memories of every small length at every misalignment: blocks stay
/// inside, aligned and disjoint, the bytes around the memory are
/// untouched, and everything comes back.
#[test]
fn locked_heaps_over_tiny_and_misaligned_memories_stay_in_bounds() {
    tiny_heaps(Tlsf::new);
    tiny_heaps(flight_mem::Buddy::new);
    tiny_heaps(flight_mem::FreeList::new);
}

fn tiny_heaps<H: RawAllocator>(make: fn(RawMemory) -> H) {
    let lens: Vec<usize> = if cfg!(miri) {
        vec![0, 24, 41, 300]
    } else {
        (0..400).step_by(3).collect()
    };
    let misaligns: &[usize] = if cfg!(miri) {
        &[5]
    } else {
        &[0, 1, 4, 7, 8, 13]
    };
    for &len in &lens {
        for &misalign in misaligns {
            let (fence, memory) = Fenced::new(len, misalign, 32);
            let span = (memory.as_ptr().addr(), memory.len());
            let heap = make(memory);
            let mut blocks = Vec::new();
            let mut rng = Rng(len as u64 ^ 0x55);
            for i in 0..if cfg!(miri) { 16u8 } else { 40 } {
                let l = layout(1 + rng.below(48), 1 << rng.below(7));
                let Ok(b) = heap.allocate(l) else { continue };
                let p = b.cast::<u8>().as_ptr();
                assert_eq!(p.addr() % l.align(), 0);
                assert!(p.addr() >= span.0 && p.addr() + b.len() <= span.0 + span.1);
                // SAFETY: a fresh block of `b.len()` bytes.
                unsafe { p.write_bytes(i, b.len()) };
                blocks.push((p, b.len(), i));
                if rng.below(3) == 0 {
                    let (p, _, _) = blocks.swap_remove(rng.below(blocks.len()));
                    // SAFETY: a live block of `heap`, not used again.
                    unsafe { heap.free(core::ptr::NonNull::new(p).unwrap()) }.unwrap();
                }
            }
            for &(p, n, v) in &blocks {
                // SAFETY: a live block of `n` bytes.
                let bytes = unsafe { core::slice::from_raw_parts(p, n) };
                assert!(bytes.iter().all(|&x| x == v));
            }
            for (p, _, _) in blocks {
                // SAFETY: a live block of `heap`, not used again.
                unsafe { heap.free(core::ptr::NonNull::new(p).unwrap()) }.unwrap();
            }
            heap.check().unwrap();
            assert_eq!(heap.stats().live, 0);
            assert!(fence.intact(), "len {len}, misalign {misalign}");
        }
    }
}
