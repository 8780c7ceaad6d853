//! What the three locked heaps ([`Tlsf`](crate::Tlsf), [`Buddy`](crate::Buddy),
//! [`FreeList`](crate::FreeList)) share: the lock, building the heap on first
//! use, the counters behind [`AllocatorStats`], the `track` hooks, `Debug`
//! and the [`RawAllocator`] surface. Each algorithm is a [`HeapEngine`]: the
//! unlocked core that only ever runs with the lock held.

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::allocator::RawAllocator;
use crate::stats::Counters;
use crate::sync::{Lock, const_fn};
use crate::{AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawMemory};

/// A block an engine carved for a request.
pub(crate) struct Carved {
    /// The first byte handed to the caller.
    pub(crate) payload: NonNull<u8>,
    /// Bytes of the capacity the block consumes (header, rounding, slack).
    pub(crate) consumed: usize,
}

/// What a free gave back, for the counters.
pub(crate) struct Released {
    /// The size the block was requested with.
    pub(crate) requested: usize,
    /// Bytes of the capacity the block consumed.
    pub(crate) consumed: usize,
}

/// One heap algorithm without its lock. Every method runs with the
/// [`LockedHeap`]'s lock held, so `&mut self` is exclusive access to the
/// engine's bookkeeping and to the managed memory outside live blocks.
///
/// # Safety
///
/// Implementors promise what [`RawAllocator`] promises of `allocate` (a
/// block of at least `layout.size()` bytes, aligned to `layout.align()`,
/// inside the memory given to [`init`](Self::init), disjoint from every
/// other live block), that a refused call changes nothing, and that before
/// `init` every `allocate` and `free` is refused without touching memory
/// (the wrapper then builds the heap and retries: see
/// [`LockedHeap::allocate`]).
///
/// This covers every method that hands out or takes back a block, default
/// or overridden: a payload from [`try_allocate`](Self::try_allocate) or
/// [`allocate_counted`](Self::allocate_counted) is such a block (the
/// wrapper hands it out unchecked). [`free_counted`](Self::free_counted)
/// returns `true` exactly when it released the block, and `false` only
/// having changed nothing: the wrapper then calls [`free`](Self::free)
/// with the same pointer, so a block released behind a `false` would be
/// released twice.
pub(crate) unsafe trait HeapEngine: Send {
    /// Settings fixed at construction, readable without the lock.
    type Config: Copy + fmt::Debug + Sync;
    /// The public type's name, for `Debug`.
    const NAME: &'static str;
    /// The name of the config in `Debug`, when it is a public setting.
    const CONFIG_FIELD: Option<&'static str>;
    /// Which algorithm this is.
    const KIND: AllocatorKind;

    /// Bytes the heap over `memory` hands out when empty.
    fn capacity(memory: &RawMemory, config: Self::Config) -> usize;

    /// Builds the block structure over `memory`: called once, before any
    /// other call that succeeds.
    fn init(&mut self, memory: &RawMemory, config: Self::Config);

    /// Carves a block for `layout`, or says why not.
    fn allocate(&mut self, layout: Layout, config: Self::Config) -> Result<Carved, AllocError>;

    /// [`allocate`](Self::allocate) without the reason for a refusal: the
    /// hot path, whose small result keeps the lock's critical section
    /// lean. A refusal changes nothing, so the wrapper asks `allocate` for
    /// the reason afterwards.
    #[inline(always)]
    fn try_allocate(&mut self, layout: Layout, config: Self::Config) -> Option<Carved> {
        self.allocate(layout, config).ok()
    }

    /// Returns the block at `ptr`, or refuses it (see each type's misuse
    /// documentation).
    ///
    /// # Safety
    ///
    /// As [`RawAllocator::free`]: `ptr` came from `allocate` on this engine
    /// and is not used afterwards. (Engines check what they can in O(1);
    /// some trust their neighbours' tags for a pointer that passes.)
    unsafe fn free(&mut self, ptr: NonNull<u8>) -> Result<Released, AllocError>;

    /// The hot path of `allocate`: [`try_allocate`](Self::try_allocate),
    /// counted into `counters` when it succeeds. (Tlsf keeps this default
    /// and makes its `try_allocate` one out-of-line call instead: its
    /// `Option<Carved>` comes back in two registers.)
    #[inline(always)]
    fn allocate_counted(
        &mut self,
        layout: Layout,
        config: Self::Config,
        counters: &mut Counters,
    ) -> Option<NonNull<u8>> {
        let carved = self.try_allocate(layout, config)?;
        counters.allocated(layout.size(), carved.consumed);
        Some(carved.payload)
    }

