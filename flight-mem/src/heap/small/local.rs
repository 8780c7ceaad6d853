//! [`SmallLocal`]: a per-thread handle on a [`SmallFront`] with a magazine
//! of free blocks per size class.

use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::{self, NonNull};

use super::SmallFront;
use super::classes::{CLASSES, class_of};
use super::slab::Class;
use crate::{AllocError, FreesInAnyOrder};

/// Blocks one class's magazine holds at most.
const CAPACITY: usize = 16;
/// Blocks a refill takes and a flush returns, under one lock.
const BATCH: usize = 8;

/// One class's cache, and the counts not yet published to the class.
struct Magazine {
    len: Cell<usize>,
    /// Allocations and frees through the handle since the last publish, and
    /// the change of requested bytes (wrapping).
    allocations: Cell<u64>,
    deallocations: Cell<u64>,
    requested: Cell<usize>,
    slots: [Cell<*mut u8>; CAPACITY],
}

impl Magazine {
    const fn new() -> Self {
        Self {
            len: Cell::new(0),
            allocations: Cell::new(0),
            deallocations: Cell::new(0),
            requested: Cell::new(0),
            slots: [const { Cell::new(ptr::null_mut()) }; CAPACITY],
        }
    }

    /// Adds the handle's counts to the class's, under its lock.
    fn publish(&self, shared: &mut Class) {
        shared.allocations += self.allocations.replace(0);
        shared.deallocations += self.deallocations.replace(0);
        shared.requested = shared.requested.wrapping_add(self.requested.replace(0));
    }
}

/// A per-thread handle on a [`SmallFront`]: each size class has a magazine
/// of up to 16 free blocks, so allocation and free touch only the handle
/// and the block's live byte, except once per batch of 8, when the magazine
/// is refilled from or flushed to the class's slabs under its lock.
///
/// * Requests above 4096 bytes go to the backing heap, as on the front end.
/// * Blocks may be freed through any handle of the front end or the front
///   end itself, on any thread, with the layout they were allocated with.
/// * Free checks the pointer as [`SmallFront::free`] does (a block of a
///   slab of the layout's class, live) and refuses it otherwise.
/// * Dropping the handle returns its cached blocks and publishes its counts
///   (see the statistics of [`SmallFront`]).
/// * Cached blocks are out of reach of other handles: a slab whose blocks
///   sit in a magazine stays held, and another thread's allocation may make
///   a new slab meanwhile (at most 16 blocks per class per handle).
/// * `!Sync`; `Send`.
pub struct SmallLocal<'a, A: FreesInAnyOrder> {
    front: &'a SmallFront<A>,
    magazines: [Magazine; CLASSES],
}

// SAFETY: the cached blocks belong to the handle alone (taken from their
// slabs under the class lock, or freed into the cache by their user),
// wherever it runs; everything else is `&SmallFront` (`Sync`: its state is
// behind locks and atomics). It is `!Sync` (`Cell`), so one thread at a
// time uses it.
unsafe impl<A: FreesInAnyOrder> Send for SmallLocal<'_, A> {}

impl<'a, A: FreesInAnyOrder> SmallLocal<'a, A> {
    pub(super) fn new(front: &'a SmallFront<A>) -> Self {
        Self {
            front,
            magazines: [const { Magazine::new() }; CLASSES],
        }
    }

    /// Free blocks the handle holds, all classes together.
    pub fn cached(&self) -> usize {
        self.magazines.iter().map(|m| m.len.get()).sum()
    }

