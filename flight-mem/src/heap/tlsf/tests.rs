//! Unit tests of the size classes, block sizes and geometry.

use super::classes::{
    FL_SHIFT, LISTS, SL_COUNT, class_of, class_of_flat, list_holding, list_min_size, list_of,
};
use super::*;

#[test]
fn lists_partition_sizes() {
    let mut last = 0;
    for size in (MIN_BLOCK..1 << 20).step_by(GRANULE) {
        let list = list_of(size);
        assert!(list >= last, "list order at {size}");
        assert!(list_min_size(list) <= size);
        // The next list starts above `size`.
        assert!(list_min_size(list + 1) > size, "list of {size}");
        let holding = list_holding(size);
        assert!(list_min_size(holding) >= size, "good fit at {size}");
        assert!(holding == list || (holding == list + 1 && list_min_size(list) < size));
        last = list;
    }
    // `Span::list` relies on every block size having a list, unclamped.
    assert!(class_of(MAX_END) < LISTS);
    assert_eq!(list_of(MAX_END), class_of(MAX_END));
    assert_eq!(list_of(1 << FL_SHIFT), SL_COUNT);
    assert_eq!(list_of((1 << FL_SHIFT) - GRANULE), SL_COUNT - 1);
    assert_eq!(list_of((1 << FL_SHIFT) + GRANULE), SL_COUNT + 1);
    // Class 0: one list per granule.
    assert_eq!(list_of(MIN_BLOCK), MIN_BLOCK / GRANULE);
    // 32 lists per power of two on 64-bit targets, 16 on smaller ones.
    assert_eq!(SL_COUNT, if WORD == 8 { 32 } else { 16 });
}

/// `free`'s branch-free list mapping agrees with `class_of` on every block
/// size: each granule below 1 MiB, and the sizes around every power of
/// two up to `MAX_END`.
#[test]
fn flat_class_matches_class_of() {
    for size in (MIN_BLOCK..1 << 20).step_by(GRANULE) {
        assert_eq!(class_of_flat(size), class_of(size), "size {size}");
    }
    for log2 in 5..=MAX_END.ilog2() {
        let power = 1usize << log2;
        for size in [power - GRANULE, power, power + GRANULE] {
            let size = size.min(MAX_END);
            assert_eq!(class_of_flat(size), class_of(size), "size {size}");
        }
    }
    assert_eq!(class_of_flat(MAX_END), class_of(MAX_END));
}

/// The padded size of an aligned request reaches `isize::MAX` plus a
/// minimum block (`Layout` bounds `size + align - 1`), past twice
/// `MAX_END` on 64-bit targets: `list_holding` must round it up without
/// overflow (a panic in this test's debug build), to a list whose blocks
/// all hold it, or to no class at all (the search then refuses it).
#[test]
fn list_holding_takes_the_largest_padded_sizes() {
    let sizes = [
        Some(MAX_END + 1),
        MAX_END.checked_mul(2),
        Some(isize::MAX as usize),
        Some(isize::MAX as usize + MIN_BLOCK),
    ];
    // What `list_holding` is asked at most (its doc): on 32-bit targets
    // `MAX_END + 1` lies beyond that, near `usize::MAX`.
    let asked = isize::MAX as usize + MIN_BLOCK;
    for size in sizes.into_iter().flatten().filter(|&size| size <= asked) {
        let list = list_holding(size);
        if list < LISTS {
            assert!(list_min_size(list) >= size, "{size}");
        } else {
            assert!(size > MAX_END, "{size}");
        }
    }
}

#[test]
fn block_sizes() {
    // 64 bytes and a header word in 8-byte granules: 72 bytes on 64-bit, and
    // on 32-bit too (the 4-byte word rounds up to the granule).
    assert_eq!(Tlsf::block_size(64), Some(72));
    // The smallest requests take a minimum block: a header and two links.
    assert_eq!(Tlsf::block_size(MIN_BLOCK - WORD), Some(MIN_BLOCK));
    assert_eq!(
        Tlsf::block_size(MIN_BLOCK - WORD + 1),
        Some(MIN_BLOCK + GRANULE)
    );
    assert_eq!(MIN_BLOCK, if WORD == 8 { 24 } else { 16 });
    assert_eq!(Tlsf::block_size(1), Some(MIN_BLOCK));
    assert_eq!(Tlsf::block_size(usize::MAX), None);
}

#[test]
fn geometry_aligns_and_caps() {
    // SAFETY: never accessed; `geometry` only reads the numbers.
    let memory = |addr: usize, len| unsafe {
        RawMemory::from_raw_parts(core::ptr::without_provenance_mut(addr), len)
    };
    assert_eq!(
        geometry(&memory(0x1000, 0x1000)),
        (8 - WORD, 0x1000 - GRANULE)
    );
    let (lead, end) = geometry(&memory(0x1003, 100));
    assert_eq!((0x1003 + lead + WORD) % GRANULE, 0);
    assert!(lead + end + WORD <= 100);
    assert_eq!(geometry(&memory(0x1000, 8)).1, 0);
    assert_eq!(geometry(&memory(0x1000, 0)), (0, 0));
}
