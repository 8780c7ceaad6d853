//! Tlsf's region and its typed offsets: the only place the algorithm's
//! reads and writes of the region are `unsafe`.
//!
//! * An [`At`] is a word-aligned offset at most `end`: the word there lies
//!   in the region. (Headers are granule-aligned; boundary tags, on 32-bit
//!   targets, only word-aligned.)
//! * A [`Block`] is a granule-aligned offset with `off + MIN_BLOCK <= end`:
//!   a header with room for the two links after it.
//! * A [`Span`] is a whole block: `off..off + size` inside `0..end`, `off`
//!   word-aligned (granule-aligned in a consistent heap), `size` a granule
//!   multiple of at least `MIN_BLOCK`.
//!
//! [`Region::word`], [`Region::set_word`], [`Region::links`] and the other
//! accessors are safe: their argument's type is the bounds proof. The
//! constructors are what must be argued, and they come in three kinds:
//!
//! 1. checked ones ([`Region::at`], [`Region::header_before`], [`Region::span`],
//!    [`Region::block`], [`At::back`], [`Span::inner`]): the compares the algorithm makes
//!    anyway (on `free`'s pointer, in `check`), so they cost nothing once
//!    inlined;
//! 2. the region's initial block, from [`Region::init`];
//! 3. steps along the block structure, `unsafe` with a `# Safety` contract
//!    and a `debug_assert!` of their bounds ([`Region::listed`],
//!    [`Region::linked`], [`Region::free_after`], [`Region::free_before`],
//!    [`Span::join`], [`Span::split`], [`Span::cut`]): each trusts the *structure
//!    invariant* the engine keeps: the blocks tile `0..end` and end at the
//!    end marker; a free block's header and last word (its tag) hold its
//!    size; a header's `PREV_FREE` flag says whether the block before it is
//!    free; list heads and the links of listed blocks are NIL or links to
//!    listed free blocks. A caller that breaks the `RawAllocator` contract
//!    (writing outside its blocks, freeing a pointer `allocate` did not
//!    return) can break the invariant; `free` refuses what it can detect in
//!    O(1), and debug builds check a block's neighbours before trusting them.
//!
//! Offsets are relative to the one `Region` of a heap; the engine never holds
//! two, and `end` only changes in `init`, before any offset exists.

use core::ptr::NonNull;

#[cfg(target_pointer_width = "64")]
use super::SIZE_MASK;
use super::classes::{LISTS, class_of};
use super::{FLAGS, GRANULE_LOG2, Link, MIN_BLOCK, NIL, SPLIT_MIN, WORD};

/// The low bits of a word-aligned offset.
const WORD_BITS: usize = WORD - 1;

/// A word-aligned offset at most `end`: the word there is in the region.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct At(usize);

/// A granule-aligned offset with `off + MIN_BLOCK <= end`: a block header
/// whose links lie in the region.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Block(usize);

/// A whole block: `off..off + size` inside `0..end`, `off` word-aligned,
/// `size` a granule multiple of at least `MIN_BLOCK`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Span {
    off: usize,
    size: usize,
}

impl At {
    /// The offset in bytes from the first header.
    #[inline(always)]
    pub(super) fn get(self) -> usize {
        self.0
    }

    /// The word `by` bytes before this one, if `by` is a multiple of the
    /// word not above the offset.
    #[inline(always)]
    pub(super) fn back(self, by: usize) -> Option<At> {
        if by & WORD_BITS != 0 {
            return None;
        }
        self.0.checked_sub(by).map(At)
    }
}

impl Block {
    /// The header word.
    #[inline(always)]
    pub(super) fn header(self) -> At {
        At(self.0)
    }

    /// A link to this block: `off + WORD`, not zero (NIL), and at most
    /// `end - MIN_BLOCK + WORD < MAX_END <= Link::MAX`.
    #[inline(always)]
    pub(super) fn link(self) -> Link {
        (self.0 + WORD) as Link
    }
}

impl Span {
    /// The header's offset.
    #[inline(always)]
    pub(super) fn off(self) -> usize {
        self.off
    }

    /// The size in bytes.
    #[inline(always)]
    pub(super) fn size(self) -> usize {
        self.size
    }

    /// The header word.
    #[inline(always)]
    pub(super) fn header(self) -> At {
        At(self.off)
    }

    /// The free list a block of this size belongs to.
    #[inline(always)]
    pub(super) fn list(self) -> usize {
        let list = class_of(self.size);
        debug_assert!(list < LISTS);
        // SAFETY: `size <= end <= MAX_END`, and every size up to `MAX_END`
        // has a list below `LISTS` (`FL_COUNT`'s definition; the unit
        // test `lists_partition_sizes` checks `MAX_END`'s). Telling the
        // compiler spares the clamp and the bounds checks of the list's
        // head and bitmap.
        unsafe { core::hint::assert_unchecked(list < LISTS) };
        list
    }

