//! See [`Linear`].

use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::NonNull;

use crate::allocator::check_request;
use crate::sync::{AtomicU64, AtomicUsize, Ordering, const_fn};
use crate::{
    AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawAllocator, RawMemory,
};

const FIELD_BITS: u32 = 28;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const EPOCH_SHIFT: u32 = 2 * FIELD_BITS;

/// The largest frame (or `Linear`) the 28-bit offset of the state word covers.
pub(crate) const MAX_FRAME_LEN: usize = (1 << FIELD_BITS) - 1;

/// The unpacked state word: `offset | blocks << 28 | epoch << 56`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State(pub(crate) u64);

impl State {
    pub(crate) const EMPTY: Self = Self(0);
    /// Added to the word to count one more block.
    pub(crate) const ONE_BLOCK: u64 = 1 << FIELD_BITS;

    /// Packs the fields; callers keep `offset` and `blocks` below 2^28.
    #[inline]
    pub(crate) const fn new(offset: usize, blocks: usize, epoch: u8) -> Self {
        debug_assert!(offset <= MAX_FRAME_LEN && blocks <= MAX_FRAME_LEN);
        Self(offset as u64 | (blocks as u64) << FIELD_BITS | (epoch as u64) << EPOCH_SHIFT)
    }

    #[inline]
    pub(crate) const fn offset(self) -> usize {
        (self.0 & FIELD_MASK) as usize
    }

    #[inline]
    pub(crate) const fn blocks(self) -> usize {
        ((self.0 >> FIELD_BITS) & FIELD_MASK) as usize
    }

    #[inline]
    pub(crate) const fn epoch(self) -> u8 {
        (self.0 >> EPOCH_SHIFT) as u8
    }
}

/// Where the frames of a bump allocator lie: frame `epoch` starts at
/// `base + epoch * frame_len`.
#[derive(Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) base: *mut u8,
    pub(crate) frame_len: usize,
    /// `false` for a `Linear`, whose epoch is always 0: a constant that lets
    /// the inlined fast path skip the frame-base multiplication.
    pub(crate) multi_frame: bool,
}

impl Geometry {
    #[inline]
    fn frame_base(&self, epoch: u8) -> *mut u8 {
        if self.multi_frame {
            self.base.wrapping_add(usize::from(epoch) * self.frame_len)
        } else {
            self.base
        }
    }
}

/// A successful bump: the block and the state words around its CAS.
pub(crate) struct Bumped {
    pub(crate) block: NonNull<[u8]>,
    pub(crate) before: State,
    pub(crate) after: State,
    /// Alignment padding before the block.
    pub(crate) pad: usize,
}

/// The highest offset the current frame reached before an offset decrease,
/// tagged with the frame's epoch: `offset | epoch << 32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peak(pub(crate) u64);

impl Peak {
    #[inline]
    pub(crate) const fn new(offset: usize, epoch: u8) -> Self {
        Self(offset as u64 | (epoch as u64) << 32)
    }

    #[inline]
    pub(crate) const fn offset(self) -> usize {
        self.0 as u32 as usize
    }

    #[inline]
    pub(crate) const fn epoch(self) -> u8 {
        (self.0 >> 32) as u8
    }
}

/// The state word and counters shared by [`Linear`] and
/// [`Frames`](crate::Frames).
///
/// The allocation fast path writes only `state`: every other statistic is
/// derived from it, or written off the fast path (module docs, *Statistics*).
pub(crate) struct Bump {
    pub(crate) state: AtomicU64,
    /// Alignment padding inside the current frame's unreclaimed bytes:
    /// `requested = offset - padding`. Written only by allocations that
    /// needed padding, and by rollbacks and resets.
    pub(crate) padding: AtomicUsize,
    /// A [`Peak`]: the highest offset the current frame reached before any
    /// rollback or reset moved it down. Written before the move is
    /// published, so `max(peak, offset)` is the frame's peak.
    pub(crate) peak: AtomicU64,
    /// Blocks reclaimed by resets and rollbacks; `allocations` is this plus
    /// the blocks not yet reclaimed.
    pub(crate) deallocations: AtomicU64,
    pub(crate) failures: AtomicU64,
}