    /// The hot path of `free`: whether [`free`](Self::free) took the block
    /// back, counted into the state's counters when it did. A refusal
    /// changes nothing, so the wrapper asks `free` for the reason
    /// afterwards. (Tlsf overrides it with one out-of-line call that counts
    /// inside: a `Result<Released, AllocError>` would come back through
    /// memory. It takes the whole locked state, engine and counters, so
    /// the call passes one address, not two.)
    ///
    /// # Safety
    ///
    /// As [`free`](Self::free).
    #[inline(always)]
    unsafe fn free_counted(state: &mut Locked<Self>, ptr: NonNull<u8>) -> bool
    where
        Self: Sized,
    {
        // SAFETY: forwarded from the caller.
        match unsafe { state.engine.free(ptr) } {
            Ok(released) => {
                state.counters.freed(released.requested, released.consumed);
                true
            }
            Err(_) => false,
        }
    }

    /// The largest request of alignment 1 that would succeed now.
    fn largest_free(&self) -> usize;

    /// Walks the bookkeeping, including the wrapper's `counters`, and
    /// reports the first inconsistency.
    fn check(&self, counters: &Counters, capacity: usize) -> Result<(), InvariantViolation>;
}

/// The lock, the counters and the lazy initialisation around one
/// [`HeapEngine`]; the public heaps are `#[repr(transparent)]` newtypes of it.
pub(crate) struct LockedHeap<E: HeapEngine> {
    memory: RawMemory,
    config: E::Config,
    state: Lock<Locked<E>>,
}

/// Everything behind the lock.
pub(crate) struct Locked<E> {
    /// Whether `init` has built the engine's structure.
    ready: bool,
    /// The algorithm's state.
    pub(crate) engine: E,
    /// The figures behind `stats()`.
    pub(crate) counters: Counters,
}

impl<E: HeapEngine> Locked<E> {
    #[cold]
    fn init(&mut self, memory: &RawMemory, config: E::Config) {
        // The memory is this heap's from now on (the `RawMemory` contract):
        // tracked blocks inside it are left from an earlier owner.
        crate::track::forget_range(memory);
        self.engine.init(memory, config);
        self.ready = true;
    }

    #[inline]
    fn carved(&mut self, size: usize, carved: Carved) -> NonNull<u8> {
        self.counters.allocated(size, carved.consumed);
        carved.payload
    }
}

impl<E: HeapEngine> LockedHeap<E> {
    const_fn! {
        /// A heap over `memory`; nothing is written to it before first use.
        pub(crate) fn new(memory: RawMemory, config: E::Config, engine: E) -> Self {
            Self {
                memory,
                config,
                state: Lock::new(Locked { ready: false, engine, counters: Counters::new() }),
            }
        }
    }

    /// The memory the heap manages.
    pub(crate) fn memory(&self) -> &RawMemory {
        &self.memory
    }

    /// The settings the heap was built with.
    pub(crate) fn config(&self) -> E::Config {
        self.config
    }

    /// Runs `f` on the engine and counters, building the heap on first use.
    fn locked<R>(&self, f: impl FnOnce(&E, &Counters) -> R) -> R {
        self.state.with(|state| {
            if !state.ready {
                state.init(&self.memory, self.config);
            }
            f(&state.engine, &state.counters)
        })
    }

    /// The hot path of `allocate`: lock, carve and count, unlock. The lock's
    /// acquire and release are inlined at the call site, and nothing here
    /// builds an `AllocError` (the result fits a register), so the public
    /// `allocate` around it stays small enough to inline; the engine
    /// decides whether its part is one out-of-line call (Tlsf) or inlined.
    /// `None` sends the caller to [`allocate_slow`](Self::allocate_slow).
    #[inline(always)]
    fn allocate_fast(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.state.with(|state| {
            state
                .engine
                .allocate_counted(layout, self.config, &mut state.counters)
        })
    }

    /// What a refused `try_allocate` leaves, under the lock again: builds
    /// the heap on first use and tries again, or says why `layout` is
    /// refused, counting the failure. (Another thread may have freed memory
    /// since the first attempt: the retry then succeeds, as if it had come
    /// later.)
    #[cold]
    #[inline(never)]
    fn allocate_slow(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.state.with(|state| {
            if !state.ready {
                state.init(&self.memory, self.config);
            }
            match state.engine.allocate(layout, self.config) {
                Ok(carved) => Ok(state.carved(layout.size(), carved)),
                Err(error) => {
                    state.counters.failed();
                    Err(error)
                }
            }
        })
    }

    /// The hot path of `free`: whether the engine took the block back (and
    /// it was counted). A refusal changes nothing, so
    /// [`free_slow`](Self::free_slow) can ask again for the reason.
    ///
    /// # Safety
    ///
    /// As [`RawAllocator::free`].
    #[inline(always)]
    unsafe fn free_fast(&self, ptr: NonNull<u8>) -> bool {
        // SAFETY: forwarded from the caller.
        self.state
            .with(|state| unsafe { E::free_counted(state, ptr) })
    }

