//! [`Pool<T>`]: a lock-free pool of values of one type, and [`PoolBox`], the
//! owning handle to a value in it.
//!
//! The algorithm, costs and layout are documented on the type.

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{ManuallyDrop, align_of, size_of};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crate::pool::free_slots::MAX_BLOCK_SIZE;
use crate::{
    AllocError, AllocatorKind, AllocatorStats, BlockPool, InvariantViolation, RawAllocator,
    RawMemory,
};

/// A lock-free, ABA-safe pool of `T` values with no per-object header.
///
/// # Algorithm
///
/// A typed face over the [`BlockPool`] machinery with blocks of
/// `size_of::<T>()` bytes aligned to `align_of::<T>()`: a tagged Treiber stack
/// of free slot indices whose links live in a side table, never in the
/// slots (see the `free_stack` module for why that matters for soundness and
/// how the tag defeats ABA), plus a bump counter for never-used slots so the
/// memory needs no initialisation.
///
/// * **Time:** [`Pool::alloc`] is one pop (or one bump while unused slots
///   remain) and a write of the value; dropping a [`PoolBox`] drops the value
///   and pushes the slot. Both are O(1) and take no lock; under contention a
///   CAS retries once per competing successful operation (lock-free).
/// * **Per-object overhead:** none in the object; 4 bytes of side table per
///   slot. Slots are exactly `size_of::<T>()` bytes apart (a Rust type's size
///   is a multiple of its alignment), so capacity in bytes is
///   `slots * size_of::<T>()` and `used` is `live * size_of::<T>()`.
/// * **Alignment:** every slot is aligned to `align_of::<T>()`; through
///   [`RawAllocator`] requests must fit `T`'s size and alignment.
/// * **Thread safety:** atomics only, see [`BlockPool`]. `Pool<T>` is `Sync`
///   when `T: Send`.
///
/// Zero-sized types are refused at compile time: they need no memory, so a
/// pool of them would only count values.
///
/// ```
/// use flight_mem::{Arena, Pool, PoolBox, RawMemory};
///
/// #[derive(Debug, PartialEq)]
/// pub struct Particle {
///     pos: [f32; 3],
///     life: f32,
/// }
///
/// static MEMORY: Arena<{ Pool::<Particle>::bytes_for(1024) }> = Arena::new();
/// // SAFETY: MEMORY is given to this pool and nothing else.
/// static PARTICLES: Pool<Particle> = Pool::new(unsafe { RawMemory::from_arena(&MEMORY) });
///
/// let mut spark = PARTICLES.alloc(Particle { pos: [0.0; 3], life: 1.0 }).unwrap();
/// spark.life -= 0.5;
/// assert_eq!(PARTICLES.slots(), 1024);
/// assert_eq!(PARTICLES.len(), 1);
/// assert_eq!(PARTICLES.stats().used, core::mem::size_of::<Particle>());
/// drop(spark); // drops the particle and returns its slot
/// assert!(PARTICLES.is_empty());
/// ```
pub struct Pool<T> {
    blocks: BlockPool,
    /// The pool owns the `T`s in its slots (through the boxes it hands out).
    _values: PhantomData<T>,
}

impl<T> Pool<T> {
    const ASSERT_SIZED: () = {
        assert!(
            size_of::<T>() != 0,
            "flight-mem: `Pool<T>` of a zero-sized type: it needs no memory (use a dangling pointer or `Box`)"
        );
        assert!(
            size_of::<T>() <= MAX_BLOCK_SIZE,
            "flight-mem: `Pool<T>` slots must be smaller than 4 GiB - 2 bytes"
        );
    };

    crate::sync::const_fn! {
        /// A pool over `memory` with as many slots as fit after the side
        /// table, assuming `memory` starts on an `align_of::<T>()` boundary
        /// (memory that does not is aligned up at run time and may hold fewer
        /// slots).
        ///
        /// # Panics
        ///
        /// If `T` is zero-sized or `memory` cannot hold one value and its
        /// 4-byte link. In a `static` these are compile errors.
        pub fn new(memory: RawMemory) -> Self {
            let () = Self::ASSERT_SIZED;
            let blocks = BlockPool::with_geometry(memory, size_of::<T>(), align_of::<T>());
            assert!(
                blocks.aligned_slots() > 0,
                "flight-mem: a pool's memory cannot hold one value and its 4-byte link"
            );
            Self { blocks, _values: PhantomData }
        }
    }

    crate::sync::const_fn! {
        /// A pool with no slots over none of `memory`, for any `T` (also a
        /// zero-sized or oversized one): what a layout's static holds when
        /// the macro's own assertion refuses the pool (see
        /// `__private::typed_pool`). It never hands out a slot, so it never
        /// reads or writes a byte.
        pub(crate) fn without_slots(memory: RawMemory) -> Self {
            Self {
                blocks: BlockPool::without_slots(memory),
                _values: PhantomData,
            }
        }
    }

