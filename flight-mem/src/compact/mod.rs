//! See [`Compact`].

mod alloc;
mod batch;
mod check;
mod defrag;
mod entry;
mod gaps;
mod group;
mod pin;
mod plan;
mod scope;
mod slide;
mod table;

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

pub use defrag::{DefragBudget, DefragReport, DefragStep};
pub use pin::{Pinned, PinnedMut};
pub use scope::PinnedAll;
pub use table::Handle;
use table::{
    FROZEN, HOT_SIZE, LIVE, Links, MAX_PINS, MOVING, NIL, PIN, SLOT_ALIGN, SLOT_SIZE, Slot, WRITER,
    generation, pins,
};

use crate::stats::Counters;
use crate::sync::{AtomicU32, Lock, Ordering, const_fn, spin_hint};
use crate::{AllocatorKind, AllocatorStats, RawMemory};

/// Block offsets and sizes are multiples of this.
const GRANULE: usize = 8;
/// The largest data area: every offset and block end fits a `u32`.
const MAX_CAPACITY: usize = (u32::MAX as usize) & !(GRANULE - 1);
/// The most slots a table may have (slot indices stay below [`NIL`]).
const MAX_SLOTS: usize = NIL as usize - 1;

/// Bytes a block of `len` bytes consumes.
#[inline]
const fn extent(len: usize) -> usize {
    (len + GRANULE - 1) & !(GRANULE - 1)
}

