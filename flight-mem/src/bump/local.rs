//! See [`LocalBump`].

use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::NonNull;

use crate::AllocError;
use crate::allocator::check_request;
use crate::bump::linear::{Bump, Geometry, State};
use crate::sync::Ordering;

/// Every local allocation advances the cursor by a multiple of this, so the
/// cursor stays aligned to it and a request aligned to at most this needs no
/// padding arithmetic.
const GRANULE: usize = 8;
/// The first chunk a handle claims, in bytes.
const FIRST_CHUNK: usize = 1024;
/// Chunks double up to this size in any frame of at least a quarter MiB
/// (smaller frames: a quarter of the frame).
const SMALL_FRAME_CHUNK: usize = 64 * 1024;
/// Chunks may grow past [`SMALL_FRAME_CHUNK`] up to a sixteenth of the frame
/// and at most this size.
/// Every claim is a CAS on the line all handles share: with 64 KiB chunks
/// (1,024 allocations of 64 B per claim) two threads reached 1.65–1.74× one
/// thread's throughput, with 256 KiB 1.94–1.96× (two threads of bumpalo:
/// 2.0×). The price is what a handle's partly used chunk keeps from the
/// others, and strands until the next reset when the handle drops after
/// another claim: the 1/16 bound keeps that small against the frame.
const MAX_CHUNK: usize = 256 * 1024;

/// Where a handle is: which chunk, where in it, how many allocations it holds
/// and how much padding. Restoring an earlier mark of the same chunk gives
/// back what was allocated after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    chunk: u32,
    cursor: *mut u8,
    count: usize,
    padding: usize,
}

/// A position of a [`LocalBump`], to return to with
/// [`LocalBump::reset_to`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalCheckpoint(Mark);

impl LocalCheckpoint {
    /// Which chunk the handle was in: a counter of the chunks it claimed and
    /// retired.
    pub fn chunk(&self) -> u32 {
        self.0.chunk
    }

    /// How many blocks the handle had allocated in that chunk.
    pub fn allocations(&self) -> usize {
        self.0.count
    }
}

