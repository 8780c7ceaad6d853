//! The lock-free, ABA-safe stack of free slot indices behind [`Pool`] and
//! [`BlockPool`].
//!
//! # Design
//!
//! A pool is an array of equal slots plus a *side table* of link words, one
//! [`AtomicU32`] per slot, that lives in the pool's own memory (so it counts
//! against the budget: 4 bytes per slot, and nothing in the slot itself).
//!
//! * `head` packs the index of the top free slot (low half) and a tag (high
//!   half) into one `AtomicU64`. Every successful compare-and-swap of `head`
//!   increments the tag, so a thread that read `(index, tag)` and was
//!   overtaken by a pop of `index`, other pops and a push of `index` again (the
//!   ABA scenario) fails its CAS instead of installing a stale successor. The
//!   tag is 32 bits: the guard fails only if a single thread stalls between
//!   its load and its CAS while exactly a multiple of 2³² head updates happen.
//! * `fresh` counts the slots handed out at least once. Slots at or above it
//!   have never been used, so neither their link words nor their bytes need to
//!   be initialised: a pool works on garbage memory with no init call.
//!   Allocation takes a fresh slot while there are any and pops the stack
//!   afterwards. That order makes exhaustion exact: `fresh` never decreases,
//!   so once `fresh` ran out and the stack is empty, every slot is live. The
//!   emptiness is confirmed by a read-modify-write of `head` (a plain load
//!   may return an out-of-date value), so a pool never reports exhaustion
//!   while a completed free is already in the stack.
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
//! | `FREEING` | being pushed by `free` |
//! | `ALLOCATED - slack` | live; `slack` = block size − requested size |
//!
//! Keeping the slack in the live slot's link word is what lets `free` keep
//! the `requested` statistic exact with no header: it needs no size from the
//! caller. A typed value always fills its slot, so its word is `ALLOCATED`.
//! The ranges are disjoint because a pool never has more slots than
//! [`max_slots`] allows for its block size.
//!
//! `free` first moves the word from a live value to `FREEING` with a CAS;
//! if the word is not live (already free, or being freed by a racing call) the
//! CAS fails and the free reports a double free having changed nothing. A
//! double free after the slot was handed out again cannot be told from a
//! legitimate free; `free` is `unsafe` for that reason.
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
//! * Link stores are `Release` and the `FREEING` CAS is `Acquire` so that
//!   [`FreeStack::check`], which reads links with `Acquire`, can trust a walk
//!   during which `head` did not move (see there).
//!
//! [`Pool`]: crate::Pool
//! [`BlockPool`]: crate::BlockPool

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::AllocError;
use crate::sync::{AtomicU32, AtomicU64, Ordering, spin_hint};

/// Link value of the bottom free slot; as the head index: the stack is empty.
pub(crate) const NIL: u32 = u32::MAX;
/// Link value of a slot whose `free` is pushing it.
const FREEING: u32 = u32::MAX - 1;
/// Link value of a live slot whose request filled the whole block.
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

#[inline]
const fn pack(index: u32, tag: u32) -> u64 {
    (tag as u64) << 32 | index as u64
}

