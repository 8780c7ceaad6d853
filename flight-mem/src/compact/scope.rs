//! [`PinnedAll`]: one pin for every block, so that reads inside it cost
//! plain loads.
//!
//! # Why a scope
//!
//! A [`Pinned`](super::Pinned) guard costs two atomic read-modify-writes on
//! the block's state word (pin, unpin). On the x86 guest the benchmarks ran
//! on, one such locked instruction costs 8–25 ns, while the read it guards
//! costs 2–3 ns. No per-access guard that other threads' moves must respect
//! can avoid it: the reader announces itself and then reads the block's
//! place, the mover announces its move and then looks for readers, and each
//! needs its store ordered before its load (a store-load fence, which on x86
//! is a locked instruction or `mfence` at the same price). A hazard slot per
//! reader moves the store elsewhere but keeps the fence.
//!
//! `PinnedAll` pays that fence once per scope instead of once per access: a
//! game takes one at the start of a frame's reads (or a system's update) and
//! reads any number of blocks through [`PinnedAll::get`], which is a handful
//! of plain loads (x86) or load-acquires (ARM) and never writes.
//!
//! # Protocol
//!
//! The allocator counts live scopes in one word (`Compact::scopes`).
//!
//! * `pin_all` increments the count, then issues a `SeqCst` fence (`X`).
//! * Whoever would take a block away from readers — a move, a `free`, a
//!   `get_mut` — first marks the block's state word (`MOVING`, or `MOVING |
//!   FROZEN` for a move that freezes the block; `MOVING`; `WRITER`), then
//!   issues a `SeqCst` fence (`Y`), then reads the count; if a scope lives
//!   it undoes its mark and gives up (the move is skipped as pinned, `free`
//!   is refused with `Pinned`, `get_mut` returns `None`). A slide run (the
//!   `slide` module) or a group of short evacuations (the `group` module)
//!   marks all its blocks first and then pays one `Y` and one count load
//!   for all of them: the fence orders every mark before it, so the
//!   argument below holds for each block as for one.
//! * [`PinnedAll::get`] loads the state word (after `X`): a `WRITER` means
//!   `None`; a `MOVING` or `FROZEN` mark means one of the above is deciding
//!   or copying under the allocator's lock, and `get` waits for the mark to
//!   clear (bounded by one step: the copies of at most the budget's
//!   `max_bytes`), then reads the block where the word says it is.
//!
//! The fences are ordered one way or the other (C++20 [atomics.fences]): if
//! `X` comes first, the marker's count load sees the scope and it gives up
//! before touching the block; if `Y` comes first, every state-word load of
//! the scope sees the mark or what replaced it (the commit, released, so the
//! new offset and the copied bytes are visible). Either way a scope never
//! reads a block being copied or written, and a block it reached is neither
//! moved, freed nor lent mutably while it lives. Loom models all three races
//! (`tests/loom_compact.rs`); `SeqCst` fences, not `SeqCst` accesses, are
//! used because loom models the former exactly and the latter only as
//! acquire/release.
//!
//! The price of the cheap read is on the other side: while a `PinnedAll`
//! lives, `defragment` moves nothing, `free` refuses and `get_mut` returns
//! `None`, for every block.

use core::fmt;

use super::table::{FROZEN, GEN_MASK, LIVE, MOVING, Slot, WRITER, generation};
use super::{Compact, Handle};
use crate::sync::{Ordering, spin_hint};

#[cfg(not(loom))]
pub(super) use core::sync::atomic::fence;
#[cfg(loom)]
pub(super) use loom::sync::atomic::fence;

/// The scope count at which it sticks: every further scope keeps it there
/// and no drop lowers it, so nothing is ever moved or freed again rather
/// than the count wrapping under a live scope. Only `u32::MAX` guards leaked
/// with [`mem::forget`](core::mem::forget) reach it.
const STUCK: u32 = u32::MAX;

