//! A small-object front end over a general heap: [`SmallFront`] and its
//! per-thread handle [`SmallLocal`].

mod classes;
mod local;
mod slab;

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use crate::sync::{AtomicU64, Lock, Ordering};
use crate::{AllocError, AllocatorStats, FreesInAnyOrder, InvariantViolation};

use classes::{CLASSES, GEOMETRY, SLAB, class_of};
pub use local::SmallLocal;
use slab::{Class, clear_live, index_of, is_slab_of, mark_live, slab_of};

/// A small-object front end over a general heap (a [`Tlsf`](crate::Tlsf),
/// [`Buddy`](crate::Buddy), [`FreeList`](crate::FreeList), any allocator
/// that [frees in any order](FreesInAnyOrder)): requests up to 4 KiB are
/// served from size-class slabs carved from the backing heap, larger ones
/// go to the heap itself. Its
/// [`local`](Self::local) handle caches free blocks per class, so a thread
/// that allocates through one takes a class lock only once per batch.
///
/// * **Size classes:** 28 classes, 16 to 128 bytes in steps of 16, then four
///   per doubling up to 4096 (rounding adds at most 15 bytes up to 128,
///   at most 25 % above). A request's class is
///   computed from its layout (size rounded up to its alignment), at
///   allocation and at free alike, so a block always goes back where it came
///   from. Requests larger than 4096 bytes once rounded, or aligned to more
///   than 4096, go to the backing heap.
/// * **Slabs:** 64 KiB blocks of the backing heap aligned to 64 KiB, so a
///   block finds its slab by masking its address. A slab starts with its
///   header and a map of one *live* byte per block.
/// * **Shared path** ([`allocate`](Self::allocate), [`free`](Self::free)):
///   one class lock per call, plus a load and a store of the block's live
///   byte.
/// * **Retention:** a slab that empties goes back to the backing heap,
///   except one empty slab per class kept against churn at a slab boundary;
///   [`release_empty`](Self::release_empty) returns those too.
/// * **Budget:** a class holds memory in whole slabs, so a backing heap
///   needs at least 64 KiB (plus the backing heap's alignment waste) for
///   each class in use; a small request is refused, never served from the
///   backing heap, when no slab can be made (the free of a block must route
///   by its layout alone).
///
/// The backing heap is called (for a new slab, or to return one) with a
/// class lock held, so a backing heap must not allocate from this front end
/// in turn; flight-mem's heaps never do. Slabs empty in any order, so the
/// backing heap must [free in any order](FreesInAnyOrder): a
/// [`Stack`](crate::Stack), which frees only its top block, is refused at
/// compile time (returning a slab has no error to report and must never
/// lose it):
///
/// ```compile_fail,E0277
/// use flight_mem::{Arena, RawMemory, SmallFront, Stack};
///
/// static ARENA: Arena<{ 1 << 20 }> = Arena::new();
/// // SAFETY: the arena belongs to this stack alone.
/// let front = SmallFront::new(Stack::new(unsafe { RawMemory::from_arena(&ARENA) }));
/// ```
///
/// Freeing takes the layout the block was allocated with, as
/// `GlobalAlloc::dealloc` and `Allocator::deallocate` do; that is why the
/// front end is not itself a [`RawAllocator`](crate::RawAllocator) (whose
/// `free` has no layout). It implements `GlobalAlloc`, and `&SmallFront`
/// implements `allocator_api2::alloc::Allocator`.
///
/// # Statistics
///
/// [`stats`](Self::stats) counts the user's blocks, small and large:
/// `live`, `allocations`, `deallocations` and `requested` are exact (for
/// blocks moved through a [`SmallLocal`], once it has published its counts:
/// at each refill or flush of a class, and when dropped). `used` and `peak`
/// are the backing heap's: a slab counts as used in full while held,
/// including its free and cached blocks. `largest_free` is the backing
/// heap's.
///
/// # Example
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{Arena, RawMemory, SmallFront, Tlsf};
///
/// static MEMORY: Arena<{ 1 << 20 }> = Arena::new();
/// // SAFETY: the arena belongs to this heap alone.
/// static HEAP: SmallFront<Tlsf> =
///     SmallFront::new(Tlsf::new(unsafe { RawMemory::from_arena(&MEMORY) }));
///
/// let layout = Layout::from_size_align(40, 8).unwrap();
/// // Shared path: any thread, one class lock per call.
/// let shared = HEAP.allocate(layout).unwrap();
/// // A local handle (one per thread or job): the lock once per batch.
/// let local = HEAP.local();
/// let mine = local.allocate(layout).unwrap();
/// // SAFETY: each block was allocated with `layout` (through either path)
/// // and is not used after its free.
/// unsafe {
///     local.free(shared.cast(), layout).unwrap();
///     HEAP.free(mine.cast(), layout).unwrap();
/// }
/// drop(local);
/// let stats = HEAP.stats();
/// assert_eq!((stats.live, stats.allocations, stats.deallocations), (0, 2, 2));
/// HEAP.check().unwrap();
/// ```
pub struct SmallFront<A: FreesInAnyOrder> {
    backing: A,
    classes: [Lock<Class>; CLASSES],
    failures: AtomicU64,
}

