//! The block format and the algorithm of [`FreeList`](super::FreeList),
//! run with its lock held.

use core::alloc::Layout;
use core::ptr::NonNull;

use super::Fit;
use crate::allocator::check_request;
use crate::heap::locked::{Carved, Released};
use crate::stats::Counters;
use crate::{AllocError, InvariantViolation, RawMemory};

const WORD: usize = size_of::<usize>();
/// Block sizes and user pointers are multiples of two words.
const GRANULE: usize = 2 * WORD;
/// Header, two links and footer of a free block.
pub(super) const MIN_BLOCK: usize = 4 * WORD;

/// Header flag: the block is allocated.
const ALLOCATED: usize = 1;
/// Header flag: the physically previous block is allocated (so the word
/// before this header is not a footer).
const PREV_ALLOCATED: usize = 2;
/// Header flag: the block's last byte records its slack.
const HAS_SLACK: usize = 4;
const FLAGS: usize = ALLOCATED | PREV_ALLOCATED | HAS_SLACK;

/// End of a free list.
const NIL: usize = usize::MAX;

/// Block sizes of fewer granules than this each have a class of their own
/// (from the minimum block, two granules, up).
const EXACT_GRANULES: usize = 8;
/// Classes of the exact sizes: two to seven granules.
const EXACT_CLASSES: usize = EXACT_GRANULES - MIN_BLOCK / GRANULE;
/// Classes per power of two above the exact ones (as a shift).
const SUB_BITS: u32 = 2;
/// The most classes a region gets: one bit each in the bitmap word.
pub(super) const MAX_CLASSES: usize = usize::BITS as usize;
/// A region gets at most one class (one head word) per this many words of
/// it, so the head table takes at most 1/128 of the region.
const TABLE_SHARE: usize = 128;
/// How many blocks of its own class first fit tries before it takes a block
/// of a larger class, which bounds its search when one exists.
const FIRST_FIT_PROBES: usize = 8;

/// Where the head table and the blocks lie, as byte offsets from the
/// region start.
#[derive(Clone, Copy)]
pub(super) struct Geometry {
    /// The first block's header; user pointers (`header + WORD`) are
    /// granule-aligned. The class heads are the `top + 1` words right below
    /// it: class `c`'s at `first - (c + 1) * WORD`.
    first: usize,
    /// The sentinel header; `end - first` is the capacity. Both are zero
    /// when the region cannot hold a block.
    end: usize,
    /// The last size class; it also takes every block larger than its lower
    /// bound.
    top: usize,
}

impl Geometry {
    pub(super) fn new(memory: &RawMemory) -> Self {
        let base = memory.as_ptr().addr();
        // The highest header position whose word fits in the region.
        let end = memory.len().checked_sub(WORD).and_then(|last_word| {
            let misalignment = base.wrapping_add(last_word).wrapping_sub(WORD) & (GRANULE - 1);
            last_word.checked_sub(misalignment)
        });
        let Some(end) = end else {
            return Self::EMPTY;
        };
        // `end` bounds every block size, so the classes depend on it alone
        // (and not on the table they size).
        let classes = classes_for(end);
        // The heads lie below the first header, which sits one word below
        // a granule boundary (so the heads are word-aligned too).
        let table = classes * WORD;
        let first = table + (base.wrapping_add(table + WORD).wrapping_neg() & (GRANULE - 1));
        if end < first || end - first < MIN_BLOCK {
            return Self::EMPTY;
        }
        Self {
            first,
            end,
            top: classes - 1,
        }
    }

    /// A region that holds no block: no table either.
    const EMPTY: Self = Self {
        first: 0,
        end: 0,
        top: 0,
    };

    pub(super) fn capacity(&self) -> usize {
        self.end - self.first
    }

    pub(super) fn max_align(&self) -> usize {
        match self.capacity().checked_ilog2() {
            Some(log2) => (1usize << log2).max(GRANULE),
            None => GRANULE,
        }
    }