/// A per-thread handle on a [`Linear`](crate::Linear) or
/// [`Frames`](crate::Frames) (`Linear::local`, `Frames::local`): it claims a
/// chunk of the shared bump with one compare-and-swap and then allocates
/// inside it with plain arithmetic.
///
/// * **Allocation:** O(1). In the chunk: a bounds check and a pointer bump,
///   no atomic (about ten instructions for a constant layout). When the chunk
///   is full the handle first tries to *extend* it in place (one CAS, when no
///   one allocated from the shared bump since), otherwise retires it and
///   claims a new one (one CAS each). Chunks start at 1 KiB and double up to
///   the larger of 64 KiB and a sixteenth of the frame, but at most 256 KiB
///   and a quarter of the frame; near the end of the memory a
///   handle claims exactly what the request needs, so the whole capacity
///   stays usable. A request larger than a quarter of the next chunk goes
///   to the shared bump directly.
/// * **Granule:** every local block is rounded up to a multiple of 8 bytes
///   (the rounding counts as padding), so the cursor stays 8-aligned and a
///   request aligned to at most 8 needs no padding arithmetic at all.
/// * **Drop:** retires the chunk. When the chunk is still the last thing
///   claimed from the shared bump, its unused tail is given back with one CAS;
///   otherwise the tail stays used (counted as padding) until the next reset.
/// * **Scopes and checkpoints:** [`LocalBump::scope`] and
///   [`LocalBump::checkpoint`]/[`LocalBump::reset_to`] work like those of the
///   shared allocator, on the handle alone (no atomic at all).
/// * `!Sync` (it holds its chunk in [`Cell`]s) but `Send`: a job may take its
///   handle to another thread.
///
/// # Why it is sound against other threads, rollbacks and resets
///
/// A chunk is, for the shared bump, one ordinary block: its claim is the
/// allocation CAS of [`Linear`](crate::Linear) (one more in `blocks`), so no
/// other allocation and no scope rollback can hand out its bytes (the
/// rollback proof of `Linear` applies unchanged: a chunk is a block that no
/// scope owns). Inside the chunk only this handle allocates. The other state
/// changes a handle makes are:
///
/// * **Extend** `(end, blocks, epoch) → (end + n, blocks, epoch)`, only from
///   the exact word its own claim (or last extension) produced. That word
///   comes back only when every block counted after the claim has been
///   reclaimed by its owner's rollback (by the same induction as in `Linear`:
///   take the claim as the first allocation of a scope with nothing after
///   it), so nothing lies above the chunk and extending it is the same as
///   having claimed a longer chunk.
/// * **Give back the tail** `(end, blocks, epoch) → (cursor, blocks + k − 1,
///   epoch)` from the same exact word: the bytes between the cursor and the
///   end are the handle's and unused. The handle's `k` blocks stay below the
///   new offset, so `blocks <= offset` still holds.
/// * **Publish** `k − 1` more blocks without moving the offset, when the
///   chunk is not the last claim. Blocks published after a scope's first
///   allocation are never reclaimed by a rollback, so they only make later
///   rollbacks fail, which releases nothing.
/// * A chunk the handle left empty (a scope gave everything back) is rolled
///   back whole when it is the last claim, exactly as a one-block scope is.
///
/// `reset`, `reset_to` and `next_frame` reclaim chunks. They need `&mut` (a
/// handle borrows the allocator, so none can be alive) or are `unsafe`, and
/// their contracts exclude a live handle whose chunk they would reclaim. As a
/// second line of defence, a handle whose frame is no longer current when it
/// retires a chunk leaves the state word alone.
///
/// # Statistics
///
/// Exact whenever no handle holds a chunk. While one does, the shared
/// allocator's figures count the chunk as **one live block of its whole
/// length**: `used` includes its unused tail, `live` and `allocations` count
/// it once whatever the handle allocated in it, `requested` counts it whole.
/// When the handle retires the chunk (claims the next one, or drops), the
/// figures become exact for it: its `k` allocations are counted, its padding
/// and any unused tail that could not be given back count as padding (so
/// `requested` is exact, `used` includes the tail), and what its scopes and
/// `reset_to` took back counts as deallocated. One exception: a chunk that a
/// scope emptied completely and that can no longer be given back (another
/// allocation followed its claim) stays counted as one live block of pure
/// padding until the reset, as a shared scope that could not roll back.
///
/// # Example
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{Arena, Linear, RawAllocator, RawMemory};
///
/// static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static SCRATCH: Linear = Linear::new(unsafe { RawMemory::from_arena(&ARENA) });
///
/// let mut local = SCRATCH.local();
/// let block = local.allocate(Layout::new::<[u64; 8]>()).unwrap();
/// assert_eq!(block.len(), 64);
/// let sum = local.scope(|scope| scope.alloc_slice_copy(&[1u32, 2, 3]).unwrap().iter().sum::<u32>());
/// assert_eq!(sum, 6);
/// drop(local);
/// // The unused tail came back: only the block is used, and the scope's
/// // block counts as allocated and deallocated.
/// let stats = SCRATCH.stats();
/// assert_eq!((stats.used, stats.live, stats.allocations), (64, 1, 2));
/// ```
pub struct LocalBump<'a> {
    bump: &'a Bump,
    geometry: Geometry,
    /// The next free byte of the chunk, a multiple of [`GRANULE`]; null
    /// without a chunk.
    cursor: Cell<*mut u8>,
    /// The address one past the chunk; 0 without a chunk.
    end: Cell<usize>,
    /// Allocations in the current chunk.
    count: Cell<usize>,
    /// Padding (alignment and granule rounding) in the current chunk.
    padding: Cell<usize>,
    /// Allocations scopes and `reset_to` took back since the last retire:
    /// deallocations for the shared statistics.
    reclaimed: Cell<usize>,
    /// The state word the claim (or latest extension) of the current chunk
    /// produced; `None` without a chunk.
    claimed: Cell<Option<State>>,
    /// The state word before the claim, and the claim's own alignment
    /// padding: what rolling an empty chunk back restores.
    before_claim: Cell<(State, usize)>,
    /// Counts claims, so that marks of different chunks differ.
    chunk: Cell<u32>,
    /// The length of the next chunk to claim.
    next_chunk: Cell<usize>,
}

