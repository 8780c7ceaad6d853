//! audit8: Tlsf's `assert_unchecked` hints (class, list and gap bounds,
//! the spare bitmap word) against the extreme requests safe code can make:
//! every size near the region's end and near `isize::MAX`, every
//! alignment up to `1 << (usize::BITS - 1)`, over regions of odd lengths
//! at odd addresses, through `RawAllocator` and allocator-api2's `grow`
//! and `shrink`. A hint that does not hold is undefined behaviour, which
//! Miri reports (`cargo +nightly miri test -p flight-mem --test audit8`);
//! natively the test checks the answers, the invariants and the fences.

// Only `Fenced` is used here; the other helpers serve the other audits.
#[allow(dead_code)]
mod audit6_support;

use allocator_api2::alloc::Allocator;
use audit6_support::Fenced;
use core::alloc::Layout;
use flight_mem::Tlsf;

/// Sizes worth asking for of a heap whose region is `len` bytes: around
/// its end, around powers of two (class boundaries) and near `isize::MAX`.
fn sizes(len: usize) -> Vec<usize> {
    let max = isize::MAX as usize;
    let mut v = vec![0, 1, 7, 8, 9, 15, 16, 17, 24, 25, 255, 256, 257];
    for d in 0..=24 {
        v.push(len.saturating_sub(d));
        v.push(len + d);
    }
    for k in [16, 20, 31, 32, 33, usize::BITS - 2] {
        let p = 1usize << k.min(usize::BITS - 2);
        v.extend([p - 1, p, p + 1]);
    }
    for d in [0, 1, 7, 8, 16, 24, 4096] {
        v.push(max - d);
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Every power-of-two alignment, 1 to `1 << (usize::BITS - 1)`.
fn aligns() -> impl Iterator<Item = usize> {
    (0..usize::BITS).map(|k| 1usize << k)
}

#[test]
fn tlsf_extreme_layouts_over_odd_regions() {
    let lens: &[usize] = if cfg!(miri) {
        &[40, 300]
    } else {
        &[0, 23, 24, 40, 47, 300, 4096, 65_541]
    };
    let misaligns: &[usize] = if cfg!(miri) { &[3] } else { &[0, 3, 8] };
    for &len in lens {
        for &misalign in misaligns {
            let (fence, memory) = Fenced::new(len, misalign, 32);
            let span = (memory.as_ptr().addr(), memory.len());
            let heap = Tlsf::new(memory);
            // A small block first, so that the heap is split and its lists
            // are not all empty.
            let keep = heap.allocate(Layout::from_size_align(8, 8).unwrap()).ok();
            let sizes = sizes(len);
            let step = if cfg!(miri) { 3 } else { 1 };
            for &size in sizes.iter().step_by(step) {
                for align in aligns() {
                    let Ok(l) = Layout::from_size_align(size, align) else {
                        continue;
                    };
                    let Ok(b) = heap.allocate(l) else { continue };
                    let p = b.cast::<u8>();
                    assert!(size > 0 && size <= len, "{size} bytes from {len}");
                    assert_eq!(p.as_ptr().addr() % align, 0);
                    assert!(p.as_ptr().addr() >= span.0);
                    assert!(p.as_ptr().addr() + size <= span.0 + span.1);
                    // SAFETY: a fresh block of `size` bytes.
                    unsafe { p.as_ptr().write_bytes(0x5a, size) };
                    // SAFETY: a live block of `heap`, freed once.
                    unsafe { heap.free(p) }.unwrap();
                }
            }
            if let Some(k) = keep {
                // SAFETY: a live block of `heap`, freed once.
                unsafe { heap.free(k.cast()) }.unwrap();
            }
            heap.check().unwrap();
            assert_eq!(heap.stats().live, 0);
            assert!(fence.intact(), "len {len}, misalign {misalign}");
        }
    }
}

#[test]
fn tlsf_grow_and_shrink_to_extreme_layouts() {
    let (fence, memory) = Fenced::new(if cfg!(miri) { 512 } else { 4096 }, 5, 32);
    let heap: &'static Tlsf = Box::leak(Box::new(Tlsf::new(memory)));
    let len = heap.capacity();
    let sizes = sizes(len);
    let step = if cfg!(miri) { 4 } else { 1 };
    for &from in &[1usize, 24, 100] {
        for &to in sizes.iter().step_by(step) {
            for align in aligns().step_by(if cfg!(miri) { 5 } else { 1 }) {
                let old = Layout::from_size_align(from, 8).unwrap();
                let Ok(new) = Layout::from_size_align(to, align) else {
                    continue;
                };
                let b = heap.allocate(old).expect("a small block");
                // SAFETY: a fresh block of `from` bytes.
                unsafe { b.cast::<u8>().as_ptr().write_bytes(0x33, from) };
                let p = b.cast::<u8>();
                // SAFETY: `p` is a live block of `heap` of layout `old`.
                let moved = unsafe {
                    if to >= from {
                        heap.grow(p, old, new)
                    } else {
                        heap.shrink(p, old, new)
                    }
                };
                let (q, l) = match moved {
                    Ok(q) => (q.cast::<u8>(), new),
                    Err(_) => (p, old),
                };
                let kept = from.min(to).min(l.size());
                // SAFETY: `q` holds at least `kept` initialised bytes.
                let bytes = unsafe { core::slice::from_raw_parts(q.as_ptr(), kept) };
                assert!(bytes.iter().all(|&x| x == 0x33), "{from} -> {to}/{align}");
                // SAFETY: a live block of `heap` with layout `l` (a
                // zero-sized one is dangling, which `deallocate` ignores).
                unsafe { heap.deallocate(q, l) };
            }
        }
    }
    heap.check().unwrap();
    assert_eq!(heap.stats().live, 0);
    assert!(fence.intact());
}