impl Bump {
    const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                state: AtomicU64::new(State::EMPTY.0),
                padding: AtomicUsize::new(0),
                peak: AtomicU64::new(Peak::new(0, 0).0),
                deallocations: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }
        }
    }

    /// Records that frame `epoch` reached `offset`, before the caller moves
    /// the offset below it. `false` when `epoch` is no longer the frame whose
    /// peak is collected (a `next_frame` has started to leave it): the
    /// caller must then leave the offset alone.
    pub(crate) fn record_peak(&self, epoch: u8, offset: usize) -> bool {
        let mut seen = self.peak.load(Ordering::Relaxed);
        loop {
            let recorded = Peak(seen);
            if recorded.epoch() != epoch {
                return false;
            }
            if recorded.offset() >= offset {
                return true;
            }
            // Relaxed: the caller's release CAS on `state` that moves the
            // offset down publishes this write along with the move.
            match self.peak.compare_exchange_weak(
                seen,
                Peak::new(offset, epoch).0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
    }

    /// The highest offset the current frame (of the `state` just loaded, with
    /// acquire) has reached.
    pub(crate) fn frame_peak(&self, state: State) -> usize {
        let recorded = Peak(self.peak.load(Ordering::Relaxed));
        if recorded.epoch() == state.epoch() {
            recorded.offset().max(state.offset())
        } else {
            state.offset()
        }
    }

    /// The peak record belongs to the current frame (outside a frame switch)
    /// and lies within it.
    pub(crate) fn check_peak(
        &self,
        state: State,
        frame_len: usize,
    ) -> Result<(), InvariantViolation> {
        let recorded = Peak(self.peak.load(Ordering::Relaxed));
        if recorded.epoch() != state.epoch() {
            return Err(InvariantViolation {
                what: "peak record tagged with another frame",
                offset: recorded.offset(),
            });
        }
        if recorded.offset() > frame_len {
            return Err(InvariantViolation {
                what: "peak record beyond the frame",
                offset: recorded.offset(),
            });
        }
        Ok(())
    }

    /// `offset - padding`: the requested bytes of the current frame.
    pub(crate) fn requested(&self, state: State) -> usize {
        state
            .offset()
            .saturating_sub(self.padding.load(Ordering::Relaxed))
    }

    #[inline]
    pub(crate) fn load(&self) -> State {
        State(self.state.load(Ordering::Acquire))
    }

    /// Allocates `layout` from the current frame. Inlined so that a constant
    /// layout folds into the caller's code: the fast path is one CAS.
    ///
    /// When the current offset already has the request's alignment (every
    /// allocation of a run of equal, alignment-multiple sizes) the loop below
    /// needs no padding arithmetic and no padding counter; otherwise it hands
    /// over to [`Bump::bump`], which places the block exactly as before (the
    /// padding is the same `-at mod align`, zero here), so placement and the
    /// rollback argument are unchanged.
    #[inline]
    pub(crate) fn allocate(
        &self,
        geometry: Geometry,
        layout: Layout,
    ) -> Result<Bumped, AllocError> {
        if let Err(err) = check_request(layout, usize::MAX) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(err);
        }
        let mut current = self.load();
        loop {
            let offset = current.offset();
            let at = geometry.frame_base(current.epoch()).wrapping_add(offset);
            if at.addr() & (layout.align() - 1) != 0 {
                return self.allocate_padded(geometry, layout);
            }
            // No overflow, and no carry out of the offset and count fields:
            // as in `bump` with `pad == 0`.
            let end = offset + layout.size();
            if end > geometry.frame_len {
                return Err(self.refuse(geometry, current, layout));
            }
            let next = State(current.0 + layout.size() as u64 + State::ONE_BLOCK);
            debug_assert_eq!(next, State::new(end, current.blocks() + 1, current.epoch()));
            // AcqRel: as in `bump`.
            match self.state.compare_exchange_weak(
                current.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: `offset < end <= frame_len` (`check_request`
                    // refused zero sizes), so `at` lies inside the frame,
                    // which is inside the allocator's memory: not null.
                    let ptr = unsafe { NonNull::new_unchecked(at) };
                    return Ok(Bumped {
                        block: NonNull::slice_from_raw_parts(ptr, layout.size()),
                        before: current,
                        after: next,
                        pad: 0,
                    });
                }
                Err(seen) => current = State(seen),
            }
        }
    }

    /// [`Bump::allocate`] for an offset that needs padding: the general loop,
    /// and the padding counted. Inlined: out of line, the geometry would be
    /// spilled to memory for the call, and a `Linear`'s constant
    /// single-frame base (and a constant layout) would no longer fold into
    /// the aligned loop.
    #[inline]
    fn allocate_padded(&self, geometry: Geometry, layout: Layout) -> Result<Bumped, AllocError> {
        match self.bump(geometry, layout) {
            Ok(bumped) => {
                if bumped.pad != 0 {
                    self.add_padding(bumped.pad);
                }
                Ok(bumped)
            }
            Err(current) => Err(self.refuse(geometry, current, layout)),
        }
    }

    /// The CAS loop of [`Bump::allocate`] for a request `check_request`
    /// accepted, without touching any counter: the caller adds the padding
    /// (`pad`) and counts a refusal. `Err`
    /// carries the word that had no room.
    #[inline]
    pub(crate) fn bump(&self, geometry: Geometry, layout: Layout) -> Result<Bumped, State> {
        let mut current = self.load();
        loop {
            let offset = current.offset();
            let at = geometry.frame_base(current.epoch()).wrapping_add(offset);
            let pad = at.addr().wrapping_neg() & (layout.align() - 1);
            // No overflow: `Layout` keeps `size + align - 1 <= isize::MAX`,
            // `pad < align` and `offset < 2^28`, which sum to less than
            // `usize::MAX` on every target of at least 32 bits.
            let end = offset + pad + layout.size();
            if end > geometry.frame_len {
                return Err(current);
            }
            // `end <= frame_len < 2^28` and `end > offset >= blocks`, so the
            // count stays below 2^28 too: adding to the packed word carries
            // into no other field.
            let next = State(current.0 + (pad + layout.size()) as u64 + State::ONE_BLOCK);
            debug_assert_eq!(next, State::new(end, current.blocks() + 1, current.epoch()));
            // AcqRel: acquire the release of a rollback or reset that gave
            // these bytes back, so the previous owner's accesses happen
            // before ours.
            match self.state.compare_exchange_weak(
                current.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let ptr = at.wrapping_add(pad);
                    // SAFETY: `offset + pad < end <= frame_len`, so `ptr` lies
                    // inside the frame, which is inside the allocator's
                    // memory: a valid allocation is never at address zero.
                    let ptr = unsafe { NonNull::new_unchecked(ptr) };
                    return Ok(Bumped {
                        block: NonNull::slice_from_raw_parts(ptr, layout.size()),
                        before: current,
                        after: next,
                        pad,
                    });
                }
                Err(seen) => current = State(seen),
            }
        }
    }

    #[cold]
    pub(crate) fn add_padding(&self, padding: usize) {
        self.padding.fetch_add(padding, Ordering::Relaxed);
    }

    #[cold]
    pub(crate) fn refuse(&self, geometry: Geometry, current: State, layout: Layout) -> AllocError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let base = geometry.frame_base(current.epoch());
        let pad_when_empty = base.addr().wrapping_neg() & (layout.align() - 1);
        let max = geometry.frame_len.saturating_sub(pad_when_empty);
        if layout.size() > max {
            AllocError::TooLarge {
                size: layout.size(),
                max,
            }
        } else {
            AllocError::OutOfMemory {
                size: layout.size(),
                largest_free: geometry.frame_len - current.offset(),
            }
        }
    }

    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            state: self.load(),
            padding: self.padding.load(Ordering::Relaxed),
        }
    }

    /// # Safety
    ///
    /// As [`Linear::reset_to`].
    pub(crate) unsafe fn reset_to(&self, checkpoint: Checkpoint) {
        let target = checkpoint.state;
        let mut current = self.load();
        loop {
            if current.epoch() != target.epoch()
                || current.offset() < target.offset()
                || current.blocks() < target.blocks()
            {
                return;
            }
            if !self.record_peak(current.epoch(), current.offset()) {
                return;
            }
            match self.state.compare_exchange(
                current.0,
                target.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(seen) => current = State(seen),
            }
        }
        let reclaimed = current.blocks() - target.blocks();
        self.deallocations
            .fetch_add(reclaimed as u64, Ordering::Relaxed);
        self.padding.store(checkpoint.padding, Ordering::Relaxed);
    }
}