/// A relocating allocator: blocks behind [`Handle`]s, lent out through
/// pinning guards, moved by incremental defragmentation. See the
/// documentation below for the algorithm, costs and the argument
/// why pins and moves never tear a read.
///
/// [`Compact`]: relocatable blocks behind handles, and incremental
/// defragmentation.
///
/// A long-running game that streams assets fragments its memory until a
/// request that fits in total fits nowhere; without virtual memory the only
/// cure is to move blocks. A `Compact` hands out [`Handle`]s instead of
/// pointers, lends a block's bytes through pinning guards ([`Pinned`],
/// [`PinnedMut`], or [`PinnedAll`] for a batch of cheap reads) and moves
/// unpinned blocks in bounded steps ([`Compact::defragment`] with a
/// [`DefragBudget`]) until the free space is one range at the end, so a
/// game can call it once per frame.
///
/// # Memory layout
///
/// `[ data area: blocks and holes | pad | handle table: one slot per handle ]`
///
/// The handle table lives at the end of the given memory, so a `Compact` is
/// one type whatever its size (the layout macro names it
/// `flight_mem::Compact`, with no parameter), is const-constructible over a
/// bank slice, and its bookkeeping counts against the region's budget like
/// every other byte. A const generic table inside the value was the
/// alternative; it would make the type depend on the handle count and put
/// the table outside the memory the plan budgets. Each handle takes
/// [`Compact::SLOT_SIZE`] bytes (28): 16 in a hot array that reads touch
/// (state word, offset, length) and 12 in a cold array after it that only
/// the lock holder touches (alignment, address-order links), so the
/// memory a read path walks is dense. [`Compact::bytes_for`] sizes memory for
/// a capacity and a handle count, [`Compact::default_handles`] picks one
/// handle per KiB. Slots are initialised on first use, so a `static` needs
/// no initialisation call and untouched table memory may hold anything.
///
/// Block offsets are multiples of 8 ([`Compact::GRANULARITY`]) and blocks
/// consume their length rounded up to 8; there is no header in the data
/// area. Offsets are `u32`: a `Compact` manages at most 4 GiB.
///
/// # Operations and cost
///
/// * [`allocate`](Compact::allocate): first fit over the holes in address
///   order, then the space after the last block; O(live blocks) under the
///   allocator's lock. The block is zero-filled before its handle exists,
///   so a pin never shows uninitialised memory.
/// * [`get`](Compact::get) / [`get_mut`](Compact::get_mut): lock-free; one
///   load of the slot count, one compare-and-swap on the slot's state word,
///   and one atomic read-modify-write when the guard drops (`get_mut` adds
///   a fence and a load: it gives way to [`PinnedAll`] scopes).
/// * [`pin_all`](Compact::pin_all) pins every block at once for the cost of
///   one guard; [`PinnedAll::get`] then costs one compare of the index, one
///   load and one masked compare of the state word and two loads from the
///   same 16-byte slot — the read path for hot loops (see [`PinnedAll`] for
///   why a per-access guard cannot be as cheap, and what the scope costs
///   the defragmenter).
/// * [`free`](Compact::free): O(1) under the lock.
/// * [`defragment`](Compact::defragment): first evacuates the cheapest
///   range that would make the free space nearly one range (blocks moved
///   into holes elsewhere, up or down, best fit), then slides the rest
///   toward the start; resumable, at most the budget's bytes and moves per
///   call. Evacuations are planned up to 64 at a time in two walks over the
///   blocks (O(blocks) per batch, see the `batch` module); touching blocks
///   slide as one run with one copy, and slides resume where the previous
///   one (or call) ended (the `slide` module); the largest free range for
///   the report is tracked, not walked for (the `gaps` module).
/// * [`stats`](Compact::stats), [`compact_stats`](Compact::compact_stats),
///   [`check`](Compact::check): O(live blocks) under the lock.
///
/// # Statistics
///
/// [`stats`](Compact::stats) returns the [`AllocatorStats`] every allocator
/// returns, so layout tables, pressure levels and generic reports treat a
/// `Compact` region like any other; [`compact_stats`](Compact::compact_stats)
/// returns [`CompactStats`], which contains those and adds the holes, the
/// fragmented bytes and the defragmentation totals. Adding `holes` and
/// `fragmented` fields to `AllocatorStats` instead would give every other
/// allocator two fields it cannot fill exactly (a TLSF's free lists do not
/// know which free blocks a compaction could merge).
///
/// # Pins and moves across threads
///
/// The defragmenter holds the allocator's lock for each move, so frees and
/// allocations wait for it (for at most one block copy); pins never take
/// the lock. Which of a pin and a move wins is decided on the slot's state
/// word (see the `table` module):
///
/// * A move starts only on a block with no pin and no writer, and only if
///   no [`PinnedAll`] lives (checked after marking the block, behind a
///   fence; see [`PinnedAll`]).
/// * Moves go into free ranges (evacuations, either direction) or down by
///   less than the block's length (slides, overlapping itself).
/// * When the destination does not overlap the block and the block is
///   longer than 4 KiB, readers may still pin the block during the copy: they read the old bytes, which the copy only
///   reads too. The move ends with a compare-and-swap that requires the pin
///   count to be zero and sets `FROZEN`; if a reader holds a pin, the **move
///   is abandoned** (the copy is discarded and the block stays), so the pin
///   is honoured and no reader ever sees a half-moved block. Otherwise the
///   new offset is stored while `FROZEN` keeps pins out, and one release
///   clears the flags (a `get` arriving in that instant waits for it).
/// * When the destination overlaps the block (a slide by less than its
///   length), the copy writes bytes a reader would read, so the move sets
///   `FROZEN` and a `get` that arrives meanwhile waits (spins) until the
///   move ends and then pins the block at its new place. A run of touching
///   blocks slid with one copy freezes every block of the run the same way
///   (the `slide` module). A short move (at most 4 KiB) into a separate
///   range is frozen too, and so is every block of a group of short
///   evacuations (at most 16 KiB in all, the `group` module): a locked
///   instruction costs as much as copying a few hundred bytes, and a
///   reader waiting for such a copy waits less than a microsecond or two.
///   The wait is bounded
///   by the copies of at most the budget's `max_bytes`, and the mover never
///   waits for anything while `FROZEN` is set. (With the `irq-safe` feature
///   or on targets without compare-and-swap the lock is a critical section,
///   so no interrupt handler can run, and spin, during a move at all.)
/// * [`get_mut`](Compact::get_mut) does not wait: like any other pin, a move
///   in flight makes it return `None`.
///
/// # Example
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{Arena, Compact, DefragBudget, RawMemory};
///
/// static MEMORY: Arena<{ Compact::bytes_for(64 * 1024, 64) }> = Arena::new();
/// // SAFETY: MEMORY is given to this one allocator.
/// static ASSETS: Compact = Compact::new(unsafe { RawMemory::from_arena(&MEMORY) }, 64);
///
/// let a = ASSETS.allocate(Layout::from_size_align(1000, 8).unwrap()).unwrap();
/// let b = ASSETS.allocate(Layout::from_size_align(2000, 8).unwrap()).unwrap();
/// ASSETS.get_mut(b).unwrap().fill(7);
/// ASSETS.free(a).unwrap();
/// assert!(ASSETS.get(a).is_none()); // stale
///
/// let report = ASSETS.defragment(DefragBudget { max_bytes: 4096, max_moves: 8 });
/// assert_eq!(report.blocks_moved, 1);
/// assert!(report.done());
/// assert!(ASSETS.get(b).unwrap().iter().all(|&x| x == 7));
/// assert_eq!(ASSETS.compact_stats().holes, 0);
/// ASSETS.check().unwrap();
/// ```
pub struct Compact {
    memory: RawMemory,
    /// Table length in slots.
    slots: u32,
    /// Where the table starts, before aligning its address down.
    table_off: usize,
    /// Slots initialised so far; readers trust no slot at or above it.
    /// Written under the lock, read lock-free.
    fresh: AtomicU32,
    /// Live [`PinnedAll`] scopes (see the `scope` module).
    scopes: AtomicU32,
    state: Lock<State>,
}