    /// The first block's header offset.
    #[cfg(test)]
    pub(super) fn first(&self) -> usize {
        self.first
    }

    /// How many size classes the region has (0 when it holds no block).
    #[cfg(test)]
    pub(super) fn classes(&self) -> usize {
        if self.end == 0 { 0 } else { self.top + 1 }
    }
}

/// The number of size classes of a region whose blocks end before `end`:
/// enough to give the largest block a class of its own, within the table
/// budget (at least one) and the bitmap word.
fn classes_for(end: usize) -> usize {
    let needed = natural_class(end) + 1;
    let budget = (end / WORD / TABLE_SHARE).max(1);
    needed.min(budget).min(MAX_CLASSES)
}

/// The bookkeeping behind the lock: five words, as many as the plain free
/// list had before its size classes, because the class heads live in the
/// region.
pub(crate) struct State {
    /// The region's first byte; offsets count from here.
    base: *mut u8,
    geometry: Geometry,
    /// Bit `c` is set when class `c` is not empty.
    nonempty: usize,
}

// Every target, including those the tests do not run on: the state beside
// the lock stays at the plain list's five words (see `tests.rs` for the
// whole allocator's size).
const _: () = assert!(size_of::<State>() <= 5 * WORD);

// SAFETY: `base` points into the region the `FreeList` owns, which may be
// used from any thread; the lock serialises every access through it.
unsafe impl Send for State {}

impl State {
    /// A state to be built by [`init`](Self::init) on first use (computing
    /// the geometry needs address arithmetic that is not `const`). Its empty
    /// geometry refuses every request and pointer meanwhile.
    pub(super) const fn new() -> Self {
        Self {
            base: core::ptr::null_mut(),
            geometry: Geometry::EMPTY,
            nonempty: 0,
        }
    }

    /// Empties the class lists, then makes the whole heap one free block
    /// followed by the sentinel.
    pub(super) fn init(&mut self, base: *mut u8, geometry: Geometry) {
        self.base = base;
        self.geometry = geometry;
        self.nonempty = 0;
        let capacity = geometry.capacity();
        if capacity > 0 {
            for class in 0..=geometry.top {
                self.set_head(class, NIL);
            }
            self.set_word(geometry.end, ALLOCATED);
            self.set_word(geometry.first, capacity | PREV_ALLOCATED);
            self.set_word(geometry.end - WORD, capacity);
            self.push(geometry.first, capacity);
        }
    }

    fn word(&self, offset: usize) -> usize {
        assert!(offset >= self.geometry.first && offset < self.geometry.end + WORD);
        // SAFETY: `offset` is inside `first..=end` of the region, where all
        // headers, links and footers lie; those offsets are word-aligned
        // (headers sit one word below a granule boundary, block sizes are
        // granules) and the lock gives exclusive access to them.
        unsafe { self.base.add(offset).cast::<usize>().read() }
    }

    fn set_word(&mut self, offset: usize, value: usize) {
        assert!(offset >= self.geometry.first && offset < self.geometry.end + WORD);
        // SAFETY: as in `word`; `&mut self` proves exclusive access.
        unsafe { self.base.add(offset).cast::<usize>().write(value) }
    }

    /// The offset of class `class`'s head word, below the first header.
    fn head_offset(&self, class: usize) -> usize {
        let Geometry { first, end, top } = self.geometry;
        // An empty geometry has no table; `Geometry::new` put `top + 1`
        // words below `first` otherwise.
        assert!(end != 0 && class <= top);
        first - (class + 1) * WORD
    }

    /// The header offset of the newest free block of `class`, or `NIL`.
    fn head(&self, class: usize) -> usize {
        let offset = self.head_offset(class);
        // SAFETY: the head table lies inside the region below the first
        // header, word-aligned (see `Geometry::new`), and belongs to the
        // allocator alone; the lock gives exclusive access.
        unsafe { self.base.add(offset).cast::<usize>().read() }
    }

