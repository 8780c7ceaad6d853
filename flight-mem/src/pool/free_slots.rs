//! The lock-free, ABA-safe stack of free slot indices behind [`Pool`] and
//! [`BlockPool`].
//!
//! # Design
//!
//! A pool is an array of equal slots plus a *side table* of link words, one
//! [`AtomicU32`] per slot, that lives in the pool's own memory (so it counts
//! against the budget: 4 bytes per slot, and nothing in the slot itself).
//!
//! * `head` is one `AtomicU64` packing three fields, low to high: the index of
//!   the top free slot, the *depth* (how many slots are on the stack), and a
//!   *pop tag* that every pop increments and no push touches. The fields'
//!   widths are fixed per pool from its slot count (see [Head layout]).
//! * `fresh` tells which slots have been handed out at least once. They are
//!   handed out in the order of the `spread` module (spread over the side
//!   table so that slots in use close together share no cache line of link
//!   words), and `fresh` holds the code of the next one, so that slot `i` has
//!   been used exactly when `spread::code(i) < fresh`; `spread::count` turns
//!   it into the number of slots handed out. A slot never used has neither
//!   its link word nor its bytes initialised: a pool works on garbage memory
//!   with no init call.
//!   Allocation pops the stack and takes a fresh slot only when the stack is
//!   empty, so all `fresh` slots handed out so far have been live at once (see
//!   [Statistics]). Exhaustion is exact: after finding no fresh slot,
//!   allocation pops once more, confirming an empty stack with a
//!   read-modify-write of `head` (a plain load may return an out-of-date
//!   value). `fresh` never decreases, so at that instant every slot was live,
//!   and a pool never reports exhaustion while a completed free is in the
//!   stack.
//!
//! An allocation and a free together issue two locked instructions: the
//! pop's and the push's compare-and-swap of `head`. Every statistic is
//! derived from `head` and `fresh` (see [Statistics]).
//!
//! # Why a pop tag is enough against ABA
//!
//! A popper reads `head = (i, d, t)` and the link `next` of slot `i`, then
//! compare-and-swaps `head` from `(i, d, t)` to `(next, d - 1, t + 1)`. The
//! danger (ABA) is that `head` changed and came back to `(i, d, t)` meanwhile
//! with a different successor below `i`, so the CAS installs a stale `next`.
//!
//! * Every pop increments the tag, so a return to tag `t` needs zero pops in
//!   between, or a multiple of 2^(tag bits) pops (at least 2³²: see below)
//!   while one thread stalls between its load and its CAS.
//! * With no pops in between, only pushes happened, and a push never puts a
//!   slot on the stack that is already on it: that would be a second free of
//!   a free slot, which `free` refuses (the slot's link word is not live) and
//!   which [`RawAllocator::free`](crate::RawAllocator::free)'s contract
//!   excludes for races. So pushes only add slots above `i`: the depth only
//!   grows, and the top is a slot that was not on the stack before, never
//!   `i`. The head cannot come back to `(i, d, t)`.
//!
//! So a successful pop CAS means no operation at all completed in between,
//! and `next` is still `i`'s successor. A push needs no tag: its CAS succeeds
//! only if the top it linked below its slot is the current top, and pushing
//! onto the current stack is correct whatever its history (the `loom_pool`
//! models check both interleavings, the pop–pop–push ABA and a pop racing
//! pushes only).
//!
//! # Head layout
//!
//! For a pool of at most `n` slots the index field has `w = bits(n)` bits
//! (its all-ones value is the empty stack), so that `n < 2^w`. When
//! `w <= 16` the depth field has `w` bits too and the tag gets the remaining
//! `64 - 2w >= 32` bits. A pool of 65,536 slots or more does not fit that:
//! it has no depth field, the tag gets `64 - w` bits (47 for 100,000 slots,
//! 40 for 16 million), and a separate `pushes` counter (one more relaxed
//! read-modify-write per free) stands in for the depth. Either way the tag
//! has at least 32 bits. It wraps after 2^(tag bits) pops; the pop that
//! wraps it increments `tag_wraps`, so the total number of pops stays exact.
//!
//! # Why the tag's width is enough in practice
//!
//! ABA through a wrapped tag needs one popper to stall between its load of
//! `head` and its CAS while the other threads complete *exactly* a multiple
//! of 2^(tag bits) pops, and leave the same slot on top at the same depth.
//! One pop takes at least ~5 ns here (one locked instruction), so the stall
//! must last at least 2^32 · 5 ns ≈ 21 s for the narrowest tag (32 bits, pools
//! of 32,768 to 65,535 slots), ≥ 5.7 minutes below 16,384 slots (≥ 36 bits),
//! and ≥ 1.5 hours for pools of 65,536 to 2^24 slots (≥ 40 bits); and even then only a
//! stall ending within the one pop in 2^(tag bits) where the tag matches
//! again fails — any earlier or later resume sees a different tag and
//! retries. A thread stopped that long (a debugger, `SIGSTOP`) while every
//! other thread churns the same pool at full speed is outside what a game or
//! firmware does; a 128-bit CAS would close it at the cost of a slower CAS
//! on every target without `cmpxchg16b`.
//!
//! # Statistics
//!
//! * pops = `tag_wraps` · 2^(tag bits) + tag;
//! * allocations = `fresh` + pops (every handed-out slot was either fresh or
//!   popped);
//! * free slots on the stack = depth (or `pushes` − pops);
//! * live = `fresh` − depth; deallocations = pops + depth (= pushes);
//! * peak live = `fresh`: a fresh slot is taken only when the stack is empty,
//!   that is when all `fresh` handed-out slots are live, so taking one makes
//!   `fresh` the new maximum, and `live <= fresh` always.
//!
//! All of these are exact whenever no operation is in flight. While one is,
//! a snapshot may be off by the operations in flight (`head`, `fresh` and the
//! counters are read separately), and the peak may count a slot taken fresh
//! by an allocation that saw the stack empty just before a racing free
//! pushed a slot.
//!
//! # Why the links live outside the slots
//!
//! The textbook Treiber free list keeps the `next` link inside the free
//! block. That is a data race under the Rust memory model: a popper reads the
//! link of the top block while a faster thread may already have popped that
//! very block and be writing user data over it. The stale popper's CAS fails,
//! but the racy read has already happened, and a non-atomic read racing a
//! write is undefined behaviour whatever the read value is used for (heapless
//! had ABA and race soundness issues along these lines, #153 and #180). Here
//! the links are atomics in a side table that user data never touches, so
//! the stale read is an ordinary atomic read whose value is discarded when
//! the CAS fails.
//!
//! # Link words
//!
//! A link word tells what state its slot is in:
//!
//! | value | state |
//! |---|---|
//! | `0..capacity` | free; the next free slot below it on the stack |
//! | [`NIL`] | free; the bottom of the stack |
//! | `ALLOCATED - slack` | live; `slack` = block size − requested size |
//!
//! Keeping the slack in the live slot's link word is what lets `free` keep
//! the `requested` statistic exact with no header: it needs no size from the
//! caller. A typed value always fills its slot, so its word is `ALLOCATED`.
//! The ranges are disjoint because a pool never has more slots than
//! [`max_slots`] allows for its block size.
//!
//! `free` reads the word with a plain atomic load and refuses a slot that is
//! not live: that catches every double free of a slot that is still free. It
//! also refuses a slot that is already the top of the stack, which catches a
//! free racing another free of the same pointer whenever that one has
//! already pushed it. Racing frees of one pointer are outside
//! [`RawAllocator::free`](crate::RawAllocator::free)'s contract, and a
//! [`PoolBox`](crate::PoolBox) frees its slot exactly once, so safe code can
//! never free a slot twice; the checks are a second line of defence for
//! `unsafe` callers, not a lock (a compare-and-swap on the link word would
//! catch every race but costs a locked instruction on every free). A double
//! free after the slot was handed out again cannot be told from a
//! legitimate free either; `free` is `unsafe` for that reason.
//!
//! # Memory ordering
//!
//! * A push stores the link (`Release`) and publishes the slot with a
//!   `Release` CAS of `head`; a pop reads `head` with `Acquire`. Every write to
//!   `head` is a read-modify-write, so each later value continues the release
//!   sequence of every earlier push: a popper sees the link of the slot it
//!   pops, and the previous owner's writes to the slot happen before the new
//!   owner's.
//! * The popper's own load of the link can be `Relaxed`: it happens after the
//!   `Acquire` load of `head`, and if any other write to the link intervened,
//!   the slot was popped meanwhile and the tag makes the CAS fail.
//! * Link stores are `Release` so that [`FreeStack::check`], which reads
//!   links with `Acquire`, can trust a walk during which `head` did not move
//!   (see there): a link is written only by the owner of a slot, after the
//!   pop that handed it out moved `head`.
//!
//! [`Pool`]: crate::Pool
//! [`BlockPool`]: crate::BlockPool
//! [Head layout]: #head-layout
//! [Statistics]: #statistics

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::AllocError;
use crate::pool::spread;
use crate::sync::{AtomicU32, AtomicU64, Ordering, spin_hint};

