//! Per-thread magazines on a pool: [`BlockMagazine`] (`BlockPool::local`)
//! and [`PoolMagazine`] (`Pool::local`).

use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::NonNull;

use crate::AllocError;
use crate::allocator::check_request;
use crate::pool::block::BlockPool;
use crate::pool::free_slots::{Links, live_mark};
use crate::pool::typed::{Pool, PoolBox};
use crate::sync::Ordering;

/// Slots a magazine holds at most.
#[cfg(not(loom))]
const CAPACITY: usize = 32;
/// Slots a refill fetches and a flush returns, with one CAS each.
#[cfg(not(loom))]
const BATCH: usize = 16;
// Small enough for the model checker to reach refills and flushes.
#[cfg(loom)]
const CAPACITY: usize = 4;
#[cfg(loom)]
const BATCH: usize = 2;

// The unchecked indexing of `take` and `free_untracked` relies on this: a
// refill (at most `BATCH` slots) fits the empty cache, and a flush makes
// room in a full one. (A refill larger than the cache would set `len` past
// it, and a flush of nothing would leave no room.)
const _: () = assert!(0 < BATCH && BATCH <= CAPACITY);

/// A per-thread cache of free slots of a [`BlockPool`]: allocation and free
/// touch only the cache (no read-modify-write, no lock) except once per
/// batch, when the cache is refilled from or flushed to the shared free stack
/// with one CAS.
///
/// * **Allocation:** takes the top cached slot; when the cache is empty it
///   pops up to 16 slots from the shared stack in one CAS (or takes up to 16
///   never-used slots with one read-modify-write of the fresh counter).
/// * **Free:** checks the pointer (a block start of this pool, live) and
///   pushes the slot on the cache; a full cache (32 slots) first returns its
///   16 oldest slots with one CAS. The slot index comes from a precomputed
///   shift or multiplier, never a division.
/// * **Drop:** returns every cached slot (one CAS) and publishes its
///   corrections to the statistics.
/// * Blocks may be freed through any magazine of the pool or through the pool
///   itself, in any order and on any thread.
/// * Capacity: slots cached by one magazine (at most 32) are out of reach of
///   the others until it flushes or drops, so an allocation may be refused
///   while another thread's magazine holds free slots.
/// * `!Sync`; `Send`.
///
/// # Why it is sound
///
/// A cached slot is, for the shared stack, a slot handed out: the batch pop
/// is the stack's pop (its ABA argument covers a batch: see the
/// `free_slots` module), and a slot leaves the cache only to its user or back
/// to the stack with the `Release` CAS that a popper's `Acquire` pairs with,
/// so one owner's accesses happen before the next's. Each cached slot's link
/// word says *free* (`NIL`), so a double free of it, through the pool or a
/// magazine, is refused as for a slot on the stack.
///
/// # Statistics
///
/// Exact once the magazine is dropped. While it holds slots they count as
/// live (`live`, `used`), and `allocations`/`deallocations` count the
/// batches moved between stack and cache instead of its user's calls; the
/// drop publishes the difference. `peak` counts cached slots as live: the
/// most slots out of the shared stack at once. `requested` is always exact.
pub struct BlockMagazine<'a> {
    pool: &'a BlockPool,
    blocks: *mut u8,
    links: Links<'a>,
    slots: [Cell<u32>; CAPACITY],
    len: Cell<usize>,
    /// Slots given to the user, and moved from the stack to the cache. With
    /// `taken_back` (from the user) and `pushed` (back to the stack), the
    /// cache holds `popped - pushed + taken_back - handed` slots, so once it
    /// is empty `handed - popped = taken_back - pushed`: one correction
    /// serves both counts, and only `handed` and `popped` are kept.
    handed: Cell<u64>,
    popped: Cell<u64>,
}

// SAFETY: the cached slots belong to the magazine alone (popped from the
// shared stack), wherever it runs; everything else is `&BlockPool` (`Sync`)
// and the pool's fixed addresses. Moving the magazine moves that ownership;
// it is `!Sync`, so two threads never use it at once.
unsafe impl Send for BlockMagazine<'_> {}

impl<'a> BlockMagazine<'a> {
    pub(crate) fn new(pool: &'a BlockPool) -> Self {
        let geometry = pool.geometry();
        Self {
            pool,
            blocks: geometry.blocks,
            links: geometry.links,
            slots: [const { Cell::new(0) }; CAPACITY],
            len: Cell::new(0),
            handed: Cell::new(0),
            popped: Cell::new(0),
        }
    }

    /// How many free slots the magazine holds.
    pub fn cached(&self) -> usize {
        self.len.get()
    }