// SAFETY: the handle's own state is plain data it alone touches; what it
// shares is `&Bump` (atomics only, `Sync`) and the address range of the
// allocator's memory, whose chunk bytes belong to this handle wherever it
// runs. Moving it to another thread moves that ownership; it is `!Sync`, so
// it is never used from two threads at once.
unsafe impl Send for LocalBump<'_> {}

impl<'a> LocalBump<'a> {
    pub(crate) fn new(bump: &'a Bump, geometry: Geometry) -> Self {
        Self {
            bump,
            geometry,
            cursor: Cell::new(core::ptr::null_mut()),
            end: Cell::new(0),
            count: Cell::new(0),
            padding: Cell::new(0),
            reclaimed: Cell::new(0),
            claimed: Cell::new(None),
            before_claim: Cell::new((State::EMPTY, 0)),
            chunk: Cell::new(0),
            next_chunk: Cell::new(FIRST_CHUNK.min(geometry.frame_len / 8 / GRANULE * GRANULE)),
        }
    }

    /// Allocates a block for `layout`: from the handle's chunk with no
    /// atomic when it has room.
    ///
    /// The block stays valid until the shared allocator's reset (or
    /// `next_frame` of its frame), or until a [`LocalBump::reset_to`] or a
    /// scope of this handle that reclaims it.
    #[inline]
    pub fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        match self.take(layout) {
            Some(block) => Ok(block),
            None => self.allocate_slow(layout),
        }
    }

    /// Bytes left in the current chunk.
    pub fn remaining(&self) -> usize {
        self.end.get() - self.cursor.get().addr()
    }

    /// The position of the handle, to return to with
    /// [`LocalBump::reset_to`].
    pub fn checkpoint(&self) -> LocalCheckpoint {
        LocalCheckpoint(self.mark())
    }

    /// Returns to `checkpoint`, reclaiming every block this handle allocated
    /// from its chunk after it. Does nothing when the handle has claimed
    /// another chunk since, or is already below the checkpoint. Blocks the
    /// handle sent to the shared bump directly (large requests) stay.
    ///
    /// # Safety
    ///
    /// `checkpoint` was taken on this handle; no block allocated through the
    /// handle after it is used after this call; no scope of the handle that
    /// allocated after it is still open (a scope borrows the handle mutably,
    /// so safe code cannot call this inside one).
    pub unsafe fn reset_to(&self, checkpoint: LocalCheckpoint) {
        let target = checkpoint.0;
        let now = self.mark();
        if now.chunk == target.chunk
            && now.cursor.addr() >= target.cursor.addr()
            && now.count >= target.count
        {
            self.restore(target);
        }
    }

    /// Runs `f` with a [`LocalScope`] whose allocations are given back to
    /// this handle when `f` returns or unwinds (unless the handle claimed a
    /// new chunk for them; then they stay until the shared allocator's
    /// reset). Borrows the handle mutably, so nothing else allocates through
    /// it meanwhile except nested scopes.
    pub fn scope<R>(&mut self, f: impl FnOnce(&LocalScope<'_, 'a>) -> R) -> R {
        f(&LocalScope::new(self))
    }

    /// The fast path: a block from the current chunk, or `None`.
    #[inline(always)]
    fn take(&self, layout: Layout) -> Option<NonNull<[u8]>> {
        let size = layout.size();
        let align = layout.align();
        let cursor = self.cursor.get();
        // The cursor is a multiple of the granule, so for alignments up to it
        // (constants in the common case) this folds to 0.
        let pad = if align <= GRANULE {
            0
        } else {
            cursor.addr().wrapping_neg() & (align - 1)
        };
        // No overflow: `size + align - 1 <= isize::MAX` (`Layout`).
        let step = (size + GRANULE - 1) & !(GRANULE - 1);
        // `end >= cursor` always (both 0/null without a chunk).
        if size == 0 || pad + step > self.end.get() - cursor.addr() {
            return None;
        }
        let start = cursor.wrapping_add(pad);
        self.cursor.set(start.wrapping_add(step));
        self.count.set(self.count.get() + 1);
        let waste = pad + step - size;
        if waste != 0 {
            self.padding.set(self.padding.get() + waste);
        }
        // SAFETY: `cursor + pad + step <= end`, so `start` lies inside the
        // chunk, inside the allocator's memory, which is never at address 0.
        let start = unsafe { NonNull::new_unchecked(start) };
        Some(NonNull::slice_from_raw_parts(start, size))
    }

    /// The rest of `allocate`: refuse, go to the shared bump, or refill the
    /// chunk and take from it.
    #[cold]
    #[inline(never)]
    fn allocate_slow(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_marked(layout).map(|(block, _)| block)
    }

    /// Allocates and says where the handle was just before the block was
    /// taken from its chunk (`None` when the block came from the shared bump
    /// directly).
    fn allocate_marked(&self, layout: Layout) -> Result<(NonNull<[u8]>, Option<Mark>), AllocError> {
        let before = self.mark();
        if let Some(block) = self.take(layout) {
            return Ok((block, Some(before)));
        }
        if let Err(err) = check_request(layout, usize::MAX) {
            self.bump.failures.fetch_add(1, Ordering::Relaxed);
            return Err(err);
        }
        let align = layout.align().max(GRANULE);
        let step = layout.size().next_multiple_of(GRANULE);
        // The most a request can need from a fresh chunk aligned to `align`.
        let need = step;
        if need > self.next_chunk.get() / 4 {
            return self
                .bump
                .allocate(self.geometry, layout)
                .map(|bumped| (bumped.block, None));
        }
        let pad = self.cursor.get().addr().wrapping_neg() & (layout.align() - 1);
        if self.extend(pad + step - self.remaining())
            || self.claim(self.next_chunk.get(), align)
            || self.claim(need, align)
        {
            let before = self.mark();
            if let Some(block) = self.take(layout) {
                return Ok((block, Some(before)));
            }
        }
        let current = self.bump.load();
        Err(self.bump.refuse(self.geometry, current, layout))
    }

    /// Grows the current chunk in place by at least `short` bytes (a whole
    /// next chunk when there is room), when it is still the last claim.
    fn extend(&self, short: usize) -> bool {
        let Some(claimed) = self.claimed.get() else {
            return false;
        };
        let room = (self.geometry.frame_len - claimed.offset()) / GRANULE * GRANULE;
        let short = short.next_multiple_of(GRANULE);
        let grow = self.next_chunk.get().max(short).min(room);
        if grow < short {
            return false;
        }
        // `claimed.offset() + grow <= frame_len < 2^28`: no carry.
        let next = State(claimed.0 + grow as u64);
        // AcqRel as for an allocation: these bytes may have been given back
        // by a rollback whose accesses must happen before ours.
        if self
            .bump
            .state
            .compare_exchange(claimed.0, next.0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.claimed.set(Some(next));
        self.end.set(self.end.get() + grow);
        self.grow_next_chunk();
        true
    }

    /// Retires the current chunk and claims a new one of `len` bytes aligned
    /// to `align`.
    fn claim(&self, len: usize, align: usize) -> bool {
        let Ok(layout) = Layout::from_size_align(len, align) else {
            return false;
        };
        if len == 0 {
            return false;
        }
        self.retire();
        let Ok(bumped) = self.bump.bump(self.geometry, layout) else {
            return false;
        };
        if bumped.pad != 0 {
            self.bump.add_padding(bumped.pad);
        }
        let start = bumped.block.cast::<u8>().as_ptr();
        self.cursor.set(start);
        self.end.set(start.addr() + len);
        self.count.set(0);
        self.padding.set(0);
        self.claimed.set(Some(bumped.after));
        self.before_claim.set((bumped.before, bumped.pad));
        self.chunk.set(self.chunk.get().wrapping_add(1));
        self.grow_next_chunk();
        true
    }

    /// Doubles the next chunk, up to [`SMALL_FRAME_CHUNK`] and a quarter of
    /// the frame (so a few handles can share a small allocator), or in a
    /// large frame up to [`MAX_CHUNK`] and a sixteenth of it.
    fn grow_next_chunk(&self) {
        let now = self.next_chunk.get();
        let frame = self.geometry.frame_len;
        let cap = (frame / 16)
            .clamp(SMALL_FRAME_CHUNK, MAX_CHUNK)
            .min(frame / 4)
            / GRANULE
            * GRANULE;
        self.next_chunk.set((now * 2).min(cap).max(now));
    }

    /// Publishes the current chunk to the shared statistics and gives back
    /// what it can (type docs, *Why it is sound*).
    fn retire(&self) {
        let reclaimed = self.reclaimed.replace(0);
        if reclaimed != 0 {
            self.bump
                .deallocations
                .fetch_add(reclaimed as u64, Ordering::Relaxed);
        }
        let Some(claimed) = self.claimed.take() else {
            return;
        };
        // Marks of the retired chunk never match again.
        self.chunk.set(self.chunk.get().wrapping_add(1));
        let count = self.count.replace(0);
        let padding = self.padding.replace(0);
        let tail = self.end.replace(0) - self.cursor.replace(core::ptr::null_mut()).addr();
        let (before, claim_pad) = self.before_claim.get();
        let mut current = self.bump.load();
        loop {
            if current.epoch() != claimed.epoch() {
                // The frame was left under this handle: outside the
                // contracts of `next_frame`/`reset`. Touch nothing.
                return;
            }
            let last =
                current == claimed && self.bump.record_peak(current.epoch(), current.offset());
            let (next, kept) = match (last, count) {
                // The one-block rollback of a chunk nothing is left in.
                (true, 0) => (before, 0),
                (true, _) => (
                    State(claimed.0 - tail as u64 + ((count - 1) as u64) * State::ONE_BLOCK),
                    0,
                ),
                // An empty chunk that cannot go back stays one block.
                (false, 0) => (current, tail),
                (false, _) => (
                    State(current.0 + ((count - 1) as u64) * State::ONE_BLOCK),
                    tail,
                ),
            };
            // Release: this handle's accesses to given-back bytes happen
            // before whoever acquires them next.
            if next == current
                || self
                    .bump
                    .state
                    .compare_exchange_weak(current.0, next.0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                let added = padding + kept;
                if last && count == 0 {
                    if claim_pad != 0 {
                        self.bump.padding.fetch_sub(claim_pad, Ordering::Relaxed);
                    }
                } else if added != 0 {
                    self.bump.padding.fetch_add(added, Ordering::Relaxed);
                }
                return;
            }
            current = self.bump.load();
        }
    }

    fn mark(&self) -> Mark {
        Mark {
            chunk: self.chunk.get(),
            cursor: self.cursor.get(),
            count: self.count.get(),
            padding: self.padding.get(),
        }
    }

    fn restore(&self, mark: Mark) {
        debug_assert_eq!(mark.chunk, self.chunk.get());
        self.reclaimed
            .set(self.reclaimed.get() + self.count.get() - mark.count);
        self.cursor.set(mark.cursor);
        self.count.set(mark.count);
        self.padding.set(mark.padding);
    }
}