    /// The block, for its links.
    #[inline(always)]
    pub(super) fn block(self) -> Block {
        Block(self.off)
    }

    /// The last word: a free block's boundary tag.
    #[inline(always)]
    pub(super) fn tag(self) -> At {
        At(self.off + self.size - WORD)
    }

    /// The word after the block: the next header or the end marker.
    #[inline(always)]
    pub(super) fn after(self) -> At {
        At(self.off + self.size)
    }

    /// The word `by` bytes into the block, if `by` is a granule multiple
    /// below `MIN_BLOCK` (an alignment marker's place).
    #[inline(always)]
    pub(super) fn inner(self, by: usize) -> Option<At> {
        (by < MIN_BLOCK && by & FLAGS == 0).then_some(At(self.off + by))
    }

    /// The first `first` bytes and the rest, when the rest is worth a free
    /// block of its own (at least [`SPLIT_MIN`]); `None` when it is
    /// smaller.
    ///
    /// # Safety
    ///
    /// `first <= size` is a granule multiple of at least `MIN_BLOCK`: the
    /// list the block came from was chosen so its blocks hold `first`.
    #[inline(always)]
    pub(super) unsafe fn split(self, first: usize) -> Option<(Span, Span)> {
        debug_assert!(first <= self.size && first & FLAGS == 0 && first >= MIN_BLOCK);
        let rest = self.size - first;
        (rest >= SPLIT_MIN).then_some((
            Span {
                off: self.off,
                size: first,
            },
            Span {
                off: self.off + first,
                size: rest,
            },
        ))
    }

    /// The first `first` bytes and the rest, both blocks.
    ///
    /// # Safety
    ///
    /// `MIN_BLOCK <= first <= size - MIN_BLOCK` is a granule multiple.
    #[inline(always)]
    pub(super) unsafe fn cut(self, first: usize) -> (Span, Span) {
        debug_assert!(first >= MIN_BLOCK && first & FLAGS == 0 && first <= self.size - MIN_BLOCK);
        (
            Span {
                off: self.off,
                size: first,
            },
            Span {
                off: self.off + first,
                size: self.size - first,
            },
        )
    }

    /// This block and the one right after it as one.
    ///
    /// # Safety
    ///
    /// `next` starts where this block ends (`next` came from
    /// [`Region::free_after`] of this span, or this span from
    /// [`Region::free_before`] of `next`).
    #[inline(always)]
    pub(super) unsafe fn join(self, next: Span) -> Span {
        debug_assert_eq!(self.off + self.size, next.off);
        Span {
            off: self.off,
            size: self.size + next.size,
        }
    }
}

/// The blocks' memory: `end + WORD` bytes from the first header at `base`
/// (the last word is the end marker).
pub(super) struct Region {
    /// The first block header; null until `init`.
    base: *mut u8,
    /// Offset of the end marker (a used, zero-sized header) = capacity; 0
    /// until `init` (or for a region too small for a block): no offset
    /// type is made then (`at` checks, and every entry point tests `end`
    /// first).
    end: usize,
    /// `end / GRANULE`, for [`header_before`](Self::header_before)'s one
    /// compare (0 until `init`).
    granules: usize,
    /// The address of the first payload (`base + WORD`), so that a
    /// payload pointer's header offset is one subtraction.
    first_payload: usize,
}

impl Region {
    /// No region yet.
    pub(super) const fn empty() -> Self {
        Self {
            base: core::ptr::null_mut(),
            end: 0,
            granules: 0,
            first_payload: 0,
        }
    }

    /// Takes over `end + WORD` bytes at `base`; returns the whole of
    /// `0..end` as one span (nothing written yet), or `None` when `end` has
    /// no room for a block (then no offset type is ever made).
    ///
    /// # Safety
    ///
    /// Unless `end < MIN_BLOCK`: `base..base + end + WORD` is valid for reads and writes while this
    /// region is used, accessed only through it and the payloads it hands
    /// out, and does not wrap; `base + WORD` is granule-aligned; `end` is a
    /// granule multiple not above `MAX_END`.
    pub(super) unsafe fn init(&mut self, base: NonNull<u8>, end: usize) -> Option<Span> {
        self.base = base.as_ptr();
        self.end = end;
        self.granules = end >> GRANULE_LOG2;
        self.first_payload = base.as_ptr().addr().wrapping_add(WORD);
        (end >= MIN_BLOCK).then_some(Span { off: 0, size: end })
    }