    /// Bytes of memory a pool of `count` values needs: `count` slots of
    /// `size_of::<T>()` bytes, 4 bytes of side table per slot, and the
    /// worst-case padding before the table (at most 3 bytes, only when
    /// `align_of::<T>() < 4`).
    ///
    /// Assumes the memory starts on an `align_of::<T>()` boundary, as
    /// [`Pool::new`] does; with that, `Pool::new` over exactly this many
    /// bytes has `count` slots.
    ///
    /// # Panics
    ///
    /// If `T` is zero-sized, `count` exceeds the 32-bit slot index
    /// (`u32::MAX - 1 - size_of::<T>()`), or the size overflows `usize`.
    pub const fn bytes_for(count: usize) -> usize {
        let () = Self::ASSERT_SIZED;
        BlockPool::bytes_for(size_of::<T>(), align_of::<T>(), count)
    }

    /// Moves `value` into a free slot, or gives it back when the pool is
    /// full.
    #[inline]
    #[cfg_attr(feature = "track", track_caller)]
    pub fn alloc(&self, value: T) -> Result<PoolBox<'_, T>, T> {
        match self.blocks.acquire(0) {
            Some(slot) => {
                let slot = slot.cast::<T>();
                // SAFETY: the slot is ours alone until it is pushed again, lies
                // in the pool's memory, and is aligned and sized for `T`.
                unsafe { slot.write(value) };
                Ok(PoolBox {
                    value: slot,
                    pool: self,
                })
            }
            None => Err(value),
        }
    }

    /// A per-thread magazine: a cache of free slots refilled from and
    /// flushed to this pool in batches of 16 with one CAS each (see
    /// [`PoolMagazine`](crate::PoolMagazine)).
    pub fn local(&self) -> crate::PoolMagazine<'_, T> {
        crate::PoolMagazine::new(self)
    }

    /// The untyped pool underneath.
    pub(crate) fn block_pool(&self) -> &BlockPool {
        &self.blocks
    }

    /// How many values the pool can hold.
    #[inline]
    pub fn slots(&self) -> usize {
        self.blocks.slots()
    }

    /// Live values (including leaked ones and raw blocks).
    #[inline]
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no value is live.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// A snapshot of the pool's statistics (the same as
    /// [`RawAllocator::stats`], without importing the trait).
    #[inline]
    pub fn stats(&self) -> AllocatorStats {
        self.blocks.snapshot()
    }

    /// Checks the free stack's invariants (the same as
    /// [`RawAllocator::check`], also for `T` that is not `Send`).
    pub fn check(&self) -> Result<(), InvariantViolation> {
        self.blocks.verify()
    }

    /// Values that can still be allocated.
    #[inline]
    pub fn available(&self) -> usize {
        self.blocks.available()
    }

    /// Whether `ptr` points into the pool's memory.
    #[inline]
    pub fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.blocks.owns(ptr)
    }

    /// Bytes of all slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.blocks.capacity()
    }

    /// Which algorithm this is: [`AllocatorKind::Pool`].
    #[inline]
    pub fn kind(&self) -> AllocatorKind {
        AllocatorKind::Pool
    }

    /// Returns the slot at `ptr` without dropping anything in it.
    ///
    /// # Safety
    ///
    /// As for `BlockPool::release`: if the pool handed `ptr` out, that
    /// happened before this call.
    #[inline]
    pub(crate) unsafe fn release(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        // Only a pool without slots (`without_slots`) has a zero-sized `T`:
        // it handed nothing out, and a zero stride would divide by zero.
        // A constant: no test at run time for any other `T`.
        if size_of::<T>() == 0 {
            return Err(AllocError::ForeignPointer);
        }
        // SAFETY: forwarded; the stride of a `T` slot is `size_of::<T>()`, a
        // constant here, which spares the division a runtime divisor.
        unsafe { self.blocks.release(ptr, Some(size_of::<T>())) }
    }
}

// SAFETY: the pool's own state is atomics (see `BlockPool`'s `Sync`
// argument). What sharing `&Pool<T>` adds is that every thread can move a `T`
// into the pool and, through `PoolBox::into_raw` and `PoolBox::from_raw`,
// take it out or drop it on another thread: a `T` can change threads through
// the pool, which is exactly what `T: Send` permits. `T: Sync` is not needed:
// the pool never hands out `&T` to more than the one owner of a slot.
unsafe impl<T: Send> Sync for Pool<T> {}

// SAFETY: as for `BlockPool`: blocks are `size_of::<T>()`-byte slots aligned
// to `align_of::<T>()` inside the pool's memory, each handed to one owner
// until freed. A raw block holds no `T`: `free` drops nothing.
unsafe impl<T: Send> RawAllocator for Pool<T> {
    #[inline]
    #[cfg_attr(feature = "track", track_caller)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.blocks.allocate_layout(layout)
    }

    #[inline]
    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        // SAFETY: `free`'s contract: `ptr` came from `allocate`, which
        // happened before this call.
        unsafe { self.release(ptr) }
    }

    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.blocks.owns(ptr)
    }

    fn capacity(&self) -> usize {
        self.blocks.capacity()
    }

    fn stats(&self) -> AllocatorStats {
        self.blocks.stats()
    }

    fn kind(&self) -> AllocatorKind {
        AllocatorKind::Pool
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        self.blocks.verify()
    }
}

