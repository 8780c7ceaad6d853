//! Tlsf's size classes: which of the two-level lists a block size belongs
//! to, and which list's blocks all hold a request.

use super::{FLAGS, GRANULE, GRANULE_LOG2, Link, MIN_BLOCK, WORD};

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
/// Block offsets (and the end marker) must fit a [`Link`] and differ from
/// [`NIL`](super::NIL).
pub(super) const MAX_END: usize = (Link::MAX as usize) & !FLAGS;
/// Enough first-level classes for any block below `MAX_END`.
pub(super) const FL_COUNT: usize = (MAX_END.ilog2() - FL_SHIFT + 2) as usize;

const _: () = {
    assert!(WORD <= GRANULE && GRANULE.is_power_of_two());
    // Both bitmaps are `u32`.
    assert!(FL_COUNT <= u32::BITS as usize);
    assert!(SL_COUNT <= u32::BITS as usize);
    // Unrequested payload is under a granule of rounding plus a minimum
    // block (the rounding up to it, or a remainder too small to split), so
    // its count fits the slack byte.
    assert!(2 * MIN_BLOCK <= u8::MAX as usize);
};

/// The class of `size` bytes; `fl` may exceed the classes for sizes above
/// [`MAX_END`] (searches check it).
#[inline]
pub(super) fn class_of(size: usize) -> (usize, usize) {
    if size < 1 << FL_SHIFT {
        (0, size >> GRANULE_LOG2)
    } else {
        let log = size.ilog2();
        let fl = (log - FL_SHIFT + 1) as usize;
        let sl = (size >> (log - SL_LOG2)) & (SL_COUNT - 1);
        (fl, sl)
    }
}

/// The list of a block of `size <= MAX_END` bytes. (The clamp never
/// changes a real block's class; it lets the compiler drop bounds checks.)
#[inline]
pub(super) fn list_of(size: usize) -> (usize, usize) {
    debug_assert!(size <= MAX_END);
    let (fl, sl) = class_of(size);
    (fl.min(FL_COUNT - 1), sl)
}

/// The first class all of whose blocks hold `size >= 1` bytes (a block
/// size: at least [`MIN_BLOCK`]); `fl` may exceed the classes (searches
/// check it). Rounding up cannot overflow: it works on `(size - 1) >>
/// shift`, so `size` may be anything asked for, at most `isize::MAX` plus
/// a minimum block (an aligned request's padded size, bounded by
/// `Layout`).
#[inline]
pub(super) fn list_holding(size: usize) -> (usize, usize) {
    // Lists numbered in size order are `size >> shift` steps past a
    // class-dependent start (`SL_COUNT` steps before the class: `size >>
    // shift` is at least `SL_COUNT` above class 0), so rounding up to a
    // step carries into the next class by itself.
    let log = (size | 1 << FL_SHIFT).ilog2();
    let shift = log - SL_LOG2;
    // The steps rounded up, as `(size - 1) / step + 1` (`size >= 1`): no
    // step size to build first.
    let steps = ((size - 1) >> shift) + 1;
    // `steps >> SL_LOG2` is the carry into the next class (or, above
    // class 0, the step past class 0 itself).
    (
        (log - FL_SHIFT) as usize + (steps >> SL_LOG2),
        steps & (SL_COUNT - 1),
    )
}

/// The smallest block size in list `(fl, sl)`.
#[cfg(test)]
pub(super) fn list_min_size(fl: usize, sl: usize) -> usize {
    if fl == 0 {
        sl << GRANULE_LOG2
    } else {
        (SL_COUNT + sl) << (fl as u32 - 1 + GRANULE_LOG2)
    }
}