/// Shared access to every block of a [`Compact`] at once, for as long as it
/// lives: [`get`](Self::get) through it costs no atomic read-modify-write.
///
/// While any `PinnedAll` of an allocator lives, that allocator's blocks are
/// all pinned as if each had a [`Pinned`](super::Pinned) guard:
/// [`Compact::defragment`] moves nothing (the blocks count as
/// `skipped_pinned`), [`Compact::free`] returns
/// [`AllocError::Pinned`](crate::AllocError::Pinned) and
/// [`Compact::get_mut`] returns `None`. Allocation and [`Compact::get`] work
/// as usual. Take one for a batch of reads — a frame's rendering, say — and
/// drop it before the frame's frees and defragmentation step.
///
/// A block with a live [`PinnedMut`](super::PinnedMut) (taken before the
/// scope) is unreachable through the scope: `get` gives `None`. So does a
/// `get_mut` of the block on another thread at the same instant, which that
/// thread then sees refused.
///
/// # Example
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{AllocError, Arena, Compact, DefragBudget, RawMemory};
///
/// static MEMORY: Arena<{ Compact::bytes_for(4096, 16) }> = Arena::new();
/// // SAFETY: MEMORY is given to this one allocator.
/// static ASSETS: Compact = Compact::new(unsafe { RawMemory::from_arena(&MEMORY) }, 16);
///
/// let hole = ASSETS.allocate(Layout::from_size_align(64, 8).unwrap()).unwrap();
/// let mesh = ASSETS.allocate(Layout::from_size_align(256, 8).unwrap()).unwrap();
/// ASSETS.get_mut(mesh).unwrap().fill(3);
/// ASSETS.free(hole).unwrap();
/// {
///     let frame = ASSETS.pin_all();
///     let bytes: &[u8] = frame.get(mesh).unwrap();
///     assert_eq!(bytes[0], 3);
///     // Nothing moves or goes away while the scope lives.
///     assert_eq!(ASSETS.defragment(DefragBudget::UNLIMITED).blocks_moved, 0);
///     assert_eq!(ASSETS.free(mesh), Err(AllocError::Pinned));
///     assert!(ASSETS.get_mut(mesh).is_none());
///     assert!(frame.get(hole).is_none()); // stale
/// }
/// assert_eq!(ASSETS.defragment(DefragBudget::UNLIMITED).blocks_moved, 1);
/// ```
pub struct PinnedAll<'a> {
    compact: &'a Compact,
    /// The allocator's geometry, worked out once per scope rather than
    /// once per `get` (it never changes).
    base: *mut u8,
    table: *const Slot,
    /// Slots initialised when the scope began: a lower bound of the
    /// allocator's `fresh` for the scope's whole life (it only grows), so
    /// `get` checks an index against it with one compare and reloads
    /// `fresh` only for a handle allocated since.
    known: u32,
}

// SAFETY: the pointers are the allocator's data area and table, which
// `&Compact` (Sync) already lets any thread reach; the guard hands out only
// shared byte slices that nobody writes while it lives (like `&[u8]`), and
// its drop is one atomic operation, valid on any thread.
unsafe impl Send for PinnedAll<'_> {}
// SAFETY: as above; `get` takes `&self` and writes nothing.
unsafe impl Sync for PinnedAll<'_> {}

impl Compact {
    /// Pins every block until the guard drops, so reads through
    /// [`PinnedAll::get`] cost plain loads; see [`PinnedAll`]. Lock-free:
    /// one atomic read-modify-write and one fence here, one atomic
    /// read-modify-write when the guard drops.
    #[inline]
    pub fn pin_all(&self) -> PinnedAll<'_> {
        let mut count = self.scopes.load(Ordering::Relaxed);
        while count != STUCK {
            match self.scopes.compare_exchange_weak(
                count,
                count + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => count = now,
            }
        }
        // X in the module documentation: orders the count above before
        // every state-word load through this scope, against the fence of a
        // mover, `free` or `get_mut` between its mark and its count load.
        fence(Ordering::SeqCst);
        let g = self.geometry();
        PinnedAll {
            compact: self,
            base: g.base,
            table: g.table,
            // Acquire: pairs with the release that published each slot
            // below it (see `Compact::slot`).
            known: self.fresh.load(Ordering::Acquire),
        }
    }

    /// Whether a [`PinnedAll`] lives, for one who marked a block's state
    /// word and must now give way to scopes (`Y` in the `scope` module
    /// documentation). Acquire: the reads of a scope that just dropped
    /// happen before whatever the caller does to the block next.
    #[inline]
    pub(super) fn scoped_after_mark(&self) -> bool {
        fence(Ordering::SeqCst);
        self.scopes.load(Ordering::Acquire) != 0
    }

    /// Whether a [`PinnedAll`] lives now, as a hint (no ordering): lets the
    /// defragmenter skip blocks without marking each.
    #[inline]
    pub(super) fn scoped_hint(&self) -> bool {
        self.scopes.load(Ordering::Relaxed) != 0
    }
}