// SAFETY: `free` pushes any live slot back on the free stack whatever the
// order; it never panics.
unsafe impl<T: Send> crate::allocator::FreesInAnyOrder for Pool<T> {}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("type", &core::any::type_name::<T>())
            .field("slots", &self.slots())
            .field("stats", &self.blocks.snapshot())
            .finish()
    }
}

/// An owned `T` in a slot of a [`Pool`]: dereferences to the value, drops it
/// and returns the slot when dropped.
///
/// Two words: the value's address and the pool's.
pub struct PoolBox<'a, T> {
    value: NonNull<T>,
    pool: &'a Pool<T>,
}

// SAFETY: a `PoolBox` owns its `T` like a `Box` does, so sending it sends the
// `T` (`T: Send`). Dropping it on the other thread pushes the slot through
// `&Pool<T>`, which is `Sync` exactly when `T: Send`.
unsafe impl<T: Send> Send for PoolBox<'_, T> {}
// SAFETY: `&PoolBox<T>` gives access to `&T` only (no pool access, no
// mutation), so sharing it is sharing `&T`.
unsafe impl<T: Sync> Sync for PoolBox<'_, T> {}

impl<'a, T> PoolBox<'a, T> {
    /// Gives up ownership without dropping the value or freeing the slot.
    /// [`PoolBox::from_raw`] takes it back.
    #[inline]
    pub fn into_raw(this: Self) -> NonNull<T> {
        ManuallyDrop::new(this).value
    }

    /// Takes back ownership of a value [`PoolBox::into_raw`] gave up.
    ///
    /// # Safety
    ///
    /// `ptr` came from `PoolBox::into_raw` on a box of `pool`, and this is
    /// the only `from_raw` for it (and it was not passed to
    /// [`RawAllocator::free`]). If another thread called `into_raw`, that
    /// happened before this call.
    #[inline]
    pub unsafe fn from_raw(pool: &'a Pool<T>, ptr: NonNull<T>) -> Self {
        Self { value: ptr, pool }
    }

    /// The pool the value lives in.
    #[inline]
    pub fn pool(this: &Self) -> &'a Pool<T> {
        this.pool
    }

    /// Leaks the value: it lives as long as the pool borrow and its slot is
    /// never reused.
    #[inline]
    pub fn leak(this: Self) -> &'a mut T {
        let value = ManuallyDrop::new(this).value;
        // SAFETY: the slot holds an initialised `T` owned by this box, and is
        // never freed now, so the reference is unique and lives as long as
        // the pool memory, which outlives `'a`.
        unsafe { &mut *value.as_ptr() }
    }

    /// Moves the value out and returns its slot.
    #[inline]
    pub fn into_inner(this: Self) -> T {
        let this = ManuallyDrop::new(this);
        // SAFETY: the slot holds an initialised `T` owned by this box; the
        // box is not dropped, so the value is read exactly once.
        let value = unsafe { this.value.read() };
        // SAFETY: the slot was handed out by this pool to this box (on this
        // thread, or sent here, which orders the allocation before).
        let freed = unsafe { this.pool.release(this.value.cast()) };
        debug_assert!(
            freed.is_ok(),
            "flight-mem: pool slot freed twice: {freed:?}"
        );
        value
    }
}

impl<T> Drop for PoolBox<'_, T> {
    #[inline]
    fn drop(&mut self) {
        /// Returns the slot even if `T::drop` panics.
        struct Release<'p, T> {
            pool: &'p Pool<T>,
            slot: NonNull<u8>,
        }
        impl<T> Drop for Release<'_, T> {
            #[inline]
            fn drop(&mut self) {
                // SAFETY: the slot was handed out by this pool to the box
                // being dropped, which happened before.
                let freed = unsafe { self.pool.release(self.slot) };
                debug_assert!(
                    freed.is_ok(),
                    "flight-mem: pool slot freed twice: {freed:?}"
                );
            }
        }
        let _release = Release {
            pool: self.pool,
            slot: self.value.cast(),
        };
        // SAFETY: the slot holds an initialised `T` owned by this box, dropped
        // exactly once here; the slot is returned only afterwards.
        unsafe { self.value.drop_in_place() };
    }
}

impl<T> Deref for PoolBox<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the box owns an initialised `T` in its slot.
        unsafe { self.value.as_ref() }
    }
}

impl<T> DerefMut for PoolBox<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the box owns an initialised `T` in its slot, uniquely.
        unsafe { self.value.as_mut() }
    }
}

impl<T> AsRef<T> for PoolBox<'_, T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T> AsMut<T> for PoolBox<'_, T> {
    fn as_mut(&mut self) -> &mut T {
        self
    }
}

impl<T: fmt::Debug> fmt::Debug for PoolBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for PoolBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T> fmt::Pointer for PoolBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&self.value, f)
    }
}