/// What the lock protects.
struct State {
    /// Address-ordered list of live blocks.
    first: u32,
    last: u32,
    /// Stack of free slots, linked through `Slot::next`.
    free_slots: u32,
    /// Slots whose generation is exhausted; never reused.
    retired: u32,
    counters: Counters,
    blocks_moved: u64,
    bytes_moved: u64,
    moves_abandoned: u64,
    /// Evacuations since the layout last changed (see the `plan` module).
    evacuations: u64,
    /// The window the first phase of defragmentation is evacuating.
    window: Option<plan::Span>,
    /// A block before `window` (or `NIL`) where a batch's walk over the
    /// window's blocks may start (see `Compact::plan_batch`): set by that
    /// walk, cleared with `window`. Only the layout changes that keep the
    /// window happen meanwhile — moves, no frees — so it stays a listed
    /// block (`check` verifies that); a move may take it past the window's
    /// start, which the walk checks before using it.
    anchor: u32,
    /// A slide happened since the layout last changed: the first phase of
    /// defragmentation (evacuation) is over.
    sliding: bool,
    /// Where the next `defragment` call's slide walk may resume: after this
    /// block, if the epoch is still this one (every block before it sat at
    /// its target when the last call passed it; see the `slide` module).
    resume: Option<(u64, Handle)>,
    /// Runs of slides made (each one copy of two or more blocks), for the
    /// tests that check runs happen.
    runs: u64,
    /// Bumped by every allocation, free and move (64 bits: it never
    /// wraps): a planned batch of moves is valid only at the epoch it
    /// expects (see the `batch` module).
    epoch: u64,
    /// The largest free range, kept up to date (see the `gaps` module).
    largest: gaps::Largest,
    /// Evacuations planned but not made yet (see the `batch` module).
    batch: batch::Batch,
    /// The room a repair of the first phase is evacuating (see the `plan`
    /// module).
    repair: plan::Repair,
}

/// Where the data area and the table are, worked out from the memory.
#[derive(Clone, Copy)]
struct Geometry {
    base: *mut u8,
    capacity: usize,
    /// The hot array: one [`Slot`] per handle.
    table: *const Slot,
    /// The cold array, right after the hot one: one [`Links`] per handle.
    links: *const Links,
}

/// What one walk over the blocks found.
#[derive(Clone, Copy, Default)]
struct Scan {
    largest_free: usize,
    holes: usize,
    fragmented: usize,
}

/// Statistics of a [`Compact`]: the common [`AllocatorStats`] plus what
/// only a relocating allocator has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CompactStats {
    /// The figures every allocator reports.
    pub allocator: AllocatorStats,
    /// Free ranges below the end of the highest block: what defragmentation
    /// can close.
    pub holes: usize,
    /// Bytes in those holes: free memory a single request cannot use
    /// together with the space after the last block.
    pub fragmented: usize,
    /// The size of the handle table.
    pub handles: usize,
    /// Slots retired because their generation was exhausted.
    pub retired_handles: usize,
    /// Blocks moved by defragmentation since creation.
    pub blocks_moved: u64,
    /// Bytes moved by defragmentation since creation.
    pub bytes_moved: u64,
    /// Moves abandoned because a reader pinned the block mid-copy.
    pub moves_abandoned: u64,
}