/// Link value of the bottom free slot; as the head index: the stack is empty.
pub(crate) const NIL: u32 = u32::MAX;
/// Link value of a live slot whose request filled the whole block.
///
/// `u32::MAX - 1` is unused: it marked a slot being freed when `free` claimed
/// its slot with a compare-and-swap, and stays out of the live range so that
/// the slot limits do not change.
const ALLOCATED: u32 = u32::MAX - 2;

/// How many walks [`FreeStack::check`] tries before it gives up on getting a
/// snapshot that no concurrent operation disturbed.
const CHECK_ATTEMPTS: usize = 16;

/// Bytes of side table per slot.
pub(crate) const LINK_SIZE: usize = core::mem::size_of::<AtomicU32>();
/// Alignment of the side table.
pub(crate) const LINK_ALIGN: usize = core::mem::align_of::<AtomicU32>();
/// The largest block whose slack a link word can encode.
pub(crate) const MAX_BLOCK_SIZE: usize = ALLOCATED as usize;

/// The most slots a pool of `block_size`-byte blocks may have, so that every
/// slot index stays below the smallest live link value.
///
/// `block_size` must be in `1..=MAX_BLOCK_SIZE`. For one-byte blocks this is
/// `u32::MAX - 2`.
pub(crate) const fn max_slots(block_size: usize) -> u32 {
    // The smallest live value is `ALLOCATED - (block_size - 1)`.
    ALLOCATED - (block_size as u32 - 1)
}