impl<'a> PinnedAll<'a> {
    /// The bytes of the block of `handle`, valid while this scope lives;
    /// `None` for a stale or foreign handle and for a block with a live
    /// [`PinnedMut`](super::PinnedMut). Lock-free, no atomic
    /// read-modify-write; waits only while another thread's
    /// [`defragment`](Compact::defragment) or [`free`](Compact::free) is
    /// deciding about or copying this very block (one step), see
    /// [`PinnedAll`].
    #[inline]
    pub fn get(&self, handle: Handle) -> Option<&[u8]> {
        // One compare on the fast path: `known` is in the guard.
        if handle.index >= self.known && !self.initialised(handle.index) {
            return None;
        }
        // SAFETY: the index is below `known` or below a `fresh` loaded just
        // now, so the slot lies inside the table and was initialised before
        // that value of `fresh` was published (the acquire loads in
        // `pin_all` and `initialised` pair with that release).
        let slot = unsafe { &*self.table.add(handle.index as usize) };
        // Acquire: pairs with the release of `allocate`, of the last
        // writer's drop and of a move's commit (see `Compact::get`).
        let word = slot.state.load(Ordering::Acquire);
        // Live, this generation, no writer, no move: one mask and compare.
        let mask = GEN_MASK | LIVE | WRITER | MOVING | FROZEN;
        if word & mask != handle.generation as u64 | LIVE {
            return self.get_contended(slot, handle);
        }
        // SAFETY: `word` passed the check above.
        Some(unsafe { self.bytes(slot) })
    }

    /// Whether slot `index` is initialised: for a handle allocated after
    /// the scope began. Kept out of line so that `get` stays small.
    #[cold]
    #[inline(never)]
    fn initialised(&self, index: u32) -> bool {
        index < self.compact.fresh.load(Ordering::Acquire)
    }

    /// `get` for a word that did not pass the fast check: `None` for a
    /// stale handle or a writer; waits out a mark (see [`PinnedAll`]).
    #[cold]
    #[inline(never)]
    fn get_contended(&self, slot: &Slot, handle: Handle) -> Option<&[u8]> {
        loop {
            // Acquire: as in `get`.
            let word = slot.state.load(Ordering::Acquire);
            if generation(word) != handle.generation || word & (LIVE | WRITER) != LIVE {
                return None;
            }
            if word & (MOVING | FROZEN) == 0 {
                // SAFETY: `word` is live, of the handle's generation, with
                // no writer and no mark.
                return Some(unsafe { self.bytes(slot) });
            }
            spin_hint();
        }
    }

    /// The block of `slot`, as a slice borrowing the scope.
    ///
    /// # Safety
    ///
    /// The slot's state word, loaded (acquire) through this scope, said the
    /// block is live, of the caller's handle's generation, with neither
    /// `WRITER` nor `MOVING` nor `FROZEN` set.
    #[inline]
    unsafe fn bytes(&self, slot: &Slot) -> &[u8] {
        let (offset, len) = (slot.offset(), slot.len());
        // SAFETY: the word (the caller's promise) was loaded after this
        // scope's fence `X`; by the protocol in the module documentation no
        // move, free or writer can start on the block until the scope's
        // count is released in `drop`, which the returned borrow of `self`
        // precedes. `offset` and `len` are the ones the word vouches for:
        // they are written only under the lock while the block is not
        // live (`allocate`, released by the store that makes it live) or
        // while it is `MOVING | FROZEN` (a move, released by the clearing of
        // those flags), and the acquire load saw the word after that
        // release. So `offset..offset + len` lies in the data area (the
        // allocator placed it there), holds initialised bytes (zeroed on
        // allocation, copied whole on a move) and is not written while the
        // slice lives.
        // The block lies in memory valid for reads, which never includes
        // address 0: saying so lets the caller's `Option` check fold away.
        unsafe {
            let start = core::ptr::NonNull::new_unchecked(self.base.add(offset));
            core::ptr::NonNull::slice_from_raw_parts(start, len).as_ref()
        }
    }

    /// The allocator this scope pins.
    pub fn allocator(&self) -> &'a Compact {
        self.compact
    }
}

impl Drop for PinnedAll<'_> {
    #[inline]
    fn drop(&mut self) {
        let scopes = &self.compact.scopes;
        let mut count = scopes.load(Ordering::Relaxed);
        // Release: our reads happen before whoever next sees the count drop
        // (the acquire in `scoped_after_mark`).
        while count != STUCK {
            match scopes.compare_exchange_weak(
                count,
                count - 1,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => count = now,
            }
        }
    }
}

impl fmt::Debug for PinnedAll<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedAll")
            .field("scopes", &self.compact.scopes.load(Ordering::Relaxed))
            .finish()
    }
}