/// A position of a [`Linear`] (or of the current frame of a
/// [`Frames`](crate::Frames)) to return to with `reset_to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    state: State,
    padding: usize,
}

impl Checkpoint {
    /// The offset into the frame the checkpoint returns to.
    pub const fn offset(&self) -> usize {
        self.state.offset()
    }
}

/// A lock-free bump allocator over one memory range, with checkpoints and
/// [scopes](Linear::scope) that give their bytes back when they end.
///
/// * Allocation: O(1), one CAS on a single state word (retried under
///   contention) and no other atomic unless the request needs alignment
///   padding; `free` is an O(1) check that reclaims nothing; `reset` O(1).
/// * Per-block overhead: none, alignment padding only; any power-of-two
///   alignment.
/// * At most [`Linear::MAX_CAPACITY`] (256 MiB - 1) bytes.
/// * A scope rolls back only when no other thread allocated after its first
///   allocation (proved with the count of unreclaimed blocks kept in the
///   state word); otherwise its bytes stay until the next reset.
/// * Statistics: a block counts as live (and `requested`) until the reset or
///   rollback that reclaims it; `deallocations` counts reclaimed blocks.
///   They are derived from the state word and exact whenever no reset,
///   rollback or padded allocation is in flight (module docs).
///
/// A lock-free linear (bump) allocator with checkpoints and scopes that
/// roll back safely under concurrency.
///
/// # Algorithm
///
/// [`Linear`] hands out consecutive pieces of one memory range. Its whole
/// state is one `AtomicU64`, the *state word*:
///
/// ```text
///  63      56 55                  28 27                   0
/// +----------+----------------------+----------------------+
/// |  epoch   |        blocks        |        offset        |
/// +----------+----------------------+----------------------+
/// ```
///
/// * `offset`: the first byte not handed out;
/// * `blocks`: the number of blocks of the frame that no rollback has
///   reclaimed: every allocation adds one, a scope's rollback subtracts its own;
/// * `epoch`: which frame of a [`Frames`](crate::Frames) is current (always 0
///   for a `Linear`).
///
/// An allocation reads the word, aligns `offset` up, and publishes
/// `(end, blocks + 1, epoch)` with a compare-and-swap; a failed CAS retries
/// with the word it saw. That CAS is the allocation's only atomic
/// read-modify-write unless the request needs alignment padding (then one
/// more, see *Statistics*). Alloc is O(1) plus retries under contention; `free` is
/// O(1) and reclaims nothing (see below); [`Linear::reset`] is O(1).
///
/// # Why a scope's rollback is sound
///
/// [`Linear::scope`] runs a closure with a [`Scope`] whose allocations are
/// references bound to the closure; when the closure returns (or unwinds) the
/// scope tries to give its bytes back. Other threads allocate from the same
/// word meanwhile, raw or in scopes of their own, so the scope must prove that
/// nothing it would release belongs to anyone else. It proves it with
/// `blocks`:
///
/// * The scope's *checkpoint* is the word just before its **first**
///   allocation, taken from that allocation's successful CAS:
///   `(offset₀, blocks₀, epoch₀)`. After its `k`-th and last allocation ended
///   at `end`, it rolls back with one CAS
///   `(end, blocks₀ + k, epoch₀) → (offset₀, blocks₀, epoch₀)`, and does
///   nothing when the CAS fails: its bytes stay used until the next reset.
/// * Claim: whenever a rollback CAS of scope `X` succeeds, every block counted
///   in `blocks` that was allocated after `X`'s first allocation is `X`'s own.
///   By induction over successful rollbacks: between `X`'s first allocation and
///   its rollback, others added a set `B` of blocks and earlier rollbacks
///   removed a set `R`. `blocks` equals `blocks₀ + k`, so `|B| = |R|`. If some
///   earlier rollback, by scope `Y`, removed a block older than `X`'s first
///   allocation, then `Y`'s first allocation precedes `X`'s, and `X`'s first
///   block (still counted: only `X` removes it) was counted and not `Y`'s when
///   `Y` rolled back, contradicting the claim for `Y`. So `R ⊆ B`, hence
///   `R = B`: everything others allocated since `X`'s checkpoint has been
///   reclaimed by its owners. Blocks older than the checkpoint lie below
///   `offset₀`, so moving `offset` back to `offset₀` frees only `X`'s bytes.
/// * This is why the checkpoint is taken at the first allocation and not when
///   the scope opens: a scope `T` opened earlier could roll back below an idle
///   scope's opening offset, another thread could then allocate across it, and
///   the counts would balance while the offsets do not.
/// * Every counted block occupies at least one byte below `offset`, so
///   `blocks <= offset < 2^28`: the count never wraps, and a stale word can
///   never reappear with the same count unless the proof above holds.
/// * The epoch makes a scope of one frame unable to roll back another frame of
///   a [`Frames`](crate::Frames); a scope whose allocations saw two epochs
///   never rolls back at all.
/// * Before its CAS a rollback (and `reset_to`) records the offset it is about
///   to leave for `peak` (see *Statistics*). That record may refuse, while a
///   `next_frame` is leaving the frame; the scope then keeps its bytes, which
///   is always sound: the proof above is about rollbacks that happen, and
///   not rolling back releases nothing.
///
/// Values allocated in a scope are **never dropped**: [`Scope::alloc`]
/// refuses, at compile time, types that need `Drop`, so nothing leaks
/// silently.
///
/// # Limits and costs
///
/// * Capacity: at most [`Linear::MAX_CAPACITY`] (256 MiB - 1) bytes, as
///   offsets are 28 bits; [`Linear::new`] rejects more (a compile error in a
///   `static`).
/// * Per-block overhead: none; alignment padding is the only waste. A 64-byte
///   request aligned to 8 consumes 64 bytes when the offset is aligned.
/// * Alignment: any power of two; padding counts as used.
/// * Worst case: a failed request is O(1); an allocation retries its CAS once
///   per competing allocation that wins.
/// * Thread safety: lock-free on targets with 64-bit CAS; on 32-bit targets
///   `portable-atomic` emulates the 64-bit word with a lock or a critical
///   section.
///
/// # Statistics
///
/// A bump allocator does not know where a block ends, so `free` reclaims
/// nothing: it checks the pointer and returns `Ok`. A block is *deallocated*
/// when the reset or rollback that reclaims its bytes happens. So that an
/// allocation writes nothing but the state word, the figures are derived:
///
/// * `used` is `offset`, `live` is `blocks`, `largest_free` is what is left
///   after `offset`.
/// * `deallocations` counts the blocks resets and rollbacks reclaimed (an
///   atomic only they write); `allocations` is `deallocations + live`.
/// * `requested` is `used - padding`, where `padding` (an atomic) is the
///   alignment padding inside the unreclaimed bytes: an allocation adds its
///   padding after its CAS when it has any, a scope's rollback subtracts what
///   its own allocations added, `reset_to` restores the checkpoint's value and
///   `reset` clears it.
/// * `peak` is the larger of `offset` and the highest offset a rollback,
///   `reset_to` or `reset` was about to leave, recorded *before* the CAS that
///   lowers the offset; `stats` reads it after acquiring the state word, so it
///   sees the record of every decrease it sees. `used` only falls through such
///   a CAS, so `peak` is exactly the highest `used` ever reached.
/// * `failures` is an atomic written by refused requests only.
///
/// Every figure is exact whenever no reset, `reset_to`, rollback or
/// allocation that needs padding is in flight; an allocation without padding
/// is a single CAS and is never half done. A snapshot taken concurrently is
/// the state word at one instant, with `peak` exact for that instant, but:
///
/// * while a padded allocation is between its CAS and its padding update,
///   `requested` is higher by that padding;
/// * while a rollback, `reset_to` or `reset` is between its CAS and its
///   counter updates, `live` and `used` already exclude what it reclaimed but
///   `deallocations` does not count it yet, so `allocations` is lower by the
///   blocks it reclaimed, and `requested` is lower by the padding among them
///   (never below 0).
///
/// # Example
///
/// ```
/// use flight_mem::{Arena, Linear, RawAllocator, RawMemory};
///
/// static ARENA: Arena<4096> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static SCRATCH: Linear = Linear::new(unsafe { RawMemory::from_arena(&ARENA) });
///
/// let sum = SCRATCH.scope(|scope| {
///     let numbers = scope.alloc_slice_copy(&[1u32, 2, 3]).unwrap();
///     numbers[0] = 10;
///     numbers.iter().sum::<u32>()
/// });
/// assert_eq!(sum, 15);
/// // The scope gave its bytes back.
/// assert_eq!(SCRATCH.stats().used, 0);
/// ```
pub struct Linear {
    memory: RawMemory,
    bump: Bump,
}