    fn set_head(&mut self, class: usize, block: usize) {
        let offset = self.head_offset(class);
        // SAFETY: as in `head`; `&mut self` proves exclusive access.
        unsafe { self.base.add(offset).cast::<usize>().write(block) }
    }

    /// The size class of a block of `size` bytes in this region.
    fn class_of(&self, size: usize) -> usize {
        natural_class(size).min(self.geometry.top)
    }

    /// Writes the header and footer of a free block.
    fn set_free(&mut self, block: usize, size: usize) {
        self.set_word(block, size | PREV_ALLOCATED);
        self.set_word(block + size - WORD, size);
    }

    fn next_free(&self, block: usize) -> usize {
        self.word(block + WORD)
    }

    fn prev_free(&self, block: usize) -> usize {
        self.word(block + 2 * WORD)
    }

    /// Files the free block at `block` of `size` bytes under its class.
    fn push(&mut self, block: usize, size: usize) {
        let class = self.class_of(size);
        let head = self.head(class);
        self.set_word(block + WORD, head);
        self.set_word(block + 2 * WORD, NIL);
        if head != NIL {
            self.set_word(head + 2 * WORD, block);
        }
        self.set_head(class, block);
        self.nonempty |= 1 << class;
    }

    /// Takes the free block at `block`, filed with `size` bytes, off its
    /// class list.
    fn unlink(&mut self, block: usize, size: usize) {
        let (next, prev) = (self.next_free(block), self.prev_free(block));
        if prev == NIL {
            let class = self.class_of(size);
            self.set_head(class, next);
            if next == NIL {
                self.nonempty &= !(1 << class);
            }
        } else {
            self.set_word(prev + WORD, next);
        }
        if next != NIL {
            self.set_word(next + 2 * WORD, prev);
        }
    }

    /// Re-files a free block that changed from `old` to `new` bytes, when
    /// that moves it to another class.
    fn refile(&mut self, block: usize, old: usize, new: usize) {
        if self.class_of(old) != self.class_of(new) {
            self.unlink(block, old);
            self.push(block, new);
        }
    }

    /// or `None` when it does not fit. A gap is zero or a whole free block.
    fn placement(&self, block: usize, size: usize, need: usize, align: usize) -> Option<usize> {
        let user = self.base.addr().wrapping_add(block + WORD);
        let mut gap = user.wrapping_neg() & (align - 1);
        if gap != 0 && gap < MIN_BLOCK {
            // `align > GRANULE` here, so `align >= MIN_BLOCK`.
            gap += align;
        }
        (gap.checked_add(need)? <= size).then_some(gap)
    }

    /// Every larger class holds only larger blocks, so the largest block is
    /// in the highest non-empty class.
    pub(super) fn largest_free(&self) -> usize {
        if self.nonempty == 0 {
            return 0;
        }
        let top = MAX_CLASSES - 1 - self.nonempty.leading_zeros() as usize;
        let (mut largest, mut node) = (0, self.head(top));
        while node != NIL {
            largest = largest.max(self.word(node) & !FLAGS);
            node = self.next_free(node);
        }
        largest.saturating_sub(WORD)
    }

    /// Walks at most `limit` blocks of a class list from `node`, keeping in
    /// `chosen` (block, its size, gap before the new block) the best
    /// placement of `need` bytes aligned to `align` so far. Returns whether
    /// the search is over (a first fit, or an exact fit) and the block where
    /// the limit stopped the walk (`NIL` at the end of the list).
    fn walk(
        &self,
        mut node: usize,
        limit: usize,
        need: usize,
        align: usize,
        fit: Fit,
        chosen: &mut Option<(usize, usize, usize)>,
    ) -> (bool, usize) {
        let mut walked = 0;
        while node != NIL {
            if walked == limit {
                return (false, node);
            }
            walked += 1;
            let block_size = self.word(node) & !FLAGS;
            if let Some(gap) = self.placement(node, block_size, need, align) {
                let better = match *chosen {
                    None => true,
                    Some((_, best_size, best_gap)) => block_size - gap < best_size - best_gap,
                };
                if better {
                    *chosen = Some((node, block_size, gap));
                }
                if fit == Fit::First || block_size - gap - need < MIN_BLOCK {
                    return (true, NIL);
                }
            }
            node = self.next_free(node);
        }
        (false, NIL)
    }