impl Drop for LocalBump<'_> {
    fn drop(&mut self) {
        self.retire();
    }
}

impl core::fmt::Debug for LocalBump<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalBump")
            .field("remaining", &self.remaining())
            .field("allocations_in_chunk", &self.count.get())
            .field("next_chunk", &self.next_chunk.get())
            .finish()
    }
}

// SAFETY: blocks come from the handle's chunk (disjoint from every other
// block: the chunk is one block of the shared bump and the cursor only moves
// forward except through a scope or `reset_to` that reclaims its own blocks,
// which needs `&mut` or `unsafe`) or from the shared bump itself; they are
// aligned and at least `size` long, and stay valid while the handle borrow
// lives (the shared allocator cannot be reset through a shared reference
// without `unsafe`). `deallocate` does nothing, as for `Linear`.
unsafe impl allocator_api2::alloc::Allocator for &LocalBump<'_> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        if layout.size() == 0 {
            return Ok(crate::allocator::dangling(layout));
        }
        LocalBump::allocate(self, layout).map_err(Into::into)
    }

    #[inline]
    unsafe fn deallocate(&self, _ptr: NonNull<u8>, _layout: Layout) {}
}

/// Allocations through a [`LocalBump`] that last until the end of a
/// [`LocalBump::scope`] closure, with the typed conveniences of
/// [`Scope`](crate::Scope).
///
/// The scope gives its bytes back to the handle when it ends, by the same
/// argument as [`Linear`](crate::Linear)'s rollback with the handle's
/// allocation count in place of `blocks` and its chunk number in place of the
/// epoch: its mark is taken at its first allocation, and it restores it only
/// if the handle is exactly where its last allocation left it, which proves
/// that everything allocated since (by nested scopes) was given back. Values
/// are never dropped.
pub struct LocalScope<'s, 'a> {
    handle: &'s LocalBump<'a>,
    /// The handle's mark before this scope's first local allocation.
    first: Cell<Option<Mark>>,
    /// The handle's mark after this scope's latest local allocation.
    last: Cell<Option<Mark>>,
    blocks: Cell<usize>,
    /// Set when the allocations span two chunks: then nothing rolls back.
    abandoned: Cell<bool>,
}