impl fmt::Display for CompactStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {} holes ({} fragmented), {} moves ({} moved, {} abandoned)",
            self.allocator,
            self.holes,
            crate::Bytes(self.fragmented),
            self.blocks_moved,
            crate::Bytes(self.bytes_moved as usize),
            self.moves_abandoned
        )
    }
}

impl Compact {
    /// Bytes of handle table per handle.
    pub const SLOT_SIZE: usize = SLOT_SIZE;
    /// Block offsets, alignment and consumed sizes are multiples of this.
    pub const GRANULARITY: usize = GRANULE;
    /// The largest data area a `Compact` manages (4 GiB minus 8 bytes).
    pub const MAX_CAPACITY: usize = MAX_CAPACITY;

    /// Memory for a data area of `capacity` bytes and a table of
    /// `max_handles` handles, when it starts on an 8-byte boundary (a static
    /// [`Arena`](crate::Arena) does).
    ///
    /// # Panics
    ///
    /// If the sum does not fit in `usize` (in a `const`, a compile error):
    /// no memory could hold it, and a wrapped small size would be wrong.
    pub const fn bytes_for(capacity: usize, max_handles: usize) -> usize {
        const fn sum(a: usize, b: usize) -> usize {
            match a.checked_add(b) {
                Some(sum) => sum,
                None => panic!("Compact::bytes_for: the sizes overflow usize"),
            }
        }
        let table = match max_handles.checked_mul(SLOT_SIZE) {
            Some(table) => table,
            None => panic!("Compact::bytes_for: the sizes overflow usize"),
        };
        sum(
            sum(capacity, GRANULE - 1) & !(GRANULE - 1),
            sum(table, SLOT_ALIGN - 1),
        )
    }

    /// The handle count the layout macro uses for a region of `len` bytes:
    /// one per KiB (3 % of the region for the table), at least 16.
    pub const fn default_handles(len: usize) -> usize {
        let n = len / 1024;
        if n < 16 { 16 } else { n }
    }

    const_fn! {
        /// An allocator over `memory` with a table of up to `max_handles`
        /// handles at its end (fewer if the memory cannot hold them). Nothing
        /// is written to the memory until first use.
        pub fn new(memory: RawMemory, max_handles: usize) -> Self {
            // Keep `SLOT_ALIGN - 1` bytes for aligning the table down, so it
            // never starts before the memory.
            let room = memory.len().saturating_sub(SLOT_ALIGN - 1) / SLOT_SIZE;
            let mut slots = max_handles;
            if slots > room {
                slots = room;
            }
            if slots > MAX_SLOTS {
                slots = MAX_SLOTS;
            }
            Self {
                slots: slots as u32,
                table_off: memory.len() - slots * SLOT_SIZE,
                memory,
                fresh: AtomicU32::new(0),
                scopes: AtomicU32::new(0),
                state: Lock::new(State {
                    first: NIL,
                    last: NIL,
                    free_slots: NIL,
                    retired: 0,
                    counters: Counters::new(),
                    blocks_moved: 0,
                    bytes_moved: 0,
                    moves_abandoned: 0,
                    evacuations: 0,
                    window: None,
                    anchor: NIL,
                    sliding: false,
                    resume: None,
                    runs: 0,
                    epoch: 0,
                    largest: gaps::Largest::UNKNOWN,
                    batch: batch::Batch::new(),
                    repair: plan::Repair::NONE,
                }),
            }
        }
    }

    #[inline]
    fn geometry(&self) -> Geometry {
        let ptr = self.memory.as_ptr();
        let table = ptr.wrapping_add(self.table_off);
        let table = table.wrapping_sub(table.addr() & (SLOT_ALIGN - 1));
        let base = ptr.wrapping_add(ptr.addr().wrapping_neg() & (GRANULE - 1));
        let capacity =
            (table.addr().saturating_sub(base.addr()) & !(GRANULE - 1)).min(MAX_CAPACITY);
        Geometry {
            base,
            capacity,
            table: table.cast(),
            links: table.wrapping_add(self.slots as usize * HOT_SIZE).cast(),
        }
    }