    pub(super) fn allocate(&mut self, layout: Layout, fit: Fit) -> Result<Carved, AllocError> {
        check_request(layout, self.geometry.max_align())?;
        let size = layout.size();
        let max = self.geometry.capacity().saturating_sub(WORD);
        if size > max {
            return Err(AllocError::TooLarge { size, max });
        }
        // `size + WORD <= capacity`, so nothing here overflows.
        let need = (size + WORD).max(MIN_BLOCK).next_multiple_of(GRANULE);
        let align = layout.align().max(GRANULE);

        let mut chosen = None;
        let own = self.class_of(need);
        // Classes below the request's hold only smaller blocks.
        let mut classes = self.nonempty & (usize::MAX << own);
        // Where first fit left its own class unfinished.
        let mut own_rest = NIL;
        while classes != 0 {
            let class = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            // First fit gives up on its own class (whose blocks may all be
            // too small) after a few blocks when a larger class can serve.
            let limit = if fit == Fit::First && class == own && classes != 0 {
                FIRST_FIT_PROBES
            } else {
                usize::MAX
            };
            let (done, rest) = self.walk(self.head(class), limit, need, align, fit, &mut chosen);
            if class == own {
                own_rest = rest;
            }
            // Every block of a larger class is larger than any of this one.
            if done || chosen.is_some() {
                break;
            }
        }
        if chosen.is_none() && own_rest != NIL {
            // Only over-aligned requests get here: no larger block could
            // be placed, so the rest of the own class is the last chance.
            self.walk(own_rest, usize::MAX, need, align, fit, &mut chosen);
        }
        let Some((free_block, free_size, gap)) = chosen else {
            return Err(AllocError::OutOfMemory {
                size,
                largest_free: self.largest_free(),
            });
        };

        let (block, prev_flag) = if gap == 0 {
            let prev_flag = self.word(free_block) & PREV_ALLOCATED;
            self.unlink(free_block, free_size);
            (free_block, prev_flag)
        } else {
            // The leading gap stays a free block, possibly of another class.
            self.refile(free_block, free_size, gap);
            self.set_free(free_block, gap);
            (free_block + gap, 0)
        };
        let rest = free_size - gap - need;
        let block_size = if rest >= MIN_BLOCK {
            self.set_free(block + need, rest);
            self.push(block + need, rest);
            need
        } else {
            let after = block + free_size - gap;
            let after_header = self.word(after);
            self.set_word(after, after_header | PREV_ALLOCATED);
            free_size - gap
        };
        let slack = block_size - WORD - size;
        // At most a granule of rounding, a minimum block of padding for tiny
        // requests and a tail too small to split.
        let slack_byte = u8::try_from(slack).expect("free list slack fits a byte");
        let slack_flag = if slack > 0 { HAS_SLACK } else { 0 };
        self.set_word(block, block_size | ALLOCATED | prev_flag | slack_flag);
        if slack > 0 {
            // SAFETY: the block's last byte is inside the heap (the block ends
            // at or before the sentinel) and behind the caller's `size`
            // bytes, so it is the allocator's; the lock gives exclusive access.
            unsafe { self.base.add(block + block_size - 1).write(slack_byte) };
        }

        // SAFETY: the user pointer lies inside the non-null region.
        let payload = unsafe { NonNull::new_unchecked(self.base.add(block + WORD)) };
        Ok(Carved {
            payload,
            consumed: block_size,
        })
    }