// SAFETY: all shared state is the atomics of `bump`; `memory` is an immutable
// address range. Blocks are disjoint by the CAS on the state word, and a
// rollback releases only the rolling-back scope's bytes (module docs).
unsafe impl Sync for Linear {}
// SAFETY: the allocator owns its memory range; moving it moves that ownership.
unsafe impl Send for Linear {}

impl Linear {
    /// The largest memory a `Linear` manages: 256 MiB - 1 bytes.
    pub const MAX_CAPACITY: usize = MAX_FRAME_LEN;

    const_fn! {
        /// A linear allocator over `memory`.
        ///
        /// # Panics
        ///
        /// When `memory` is longer than [`Linear::MAX_CAPACITY`] (at compile
        /// time when used in a `static`).
        pub fn new(memory: RawMemory) -> Self {
            assert!(
                memory.len() <= MAX_FRAME_LEN,
                "flight-mem: a `Linear` manages at most 256 MiB - 1 bytes (its offsets are 28 bits)"
            );
            Self { memory, bump: Bump::new() }
        }
    }

    #[inline]
    fn geometry(&self) -> Geometry {
        Geometry {
            base: self.memory.as_ptr(),
            frame_len: self.memory.len(),
            multi_frame: false,
        }
    }

    /// Runs `f` with a [`Scope`] whose allocations are given back when `f`
    /// returns or unwinds, unless another thread allocated after them (then
    /// they stay until the next reset).
    pub fn scope<R>(&self, f: impl FnOnce(&Scope<'_>) -> R) -> R {
        f(&Scope::new(&self.bump, self.geometry()))
    }

    /// A per-thread handle that claims chunks of this allocator with one
    /// CAS each and allocates inside them with no atomic (see [`LocalBump`]:
    /// costs, soundness, and what the statistics count while it holds a
    /// chunk).
    ///
    /// [`LocalBump`]: crate::LocalBump
    pub fn local(&self) -> crate::LocalBump<'_> {
        crate::LocalBump::new(&self.bump, self.geometry())
    }

