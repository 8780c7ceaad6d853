//! The only place Tlsf reads and writes its region.
//!
//! Offsets into the region are typed, and every `unsafe` access of the
//! algorithm is one of the small accessors below:
//!
//! * an [`At`] is a granule-aligned offset at most `end`: a word inside the
//!   region;
//! * a [`Block`] is a granule-aligned offset with `off + MIN_BLOCK <= end`:
//!   a header with room for the two links after it;
//! * a [`Span`] is a whole block, `block..block + size` inside `0..end`, of
//!   at least `MIN_BLOCK` bytes, a granule multiple;
//! * a [`Link`] is a stored reference to a free block.
//!
//! # Where the bounds come from
//!
//! Offsets that come from outside the block structure (the caller's pointer
//! in `free`, the walk of `check`) are checked by [`Region::at`],
//! [`Region::block`] and [`Region::span`]: a compare the algorithm makes
//! anyway, so the optimiser folds them.
//!
//! The hot paths instead follow the block structure, which is what makes a
//! TLSF O(1): the head of a list ([`Region::listed`]), the block after a
//! block ([`Region::take_next`]), the block before a block whose header says
//! its predecessor is free ([`Region::take_prev`]). These trust the
//! *structure invariant*: the blocks tile `0..end` and end at the end
//! marker; a free block's header and last word (its tag) hold its size; a
//! header's `PREV_FREE` flag says whether the block before it is free; the
//! links of listed blocks and the list heads hold `Link`s of listed free
//! blocks. Only this module writes the region, and only through operations
//! that take whole `Span`s ([`write_free`](Region::write_free),
//! [`write_used`](Region::write_used), [`split`](Span::split), the merges),
//! so the invariant is kept by the spans the engine passes, which never
//! leave the region by construction. Two things outside this crate can
//! break it, and both break the `RawAllocator` contract first: writing
//! outside a block `allocate` returned, and freeing a pointer it did not
//! return (why `free` is `unsafe`; `free` refuses the pointers it can tell
//! in O(1), and debug builds check a block's neighbours before trusting
//! them). Debug builds also assert the bounds of every trusted step.

use core::ptr::NonNull;

use super::{FLAGS, MIN_BLOCK, PREV_FREE, USED, WORD};

/// A granule-aligned offset at most `end`: the word there is in the region.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct At(usize);

/// A granule-aligned offset with `off + MIN_BLOCK <= end`: a block header
/// whose links (and the word after them) lie in the region.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Block(usize);

/// A whole block: `block..block + size` inside `0..end`, `block` and `size`
/// granule multiples, `size >= MIN_BLOCK`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Span {
    block: usize,
    size: usize,
}