    /// The header offset of the live block whose user pointer is `ptr`,
    /// after plausibility checks that read only words proven in the heap.
    fn live_block(&self, ptr: NonNull<u8>) -> Result<usize, AllocError> {
        let Geometry { first, end, .. } = self.geometry;
        let user = ptr.as_ptr().addr().wrapping_sub(self.base.addr());
        if user < first + WORD || user >= end || !(user - WORD - first).is_multiple_of(GRANULE) {
            return Err(AllocError::ForeignPointer);
        }
        let block = user - WORD;
        let header = self.word(block);
        let size = header & !FLAGS;
        if size < MIN_BLOCK || !size.is_multiple_of(GRANULE) || size > end - block {
            return Err(AllocError::ForeignPointer);
        }
        if header & ALLOCATED == 0 {
            return Err(AllocError::DoubleFree);
        }
        if self.word(block + size) & PREV_ALLOCATED == 0 {
            return Err(AllocError::ForeignPointer);
        }
        if header & PREV_ALLOCATED == 0 {
            if block == first {
                return Err(AllocError::ForeignPointer);
            }
            let prev_size = self.word(block - WORD);
            if prev_size < MIN_BLOCK
                || !prev_size.is_multiple_of(GRANULE)
                || prev_size > block - first
            {
                return Err(AllocError::ForeignPointer);
            }
            let prev_header = self.word(block - prev_size);
            if prev_header & !FLAGS != prev_size || prev_header & ALLOCATED != 0 {
                return Err(AllocError::ForeignPointer);
            }
        }
        Ok(block)
    }

    /// The requested size of the live block at `block`, from its slack byte.
    fn requested_size(&self, block: usize) -> usize {
        let header = self.word(block);
        let usable = (header & !FLAGS) - WORD;
        if header & HAS_SLACK == 0 {
            return usable;
        }
        // SAFETY: the block's last byte is inside the heap and is the
        // allocator's slack byte; the lock gives exclusive access.
        let slack = unsafe { self.base.add(block + usable + WORD - 1).read() };
        // A caller that wrote past its block may have clobbered the byte;
        // keep the counter plausible (`check` reports the mismatch).
        usable - usize::from(slack).clamp(1, usable - 1)
    }

    pub(super) fn free(&mut self, ptr: NonNull<u8>) -> Result<Released, AllocError> {
        let block = self.live_block(ptr)?;
        let header = self.word(block);
        let size = header & !FLAGS;
        let requested = self.requested_size(block);

        // A stale header left inside a merged block must read as free, so a
        // second free of this pointer is reported.
        self.set_word(block, header & !(ALLOCATED | HAS_SLACK));
        let (mut start, mut merged) = (block, size);
        let next = block + size;
        let next_header = self.word(next);
        if next_header & ALLOCATED == 0 {
            let next_size = next_header & !FLAGS;
            self.unlink(next, next_size);
            merged += next_size;
        }
        let prev_is_free = header & PREV_ALLOCATED == 0;
        if prev_is_free {
            // Already on a list: it grows, and may change class.
            let prev_size = self.word(block - WORD);
            start -= prev_size;
            merged += prev_size;
            self.refile(start, prev_size, merged);
        } else {
            self.push(start, merged);
        }
        self.set_free(start, merged);
        let after = start + merged;
        let after_header = self.word(after);
        self.set_word(after, after_header & !PREV_ALLOCATED);
        Ok(Released {
            requested,
            consumed: size,
        })
    }