    /// What a refused `free_fast` leaves, under the lock again: on first
    /// use, builds the heap first (so the answer is the built heap's), and
    /// returns the engine's answer, counted if it took the block after all.
    /// Other threads may have run between the two lock holds; the answer is
    /// then the one a free arriving at the second hold gets, an order the
    /// callers could have produced anyway.
    ///
    /// # Safety
    ///
    /// As [`RawAllocator::free`].
    #[cold]
    #[inline(never)]
    unsafe fn free_slow(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        self.state.with(|state| {
            if !state.ready {
                state.init(&self.memory, self.config);
            }
            // SAFETY: forwarded from the caller.
            let released = unsafe { state.engine.free(ptr) }?;
            state.counters.freed(released.requested, released.consumed);
            Ok(())
        })
    }
}

// SAFETY: every block comes from `HeapEngine::allocate`, whose contract is
// this trait's, over `memory` (the engine is built over nothing else). The
// engine runs only under the lock, so its `&mut self` is exclusive; it is
// built before its first successful call. Safe methods pass the engine only
// validated requests and count what it reports.
unsafe impl<E: HeapEngine> RawAllocator for LockedHeap<E> {
    #[inline]
    #[cfg_attr(feature = "track", track_caller)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let size = layout.size();
        let payload = match self.allocate_fast(layout) {
            Some(payload) => Ok(payload),
            None => self.allocate_slow(layout),
        };
        let block = payload.map(|payload| NonNull::slice_from_raw_parts(payload, size));
        crate::track::allocated(self, size, block)
    }

    #[inline]
    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        crate::track::freed(self, ptr, || {
            // SAFETY: forwarded from the caller.
            if unsafe { self.free_fast(ptr) } {
                Ok(())
            } else {
                // SAFETY: forwarded from the caller; the refused fast path
                // changed nothing, so `ptr` is still as the caller gave it.
                unsafe { self.free_slow(ptr) }
            }
        })
    }

    #[inline]
    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.memory.contains(ptr.as_ptr())
    }

    fn capacity(&self) -> usize {
        E::capacity(&self.memory, self.config)
    }

    fn stats(&self) -> AllocatorStats {
        let capacity = self.capacity();
        self.locked(|engine, counters| counters.snapshot(capacity, engine.largest_free()))
    }

    fn kind(&self) -> AllocatorKind {
        E::KIND
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        let capacity = self.capacity();
        self.locked(|engine, counters| engine.check(counters, capacity))
    }
}

impl<E: HeapEngine> fmt::Debug for LockedHeap<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct(E::NAME);
        out.field("memory", &self.memory);
        if let Some(name) = E::CONFIG_FIELD {
            out.field(name, &self.config);
        }
        out.field("stats", &self.stats()).finish()
    }
}

/// Gives the public newtype `$ty` of a [`LockedHeap`] (its field `0`) the
/// surface every flight-mem allocator has: [`RawAllocator`], `Debug`, the
/// `allocator_api2` adapter, the inherent methods and [`FreesInAnyOrder`](crate::FreesInAnyOrder).
macro_rules! locked_heap_surface {
    ($ty:ty) => {
        // SAFETY: every method forwards to the `LockedHeap`'s implementation
        // (see its argument); `$ty` is a transparent newtype of it.
        unsafe impl $crate::RawAllocator for $ty {
            #[inline]
            #[cfg_attr(feature = "track", track_caller)]
            fn allocate(
                &self,
                layout: ::core::alloc::Layout,
            ) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, $crate::AllocError> {
                $crate::RawAllocator::allocate(&self.0, layout)
            }

            #[inline]
            unsafe fn free(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
            ) -> ::core::result::Result<(), $crate::AllocError> {
                // SAFETY: forwarded from the caller.
                unsafe { $crate::RawAllocator::free(&self.0, ptr) }
            }

            #[inline]
            fn owns(&self, ptr: ::core::ptr::NonNull<u8>) -> bool {
                $crate::RawAllocator::owns(&self.0, ptr)
            }

            fn capacity(&self) -> usize {
                $crate::RawAllocator::capacity(&self.0)
            }

            fn stats(&self) -> $crate::AllocatorStats {
                $crate::RawAllocator::stats(&self.0)
            }

            fn kind(&self) -> $crate::AllocatorKind {
                $crate::RawAllocator::kind(&self.0)
            }

            fn check(&self) -> ::core::result::Result<(), $crate::InvariantViolation> {
                $crate::RawAllocator::check(&self.0)
            }
        }

        impl ::core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(&self.0, f)
            }
        }

        $crate::allocator::impl_allocator_api2!($ty);
        $crate::allocator::inherent_surface!($ty);
        // SAFETY: every engine's `free` takes back any live block whatever
        // the order of frees (merging with free neighbours), and never panics.
        unsafe impl $crate::allocator::FreesInAnyOrder for $ty {}
    };
}
pub(crate) use locked_heap_surface;