/// A free-list link: a listed [`Block`]'s offset as a `u32`, or
/// [`Link::NIL`].
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

    /// A link to this block.
    #[inline(always)]
    pub(super) fn link(self) -> Link {
        // `off < end <= MAX_END < u32::MAX`.
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

impl Span {
    /// The header.
    #[inline(always)]
    pub(super) fn block(self) -> Block {
        Block(self.block)
    }

    /// The size in bytes.
    #[inline(always)]
    pub(super) fn size(self) -> usize {
        self.size
    }

    /// The header word.
    #[inline(always)]
    pub(super) fn head(self) -> At {
        At(self.block)
    }

    /// The word after the block: the next header or the end marker.
    #[inline(always)]
    pub(super) fn after(self) -> At {
        At(self.block + self.size)
    }

    /// The first `first` bytes and the rest, when both are blocks
    /// (`first` a granule multiple, both at least `MIN_BLOCK`); otherwise
    /// the span itself.
    #[inline(always)]
    pub(super) fn split(self, first: usize) -> Result<(Span, Span), Span> {
        // `rest <= size - MIN_BLOCK` also refuses a `first` above `size`
        // (the subtraction wraps) or below `MIN_BLOCK`.
        let rest = self.size.wrapping_sub(first);
        match rest {
            rest if rest >= MIN_BLOCK && rest <= self.size - MIN_BLOCK && first & FLAGS == 0 => Ok((
                Span {
                    block: self.block,
                    size: first,
                },
                Span {
                    block: self.block + first,
                    size: rest,
                },
            )),
            _ => Err(self),
        }
    }
}

/// The region behind the first block header: `end + WORD` bytes at `base`.
pub(super) struct Region {
    base: NonNull<u8>,
    end: usize,
}

impl Region {
    /// No region: `end` is 0, so no [`Block`] or [`Span`] exists, and the
    /// only [`At`] (offset 0) is never made, since every entry point tests
    /// `end` first.
    pub(super) const fn empty() -> Self {
        Self {
            base: NonNull::dangling(),
            end: 0,
        }
    }

    /// Takes over `end + WORD` bytes at `base` and writes the end marker
    /// (its predecessor free: the caller makes `0..end` one free block).
    ///
    /// # Safety
    ///
    /// `base..base + end + WORD` is valid for reads and writes for as long
    /// as this region is used, accessed only through it (and the blocks it
    /// hands out), and does not wrap; `base + WORD` is granule-aligned and
    /// `end` is a granule multiple with `MIN_BLOCK <= end <= MAX_END`.
    pub(super) unsafe fn init(&mut self, base: NonNull<u8>, end: usize) -> Span {
        self.base = base;
        self.end = end;
        self.set_word(At(end), USED | PREV_FREE);
        Span { block: 0, size: end }
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

    /// The end marker (only called on a built region).
    #[inline(always)]
    pub(super) fn end_marker(&self) -> Option<At> {
        self.at(self.end)
    }

    // --- checked offsets ---

    /// The word at `off`, if `off` is granule-aligned and at most `end`.
    #[inline(always)]
    pub(super) fn at(&self, off: usize) -> Option<At> {
        if off <= self.end && self.end != 0 && off & FLAGS == 0 {
            Some(At(off))
        } else {
            None
        }
    }

    /// The block header at `off`, if it is granule-aligned and a minimum
    /// block fits between it and `end`.
    #[inline(always)]
    pub(super) fn block(&self, off: usize) -> Option<Block> {
        if off & FLAGS == 0 && self.end >= MIN_BLOCK && off <= self.end - MIN_BLOCK {
            Some(Block(off))
        } else {
            None
        }
    }

    /// The block of `size` bytes at `off`, if it is one inside the region.
    #[inline(always)]
    pub(super) fn span(&self, off: usize, size: usize) -> Option<Span> {
        if off & FLAGS == 0
            && size & FLAGS == 0
            && size >= MIN_BLOCK
            && off <= self.end
            && size <= self.end - off
        {
            Some(Span { block: off, size })
        } else {
            None
        }
    }

    // --- steps along the block structure (see the module documentation) ---

    /// The listed free block `link` refers to, with its size from its
    /// header, or `None` for [`Link::NIL`].
    #[inline(always)]
    pub(super) fn listed(&self, link: Link) -> Option<Span> {
        if link == Link::NIL {
            return None;
        }
        let block = link.0 as usize;
        // A free block's header is its size, no flags.
        let size = self.word(At(block));
        debug_assert!(size & FLAGS == 0 && size >= MIN_BLOCK && size <= self.end - block);
        Some(Span { block, size })
    }

    /// The block behind `link` for relinking (its links only).
    #[inline(always)]
    pub(super) fn linked(&self, link: Link) -> Option<Block> {
        (link != Link::NIL).then_some(Block(link.0 as usize))
    }

    /// `span` merged with the free block after it, whose header word is
    /// `header` (read at `span.after()`, without `USED`); returns the merged
    /// span and the successor to unlink.
    #[inline(always)]
    pub(super) fn take_next(&self, span: Span, header: usize) -> (Span, Block) {
        let next = span.block + span.size;
        // A free block's header is its size, no flags.
        let size = header;
        debug_assert!(size & FLAGS == 0 && size >= MIN_BLOCK && size <= self.end - next);
        (
            Span {
                block: span.block,
                size: span.size + size,
            },
            Block(next),
        )
    }

    /// `span` (whose block's header has `PREV_FREE`) merged with the free
    /// block before it; returns the merged span, the predecessor to unlink
    /// and its size.
    #[inline(always)]
    pub(super) fn take_prev(&self, span: Span) -> (Span, Block, usize) {
        debug_assert!(span.block >= MIN_BLOCK);
        // The tag of a free block is its size.
        let size = self.word(At(span.block - WORD));
        debug_assert!(size & FLAGS == 0 && size >= MIN_BLOCK && size <= span.block);
        let prev = span.block - size;
        (
            Span {
                block: prev,
                size: span.size + size,
            },
            Block(prev),
            size,
        )
    }

    // --- writes, each of a whole block ---

    /// Makes `span` a free block: its header and tag hold its size.
    #[inline(always)]
    pub(super) fn write_free(&mut self, span: Span) {
        self.set_word(At(span.block), span.size);
        self.set_word(At(span.block + span.size - WORD), span.size);
    }

    /// Makes `span` a used block with `flags` (of `USED`, `PREV_FREE`,
    /// `SLACK`).
    #[inline(always)]
    pub(super) fn write_used(&mut self, span: Span, flags: usize) {
        self.set_word(At(span.block), span.size | (flags & FLAGS) | USED);
    }

    /// Leaves the old header of `span`, now inside a merged free block,
    /// marked free (no flags) so a second `free` of it is recognised.
    #[inline(always)]
    pub(super) fn mark_freed(&mut self, span: Span) {
        self.set_word(At(span.block), span.size);
    }

    /// Sets or clears `PREV_FREE` in the word after `span` (the next header
    /// or the end marker).
    #[inline(always)]
    pub(super) fn set_prev_free_after(&mut self, span: Span, free: bool) {
        let after = span.after();
        let word = self.word(after);
        let word = if free {
            word | PREV_FREE
        } else {
            word & !PREV_FREE
        };
        self.set_word(after, word);
    }

    /// Writes the alignment marker `gap` bytes into the used `span` (the
    /// word before its payload); `None` unless `0 < gap < size` is a granule
    /// multiple.
    #[inline(always)]
    pub(super) fn write_marker(&mut self, span: Span, gap: usize) -> Option<At> {
        if gap == 0 || gap & FLAGS != 0 || gap >= span.size {
            return None;
        }
        let at = At(span.block + gap);
        self.set_word(at, gap | PREV_FREE);
        Some(at)
    }

    /// The last byte of `span`.
    #[inline(always)]
    pub(super) fn last_byte(&self, span: Span) -> u8 {
        // SAFETY: `block + size - 1 < end`, inside the region.
        unsafe { self.base.add(span.block + span.size - 1).read() }
    }

    /// Writes the last byte of the used `span`.
    #[inline(always)]
    pub(super) fn set_last_byte(&mut self, span: Span, value: u8) {
        // SAFETY: as in `last_byte`; `&mut self` is the lock's exclusive access.
        unsafe { self.base.add(span.block + span.size - 1).write(value) }
    }

    // --- words and links ---

    /// The word at `at`.
    #[inline(always)]
    pub(super) fn word(&self, at: At) -> usize {
        // SAFETY: `at <= end` is granule-aligned, so the word lies in the
        // `end + WORD` bytes `init` was given (no `At` exists before: see
        // `empty`); `base + WORD` is granule-aligned, so `base + at` is
        // word-aligned.
        unsafe { self.base.add(at.0).cast::<usize>().read() }
    }

    #[inline(always)]
    fn set_word(&mut self, at: At, value: usize) {
        // SAFETY: as in `word`; `&mut self` is the lock's exclusive access.
        unsafe { self.base.add(at.0).cast::<usize>().write(value) }
    }

    /// The `(next, prev)` links of the free block `block`.
    #[inline(always)]
    pub(super) fn links(&self, block: Block) -> (Link, Link) {
        // SAFETY: `block + MIN_BLOCK <= end`, so both `u32` links after the
        // header lie in the region, 4-aligned.
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
        unsafe { self.base.add(block.0 + WORD).cast::<u32>().add(1).write(prev.0) }
    }

    /// The payload after the word at `at` (a header or a marker).
    #[inline(always)]
    pub(super) fn payload_after(&self, at: At) -> NonNull<u8> {
        // SAFETY: `at + WORD <= end + WORD`: inside or one past the region,
        // which does not wrap.
        unsafe { self.base.add(at.0 + WORD) }
    }
}