    /// The first header's address (null before `init`).
    #[inline(always)]
    pub(super) fn base(&self) -> *mut u8 {
        self.base
    }

    /// The end marker's offset: the capacity (0 before `init`).
    #[inline(always)]
    pub(super) fn end(&self) -> usize {
        self.end
    }

    // --- checked constructors ---

    /// The word at `off`, if `off` is word-aligned and at most `end` in a
    /// built region.
    #[inline(always)]
    pub(super) fn at(&self, off: usize) -> Option<At> {
        (off & WORD_BITS == 0 && off <= self.end && self.end != 0).then_some(At(off))
    }

    /// The word before the payload `ptr` (any pointer), if it is
    /// granule-aligned (so word-aligned too) and below `end`: where `free`
    /// looks for a header or an alignment marker, found with one
    /// subtraction and one compare. Rotating the offset right by the
    /// granule's bits moves any low bits of a misaligned one to the top,
    /// past `granules`; an aligned one compares as `off / GRANULE < end /
    /// GRANULE` (`end` is a granule multiple). Before `init`, `granules` is
    /// 0 and nothing passes.
    #[inline(always)]
    pub(super) fn header_before(&self, ptr: NonNull<u8>) -> Option<At> {
        let off = ptr.as_ptr().addr().wrapping_sub(self.first_payload);
        (off.rotate_right(GRANULE_LOG2) < self.granules).then_some(At(off))
    }

    /// The block of `size` bytes whose header is `at`, if it fits in the
    /// region and `size` is a block size.
    #[inline(always)]
    pub(super) fn span(&self, at: At, size: usize) -> Option<Span> {
        (size & FLAGS == 0 && size >= MIN_BLOCK && size <= self.end - at.0)
            .then_some(Span { off: at.0, size })
    }

    /// [`span`](Self::span) for a size read from a used header: on 64-bit
    /// targets, where header sizes are below 4 GiB ([`SIZE_MASK`]), the
    /// bound is `at + size <= end` (no overflow then), whose sum is also
    /// the next header's offset, which `free` reads next. (With `size`
    /// masked by `SIZE_MASK`, the first two tests compile to nothing.)
    #[inline(always)]
    pub(super) fn used_span(&self, at: At, size: usize) -> Option<Span> {
        #[cfg(target_pointer_width = "64")]
        {
            (size & !SIZE_MASK == 0 && size >= MIN_BLOCK && at.0 + size <= self.end)
                .then_some(Span { off: at.0, size })
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            self.span(at, size)
        }
    }

    /// The header at `off`, if it is granule-aligned with a minimum block's
    /// room before `end`.
    #[inline(always)]
    pub(super) fn block(&self, off: usize) -> Option<Block> {
        (off & FLAGS == 0 && self.end >= MIN_BLOCK && off <= self.end - MIN_BLOCK)
            .then_some(Block(off))
    }

    /// The block `link` refers to, if it is not NIL and names a header
    /// with a minimum block's room before `end` ([`block`](Self::block)).
    #[inline(always)]
    pub(super) fn link_block(&self, link: Link) -> Option<Block> {
        (link as usize)
            .checked_sub(WORD)
            .and_then(|off| self.block(off))
    }

    // --- steps along the block structure (see the module documentation) ---

    /// The listed free block `link` refers to, with its size from its
    /// header.
    ///
    /// # Safety
    ///
    /// `link` is a list head or a listed block's link, not NIL.
    #[inline(always)]
    pub(super) unsafe fn listed(&self, link: Link) -> Span {
        // SAFETY: the caller's contract.
        let block = unsafe { self.linked(link) };
        // A free block's header is its size, no flags.
        let size = self.word(At(block.0));
        debug_assert!(size & FLAGS == 0 && size >= MIN_BLOCK && size <= self.end - block.0);
        Span { off: block.0, size }
    }

    /// The listed free block `link` refers to, for its links.
    ///
    /// # Safety
    ///
    /// As for [`listed`](Self::listed).
    #[inline(always)]
    pub(super) unsafe fn linked(&self, link: Link) -> Block {
        debug_assert!(link != NIL);
        let off = (link as usize).wrapping_sub(WORD);
        debug_assert!(off & FLAGS == 0 && off + MIN_BLOCK <= self.end);
        Block(off)
    }