impl<'s, 'a> LocalScope<'s, 'a> {
    fn new(handle: &'s LocalBump<'a>) -> Self {
        Self {
            handle,
            first: Cell::new(None),
            last: Cell::new(None),
            blocks: Cell::new(0),
            abandoned: Cell::new(false),
        }
    }

    /// Allocates a block for `layout`, valid until the scope ends.
    pub fn alloc_layout(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let (block, before) = self.handle.allocate_marked(layout)?;
        // A block from the shared bump directly stays until its reset.
        let Some(before) = before else {
            return Ok(block);
        };
        match self.first.get() {
            None => self.first.set(Some(before)),
            Some(first) if first.chunk != before.chunk => self.abandoned.set(true),
            Some(_) => {}
        }
        self.last.set(Some(self.handle.mark()));
        self.blocks.set(self.blocks.get() + 1);
        Ok(block)
    }

    /// Runs `f` with a nested scope, which gives its own bytes back when `f`
    /// ends; this scope's references stay valid meanwhile.
    pub fn scope<R>(&self, f: impl FnOnce(&LocalScope<'_, 'a>) -> R) -> R {
        f(&LocalScope::new(self.handle))
    }

    /// The handle's current position: equal before and after a nested scope
    /// exactly when that scope gave everything it took from the chunk back.
    pub fn checkpoint(&self) -> LocalCheckpoint {
        self.handle.checkpoint()
    }

    fn count_failure(&self) {
        self.handle.bump.failures.fetch_add(1, Ordering::Relaxed);
    }

    scope_conveniences!();
}

impl Drop for LocalScope<'_, '_> {
    fn drop(&mut self) {
        let (Some(first), Some(last)) = (self.first.get(), self.last.get()) else {
            return;
        };
        if self.abandoned.get() {
            return;
        }
        let expected = Mark {
            count: first.count + self.blocks.get(),
            ..last
        };
        if self.handle.mark() == expected {
            self.handle.restore(first);
        }
    }
}