/// The link value of a slot handed out for a request `slack` bytes smaller
/// than its block (`slack < block_size`).
#[inline]
pub(crate) const fn live_mark(slack: u32) -> u32 {
    ALLOCATED - slack
}

/// A view of a pool's side table: `len` link words.
#[derive(Clone, Copy)]
pub(crate) struct Links<'a> {
    first: NonNull<AtomicU32>,
    len: u32,
    _table: PhantomData<&'a [AtomicU32]>,
}

impl<'a> Links<'a> {
    /// Describes the table of `len` link words at `first`.
    ///
    /// # Safety
    ///
    /// `first` is aligned for `AtomicU32`, and `first..first + len` is valid
    /// for reads and writes for `'a` and accessed only through atomic
    /// operations meanwhile. (Words of slots never handed out may hold
    /// garbage: the stack writes a word before it ever reads it.)
    #[inline]
    pub(crate) unsafe fn new(first: NonNull<AtomicU32>, len: u32) -> Self {
        Self {
            first,
            len,
            _table: PhantomData,
        }
    }

    /// The number of link words, which is the number of slots.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Constructs every link word (loom's atomics are objects that must be
    /// created before use; real atomics are plain memory).
    ///
    /// # Safety
    ///
    /// Nothing else accesses the table during this call.
    #[cfg(loom)]
    pub(crate) unsafe fn init_for_loom(&self) {
        for index in 0..self.len as usize {
            // SAFETY: inside the table, exclusively ours (the caller's promise).
            unsafe { self.first.add(index).as_ptr().write(AtomicU32::new(0)) };
        }
    }

