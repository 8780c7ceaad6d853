//! The only place Tlsf reads and writes its region. Offsets into it are
//! typed: an [`At`] is a word inside the region, a [`Block`] a block header
//! with room for its links, a [`Link`] a stored reference to a `Block`.
//! None can be built from a number without a bounds check, so the accessors
//! below are safe, and the `unsafe` blocks of this file are the whole of
//! Tlsf's raw memory access.
//!
//! What makes the unchecked conversions sound: [`Region::init`] is given
//! `end + WORD` bytes that only this region touches; `end` never changes
//! afterwards (before `init` it is 0 and no `Block` exists); a `Link` is
//! only ever made from a `Block` (or is [`Link::NIL`]) and link words in
//! memory are only written from `Link`s. Bytes of live blocks belong to
//! their callers and are never read as links: a caller writing outside its
//! block, or freeing a pointer `allocate` did not return, breaks the
//! `RawAllocator` contract (the latter is why `free` is `unsafe`).

use core::ptr::NonNull;

use super::{GRANULE_LOG2, MIN_BLOCK, WORD};

// The rotate trick of `Region::at` needs every in-range offset, in
// granules, below 2^(BITS - GRANULE_LOG2).
const _: () = assert!(super::MAX_END >> GRANULE_LOG2 < 1 << (usize::BITS - GRANULE_LOG2));

/// A word-aligned offset at most `end`: the word there lies in the region.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct At(usize);

/// A granule-aligned offset with `off + MIN_BLOCK <= end`: a block header
/// whose two links (and first word after them) lie in the region.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Block(usize);

/// A free-list link: a [`Block`]'s offset as a `u32`, or [`Link::NIL`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Link(u32);

impl At {
    /// The offset in bytes from the first header.
    #[inline(always)]
    pub(super) fn off(self) -> usize {
        self.0
    }
}

impl Block {
    /// The offset in bytes from the first header.
    #[inline(always)]
    pub(super) fn off(self) -> usize {
        self.0
    }

    /// The header word.
    #[inline(always)]
    pub(super) fn at(self) -> At {
        At(self.0)
    }

    /// A link to this block.
    #[inline(always)]
    pub(super) fn link(self) -> Link {
        // `off < end <= MAX_END < NIL`.
        Link(self.0 as u32)
    }
}

impl Link {
    /// The end of a list.
    pub(super) const NIL: Link = Link(u32::MAX);

    /// The raw value, for checks and diagnostics.
    #[inline(always)]
    pub(super) fn get(self) -> u32 {
        self.0
    }
}

/// The region behind the first block header: `end + WORD` bytes at `base`.
pub(super) struct Region {
    base: NonNull<u8>,
    end: usize,
    /// One more than the highest [`At`] in granules (`end / GRANULE + 1`),
    /// or 0 while there is no region: no `At` exists then.
    words: usize,
    /// One more than the highest [`Block`] in granules, or 0.
    blocks: usize,
}

impl Region {
    /// No region: no [`At`] or [`Block`] can be made.
    pub(super) const fn empty() -> Self {
        Self {
            base: NonNull::dangling(),
            end: 0,
            words: 0,
            blocks: 0,
        }
    }

    /// Takes over `end + WORD` bytes at `base`.
    ///
    /// # Safety
    ///
    /// `base..base + end + WORD` is valid for reads and writes for as long
    /// as this region is used, accessed only through it (and the blocks it
    /// hands out), does not wrap; `base + WORD` is granule-aligned and `end`
    /// a multiple of the granule, at least [`MIN_BLOCK`] and below
    /// `u32::MAX`.
    pub(super) unsafe fn init(&mut self, base: NonNull<u8>, end: usize) {
        debug_assert!(end >= MIN_BLOCK && end < u32::MAX as usize);
        self.base = base;
        self.end = end;
        self.words = (end >> GRANULE_LOG2) + 1;
        self.blocks = ((end - MIN_BLOCK) >> GRANULE_LOG2) + 1;
    }