    /// Allocates a block for `layout` (as [`SmallFront::allocate`]).
    #[inline]
    pub fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let Some(class) = class_of(layout) else {
            return self.front.allocate_large_outlined(layout);
        };
        let magazine = &self.magazines[class];
        let len = magazine.len.get();
        let block = if len == 0 {
            self.refill(class, layout.size())?
        } else {
            magazine.len.set(len - 1);
            // `0 < len <= CAPACITY`.
            magazine.slots[len - 1].get()
        };
        magazine.allocations.set(magazine.allocations.get() + 1);
        magazine
            .requested
            .set(magazine.requested.get().wrapping_add(layout.size()));
        // SAFETY: cached blocks are free blocks of slabs of their class,
        // owned by the handle.
        Ok(unsafe { self.front.hand_out(block, class) })
    }

    /// Returns a block allocated with `layout` through any handle of the
    /// front end or the front end itself, keeping a small block in this
    /// handle's cache. Refuses what [`SmallFront::free`] refuses; nothing
    /// changes then.
    ///
    /// # Safety
    ///
    /// As for [`SmallFront::free`].
    #[inline]
    pub unsafe fn free(&self, ptr: NonNull<u8>, layout: Layout) -> Result<(), AllocError> {
        let Some(class) = class_of(layout) else {
            // SAFETY: forwarded from the caller: a block of the backing heap.
            return unsafe { self.front.backing.free(ptr) };
        };
        // SAFETY: forwarded from the caller.
        unsafe { self.front.take_back(ptr, class) }?;
        let magazine = &self.magazines[class];
        let mut len = magazine.len.get();
        if len >= CAPACITY {
            self.flush(class, BATCH);
            len = CAPACITY - BATCH;
        }
        magazine.slots[len].set(ptr.as_ptr());
        magazine.len.set(len + 1);
        magazine.deallocations.set(magazine.deallocations.get() + 1);
        magazine
            .requested
            .set(magazine.requested.get().wrapping_sub(layout.size()));
        Ok(())
    }

    /// Takes a batch from the class's slabs; returns one block of it and
    /// caches the rest.
    #[cold]
    #[inline(never)]
    fn refill(&self, class: usize, request: usize) -> Result<*mut u8, AllocError> {
        let front = self.front;
        let magazine = &self.magazines[class];
        let taken = front.classes[class].with(|shared| {
            magazine.publish(shared);
            let mut taken = 0;
            while taken < BATCH {
                match shared.take(class, &front.backing, request) {
                    Ok(block) => {
                        magazine.slots[taken].set(block);
                        taken += 1;
                    }
                    Err(error) if taken == 0 => return Err(error),
                    Err(_) => break,
                }
            }
            Ok(taken)
        });
        let taken = taken.map_err(|error| front.refuse(error))?;
        // The last taken is handed out now; the rest stay where they are.
        magazine.len.set(taken - 1);
        Ok(magazine.slots[taken - 1].get())
    }

    /// Returns the `count` oldest cached blocks of `class` to their slabs.
    #[cold]
    #[inline(never)]
    fn flush(&self, class: usize, count: usize) {
        let front = self.front;
        let magazine = &self.magazines[class];
        let len = magazine.len.get();
        let count = count.min(len);
        front.classes[class].with(|shared| {
            magazine.publish(shared);
            for slot in &magazine.slots[..count] {
                // SAFETY: cached blocks are free (live byte clear) blocks of
                // slabs of this class, owned by the handle, which forgets
                // them below.
                unsafe { shared.give(slot.get(), &front.backing) };
            }
        });
        for i in count..len {
            magazine.slots[i - count].set(magazine.slots[i].get());
        }
        magazine.len.set(len - count);
    }
}

impl<A: FreesInAnyOrder> Drop for SmallLocal<'_, A> {
    fn drop(&mut self) {
        for (class, magazine) in self.magazines.iter().enumerate() {
            let idle = magazine.len.get() == 0
                && magazine.allocations.get() == 0
                && magazine.deallocations.get() == 0;
            if !idle {
                self.flush(class, CAPACITY);
            }
        }
    }
}

impl<A: FreesInAnyOrder> core::fmt::Debug for SmallLocal<'_, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmallLocal")
            .field("cached", &self.cached())
            .finish()
    }
}

// SAFETY: blocks come from `SmallLocal::allocate` (the front end's blocks:
// valid, aligned, disjoint, live until freed); the front end outlives the
// handle's borrow, and `deallocate` returns a block with its layout through
// the checked `free`.
unsafe impl<A: FreesInAnyOrder> allocator_api2::alloc::Allocator for &SmallLocal<'_, A> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        if layout.size() == 0 {
            return Ok(crate::allocator::dangling(layout));
        }
        SmallLocal::allocate(self, layout).map_err(Into::into)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: the `Allocator` contract: a live block of this
            // allocator, allocated with `layout` before.
            let _refused = unsafe { SmallLocal::free(self, ptr, layout) };
        }
    }
}