impl<A: FreesInAnyOrder> SmallFront<A> {
    /// A front end over `backing`, which it owns from now on (its blocks
    /// and statistics are the front end's).
    pub const fn new(backing: A) -> Self {
        Self {
            backing,
            classes: [const { Lock::new(Class::new()) }; CLASSES],
            failures: AtomicU64::new(0),
        }
    }

    /// A per-thread handle with its own cache of free blocks per class (see
    /// [`SmallLocal`]).
    pub fn local(&self) -> SmallLocal<'_, A> {
        SmallLocal::new(self)
    }

    /// Allocates a block for `layout`: from a slab of the layout's class,
    /// or from the backing heap for requests above 4096 bytes.
    #[inline]
    pub fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        match class_of(layout) {
            Some(class) => self.allocate_small(class, layout.size()),
            None => self.allocate_large(layout),
        }
    }

    /// Allocates a zero-filled block for `layout`.
    pub fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.allocate(layout)?;
        // SAFETY: `allocate` returned a block valid for writes of its length.
        unsafe { block.cast::<u8>().as_ptr().write_bytes(0, block.len()) };
        Ok(block)
    }

    /// Returns a block allocated with `layout` (through the front end or any
    /// of its handles).
    ///
    /// Refuses, changing nothing, a small block that is not on a block
    /// boundary of its layout's class in a slab of this front end
    /// ([`AllocError::ForeignPointer`]) or is not live
    /// ([`AllocError::DoubleFree`]: a second free ordered after the first;
    /// two frees of one block racing each other are not detected); a large
    /// block is checked by the backing heap's `free`.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by an allocation with `layout` on this front end
    /// (or one of its handles), that allocation happened before this call,
    /// and the block is not used after it. The checks above are a second
    /// line of defence, not a licence: a free with another block's layout or
    /// of a block whose slab was returned to the backing heap reads memory
    /// the front end no longer controls.
    #[inline]
    pub unsafe fn free(&self, ptr: NonNull<u8>, layout: Layout) -> Result<(), AllocError> {
        match class_of(layout) {
            Some(class) => {
                // SAFETY: forwarded from the caller.
                unsafe { self.take_back(ptr, class) }?;
                self.classes[class].with(|shared| {
                    // SAFETY: `take_back` proved the block a live block of a
                    // slab of this class and cleared its live byte; the caller
                    // gives it up.
                    unsafe { shared.give(ptr.as_ptr(), &self.backing) };
                    shared.deallocations += 1;
                    // Wrapping: a handle may not have published the allocation yet.
                    shared.requested = shared.requested.wrapping_sub(layout.size());
                });
                Ok(())
            }
            // SAFETY: forwarded from the caller: a block of the backing heap.
            None => unsafe { self.backing.free(ptr) },
        }
    }

    /// Whether `ptr` points into the backing heap's memory.
    #[inline]
    pub fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.backing.owns(ptr)
    }

    /// Bytes the backing heap can hand out when empty.
    pub fn capacity(&self) -> usize {
        self.backing.capacity()
    }

    /// Returns every empty slab (one per class is kept otherwise) to the
    /// backing heap.
    pub fn release_empty(&self) {
        for shared in &self.classes {
            shared.with(|shared| shared.release_empty(&self.backing));
        }
    }

    /// A snapshot of the statistics (see the type's documentation).
    pub fn stats(&self) -> AllocatorStats {
        let (mut allocations, mut deallocations, mut requested) = (0u64, 0u64, 0usize);
        let (mut slabs, mut taken, mut returned) = (0usize, 0u64, 0u64);
        for shared in &self.classes {
            shared.with(|shared| {
                allocations += shared.allocations;
                deallocations += shared.deallocations;
                requested = requested.wrapping_add(shared.requested);
                slabs += shared.slabs;
                taken += shared.slabs_taken;
                returned += shared.slabs_returned;
            });
        }
        let small_live = allocations.saturating_sub(deallocations) as usize;
        let backing = self.backing.stats();
        // The backing heap counts every slab as one live block of `SLAB`
        // requested bytes; what remains are the large blocks. (Taken
        // class by class while other threads run, so clamped.)
        let mut stats = backing;
        stats.requested = requested.wrapping_add(backing.requested.saturating_sub(slabs * SLAB));
        stats.live = small_live + backing.live.saturating_sub(slabs);
        stats.allocations = allocations + backing.allocations.saturating_sub(taken);
        stats.deallocations = deallocations + backing.deallocations.saturating_sub(returned);
        stats.failures = self.failures.load(Ordering::Relaxed);
        stats
    }

    /// Walks every class's slabs and the backing heap's bookkeeping and
    /// reports the first inconsistency (`offset` is then the address of
    /// the slab at fault).
    pub fn check(&self) -> Result<(), InvariantViolation> {
        for (class, shared) in self.classes.iter().enumerate() {
            shared.with(|shared| shared.check(class))?;
        }
        self.backing.check()
    }

    /// A block of class `class` through the class lock.
    #[inline]
    fn allocate_small(&self, class: usize, size: usize) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.classes[class]
            .with(|shared| {
                let block = shared.take(class, &self.backing, size)?;
                shared.allocations += 1;
                shared.requested = shared.requested.wrapping_add(size);
                Ok(block)
            })
            .map_err(|error| self.refuse(error))?;
        // SAFETY: `take` returned a block of a slab of this class, ours.
        Ok(unsafe { self.hand_out(block, class) })
    }

    /// Marks a block taken from its slab live and hands it out.
    ///
    /// # Safety
    ///
    /// `block` was taken from a slab of class `class` and is owned by the
    /// caller.
    #[inline(always)]
    unsafe fn hand_out(&self, block: *mut u8, class: usize) -> NonNull<[u8]> {
        // SAFETY: a block of the class lies on one of its block boundaries.
        let index = unsafe { index_of(block, class).unwrap_unchecked() };
        // SAFETY: the caller's contract.
        unsafe { mark_live(slab_of(block), index) };
        // SAFETY: blocks lie inside slabs, which are never at address 0.
        let block = unsafe { NonNull::new_unchecked(block) };
        NonNull::slice_from_raw_parts(block, GEOMETRY[class].size)
    }

    /// A block of the backing heap.
    #[inline]
    fn allocate_large(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.backing
            .allocate(layout)
            .map_err(|error| self.refuse(error))
    }

    /// [`allocate_large`](Self::allocate_large) out of line, for
    /// [`SmallLocal::allocate`]: inlined there, the backing heap's path
    /// (its lock, call and counters) made the handle's whole allocation
    /// save and restore six callee-saved registers on every call, the
    /// cached small blocks' included (`SmallFront<Tlsf>::local`, workload
    /// 3: 98.56 → 86.06 instructions per operation). `SmallFront::allocate`
    /// keeps it inlined (out of line there: +2.5).
    #[inline(never)]
    fn allocate_large_outlined(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_large(layout)
    }

    /// Checks that `ptr` is a live block of a slab of class `class` and
    /// clears its live byte; the block is then the caller's to give back.
    ///
    /// # Safety
    ///
    /// As for [`free`](Self::free) with a layout of class `class`.
    #[inline(always)]
    unsafe fn take_back(&self, ptr: NonNull<u8>, class: usize) -> Result<(), AllocError> {
        let block = ptr.as_ptr();
        let slab = slab_of(block);
        let index = index_of(block, class).ok_or(AllocError::ForeignPointer)?;
        // The header read below must stay inside the backing heap's memory.
        let header = NonNull::new(slab.cast::<u8>()).ok_or(AllocError::ForeignPointer)?;
        if !self.backing.owns(ptr) || !self.backing.owns(header) {
            return Err(AllocError::ForeignPointer);
        }
        // SAFETY: the header lies in the backing heap's memory; the caller
        // guarantees the block is live, so its slab is allocated.
        if !unsafe { is_slab_of(slab, class) } {
            return Err(AllocError::ForeignPointer);
        }
        // SAFETY: a slab of this class and an index below its block count.
        if !unsafe { clear_live(slab, index) } {
            return Err(AllocError::DoubleFree);
        }
        Ok(())
    }

    #[cold]
    fn refuse(&self, error: AllocError) -> AllocError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        error
    }
}

