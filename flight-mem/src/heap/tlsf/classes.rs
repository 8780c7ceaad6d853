//! Tlsf's size classes: which of the two-level lists a block size belongs
//! to, and which list's blocks all hold a request.

use super::{FLAGS, GRANULE, GRANULE_LOG2, Link, MIN_BLOCK, SPLIT_MIN, WORD};

/// log2 of the number of second-level lists per power of two. On 64-bit
/// targets 32 lists (rlsf's default) rather than 16: the good-fit rounding
/// then strands half as much, which decides workload 4 at 60 % allocations
/// (96.8 % usable against 96.1 %, rlsf 96.5 %), for 1.6 KiB more
/// bookkeeping. Smaller targets keep 16: on a 16 KiB microcontroller those
/// 1.6 KiB per heap are the stack's (the micro:bit scenario overflows its
/// stack with 32).
#[cfg(target_pointer_width = "64")]
pub(super) const SL_LOG2: u32 = 5;
/// log2 of the number of second-level lists per power of two (see the
/// 64-bit definition).
#[cfg(not(target_pointer_width = "64"))]
pub(super) const SL_LOG2: u32 = 4;
/// Second-level lists per first-level class.
pub(super) const SL_COUNT: usize = 1 << SL_LOG2;
/// Sizes below `1 << FL_SHIFT` have one exact list per granule (class 0).
pub(super) const FL_SHIFT: u32 = SL_LOG2 + GRANULE_LOG2;
/// Block links (offsets plus a word, below the end marker) must fit a
/// [`Link`].
pub(super) const MAX_END: usize = (Link::MAX as usize) & !FLAGS;
/// Enough first-level classes for any block below `MAX_END`.
pub(super) const FL_COUNT: usize = (MAX_END.ilog2() - FL_SHIFT + 2) as usize;
/// The classes a granular request's search may start in: one past the
/// last, for the largest block a request needs ([`LARGEST_BLOCK`], its list
/// rounded up). `sl_bitmap` has a zero word for it.
pub(super) const SEARCH_CLASSES: usize = FL_COUNT + 1;
/// The largest block `block_for` returns: a request is at most `end <=
/// MAX_END` bytes (a granule multiple) and at most `isize::MAX` (`Layout`),
/// and its block is the request plus a word, rounded up to the granule:
/// `MAX_END + GRANULE` on 64-bit targets; on 32-bit ones, where that sum
/// overflows, `isize::MAX`'s.
pub(super) const LARGEST_BLOCK: usize = {
    let by_layout = (isize::MAX as usize + WORD + FLAGS) & !FLAGS;
    match MAX_END.checked_add(GRANULE) {
        Some(by_end) if by_end < by_layout => by_end,
        _ => by_layout,
    }
};
/// All lists, numbered in size order: list `fl * SL_COUNT + sl` is
/// second-level list `sl` of class `fl`.
pub(super) const LISTS: usize = FL_COUNT * SL_COUNT;

const _: () = {
    assert!(WORD <= GRANULE && GRANULE.is_power_of_two());
    // Both bitmaps are `u32`.
    assert!(FL_COUNT < u32::BITS as usize);
    // The largest granular block's search starts at most in the spare class.
    assert!(list_holding(LARGEST_BLOCK) >> SL_LOG2 < SEARCH_CLASSES);
    assert!(SL_COUNT <= u32::BITS as usize);
    // Unrequested payload is under a granule of rounding or a minimum
    // block (the rounding up to it), plus a rest too small to split, so
    // its count fits the slack byte.
    assert!(MIN_BLOCK + SPLIT_MIN <= u8::MAX as usize);
};

/// The bits a list number's steps are read from: the top `SL_LOG2 + 1`
/// bits of a size shifted left by its leading zeros.
const STEP_SHIFT: u32 = usize::BITS - 1 - SL_LOG2;

/// The leading zeros of `size`, counted as if it had at least
/// `FL_SHIFT + 1` bits, and the number of the first list of its class,
/// less `SL_COUNT`: `(log2 - FL_SHIFT) * SL_COUNT`, where `log2 = BITS - 1 -
/// zeros` is at least `FL_SHIFT`.
#[inline(always)]
const fn class_start(size: usize) -> (u32, usize) {
    let zeros = (size | 1 << FL_SHIFT).leading_zeros();
    (
        zeros,
        ((usize::BITS - 1 - FL_SHIFT - zeros) as usize) << SL_LOG2,
    )
}

/// The list of `size` bytes, in size order; it may be past the last list
/// (`LISTS`) for sizes above [`MAX_END`] (searches check it).
///
/// With no shift by a computed right amount: shifted left by its leading
/// zeros, the size's top `SL_LOG2 + 1` bits are its steps past the start
/// of the class below (`SL_COUNT` of them, then its own list). Class 0
/// (one list per granule) is a branch: most blocks a free or a split
/// lists are small, and its list is one shift. (Computed as the class
/// above it less that top bit, as `list_holding` does, it measured 3.5
/// instructions per operation more on workload 3.)
#[inline(always)]
pub(super) fn class_of(size: usize) -> usize {
    if size < 1 << FL_SHIFT {
        return size >> GRANULE_LOG2;
    }
    // `class_start`'s, without its floor: `size` has more bits.
    let zeros = size.leading_zeros();
    let start = ((usize::BITS - 1 - FL_SHIFT - zeros) as usize) << SL_LOG2;
    start + ((size << zeros) >> STEP_SHIFT)
}

/// [`class_of`] with no branch: the size or'ed with the first class's
/// bound, so a size below it has `FL_SHIFT + 1` bits and its steps are
/// its granules.
#[inline(always)]
pub(super) fn class_of_flat(size: usize) -> usize {
    let (zeros, start) = class_start(size);
    start + ((size << zeros) >> STEP_SHIFT)
}

/// The list of a block of `size <= MAX_END` bytes. (The clamp never
/// changes a real block's list; it lets the compiler drop bounds checks.)
#[inline]
pub(super) fn list_of(size: usize) -> usize {
    debug_assert!(size <= MAX_END);
    class_of(size).min(LISTS - 1)
}

/// The first list all of whose blocks hold `size >= 1` bytes (a block
/// size: at least [`MIN_BLOCK`]); it may be past the last list (searches
/// check it). Rounding up cannot overflow: it works on `(size - 1) >>
/// shift`, so `size` may be anything asked for, at most `isize::MAX` plus
/// a minimum block (an aligned request's padded size, bounded by
/// `Layout`).
#[inline(always)]
pub(super) const fn list_holding(size: usize) -> usize {
    // As `class_of`, with the steps rounded up, as `(size - 1) / step + 1`
    // (`size >= 1`): no step size to build first. Rounding up to a step
    // carries into the next class by itself. (`size - 1` has no more bits
    // than `size`, so shifting it by `size`'s zeros loses none.)
    let (zeros, start) = class_start(size);
    start + (((size - 1) << zeros) >> STEP_SHIFT) + 1
}

/// The smallest block size in list `list`.
#[cfg(test)]
pub(super) fn list_min_size(list: usize) -> usize {
    let (fl, sl) = (list >> SL_LOG2, list & (SL_COUNT - 1));
    if fl == 0 {
        sl << GRANULE_LOG2
    } else {
        (SL_COUNT + sl) << (fl as u32 - 1 + GRANULE_LOG2)
    }
}