    /// The free block after `span`, whose header word `header` (read at
    /// `span.after()`) has no `USED` flag.
    ///
    /// # Safety
    ///
    /// `span` is a block of the structure: a header without `USED` after
    /// it is a free block's (the end marker is used), holding its size.
    #[inline(always)]
    pub(super) unsafe fn free_after(&self, span: Span, header: usize) -> Span {
        let off = span.off + span.size;
        debug_assert!(header & FLAGS == 0 && header >= MIN_BLOCK && header <= self.end - off);
        Span { off, size: header }
    }

    /// The free block before `span`, found through its boundary tag.
    ///
    /// # Safety
    ///
    /// `span` is a block of the structure whose header has `PREV_FREE`: it
    /// is not the first, and the word before it is its free predecessor's
    /// tag.
    #[inline(always)]
    pub(super) unsafe fn free_before(&self, span: Span) -> Span {
        debug_assert!(span.off >= MIN_BLOCK);
        let size = self.word(At(span.off - WORD));
        debug_assert!(size & FLAGS == 0 && size >= MIN_BLOCK && size <= span.off);
        Span {
            off: span.off - size,
            size,
        }
    }

    // --- access ---

    /// The word at `at`.
    #[inline(always)]
    pub(super) fn word(&self, at: At) -> usize {
        // SAFETY: an `At` exists only for a built region and is at most
        // `end`, so the word lies in the `end + WORD` bytes `init` was given;
        // `base + WORD` is granule-aligned and `at` a multiple of the word,
        // so `base + at` is word-aligned.
        unsafe { self.base.add(at.0).cast::<usize>().read() }
    }

    /// Writes the word at `at`.
    #[inline(always)]
    pub(super) fn set_word(&mut self, at: At, value: usize) {
        // SAFETY: as in `word`; `&mut self` is the lock's exclusive access.
        unsafe { self.base.add(at.0).cast::<usize>().write(value) }
    }

    /// The `(next, prev)` links of the free block `block`.
    #[inline(always)]
    pub(super) fn links(&self, block: Block) -> (Link, Link) {
        // SAFETY: `block + MIN_BLOCK <= end`, so both `u32` links after its
        // header lie in the region, 4-aligned.
        unsafe {
            let at = self.base.add(block.0 + WORD).cast::<Link>();
            (at.read(), at.add(1).read())
        }
    }

    /// Writes both links of the free block `block`: one 8-byte store
    /// (the two `u32`s are adjacent and 8-aligned: `base + WORD` is
    /// granule-aligned and so is `block`), where two stores of 4 bytes
    /// each took an instruction more on every insert.
    #[inline(always)]
    pub(super) fn set_links(&mut self, block: Block, next: Link, prev: Link) {
        let (first, second) = if cfg!(target_endian = "little") {
            (next, prev)
        } else {
            (prev, next)
        };
        let both = u64::from(first) | u64::from(second) << 32;
        // SAFETY: as in `links`, and `base + block + WORD` is 8-aligned
        // (above); `&mut self` is the lock's exclusive access.
        unsafe { self.base.add(block.0 + WORD).cast::<u64>().write(both) }
    }

    /// Writes the next link of the free block `block`.
    #[inline(always)]
    pub(super) fn set_next(&mut self, block: Block, next: Link) {
        // SAFETY: as in `links`.
        unsafe { self.base.add(block.0 + WORD).cast::<Link>().write(next) }
    }

    /// Writes the previous link of the free block `block`.
    #[inline(always)]
    pub(super) fn set_prev(&mut self, block: Block, prev: Link) {
        // SAFETY: as in `links`.
        unsafe {
            self.base
                .add(block.0 + WORD)
                .cast::<Link>()
                .add(1)
                .write(prev)
        }
    }

    /// The last byte of `span`: a used block's slack count.
    #[cfg(not(target_pointer_width = "64"))]
    #[inline(always)]
    pub(super) fn last_byte(&self, span: Span) -> u8 {
        // SAFETY: `off + size - 1 < end`, inside the region.
        unsafe { self.base.add(span.off + span.size - 1).read() }
    }

    /// Writes the last byte of `span`.
    #[cfg(not(target_pointer_width = "64"))]
    #[inline(always)]
    pub(super) fn set_last_byte(&mut self, span: Span, value: u8) {
        // SAFETY: as in `last_byte`; `&mut self` is the lock's exclusive
        // access.
        unsafe { self.base.add(span.off + span.size - 1).write(value) }
    }

    /// The payload after the word at `at` (a header or an alignment marker).
    #[inline(always)]
    pub(super) fn payload_after(&self, at: At) -> NonNull<u8> {
        // SAFETY: `at + WORD <= end + WORD`: inside the region or one past
        // it, which does not wrap, so the address is not null.
        unsafe { NonNull::new_unchecked(self.base.add(at.0 + WORD)) }
    }
}