    /// The current position, to return to with [`Linear::reset_to`].
    pub fn checkpoint(&self) -> Checkpoint {
        self.bump.checkpoint()
    }

    /// Returns to `checkpoint`, reclaiming every block allocated after it.
    /// Does nothing when the allocator is already below the checkpoint.
    /// It records the position it leaves for `peak` before moving (module
    /// docs, *Statistics*).
    ///
    /// # Safety
    ///
    /// `checkpoint` was taken on this allocator; no block allocated after it
    /// (raw or in a scope) is used after this call, and every access to those
    /// blocks happens before it; no scope that allocated after the checkpoint
    /// is still open; no [local handle](Linear::local) whose chunk reaches
    /// past the checkpoint is still alive (one that claimed a chunk after
    /// it, or claimed one before it and grew it in place after it: a handle
    /// grows its chunk while nothing was claimed after it, so a live handle
    /// must go before the `reset_to` unless its chunk is known to end below
    /// the checkpoint); and no block allocated before the checkpoint was
    /// reclaimed since (by a rollback, reset or `reset_to`).
    pub unsafe fn reset_to(&self, checkpoint: Checkpoint) {
        // SAFETY: the caller upholds the contract of `Bump::reset_to`, which
        // is this function's.
        unsafe { self.bump.reset_to(checkpoint) }
    }