    /// The link word of slot `index`.
    ///
    /// # Safety
    ///
    /// `index < self.len()`.
    #[inline]
    unsafe fn get(&self, index: u32) -> &'a AtomicU32 {
        debug_assert!(index < self.len);
        // SAFETY: `index < len` (the caller's promise), so the word is inside
        // the table that `Links::new`'s caller vouched for, for `'a`.
        unsafe { self.first.add(index as usize).as_ref() }
    }
}

/// What [`FreeStack::check`] found wrong, and at which slot.
pub(crate) struct StackViolation {
    /// The invariant that failed.
    pub(crate) what: &'static str,
    /// The slot where it failed.
    pub(crate) slot: u32,
}

/// The fields of `head` (see the module docs, "Head layout"), with the
/// masks and increments the hot paths need worked out once.
#[derive(Clone, Copy)]
struct HeadLayout {
    /// Bits of the top index; its all-ones value is the empty stack.
    index_bits: u32,
    /// Bits of the depth; 0 when the depth is counted in `pushes` instead.
    depth_bits: u32,
    /// Where the pop tag starts.
    tag_shift: u32,
    index_mask: u64,
    /// One step of the tag: `head` values below it have tag 0.
    tag_unit: u64,
    /// What a push adds to `head` for the depth (0 without a depth field).
    depth_unit: u64,
    /// What a pop adds to `head`: one tag step, minus one depth step.
    pop_step: u64,
}

impl HeadLayout {
    /// The layout for a pool of at most `max_slots` slots.
    const fn for_slots(max_slots: u32) -> Self {
        let bits = u32::BITS - max_slots.leading_zeros();
        let bits = if bits == 0 { 1 } else { bits };
        // Without a depth field the index keeps its `bits` bits, so the tag
        // gets every bit left: 47 for a pool of 100,000 slots.
        let depth_bits = if 2 * bits <= 32 { bits } else { 0 };
        let index_bits = bits;
        let tag_shift = index_bits + depth_bits;
        let depth_unit = if depth_bits == 0 { 0 } else { 1 << index_bits };
        Self {
            index_bits,
            depth_bits,
            tag_shift,
            index_mask: (1 << index_bits) - 1,
            tag_unit: 1 << tag_shift,
            depth_unit,
            pop_step: (1u64 << tag_shift).wrapping_sub(depth_unit),
        }
    }

    /// The index field of an empty stack.
    #[inline]
    const fn empty(self) -> u32 {
        self.index_mask as u32
    }

    /// Bits of the pop tag: at least 32.
    #[inline]
    const fn tag_bits(self) -> u32 {
        u64::BITS - self.tag_shift
    }

    #[inline]
    const fn index(self, head: u64) -> u32 {
        (head & self.index_mask) as u32
    }

    #[inline]
    const fn depth(self, head: u64) -> u32 {
        ((head >> self.index_bits) & ((1 << self.depth_bits) - 1)) as u32
    }

    #[inline]
    const fn tag(self, head: u64) -> u64 {
        head >> self.tag_shift
    }

    /// `head` after popping its top, whose link is `next`.
    #[inline]
    const fn popped(self, head: u64, next: u32) -> u64 {
        // A `NIL` link masks to the empty index; a stale (garbage) `next`
        // only ever reaches a CAS that fails. The depth is at least 1 (the
        // stack is not empty), so the subtraction borrows nothing from the
        // tag.
        let with_next = (head & !self.index_mask) | (next as u64 & self.index_mask);
        with_next.wrapping_add(self.pop_step)
    }

    /// `head` after pushing `index` (the tag is unchanged).
    #[inline]
    const fn pushed(self, head: u64, index: u32) -> u64 {
        ((head & !self.index_mask) | index as u64).wrapping_add(self.depth_unit)
    }
}

/// The counters [`FreeStack::counts`] derives (module docs, "Statistics").
pub(crate) struct StackCounts {
    /// Slots handed out: fresh ones plus pops.
    pub(crate) allocations: u64,
    /// Slots returned: pushes.
    pub(crate) deallocations: u64,
    /// Slots handed out and not returned.
    pub(crate) live: u32,
    /// The most slots live at once: the fresh slots.
    pub(crate) peak: u32,
}