    pub(super) fn check(
        &self,
        counters: &Counters,
        capacity: usize,
    ) -> Result<(), InvariantViolation> {
        let violation = |what, offset| Err(InvariantViolation { what, offset });
        let Geometry { first, end, .. } = self.geometry;
        if end == first {
            return if self.nonempty == 0 && counters.used() == 0 {
                Ok(())
            } else {
                violation("an empty heap has blocks", 0)
            };
        }

        // Physical walk: sizes tile the heap, flags agree with neighbours,
        // free blocks have footers and never touch.
        let mut recount = Counters::new();
        let mut free_blocks = 0;
        let mut prev_allocated = true;
        let mut block = first;
        while block < end {
            let header = self.word(block);
            let size = header & !FLAGS;
            if size < MIN_BLOCK || !size.is_multiple_of(GRANULE) || size > end - block {
                return violation("block size out of range", block);
            }
            if (header & PREV_ALLOCATED != 0) != prev_allocated {
                return violation(
                    "previous-allocated flag disagrees with the previous block",
                    block,
                );
            }
            if header & ALLOCATED == 0 {
                if !prev_allocated {
                    return violation("adjacent free blocks not coalesced", block);
                }
                if header & HAS_SLACK != 0 || self.word(block + size - WORD) != size {
                    return violation("free block footer disagrees with its header", block);
                }
                free_blocks += 1;
            } else {
                recount.allocated(self.requested_size(block), size);
            }
            prev_allocated = header & ALLOCATED != 0;
            block += size;
        }
        let sentinel = self.word(end);
        if sentinel & !PREV_ALLOCATED != ALLOCATED
            || (sentinel & PREV_ALLOCATED != 0) != prev_allocated
        {
            return violation("sentinel header damaged", end);
        }

        // The lists hold exactly the free blocks, with consistent back links.
        // Each class list holds free blocks of that class only, the bitmap
        // marks the non-empty ones (and no class past the last), and the
        // lists hold the `free_blocks` counted above in all (bounding the
        // walk even if a list has a cycle).
        if (self.nonempty >> self.geometry.top) >> 1 != 0 {
            return violation("class bitmap marks a class past the last", 0);
        }
        let mut listed = 0;
        for class in 0..=self.geometry.top {
            let head = self.head(class);
            if (head != NIL) != (self.nonempty & (1 << class) != 0) {
                return violation("class bitmap disagrees with the class lists", 0);
            }
            let (mut prev, mut node) = (NIL, head);
            while node != NIL {
                if listed == free_blocks {
                    return violation(
                        "free lists longer than the free blocks (cycle?)",
                        node.min(end),
                    );
                }
                if node < first || node >= end || !(node - first).is_multiple_of(GRANULE) {
                    return violation("free list link outside the heap", node.min(end));
                }
                let header = self.word(node);
                if header & ALLOCATED != 0 {
                    return violation("allocated block on the free list", node);
                }
                if self.class_of(header & !FLAGS) != class {
                    return violation("free block filed under the wrong size class", node);
                }
                if self.prev_free(node) != prev {
                    return violation("free list back link broken", node);
                }
                listed += 1;
                (prev, node) = (node, self.next_free(node));
            }
        }
        if listed != free_blocks {
            return violation("free lists miss some free blocks", 0);
        }

        counters
            .check_against(&recount, capacity)
            .or_else(|what| violation(what, 0))
    }
}

/// The size class of a block of `size` bytes (a multiple of the granule, at
/// least a minimum block) when classes are unlimited: one class per granule
/// count below [`EXACT_GRANULES`], then `1 << SUB_BITS` classes per power of
/// two. Classes are monotonic in the size, so a block of a larger class than
/// a request's is larger than the request; capping them at a region's last
/// class keeps that.
pub(super) fn natural_class(size: usize) -> usize {
    let granules = size / GRANULE;
    if granules < EXACT_GRANULES {
        return granules.saturating_sub(MIN_BLOCK / GRANULE);
    }
    // `granules >= 8`, so `log2 >= 3 > SUB_BITS`.
    let log2 = granules.ilog2();
    let sub = (granules >> (log2 - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    EXACT_CLASSES + (((log2 - 3) as usize) << SUB_BITS) + sub
}