    /// The slot `index`, if it has been initialised.
    #[inline]
    fn slot(&self, g: Geometry, index: u32) -> Option<&Slot> {
        if index < self.fresh.load(Ordering::Acquire) {
            // SAFETY: `index < fresh <= slots`, so the slot lies inside the
            // table, which `new` placed inside the memory, SLOT_ALIGN-aligned;
            // `allocate` wrote a valid `Slot` there before publishing `fresh`
            // (release, paired with the acquire above). Slots hold only
            // atomics, so shared references are all anyone needs.
            Some(unsafe { &*g.table.add(index as usize) })
        } else {
            None
        }
    }

    /// The slot `index` under the lock, known to be initialised.
    #[inline]
    fn slot_locked(&self, g: Geometry, index: u32) -> &Slot {
        debug_assert!(index < self.fresh.load(Ordering::Relaxed));
        // SAFETY: callers pass indices from the lock-protected lists, which
        // hold only initialised slots (`< fresh <= slots`); see `slot`.
        unsafe { &*g.table.add(index as usize) }
    }

    /// The cold entry `index` under the lock, known to be initialised.
    #[inline]
    fn links(&self, g: Geometry, index: u32) -> &Links {
        debug_assert!(index < self.fresh.load(Ordering::Relaxed));
        // SAFETY: `index < fresh <= slots`, and the cold array of `slots`
        // entries follows the hot one inside the table (`new` reserved
        // `SLOT_SIZE` bytes per slot); `allocate` wrote a valid `Links`
        // there before raising `fresh`. Only atomics inside.
        unsafe { &*g.links.add(index as usize) }
    }

    /// The offset of the first byte at or after `end` that is aligned to
    /// `align` in the address space, if the address does not overflow.
    #[inline]
    fn place(g: Geometry, end: usize, align: usize) -> Option<usize> {
        let addr = g.base.addr().checked_add(end)?.checked_add(align - 1)? & !(align - 1);
        Some(addr - g.base.addr())
    }

    /// The largest alignment a request may ask for: the largest power of two
    /// not above the capacity (at least the granularity).
    fn max_align(capacity: usize) -> usize {
        if capacity < GRANULE {
            GRANULE
        } else {
            1 << capacity.ilog2()
        }
    }