/// The free slots of a pool: a Treiber stack over a side table of links,
/// plus a bump counter of never-used slots.
pub(crate) struct FreeStack {
    /// `(top free index, depth, pop tag)`, laid out by `layout`.
    head: AtomicU64,
    /// The `spread` code of the next never-used slot: slots whose code is
    /// below it have been handed out at least once.
    fresh: AtomicU32,
    /// How many times the pop tag wrapped around.
    tag_wraps: AtomicU32,
    /// Successful pushes, counted only when `head` has no depth field.
    pushes: AtomicU64,
    layout: HeadLayout,
}

impl FreeStack {
    crate::sync::const_fn! {
        /// An empty stack for a pool of at most `max_slots` slots: every slot
        /// is fresh.
        pub(crate) fn new(max_slots: u32) -> Self {
            let layout = HeadLayout::for_slots(max_slots);
            Self {
                head: AtomicU64::new(layout.empty() as u64),
                fresh: AtomicU32::new(0),
                tag_wraps: AtomicU32::new(0),
                pushes: AtomicU64::new(0),
                layout,
            }
        }
    }

    /// Takes a free slot and marks its link word `mark` (a [`live_mark`]).
    ///
    /// `links` must be the same table (same length, at most the `max_slots`
    /// given to `new`) on every call.
    #[inline]
    pub(crate) fn pop(&self, links: Links<'_>, mark: u32) -> Option<u32> {
        let index = match self.pop_free(links, false) {
            Some(index) => index,
            None => self.pop_fresh_or_confirm(links)?,
        };
        // SAFETY: `take_fresh` returns indices below `links.len()` (it checks
        // each), and only such indices are ever pushed (see `push`).
        unsafe { links.get(index) }.store(mark, Ordering::Release);
        Some(index)
    }

    /// The rest of `pop` once the stack looked empty: a fresh slot, or a
    /// confirmed pop. Out of line so that the common pop stays small enough
    /// to inline into the allocation path.
    #[cold]
    #[inline(never)]
    fn pop_fresh_or_confirm(&self, links: Links<'_>) -> Option<u32> {
        self.take_fresh(links.len())
            .or_else(|| self.pop_free(links, true))
    }