impl<A: FreesInAnyOrder> core::fmt::Debug for SmallFront<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmallFront")
            .field("stats", &self.stats())
            .finish()
    }
}

// SAFETY: `alloc` hands out blocks that satisfy the layout (a class's blocks
// are at least its size and aligned to it, `class_of`; large blocks are the
// backing heap's) and stay valid until `dealloc`. `dealloc` receives the
// allocation's layout, so it routes to the same class or to the backing
// heap, which frees in any order (`FreesInAnyOrder`); nothing panics.
unsafe impl<A: FreesInAnyOrder> GlobalAlloc for SmallFront<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.allocate(layout) {
            Ok(block) => block.cast().as_ptr(),
            Err(_) => core::ptr::null_mut(),
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: the `GlobalAlloc::dealloc` contract: a block `alloc`
            // returned for `layout`, not used again. Unwinding is not
            // allowed here, so the result is not asserted.
            let _ = unsafe { self.free(ptr, layout) };
        }
    }
}

// SAFETY: blocks come from `SmallFront::allocate` (valid, aligned, disjoint,
// live until freed); the front end outlives the borrow, and `deallocate`
// returns a block with the layout it was allocated with.
unsafe impl<A: FreesInAnyOrder> allocator_api2::alloc::Allocator for &SmallFront<A> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        if layout.size() == 0 {
            return Ok(crate::allocator::dangling(layout));
        }
        SmallFront::allocate(self, layout).map_err(Into::into)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: the `Allocator` contract: a live block of this
            // allocator, allocated with `layout` before.
            let _refused = unsafe { SmallFront::free(self, ptr, layout) };
        }
    }
}