    /// The first header's address.
    #[inline(always)]
    pub(super) fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The end marker's offset: the capacity.
    #[inline(always)]
    pub(super) fn end(&self) -> usize {
        self.end
    }

    /// The word at `off`, if it is word-aligned and at most `end`.
    #[inline(always)]
    pub(super) fn at(&self, off: usize) -> Option<At> {
        // A misaligned `off` rotates its low bits to the top, at or above
        // 2^29 > `words`: one compare checks alignment and range.
        (off.rotate_right(GRANULE_LOG2) < self.words).then_some(At(off))
    }

    /// The block header at `off`, if it is granule-aligned and a minimum
    /// block fits between it and `end`.
    #[inline(always)]
    pub(super) fn block(&self, off: usize) -> Option<Block> {
        (off.rotate_right(GRANULE_LOG2) < self.blocks).then_some(Block(off))
    }

    /// The block `link` refers to, or `None` for [`Link::NIL`].
    #[inline(always)]
    pub(super) fn linked(&self, link: Link) -> Option<Block> {
        (link != Link::NIL).then_some(Block(link.0 as usize))
    }

    /// The end marker.
    #[inline(always)]
    pub(super) fn end_marker(&self) -> At {
        At(self.end)
    }

    /// The word at `at`.
    #[inline(always)]
    pub(super) fn word(&self, at: At) -> usize {
        // SAFETY: `at <= end` is word-aligned (`At`'s invariant), so the
        // word lies in the `end + WORD` bytes `init` was given; `base + WORD`
        // is granule-aligned, so `base + at` is word-aligned.
        unsafe { self.base.add(at.0).cast::<usize>().read() }
    }

    /// Writes the word at `at`.
    #[inline(always)]
    pub(super) fn set_word(&mut self, at: At, value: usize) {
        // SAFETY: as in `word`; `&mut self` is the lock's exclusive access.
        unsafe { self.base.add(at.0).cast::<usize>().write(value) }
    }

    /// The byte before `at`: the last byte of the block that ends there.
    #[inline(always)]
    pub(super) fn byte_before(&self, at: At) -> u8 {
        // SAFETY: `at - 1 < end + WORD` lies in the region (`at >= 1` or
        // the saturation reads byte 0).
        unsafe { self.base.add(at.0.saturating_sub(1)).read() }
    }

    /// Writes the byte before `at`.
    #[inline(always)]
    pub(super) fn set_byte_before(&mut self, at: At, value: u8) {
        // SAFETY: as in `byte_before`.
        unsafe { self.base.add(at.0.saturating_sub(1)).write(value) }
    }

    /// The `(next, prev)` links of the free block `block`.
    #[inline(always)]
    pub(super) fn links(&self, block: Block) -> (Link, Link) {
        // SAFETY: `block + MIN_BLOCK <= end` (`Block`'s invariant), so both
        // `u32` links after the header lie in the region, 4-aligned.
        unsafe {
            let at = self.base.add(block.0 + WORD).cast::<u32>();
            (Link(at.read()), Link(at.add(1).read()))
        }
    }

    /// Writes the next link of the free block `block`.
    #[inline(always)]
    pub(super) fn set_next(&mut self, block: Block, next: Link) {
        // SAFETY: as in `links`.
        unsafe { self.base.add(block.0 + WORD).cast::<u32>().write(next.0) }
    }

    /// Writes the previous link of the free block `block`.
    #[inline(always)]
    pub(super) fn set_prev(&mut self, block: Block, prev: Link) {
        // SAFETY: as in `links`.
        unsafe {
            self.base
                .add(block.0 + WORD)
                .cast::<u32>()
                .add(1)
                .write(prev.0)
        }
    }

    /// The address of the byte after the word at `at`: a payload.
    #[inline(always)]
    pub(super) fn payload_after(&self, at: At) -> NonNull<u8> {
        // SAFETY: `at + WORD <= end + WORD`: inside or one past the region,
        // which does not wrap.
        unsafe { self.base.add(at.0 + WORD) }
    }
}