    /// Shared access to the block of `handle`, pinning it until the guard
    /// drops; `None` for a stale or foreign handle and while a
    /// [`PinnedMut`] of the block lives. Lock-free. If another thread is
    /// sliding this very block over itself right now, waits for that one
    /// copy to finish (see the [`Compact`] documentation).
    #[inline]
    pub fn get(&self, handle: Handle) -> Option<Pinned<'_>> {
        let g = self.geometry();
        let slot = self.slot(g, handle.index)?;
        let mut word = slot.state.load(Ordering::Relaxed);
        loop {
            if generation(word) != handle.generation
                || word & (LIVE | WRITER) != LIVE
                || pins(word) == MAX_PINS
            {
                return None;
            }
            if word & FROZEN != 0 {
                spin_hint();
                word = slot.state.load(Ordering::Relaxed);
                continue;
            }
            // Acquire: pairs with the release of `allocate`, of the last
            // writer's drop and of the mover's commit, so the offset read
            // below and the bytes behind it are the ones this word vouches for.
            match slot.state.compare_exchange_weak(
                word,
                word + PIN,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        Some(Pinned {
            slot,
            bytes: Self::payload(g, slot),
            len: slot.len(),
            handle,
            _bytes: PhantomData,
        })
    }

    /// Exclusive access to the block of `handle`, pinning it until the guard
    /// drops; `None` for a stale or foreign handle and while any other pin
    /// of the block lives (a [`Pinned`], a [`PinnedMut`], a [`PinnedAll`],
    /// or a move by another thread's [`defragment`](Self::defragment)).
    /// Lock-free, never waits.
    #[inline]
    pub fn get_mut(&self, handle: Handle) -> Option<PinnedMut<'_>> {
        let g = self.geometry();
        let slot = self.slot(g, handle.index)?;
        let mut word = slot.state.load(Ordering::Relaxed);
        loop {
            let busy = WRITER | MOVING | FROZEN;
            if generation(word) != handle.generation
                || word & LIVE == 0
                || word & busy != 0
                || pins(word) != 0
            {
                return None;
            }
            // Acquire: as in `get`; it also orders our writes after every
            // earlier reader's unpin (release).
            match slot.state.compare_exchange_weak(
                word,
                word | WRITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        // A `PinnedAll` pins every block: give way to it (the `scope`
        // module's protocol, mark then look).
        if self.scoped_after_mark() {
            slot.state.fetch_and(!WRITER, Ordering::Release);
            return None;
        }
        Some(PinnedMut {
            slot,
            bytes: Self::payload(g, slot),
            len: slot.len(),
            handle,
            _bytes: PhantomData,
        })
    }

    /// The first byte of the block of `slot`, which the caller has pinned.
    #[inline]
    fn payload(g: Geometry, slot: &Slot) -> NonNull<u8> {
        let offset = slot.offset();
        // `base` is derived from the memory's non-null pointer by adding at
        // most 7, and the memory does not wrap the address space.
        let ptr = g.base.wrapping_add(offset);
        NonNull::new(ptr).unwrap_or(NonNull::dangling())
    }

    /// Whether `handle` names a live block of this allocator now.
    pub fn contains(&self, handle: Handle) -> bool {
        let g = self.geometry();
        self.slot(g, handle.index).is_some_and(|slot| {
            let word = slot.state.load(Ordering::Acquire);
            word & LIVE != 0 && generation(word) == handle.generation
        })
    }

    /// The requested length of the block of `handle`, if it is live.
    pub fn len_of(&self, handle: Handle) -> Option<usize> {
        let slot = self.slot(self.geometry(), handle.index)?;
        let word = slot.state.load(Ordering::Acquire);
        (word & LIVE != 0 && generation(word) == handle.generation).then(|| slot.len())
    }

    /// Whether `ptr` points into the data area (where pinned blocks lie).
    pub fn owns(&self, ptr: NonNull<u8>) -> bool {
        let g = self.geometry();
        ptr.as_ptr().addr().wrapping_sub(g.base.addr()) < g.capacity
    }

    /// Bytes of the data area: the memory less the handle table and
    /// alignment.
    pub fn capacity(&self) -> usize {
        self.geometry().capacity
    }

    /// The number of handles the table holds.
    pub fn max_handles(&self) -> usize {
        self.slots as usize
    }

    /// Which algorithm this is: [`AllocatorKind::Compact`].
    pub fn kind(&self) -> AllocatorKind {
        AllocatorKind::Compact
    }

    /// The statistics every allocator reports; O(live blocks).
    /// `largest_free` is exact: the largest hole or the space after the last
    /// block.
    pub fn stats(&self) -> AllocatorStats {
        self.compact_stats().allocator
    }

    /// The statistics with holes, fragmented bytes and defragmentation
    /// totals; O(live blocks).
    pub fn compact_stats(&self) -> CompactStats {
        let g = self.geometry();
        self.state.with(|state| {
            let scan = self.scan(state, g);
            CompactStats {
                allocator: state.counters.snapshot(g.capacity, scan.largest_free),
                holes: scan.holes,
                fragmented: scan.fragmented,
                handles: self.slots as usize,
                retired_handles: state.retired as usize,
                blocks_moved: state.blocks_moved,
                bytes_moved: state.bytes_moved,
                moves_abandoned: state.moves_abandoned,
            }
        })
    }

    /// Walks the blocks: holes and the largest free range.
    fn scan(&self, state: &State, g: Geometry) -> Scan {
        let mut scan = Scan::default();
        let (mut end, mut cur) = (0, state.first);
        while cur != NIL {
            let slot = self.slot_locked(g, cur);
            let offset = slot.offset();
            if offset > end {
                scan.holes += 1;
                scan.fragmented += offset - end;
                scan.largest_free = scan.largest_free.max(offset - end);
            }
            end = offset + extent(slot.len());
            cur = self.links(g, cur).next();
        }
        scan.largest_free = scan.largest_free.max(g.capacity.saturating_sub(end));
        scan
    }
}

impl fmt::Debug for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compact")
            .field("memory", &self.memory)
            .field("handles", &self.slots)
            .field("stats", &self.compact_stats())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