    /// The next never-used slot, if any.
    #[inline]
    fn take_fresh(&self, capacity: u32) -> Option<u32> {
        // Once every slot has been used, one load is all this costs.
        if spread::count(capacity, self.fresh.load(Ordering::Relaxed)) >= capacity {
            return None;
        }
        // A fresh slot has no previous owner whose writes need ordering.
        let code = self
            .fresh
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |code| {
                (spread::count(capacity, code) < capacity).then(|| spread::next(capacity, code))
            })
            .ok()?;
        Some(Self::fresh_slot(code, capacity))
    }

    /// Pops the top of the free stack. With `confirm`, an empty stack is
    /// reported only after a read-modify-write saw it empty.
    #[inline]
    fn pop_free(&self, links: Links<'_>, confirm: bool) -> Option<u32> {
        let layout = self.layout;
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let index = layout.index(head);
            if index == layout.empty() {
                if !confirm {
                    // Good enough to go for a fresh slot, which is always
                    // correct to hand out.
                    return None;
                }
                // A plain load may return an out-of-date empty head. Only a
                // read-modify-write is guaranteed the latest value, so confirm
                // with one (rewriting the same value changes nothing) before
                // reporting the pool exhausted.
                match self
                    .head
                    .compare_exchange(head, head, Ordering::Acquire, Ordering::Acquire)
                {
                    Ok(_) => return None,
                    Err(current) => {
                        head = current;
                        continue;
                    }
                }
            }
            // SAFETY: `head` only ever holds the empty index or a pushed
            // index, and `push` admits only indices below `links.len()`.
            let link = unsafe { links.get(index) };
            // Another thread may have popped `index` since `head` was read
            // and be rewriting this word: then `next` is garbage, but the
            // tag has moved on and the CAS below fails.
            let next = link.load(Ordering::Relaxed);
            let popped = layout.popped(head, next);
            match self.head.compare_exchange_weak(
                head,
                popped,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if popped < layout.tag_unit {
                        // Once per 2^32 pops or rarer.
                        self.tag_wraps.fetch_add(1, Ordering::Relaxed);
                    }
                    return Some(index);
                }
                Err(current) => {
                    head = current;
                    spin_hint();
                }
            }
        }
    }

    /// Returns slot `index` to the stack and gives back the slack its
    /// [`live_mark`] recorded.
    ///
    /// A slot that is not live, or that is already the top of the stack, is
    /// refused with [`AllocError::DoubleFree`] and nothing changes.
    ///
    /// # Safety
    ///
    /// `index < links.len()`, `links` is the table `pop` used, and if slot
    /// `index` was ever handed out by `pop`, that `pop` happened before this
    /// call. (This holds for any pointer a pool ever handed out, freed once
    /// or twice; it excludes inventing a pointer to a slot that another
    /// thread may be taking fresh right now, whose link word may still be
    /// uninitialised memory.) No other `push` of `index` runs concurrently
    /// unless it is refused (see the module docs: racing frees of one
    /// pointer break `RawAllocator::free`'s contract).
    #[inline]
    pub(crate) unsafe fn push(&self, links: Links<'_>, index: u32) -> Result<u32, AllocError> {
        if !self.handed_out(index) {
            // Never handed out: it is free already.
            return Err(AllocError::DoubleFree);
        }
        // SAFETY: `index < links.len()` (the caller's promise).
        let link = unsafe { links.get(index) };
        let mark = link.load(Ordering::Relaxed);
        if mark < links.len() || mark > ALLOCATED {
            // A successor index or NIL: already free.
            return Err(AllocError::DoubleFree);
        }
        let layout = self.layout;
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let top = layout.index(head);
            if top == index {
                // A racing free of the same pointer pushed it already.
                return Err(AllocError::DoubleFree);
            }
            let below = if top == layout.empty() { NIL } else { top };
            link.store(below, Ordering::Release);
            match self.head.compare_exchange_weak(
                head,
                layout.pushed(head, index),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if layout.depth_bits == 0 {
                        self.pushes.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(ALLOCATED - mark);
                }
                Err(current) => {
                    head = current;
                    spin_hint();
                }
            }
        }
    }

    /// Takes up to `out.len()` free slots with one CAS (counted as that many
    /// pops in the tag), or, on an empty stack, up to as many fresh slots with
    /// one read-modify-write; returns how many it wrote to `out`, 0 only when
    /// the pool is exhausted (confirmed as in `pop`). Links are left as they
    /// are: the caller marks each slot before handing it out. The ABA
    /// argument holds unchanged: the CAS succeeds only if no pop (each moves
    /// the tag) and no push (each grows the depth) completed meanwhile, so
    /// the chain read is current; a garbage link of a slot popped meanwhile
    /// is bounds-checked and then discarded by the failing CAS.
    pub(crate) fn pop_batch(&self, links: Links<'_>, out: &mut [u32]) -> usize {
        let layout = self.layout;
        let want = out.len().min(u32::MAX as usize) as u32;
        if want == 0 {
            return 0;
        }
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let top = layout.index(head);
            if top == layout.empty() {
                break;
            }
            let depth = if layout.depth_bits == 0 {
                want
            } else {
                layout.depth(head).min(want)
            };
            let mut taken = 0u32;
            let mut index = top;
            let mut below = NIL;
            let mut consistent = true;
            while taken < depth {
                if index >= links.len() {
                    consistent = false;
                    break;
                }
                out[taken as usize] = index;
                taken += 1;
                // SAFETY: `index < links.len()`, checked above.
                below = unsafe { links.get(index) }.load(Ordering::Relaxed);
                if below == NIL {
                    break;
                }
                index = below;
            }
            if consistent {
                let with_next = (head & !layout.index_mask) | (below as u64 & layout.index_mask);
                let popped = with_next.wrapping_add(layout.pop_step.wrapping_mul(u64::from(taken)));
                match self.head.compare_exchange_weak(
                    head,
                    popped,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        if layout.tag(popped) < u64::from(taken) {
                            // The tag wrapped within this batch.
                            self.tag_wraps.fetch_add(1, Ordering::Relaxed);
                        }
                        return taken as usize;
                    }
                    Err(current) => head = current,
                }
            } else {
                head = self.head.load(Ordering::Acquire);
            }
            spin_hint();
        }
        // Empty stack: fresh slots, then a confirmed single pop.
        let capacity = links.len();
        if let Ok(first) = self
            .fresh
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |code| {
                let used = spread::count(capacity, code);
                (used < capacity).then(|| {
                    (0..want.min(capacity - used)).fold(code, |c, _| spread::next(capacity, c))
                })
            })
        {
            let taken = want.min(capacity - spread::count(capacity, first));
            let mut code = first;
            for slot in &mut out[..taken as usize] {
                *slot = Self::fresh_slot(code, capacity);
                code = spread::next(capacity, code);
            }
            return taken as usize;
        }
        // Via `pop`'s cold path: a third call site un-inlines `pop_free`.
        match self.pop_fresh_or_confirm(links) {
            Some(index) => {
                out[0] = index;
                1
            }
            None => 0,
        }
    }

    /// Returns the slots `indices` (all live, owned by the caller, distinct)
    /// to the stack with one CAS, the first on top.
    ///
    /// # Safety
    ///
    /// Every index is below `links.len()`, was handed out by `pop` or
    /// `pop_batch` (which happened before this call) and is not on the stack
    /// or pushed by anyone else meanwhile.
    pub(crate) unsafe fn push_batch(&self, links: Links<'_>, indices: &[u32]) {
        let Some((&last, _)) = indices.split_last() else {
            return;
        };
        for pair in indices.windows(2) {
            // SAFETY: below `links.len()` (the caller's promise).
            unsafe { links.get(pair[0]) }.store(pair[1], Ordering::Release);
        }
        let count = indices.len() as u64;
        let layout = self.layout;
        // SAFETY: as above.
        let last_link = unsafe { links.get(last) };
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let top = layout.index(head);
            let below = if top == layout.empty() { NIL } else { top };
            last_link.store(below, Ordering::Release);
            let pushed = ((head & !layout.index_mask) | u64::from(indices[0]))
                .wrapping_add(layout.depth_unit.wrapping_mul(count));
            match self.head.compare_exchange_weak(
                head,
                pushed,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if layout.depth_bits == 0 {
                        self.pushes.fetch_add(count, Ordering::Relaxed);
                    }
                    return;
                }
                Err(current) => {
                    head = current;
                    spin_hint();
                }
            }
        }
    }

    /// Marks slot `index` handed out with `mark` (a [`live_mark`]).
    /// Safety: `index < links.len()` and the caller owns the slot.
    #[inline]
    pub(crate) unsafe fn set_mark(&self, links: Links<'_>, index: u32, mark: u32) {
        // SAFETY: the caller's promise.
        unsafe { links.get(index) }.store(mark, Ordering::Relaxed);
    }

    /// The slack a live slot's mark records, or `DoubleFree` when slot
    /// `index` is not live (never handed out, on the stack, or cached).
    /// Marks it cached (free) on success. Safety: `index < links.len()`; if
    /// the slot was ever handed out, that happened before this call.
    #[inline]
    pub(crate) unsafe fn take_back(&self, links: Links<'_>, index: u32) -> Result<u32, AllocError> {
        if !self.handed_out(index) {
            return Err(AllocError::DoubleFree);
        }
        // SAFETY: the caller's promise.
        let link = unsafe { links.get(index) };
        let mark = link.load(Ordering::Relaxed);
        if mark < links.len() || mark > ALLOCATED {
            return Err(AllocError::DoubleFree);
        }
        link.store(NIL, Ordering::Relaxed);
        Ok(ALLOCATED - mark)
    }

    /// The slot of `code`, a cell of a `capacity`-slot table that `fresh`
    /// just moved past. The check turns a wrong code (a bug) into a panic
    /// rather than an out-of-bounds link; it runs once per slot's first use.
    #[inline]
    fn fresh_slot(code: u32, capacity: u32) -> u32 {
        let slot = spread::slot(code);
        assert!(slot < capacity, "flight-mem: fresh slot outside the pool");
        slot
    }

    /// Whether slot `index` has been handed out at least once, so that its
    /// link word has been written (a plain load: see `push` for why a slot
    /// handed out before the caller's call is counted).
    #[inline(always)]
    fn handed_out(&self, index: u32) -> bool {
        spread::code(index) < self.fresh.load(Ordering::Relaxed)
    }

    /// How many slots of the `len`-slot table have been handed out at least
    /// once.
    #[inline]
    pub(crate) fn fresh(&self, len: u32) -> u32 {
        spread::count(len, self.fresh.load(Ordering::Relaxed))
    }

    /// The statistics derived from `head`, exact when no operation is in
    /// flight (see the module docs, "Statistics").
    #[inline]
    pub(crate) fn counts(&self, len: u32) -> StackCounts {
        let layout = self.layout;
        let head = self.head.load(Ordering::Relaxed);
        let wraps = u64::from(self.tag_wraps.load(Ordering::Relaxed));
        // Read after `head`: every slot on the stack then was handed out.
        let fresh = self.fresh(len);
        let pops = wraps
            .checked_shl(layout.tag_bits())
            .unwrap_or(0)
            .wrapping_add(layout.tag(head));
        let depth = if layout.depth_bits == 0 {
            self.pushes.load(Ordering::Relaxed).saturating_sub(pops)
        } else {
            u64::from(layout.depth(head))
        };
        let live = u64::from(fresh).saturating_sub(depth);
        StackCounts {
            allocations: u64::from(fresh) + pops,
            deallocations: pops + depth,
            live: live as u32,
            peak: fresh,
        }
    }

    /// Walks the free stack and returns its length, or the first broken
    /// invariant: an index never handed out, a slot on the stack whose link
    /// says it is live, a cycle, or a depth field that disagrees with the
    /// walk.
    ///
    /// Safe to call concurrently with `pop` and `push`: a walk counts only
    /// if `head` did not change during it. Any link value written after the
    /// first read of `head` was written after a pop of its slot (which moved
    /// `head`) and is published with `Release`; reading it with `Acquire`
    /// makes that pop visible to the second read of `head`. So a walk with an
    /// unchanged `head` read only the links of that instant. After
    /// [`CHECK_ATTEMPTS`] disturbed walks it gives up and reports `Ok(None)`.
    pub(crate) fn check(&self, links: Links<'_>) -> Result<Option<u32>, StackViolation> {
        let layout = self.layout;
        for _ in 0..CHECK_ATTEMPTS {
            let head = self.head.load(Ordering::Acquire);
            // Read after `head`: every index pushed by then is below it.
            let code = self.fresh.load(Ordering::Acquire);
            let fresh = spread::count(links.len(), code);
            if fresh > links.len() {
                return Err(StackViolation {
                    what: "more fresh slots than slots",
                    slot: fresh,
                });
            }
            let walk = Self::walk(links, layout, layout.index(head), code, fresh);
            if self.head.load(Ordering::Acquire) == head {
                let free = walk?;
                if layout.depth_bits != 0 && layout.depth(head) != free {
                    return Err(StackViolation {
                        what: "free stack depth disagrees with its length",
                        slot: layout.index(head),
                    });
                }
                return Ok(Some(free));
            }
            spin_hint();
        }
        Ok(None)
    }

    fn walk(
        links: Links<'_>,
        layout: HeadLayout,
        top: u32,
        code: u32,
        fresh: u32,
    ) -> Result<u32, StackViolation> {
        let mut index = top;
        let mut free = 0;
        while index != layout.empty() {
            if index >= links.len() || spread::code(index) >= code {
                return Err(StackViolation {
                    what: "free stack holds a slot never handed out",
                    slot: index,
                });
            }
            if free == fresh {
                return Err(StackViolation {
                    what: "free stack has a cycle",
                    slot: index,
                });
            }
            // SAFETY: `index < links.len()`, checked above.
            let next = unsafe { links.get(index) }.load(Ordering::Acquire);
            if next != NIL && next >= links.len() {
                return Err(StackViolation {
                    what: "slot on the free stack is marked live",
                    slot: index,
                });
            }
            free += 1;
            index = if next == NIL { layout.empty() } else { next };
        }
        Ok(free)
    }
}

#[cfg(all(test, not(loom)))]
#[path = "free_slots_tests.rs"]
mod tests;