#[inline]
const fn unpack(head: u64) -> (u32, u32) {
    (head as u32, (head >> 32) as u32)
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

/// The free slots of a pool: a Treiber stack over a side table of links,
/// plus a bump counter of never-used slots.
pub(crate) struct FreeStack {
    /// `(top free index, tag)`, see [`pack`].
    head: AtomicU64,
    /// Slots `0..fresh` have been handed out at least once.
    fresh: AtomicU32,
}

impl FreeStack {
    crate::sync::const_fn! {
        /// An empty stack: every slot is fresh.
        pub(crate) fn new() -> Self {
            Self { head: AtomicU64::new(pack(NIL, 0)), fresh: AtomicU32::new(0) }
        }
    }

    /// Takes a free slot and marks its link word `mark` (a [`live_mark`]).
    ///
    /// `links` must be the same table (same length) on every call.
    #[inline]
    pub(crate) fn pop(&self, links: Links<'_>, mark: u32) -> Option<u32> {
        let index = match self.take_fresh(links.len()) {
            Some(index) => index,
            None => self.pop_free(links)?,
        };
        // SAFETY: `take_fresh` returns indices below `links.len()`, and only
        // such indices are ever pushed (see `push`).
        unsafe { links.get(index) }.store(mark, Ordering::Release);
        Some(index)
    }

    /// The next never-used slot, if any.
    #[inline]
    fn take_fresh(&self, capacity: u32) -> Option<u32> {
        // Once every slot has been used, one load is all this costs.
        if self.fresh.load(Ordering::Relaxed) >= capacity {
            return None;
        }
        // A fresh slot has no previous owner whose writes need ordering.
        self.fresh
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |fresh| {
                (fresh < capacity).then(|| fresh + 1)
            })
            .ok()
    }

    /// Pops the top of the free stack.
    #[inline]
    fn pop_free(&self, links: Links<'_>) -> Option<u32> {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (index, tag) = unpack(head);
            if index == NIL {
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
            // SAFETY: `head` only ever holds NIL or a pushed index, and
            // `push` admits only indices below `links.len()`.
            let link = unsafe { links.get(index) };
            // Another thread may have popped `index` since `head` was read
            // and be rewriting this word: then `next` is garbage, but the
            // tag has moved on and the CAS below fails.
            let next = link.load(Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                head,
                pack(next, tag.wrapping_add(1)),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(index),
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
    /// A slot that is not live is refused with [`AllocError::DoubleFree`]
    /// and nothing changes.
    ///
    /// # Safety
    ///
    /// `index < links.len()`, `links` is the table `pop` used, and if slot
    /// `index` was ever handed out by `pop`, that `pop` happened before this
    /// call. (This holds for any pointer a pool ever handed out, freed once
    /// or twice; it excludes inventing a pointer to a slot that another
    /// thread may be taking fresh right now, whose link word may still be
    /// uninitialised memory.)
    #[inline]
    pub(crate) unsafe fn push(&self, links: Links<'_>, index: u32) -> Result<u32, AllocError> {
        if index >= self.fresh.load(Ordering::Relaxed) {
            // Never handed out: it is free already.
            return Err(AllocError::DoubleFree);
        }
        // SAFETY: `index < links.len()` (the caller's promise).
        let link = unsafe { links.get(index) };
        let mark = link.load(Ordering::Relaxed);
        if mark < links.len() || mark > ALLOCATED {
            // A successor index, NIL or FREEING: already free or being freed.
            return Err(AllocError::DoubleFree);
        }
        // Only one of two racing frees of the same slot gets past this.
        if link
            .compare_exchange(mark, FREEING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(AllocError::DoubleFree);
        }
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let (top, tag) = unpack(head);
            link.store(top, Ordering::Release);
            match self.head.compare_exchange_weak(
                head,
                pack(index, tag.wrapping_add(1)),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(ALLOCATED - mark),
                Err(current) => {
                    head = current;
                    spin_hint();
                }
            }
        }
    }

    /// How many slots have been handed out at least once.
    #[inline]
    pub(crate) fn fresh(&self) -> u32 {
        self.fresh.load(Ordering::Relaxed)
    }

    /// Walks the free stack and returns its length, or the first broken
    /// invariant: an index never handed out, a slot on the stack whose link
    /// says it is live, or a cycle.
    ///
    /// Safe to call concurrently with `pop` and `push`: a walk counts only
    /// if `head` did not change during it. Any link value written after the
    /// first read of `head` was written after a pop of its slot (which moved
    /// `head`) and is published with `Release` (or by a read-modify-write
    /// continuing a `Release` store's sequence); reading it with `Acquire`
    /// makes that pop visible to the second read of `head`. So a walk with an
    /// unchanged `head` read only the links of that instant. After
    /// [`CHECK_ATTEMPTS`] disturbed walks it gives up and reports `Ok(None)`.
    pub(crate) fn check(&self, links: Links<'_>) -> Result<Option<u32>, StackViolation> {
        for _ in 0..CHECK_ATTEMPTS {
            let head = self.head.load(Ordering::Acquire);
            // Read after `head`: every index pushed by then is below it.
            let fresh = self.fresh.load(Ordering::Acquire);
            if fresh > links.len() {
                return Err(StackViolation {
                    what: "more fresh slots than slots",
                    slot: fresh,
                });
            }
            let walk = Self::walk(links, unpack(head).0, fresh);
            if self.head.load(Ordering::Acquire) == head {
                return walk.map(Some);
            }
            spin_hint();
        }
        Ok(None)
    }

    fn walk(links: Links<'_>, top: u32, fresh: u32) -> Result<u32, StackViolation> {
        let mut index = top;
        let mut free = 0;
        while index != NIL {
            if index >= fresh {
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
            // SAFETY: `index < fresh <= links.len()`.
            let next = unsafe { links.get(index) }.load(Ordering::Acquire);
            if next != NIL && next >= links.len() {
                return Err(StackViolation {
                    what: "slot on the free stack is marked live",
                    slot: index,
                });
            }
            free += 1;
            index = next;
        }
        Ok(free)
    }
}