    /// Allocates a whole block for a request that fits it (as
    /// [`BlockPool`]'s `allocate`).
    #[inline]
    #[cfg_attr(feature = "track", track_caller)]
    pub fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let pool = self.pool;
        check_request(layout, pool.block_align).map_err(|e| self.refuse(e))?;
        if layout.size() > pool.block_size {
            return Err(self.refuse(AllocError::TooLarge {
                size: layout.size(),
                max: pool.block_size,
            }));
        }
        let Some(block) = self.take_block(pool.block_size - layout.size()) else {
            return Err(self.refuse(AllocError::OutOfMemory {
                size: layout.size(),
                largest_free: 0,
            }));
        };
        crate::track::allocated(
            pool,
            layout.size(),
            Ok(NonNull::slice_from_raw_parts(block, pool.block_size)),
        )
    }

    /// A block for a request `slack` bytes smaller than the block, with no
    /// checks of the request.
    #[inline(always)]
    fn take_block(&self, slack: usize) -> Option<NonNull<u8>> {
        let pool = self.pool;
        let index = self.take()?;
        // SAFETY: a cached index is below `links.len()` and the slot is ours.
        unsafe {
            pool.stack
                .set_mark(self.links, index, live_mark(slack as u32))
        };
        if slack != 0 {
            pool.slack.fetch_add(slack, Ordering::Relaxed);
        }
        self.handed.set(self.handed.get() + 1);
        let block = self.blocks.wrapping_add(index as usize * pool.stride);
        // SAFETY: `index < slots`: the block lies in the pool's memory, whose
        // start is not null when it has slots.
        Some(unsafe { NonNull::new_unchecked(block) })
    }

    /// Returns a block to the magazine (or, through it, to the pool).
    /// Refuses a pointer that is not a block start of this pool
    /// ([`AllocError::ForeignPointer`]) and a block that is not live
    /// ([`AllocError::DoubleFree`]); nothing changes then.
    ///
    /// # Safety
    ///
    /// `ptr` came from this pool (through any magazine or the pool itself),
    /// that allocation happened before this call, and the block is not used
    /// after it.
    #[inline]
    pub unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        crate::track::freed(self.pool, ptr, || {
            // SAFETY: forwarded from the caller.
            unsafe { self.free_untracked(ptr) }
        })
    }

    /// `free` without the `track` hook.
    ///
    /// # Safety
    ///
    /// As for `free`.
    #[inline(always)]
    unsafe fn free_untracked(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        let pool = self.pool;
        let offset = ptr.as_ptr().addr().wrapping_sub(self.blocks.addr());
        let index = match pool.slot_index(offset) {
            Some(index) if index < self.links.len() as usize => index as u32,
            _ => return Err(AllocError::ForeignPointer),
        };
        // SAFETY: `index < links.len()`; the caller orders the allocation
        // before this call.
        let slack = unsafe { pool.stack.take_back(self.links, index) }?;
        if slack != 0 {
            pool.slack.fetch_sub(slack as usize, Ordering::Relaxed);
        }
        if self.len.get() == CAPACITY {
            self.flush(BATCH);
        }
        let len = self.len.get();
        debug_assert!(len < CAPACITY);
        // SAFETY: `len <= CAPACITY` always (every push checks it, refills
        // bring at most `BATCH` into an empty cache), and `len < CAPACITY`
        // after the flush above, so `len` indexes the array. Unchecked: the
        // bounds check cost two instructions per free that the budget of the
        // fresh-slot check below needs (`benches/check-icount-budgets.sh`).
        unsafe { self.slots.get_unchecked(len) }.set(index);
        self.len.set(len + 1);
        Ok(())
    }

    /// The top cached slot, refilling the cache when it is empty.
    #[inline(always)]
    fn take(&self) -> Option<u32> {
        let mut len = self.len.get();
        if len == 0 {
            // The refill's verdict is tested here, on the cold path only, so
            // the hot path carries no `Option` to merge.
            if !self.refill() {
                return None;
            }
            len = self.len.get();
        }
        debug_assert!(0 < len && len <= CAPACITY);
        self.len.set(len - 1);
        // SAFETY: `0 < len <= CAPACITY` (see `free_untracked`; a successful
        // refill leaves at least one slot), so `len - 1` indexes the array.
        Some(unsafe { self.slots.get_unchecked(len - 1) }.get())
    }

    /// Fetches a batch from the shared stack into the (empty) cache; false
    /// when the pool is exhausted.
    #[cold]
    #[inline(never)]
    fn refill(&self) -> bool {
        let mut batch = [0u32; BATCH];
        let taken = self.pool.stack.pop_batch(self.links, &mut batch);
        self.popped.set(self.popped.get() + taken as u64);
        // The first popped (the stack's top, the most recently freed) goes on
        // top of the cache, to be handed out first.
        for (slot, &index) in self.slots.iter().zip(batch[..taken].iter().rev()) {
            slot.set(index);
        }
        self.len.set(taken);
        taken != 0
    }

    /// Returns the `count` oldest cached slots to the shared stack.
    #[cold]
    #[inline(never)]
    fn flush(&self, count: usize) {
        let len = self.len.get();
        let count = count.min(len);
        let mut batch = [0u32; CAPACITY];
        for (out, slot) in batch.iter_mut().zip(&self.slots[..count]) {
            *out = slot.get();
        }
        // SAFETY: cached slots are distinct, below `links.len()`, popped from
        // this pool's stack (or freed into the cache after their allocation)
        // and owned by the magazine alone.
        unsafe { self.pool.stack.push_batch(self.links, &batch[..count]) };
        for i in count..len {
            self.slots[i - count].set(self.slots[i].get());
        }
        self.len.set(len - count);
    }

    #[cold]
    fn refuse(&self, error: AllocError) -> AllocError {
        self.pool.failures.fetch_add(1, Ordering::Relaxed);
        error
    }
}