    /// Reclaims every block.
    ///
    /// # Safety
    ///
    /// No block of this allocator is used after this call, every access to
    /// one happens before it, no scope is open and no [local
    /// handle](Linear::local) is alive.
    pub unsafe fn reset(&self) {
        let mut old = self.bump.load();
        loop {
            // A `Linear` has one frame: its peak record is never retired.
            self.bump.record_peak(old.epoch(), old.offset());
            match self.bump.state.compare_exchange(
                old.0,
                State::EMPTY.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(seen) => old = State(seen),
            }
        }
        self.bump.padding.store(0, Ordering::Relaxed);
        self.bump
            .deallocations
            .fetch_add(old.blocks() as u64, Ordering::Relaxed);
    }

    /// Reclaims every block: safe, as `&mut self` proves no scope is open, no
    /// local handle is alive and no `&'static` borrow hands out blocks. Raw pointers from
    /// [`RawAllocator::allocate`] become dangling.
    pub fn reset_mut(&mut self) {
        // SAFETY: `&mut self` excludes open scopes and other users; raw
        // blocks are valid only until a reset (the `RawAllocator` contract).
        unsafe { self.reset() }
    }
}

// SAFETY: blocks come from `Bump::allocate`: inside `memory`, aligned, at
// least `size` long, disjoint because each is the range one successful CAS
// moved `offset` across, and valid until the reset or rollback (of the scope
// that owns them, only) that reclaims them.
unsafe impl RawAllocator for Linear {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.bump
            .allocate(self.geometry(), layout)
            .map(|bumped| bumped.block)
    }

    /// Checks `ptr` and reclaims nothing: the block stays used (and counted
    /// as live) until the next reset. A pointer into the unused part is a
    /// block already reclaimed ([`AllocError::DoubleFree`]).
    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        if !self.memory.contains(ptr.as_ptr()) {
            return Err(AllocError::ForeignPointer);
        }
        let offset = ptr.as_ptr().addr() - self.memory.as_ptr().addr();
        if offset >= self.bump.load().offset() {
            return Err(AllocError::DoubleFree);
        }
        Ok(())
    }

    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.memory.contains(ptr.as_ptr())
    }

    fn capacity(&self) -> usize {
        self.memory.len()
    }

    fn stats(&self) -> AllocatorStats {
        let state = self.bump.load();
        let capacity = self.memory.len();
        let mut stats = AllocatorStats::empty(capacity);
        stats.used = state.offset();
        stats.peak = self.bump.frame_peak(state);
        stats.requested = self.bump.requested(state);
        stats.live = state.blocks();
        stats.deallocations = self.bump.deallocations.load(Ordering::Relaxed);
        stats.allocations = stats.deallocations + stats.live as u64;
        stats.failures = self.bump.failures.load(Ordering::Relaxed);
        stats.largest_free = capacity - state.offset();
        stats
    }

    /// [`AllocatorKind::Linear`].
    fn kind(&self) -> AllocatorKind {
        AllocatorKind::Linear
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        let state = self.bump.load();
        check_state(state, self.memory.len(), 1)?;
        self.bump.check_peak(state, self.memory.len())
    }
}

