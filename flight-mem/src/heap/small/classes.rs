//! Size classes and slab geometry of the small-object front end, all
//! computed at compile time so the hot paths read constants.
//!
//! Classes: 16 to 128 bytes in steps of 16, then four classes per doubling
//! (160, 192, 224, 256, 320, …, 3584, 4096), so rounding adds at most 15
//! bytes up to 128 and at most 25 % above. Each block starts at
//! an address aligned to the largest power of two dividing its size (its
//! *natural alignment*), which is what lets a request's alignment be met by
//! rounding its size up to that alignment and looking the class up (see
//! [`class_of`]).

use core::alloc::Layout;

/// log2 of the slab size.
pub(crate) const SLAB_SHIFT: u32 = 16;
/// Bytes per slab; slabs are aligned to their size, so a block finds its
/// slab by masking its address.
pub(crate) const SLAB: usize = 1 << SLAB_SHIFT;
/// The largest request (after rounding to its alignment) served by a class.
pub(crate) const MAX_SMALL: usize = 4096;
/// Number of size classes.
pub(crate) const CLASSES: usize = 28;
/// Where a slab's live map starts (one byte per block, after the header).
pub(crate) const MAP_OFFSET: usize = 64;

/// Block size of class `class` (see the module documentation).
const fn size_of_class(class: usize) -> usize {
    if class < 8 {
        (class + 1) * 16
    } else {
        let group = (class - 8) / 4;
        let step = (class - 8) % 4;
        (5 + step) << (5 + group)
    }
}

/// The largest power of two dividing `size`.
const fn natural_align(size: usize) -> usize {
    size & size.wrapping_neg()
}

/// Geometry of one class, all derived from its block size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    /// Block size in bytes.
    pub(crate) size: usize,
    /// Offset of the first block in the slab: past the header and the live
    /// map, and aligned to the block's natural alignment.
    pub(crate) data: usize,
    /// Blocks per slab.
    pub(crate) blocks: usize,
    /// `blocks * size`: the bytes of blocks after `data`.
    pub(crate) span: usize,
    /// `ceil(2^32 / size)`: `(offset * recip) >> 32` is `offset / size` for
    /// every offset below [`SLAB`] (a unit test checks all of them), so a
    /// free divides by nothing.
    pub(crate) recip: u64,
}

const fn geometry(class: usize) -> Geometry {
    let size = size_of_class(class);
    let align = natural_align(size);
    // The first offset, aligned for the block, past the header and a live
    // map long enough for the blocks that fit after it.
    let mut data = (MAP_OFFSET + (SLAB - MAP_OFFSET) / (size + 1)).next_multiple_of(align);
    while MAP_OFFSET + (SLAB - data) / size > data {
        data += align;
    }
    let blocks = (SLAB - data) / size;
    Geometry {
        size,
        data,
        blocks,
        span: blocks * size,
        recip: (1u64 << 32).div_ceil(size as u64),
    }
}

/// Every class's geometry.
pub(crate) const GEOMETRY: [Geometry; CLASSES] = {
    let mut table = [geometry(0); CLASSES];
    let mut class = 1;
    while class < CLASSES {
        table[class] = geometry(class);
        class += 1;
    }
    table
};

/// Class of a size rounded up to a multiple of 16, indexed by `size / 16`.
const CLASS_BY_SIXTEENTH: [u8; MAX_SMALL / 16 + 1] = {
    let mut table = [0u8; MAX_SMALL / 16 + 1];
    let mut index = 1;
    let mut class = 0;
    while index < table.len() {
        while size_of_class(class) < index * 16 {
            class += 1;
        }
        table[index] = class as u8;
        index += 1;
    }
    table
};

/// The class serving `layout`, or `None` for a zero-sized request or one
/// larger than [`MAX_SMALL`] once rounded up to its alignment.
///
/// Rounding the size up to the alignment `a` and taking the class of the
/// result always lands on a class whose size is a multiple of `a`: below
/// 128 bytes every multiple of 16 is a class, and in the doubling
/// `(2^e, 2^(e+1)]` every class is a multiple of `2^(e-2)` while the only
/// multiples of a larger `a` there (`3·2^(e-1)`, `2^(e+1)`) are classes
/// themselves. Blocks sit at their natural alignment, so the block is
/// aligned to `a`. Allocation and free compute the class from the layout
/// alone, so both always agree.
#[inline(always)]
pub(crate) const fn class_of(layout: Layout) -> Option<usize> {
    let align = layout.align();
    // `Layout` guarantees that rounding the size up to its alignment does
    // not overflow `isize::MAX`.
    let rounded = (layout.size() + align - 1) & !(align - 1);
    if rounded.wrapping_sub(1) >= MAX_SMALL {
        return None;
    }
    Some(CLASS_BY_SIXTEENTH[rounded.div_ceil(16)] as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_grow_and_fit_a_slab() {
        assert_eq!(GEOMETRY[CLASSES - 1].size, MAX_SMALL);
        for class in 1..CLASSES {
            assert!(GEOMETRY[class].size > GEOMETRY[class - 1].size);
        }
        for g in GEOMETRY {
            assert!(g.size.is_multiple_of(16));
            assert!(g.data.is_multiple_of(natural_align(g.size)));
            assert!(g.data >= MAP_OFFSET + g.blocks, "{g:?}");
            assert!(g.blocks >= 15 && g.data + g.blocks * g.size <= SLAB);
            // The first block is as early as its alignment and the map allow.
            let earlier = g.data - natural_align(g.size);
            assert!(earlier < MAP_OFFSET + (SLAB - earlier) / g.size, "{g:?}");
        }
    }

    // Pure arithmetic, no unsafe: nothing for Miri to find in 1.8 M steps.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn reciprocal_divides_every_slab_offset() {
        for g in GEOMETRY {
            for offset in 0..SLAB as u64 {
                assert_eq!((offset * g.recip) >> 32, offset / g.size as u64);
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn class_fits_size_and_alignment() {
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096] {
            for size in 1..=MAX_SMALL {
                let layout = Layout::from_size_align(size, align).unwrap();
                let rounded = size.next_multiple_of(align);
                match class_of(layout) {
                    Some(class) => {
                        let g = GEOMETRY[class];
                        assert!(g.size >= size && natural_align(g.size) >= align);
                        // The smallest class that fits.
                        assert!(class == 0 || GEOMETRY[class - 1].size < rounded);
                    }
                    None => assert!(rounded > MAX_SMALL),
                }
            }
        }
        assert_eq!(class_of(Layout::from_size_align(0, 8).unwrap()), None);
        assert_eq!(class_of(Layout::from_size_align(4097, 8).unwrap()), None);
        assert_eq!(class_of(Layout::from_size_align(8, 8192).unwrap()), None);
    }
}