impl Drop for BlockMagazine<'_> {
    fn drop(&mut self) {
        self.flush(CAPACITY);
        let correction = self.handed.get().wrapping_sub(self.popped.get());
        if correction != 0 {
            self.pool
                .handle_correction
                .fetch_add(correction, Ordering::Relaxed);
        }
    }
}

impl core::fmt::Debug for BlockMagazine<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockMagazine")
            .field("cached", &self.cached())
            .finish()
    }
}

// SAFETY: blocks come from `BlockMagazine::allocate` (whole blocks of the
// pool, aligned to its block alignment, each owned by one user until freed);
// the pool outlives the magazine borrow, and `deallocate` returns the block
// through the checked `free`.
unsafe impl allocator_api2::alloc::Allocator for &BlockMagazine<'_> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        if layout.size() == 0 {
            return Ok(crate::allocator::dangling(layout));
        }
        BlockMagazine::allocate(self, layout).map_err(Into::into)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: the `Allocator` contract: a live block of this
            // allocator, allocated before.
            let _refused = unsafe { BlockMagazine::free(self, ptr) };
        }
    }
}

/// A per-thread cache of free slots of a [`Pool<T>`] (see
/// [`BlockMagazine`]): [`PoolMagazine::alloc`] hands out a [`PoolBox`], and
/// [`PoolMagazine::free`] drops the value and keeps the slot in the cache. A
/// box dropped anywhere else returns its slot to the pool directly.
pub struct PoolMagazine<'a, T> {
    pool: &'a Pool<T>,
    magazine: BlockMagazine<'a>,
}

impl<'a, T> PoolMagazine<'a, T> {
    pub(crate) fn new(pool: &'a Pool<T>) -> Self {
        Self {
            pool,
            magazine: BlockMagazine::new(pool.block_pool()),
        }
    }

    /// Moves `value` into a slot, or gives it back when the pool is full.
    #[inline]
    #[cfg_attr(feature = "track", track_caller)]
    pub fn alloc(&self, value: T) -> Result<PoolBox<'a, T>, T> {
        // A `T` fills its slot exactly: no request to check, no slack.
        let block = self.magazine.take_block(0).ok_or(()).and_then(|block| {
            crate::track::allocated(
                self.magazine.pool,
                size_of::<T>(),
                Ok(NonNull::slice_from_raw_parts(block, size_of::<T>())),
            )
            .map_err(|_| ())
        });
        match block {
            Ok(block) => {
                let slot = block.cast::<T>();
                // SAFETY: the slot is ours alone until freed, in the pool's
                // memory, aligned and sized for `T`.
                unsafe { slot.write(value) };
                // SAFETY: a box of `self.pool` owning the value just written.
                Ok(unsafe { PoolBox::from_raw(self.pool, slot) })
            }
            Err(()) => {
                self.magazine.pool.failures.fetch_add(1, Ordering::Relaxed);
                Err(value)
            }
        }
    }

    /// Drops the value in `value` and keeps its slot in this magazine; a box
    /// of another pool is simply dropped.
    #[inline]
    pub fn free(&self, value: PoolBox<'_, T>) {
        // Taken apart by hand rather than dropped: a second caller of the
        // box's drop glue would stop the compiler inlining it into every
        // other `PoolBox` drop.
        let pool = PoolBox::pool(&value);
        let ptr = PoolBox::into_raw(value);
        /// Takes the slot back even if `T::drop` panics: into this magazine,
        /// or to the box's own pool.
        struct Release<'m, 'a, 'p, T> {
            magazine: Option<&'m BlockMagazine<'a>>,
            pool: &'p Pool<T>,
            slot: NonNull<u8>,
        }
        impl<T> Drop for Release<'_, '_, '_, T> {
            fn drop(&mut self) {
                let freed = match self.magazine {
                    // SAFETY: the box owned this slot of the magazine's pool.
                    Some(magazine) => unsafe { magazine.free(self.slot) },
                    // SAFETY: the box owned this slot of `pool`.
                    None => unsafe { self.pool.release(self.slot) },
                };
                debug_assert!(
                    freed.is_ok(),
                    "flight-mem: pool slot freed twice: {freed:?}"
                );
            }
        }
        let _release = Release {
            magazine: core::ptr::eq(pool, self.pool).then_some(&self.magazine),
            pool,
            slot: ptr.cast(),
        };
        // SAFETY: the box owned an initialised `T`, dropped exactly once here.
        unsafe { ptr.drop_in_place() };
    }

    /// How many free slots the magazine holds.
    pub fn cached(&self) -> usize {
        self.magazine.cached()
    }
}

impl<T> core::fmt::Debug for PoolMagazine<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolMagazine")
            .field("cached", &self.cached())
            .finish()
    }
}