/// The invariants of a state word: `blocks <= offset <= frame_len`, `epoch <
/// frames`.
pub(crate) fn check_state(
    state: State,
    frame_len: usize,
    frames: usize,
) -> Result<(), InvariantViolation> {
    let offset = state.offset();
    if offset > frame_len {
        return Err(InvariantViolation {
            what: "bump offset beyond the frame",
            offset,
        });
    }
    if state.blocks() > offset {
        return Err(InvariantViolation {
            what: "more blocks than bytes in the frame",
            offset,
        });
    }
    if usize::from(state.epoch()) >= frames {
        return Err(InvariantViolation {
            what: "current frame index out of range",
            offset,
        });
    }
    Ok(())
}

crate::allocator::impl_allocator_api2!(Linear);
crate::allocator::inherent_surface!(Linear);
// SAFETY: `free` of a live block is `Ok` and changes nothing; its bytes come back at a reset, which is `unsafe` or needs `&mut self`; it never panics.
unsafe impl crate::allocator::FreesInAnyOrder for Linear {}

/// Allocations that last until the end of a [`Linear::scope`] or
/// [`Frames::scope`](crate::Frames::scope) closure.
///
/// References it hands out borrow the scope, so they cannot outlive the
/// closure; when it ends the scope gives its bytes back if no other thread
/// allocated after its first allocation. Values are never dropped: `alloc`
/// refuses types with drop glue at compile time.
pub struct Scope<'a> {
    bump: &'a Bump,
    geometry: Geometry,
    /// The state word before this scope's first allocation.
    checkpoint: Cell<Option<State>>,
    /// The state word after this scope's latest allocation.
    last: Cell<State>,
    blocks: Cell<usize>,
    /// Alignment padding this scope's allocations added to `Bump::padding`.
    padding: Cell<usize>,
    /// Set when an allocation landed in another frame than the first one.
    abandoned: Cell<bool>,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(bump: &'a Bump, geometry: Geometry) -> Self {
        Self {
            bump,
            geometry,
            checkpoint: Cell::new(None),
            last: Cell::new(State::EMPTY),
            blocks: Cell::new(0),
            padding: Cell::new(0),
            abandoned: Cell::new(false),
        }
    }

    /// Allocates a block for `layout`, valid until the scope ends.
    pub fn alloc_layout(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let bumped = self.bump.allocate(self.geometry, layout)?;
        match self.checkpoint.get() {
            None => self.checkpoint.set(Some(bumped.before)),
            Some(checkpoint) if checkpoint.epoch() != bumped.before.epoch() => {
                self.abandoned.set(true)
            }
            Some(_) => {}
        }
        self.last.set(bumped.after);
        self.blocks.set(self.blocks.get() + 1);
        let padding = bumped.after.offset() - bumped.before.offset() - layout.size();
        self.padding.set(self.padding.get() + padding);
        Ok(bumped.block)
    }

    fn count_failure(&self) {
        self.bump.failures.fetch_add(1, Ordering::Relaxed);
    }

    scope_conveniences!();

    /// Runs `f` with a nested scope, which gives its own bytes back when `f`
    /// ends; this scope's references stay valid meanwhile.
    pub fn scope<R>(&self, f: impl FnOnce(&Scope<'_>) -> R) -> R {
        f(&Scope::new(self.bump, self.geometry))
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        let Some(checkpoint) = self.checkpoint.get() else {
            return;
        };
        if self.abandoned.get() {
            return;
        }
        let blocks = self.blocks.get();
        let expected = State::new(
            self.last.get().offset(),
            checkpoint.blocks() + blocks,
            checkpoint.epoch(),
        );
        // Recorded before the release below publishes the lower offset. A
        // refusal means a `next_frame` is leaving this frame: keep the bytes.
        if !self.bump.record_peak(checkpoint.epoch(), expected.offset()) {
            return;
        }
        // Release: our accesses to the blocks happen before whoever acquires
        // these bytes next. One attempt: any other word means someone else
        // allocated after us, and the bytes must stay.
        if self
            .bump
            .state
            .compare_exchange(
                expected.0,
                checkpoint.0,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            let padding = self.padding.get();
            if padding != 0 {
                self.bump.padding.fetch_sub(padding, Ordering::Relaxed);
            }
            self.bump
                .deallocations
                .fetch_add(blocks as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let state = State::new(MAX_FRAME_LEN, 12345, 254);
        assert_eq!(
            (state.offset(), state.blocks(), state.epoch()),
            (MAX_FRAME_LEN, 12345, 254)
        );
    }
}
