//! Slabs and the per-class shared state behind each class's lock.
//!
//! A slab is a [`SLAB`]-byte block of the backing allocator, aligned to its
//! size. It starts with a header ([`Slab`]), then a *live map* of one byte
//! per block from [`MAP_OFFSET`], then the blocks of one class. The
//! header's mutable fields and the blocks' free-list links are touched only
//! under the class's lock; the live bytes are atomic, because handles set
//! and clear them without the lock. A byte per block rather than a bit:
//! a bit would need a read-modify-write (a locked instruction, 2 to 12 ns
//! on x86) on every allocation and free of a handle, a byte only a load and
//! a store.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use crate::sync::{AtomicU8, Ordering};
use crate::{AllocError, FreesInAnyOrder, InvariantViolation};

use super::classes::{GEOMETRY, MAP_OFFSET, SLAB};

/// Mixed with a slab's address into its header's first word, so a free can
/// tell a slab header from other bytes (a second line of defence; see
/// [`SmallFront::free`](super::SmallFront::free)).
const MAGIC: usize = 0x5a1b_c0de_u32 as usize;

/// Empty slabs each class keeps rather than returning to the backing
/// allocator, so a class that oscillates around a slab boundary does not
/// allocate and free a slab on every batch.
const RETAINED_EMPTY: u32 = 1;

/// The header at the start of every slab.
#[repr(C)]
pub(crate) struct Slab {
    /// `MAGIC ^ address of the slab`.
    magic: usize,
    /// The class of its blocks.
    class: u32,
    /// Blocks out of the slab: live, or cached in a handle.
    used: u32,
    /// Blocks from this index on were never handed out.
    fresh: u32,
    /// Whether the slab is on its class's partial list.
    listed: bool,
    /// Head of the free blocks handed back, linked through their first word.
    free: *mut u8,
    prev: *mut Slab,
    next: *mut Slab,
}

const _: () = assert!(size_of::<Slab>() <= MAP_OFFSET);

/// The slab holding `block` (an address inside a slab).
#[inline(always)]
pub(crate) fn slab_of(block: *mut u8) -> *mut Slab {
    block.map_addr(|addr| addr & !(SLAB - 1)).cast()
}

/// Index of `block` in its slab of class `class`, or `None` if it is not on
/// a block boundary of that class.
#[inline(always)]
pub(crate) fn index_of(block: *mut u8, class: usize) -> Option<usize> {
    let g = &GEOMETRY[class];
    let offset = (block.addr() & (SLAB - 1)).wrapping_sub(g.data);
    if offset >= g.span {
        return None;
    }
    let index = ((offset as u64 * g.recip) >> 32) as usize;
    (index * g.size == offset).then_some(index)
}

/// The live byte of block `index` of `slab`.
///
/// # Safety
///
/// `slab` is a slab of the front end (its header initialised) and `index`
/// is below its class's block count.
#[inline(always)]
unsafe fn live_byte<'s>(slab: *mut Slab, index: usize) -> &'s AtomicU8 {
    let byte = slab.cast::<u8>().wrapping_add(MAP_OFFSET + index);
    // SAFETY: the byte lies in the live map of the slab (its class's
    // geometry leaves `blocks` bytes from `MAP_OFFSET` before the first
    // block: a unit test checks it), was zeroed when the slab was made and
    // is only ever accessed atomically afterwards; `AtomicU8` has the layout
    // of `u8`. The slab outlives the reference: a slab is returned to the
    // backing allocator only when none of its blocks is out, and the
    // callers hold one.
    unsafe { &*byte.cast::<AtomicU8>() }
}

/// Marks block `index` of `slab` live.
///
/// # Safety
///
/// As for [`live_byte`]; the caller owns the block (taken from the slab,
/// not yet handed out).
#[inline(always)]
pub(crate) unsafe fn mark_live(slab: *mut Slab, index: usize) {
    // SAFETY: forwarded.
    let byte = unsafe { live_byte(slab, index) };
    debug_assert_eq!(
        byte.load(Ordering::Relaxed),
        0,
        "flight-mem: free block marked live"
    );
    // Relaxed: the block's ownership moved to this thread with the class
    // lock (or the handle's cache); the byte only answers "is it live?", and
    // a later free is ordered after this allocation by its caller.
    byte.store(1, Ordering::Relaxed);
}

/// Marks block `index` of `slab` free; `false` if it was not live (a
/// double free). Two frees of one block racing each other, which the free
/// contract excludes, may both pass: this is a check of ordered misuse.
///
/// # Safety
///
/// As for [`live_byte`].
#[inline(always)]
pub(crate) unsafe fn clear_live(slab: *mut Slab, index: usize) -> bool {
    // SAFETY: forwarded.
    let byte = unsafe { live_byte(slab, index) };
    if byte.load(Ordering::Relaxed) == 0 {
        return false;
    }
    byte.store(0, Ordering::Relaxed);
    true
}

/// Whether `slab` looks like a slab header of class `class`.
///
/// # Safety
///
/// `slab` is readable for a header's size (the caller checked it lies in
/// the backing allocator's memory) and, if it is a slab, one of its blocks
/// is live so the slab stays allocated.
#[inline(always)]
pub(crate) unsafe fn is_slab_of(slab: *mut Slab, class: usize) -> bool {
    // SAFETY: the caller's contract; `magic` and `class` never change after
    // the slab was published under the class lock that the block's
    // allocation went through.
    unsafe { (*slab).magic == MAGIC ^ slab.addr() && (*slab).class as usize == class }
}

/// One class's shared state, behind its lock.
pub(crate) struct Class {
    /// Slabs with a free block, most recently refilled first.
    partial: *mut Slab,
    /// Empty slabs on the partial list (at most [`RETAINED_EMPTY`]).
    empty: u32,
    /// Slabs held.
    pub(crate) slabs: usize,
    /// Slabs taken from / returned to the backing allocator, ever.
    pub(crate) slabs_taken: u64,
    pub(crate) slabs_returned: u64,
    /// Blocks handed to users, and taken back, through this class
    /// (including the published counts of handles).
    pub(crate) allocations: u64,
    pub(crate) deallocations: u64,
    /// Sum of the requested sizes of live blocks of this class.
    pub(crate) requested: usize,
}

// SAFETY: the raw pointers reach slabs the front end owns; they move with
// the state, which the class lock hands to one thread at a time.
unsafe impl Send for Class {}

impl Class {
    pub(crate) const fn new() -> Self {
        Self {
            partial: ptr::null_mut(),
            empty: 0,
            slabs: 0,
            slabs_taken: 0,
            slabs_returned: 0,
            allocations: 0,
            deallocations: 0,
            requested: 0,
        }
    }

    /// Takes one free block of class `class` out of its slabs, making a
    /// slab from `backing` when none has a free block. The block is not yet
    /// marked live.
    pub(crate) fn take<A: FreesInAnyOrder>(
        &mut self,
        class: usize,
        backing: &A,
        request: usize,
    ) -> Result<*mut u8, AllocError> {
        let g = &GEOMETRY[class];
        let mut slab = self.partial;
        if slab.is_null() {
            slab = self.new_slab(class, backing, request)?;
        }
        // SAFETY: slabs on the partial list are initialised slabs of this
        // class with a free block; the class lock (held: `&mut self`)
        // guards their mutable header fields and free-list links.
        unsafe {
            let block = if !(*slab).free.is_null() {
                let block = (*slab).free;
                (*slab).free = block.cast::<*mut u8>().read();
                block
            } else {
                let index = (*slab).fresh as usize;
                (*slab).fresh += 1;
                slab.cast::<u8>().wrapping_add(g.data + index * g.size)
            };
            if (*slab).used == 0 {
                self.empty -= 1;
            }
            (*slab).used += 1;
            if (*slab).used as usize == g.blocks {
                self.unlink(slab);
            }
            Ok(block)
        }
    }

    /// Hands a block (its live byte already cleared) back to its slab;
    /// returns the slab to `backing` when it empties beyond the retained
    /// one.
    ///
    /// # Safety
    ///
    /// `block` was taken from a slab of this class by [`take`](Self::take),
    /// is not live and is owned by the caller, who does not use it again.
    pub(crate) unsafe fn give<A: FreesInAnyOrder>(&mut self, block: *mut u8, backing: &A) {
        let slab = slab_of(block);
        // SAFETY: the caller's contract: `slab` is a slab of this class,
        // guarded by the lock held here.
        unsafe {
            block.cast::<*mut u8>().write((*slab).free);
            (*slab).free = block;
            (*slab).used -= 1;
            if !(*slab).listed {
                self.push_front(slab);
            }
            if (*slab).used == 0 {
                if self.empty >= RETAINED_EMPTY {
                    self.unlink(slab);
                    self.release(slab, backing);
                } else {
                    self.empty += 1;
                }
            }
        }
    }

    /// Returns every empty slab of this class to `backing`.
    pub(crate) fn release_empty<A: FreesInAnyOrder>(&mut self, backing: &A) {
        let mut slab = self.partial;
        while !slab.is_null() {
            // SAFETY: a listed slab of this class, under the lock.
            unsafe {
                let next = (*slab).next;
                if (*slab).used == 0 {
                    self.unlink(slab);
                    self.empty -= 1;
                    self.release(slab, backing);
                }
                slab = next;
            }
        }
    }

    #[cold]
    fn new_slab<A: FreesInAnyOrder>(
        &mut self,
        class: usize,
        backing: &A,
        request: usize,
    ) -> Result<*mut Slab, AllocError> {
        const SLAB_LAYOUT: Layout = match Layout::from_size_align(SLAB, SLAB) {
            Ok(layout) => layout,
            Err(_) => panic!("slab layout"),
        };
        let block = backing.allocate(SLAB_LAYOUT).map_err(|error| match error {
            AllocError::OutOfMemory { largest_free, .. } => AllocError::OutOfMemory {
                size: request,
                largest_free,
            },
            _ => AllocError::OutOfMemory {
                size: request,
                largest_free: 0,
            },
        })?;
        let slab = block.cast::<Slab>().as_ptr();
        // SAFETY: the backing allocator handed out `SLAB` bytes aligned to
        // `SLAB`, ours alone; the header and live map are written before the
        // slab is published (by the class lock's release).
        unsafe {
            slab.write(Slab {
                magic: MAGIC ^ slab.addr(),
                class: class as u32,
                used: 0,
                fresh: 0,
                listed: false,
                free: ptr::null_mut(),
                prev: ptr::null_mut(),
                next: ptr::null_mut(),
            });
            slab.cast::<u8>()
                .add(MAP_OFFSET)
                .write_bytes(0, GEOMETRY[class].blocks);
            self.push_front(slab);
        }
        self.empty += 1;
        self.slabs += 1;
        self.slabs_taken += 1;
        Ok(slab)
    }

    /// # Safety
    ///
    /// `slab` is an unlisted, empty slab of this class.
    unsafe fn release<A: FreesInAnyOrder>(&mut self, slab: *mut Slab, backing: &A) {
        // SAFETY: the caller's contract; clearing the magic makes a stale
        // free of a block of this slab fail the header check while the
        // memory is not reused.
        unsafe { (*slab).magic = 0 };
        self.slabs -= 1;
        self.slabs_returned += 1;
        // SAFETY: the slab came from `backing.allocate` and none of its
        // blocks is out.
        let freed = unsafe { backing.free(NonNull::new_unchecked(slab.cast())) };
        // `FreesInAnyOrder`'s contract: the free of a live block succeeds
        // (a `Stack` backing, which could refuse, does not compile).
        debug_assert!(
            freed.is_ok(),
            "flight-mem: backing refused a slab: {freed:?}"
        );
    }

    /// # Safety
    ///
    /// `slab` is an unlisted slab of this class, under the lock.
    unsafe fn push_front(&mut self, slab: *mut Slab) {
        // SAFETY: the caller's contract; `partial` is a listed slab or null.
        unsafe {
            (*slab).prev = ptr::null_mut();
            (*slab).next = self.partial;
            (*slab).listed = true;
            if !self.partial.is_null() {
                (*self.partial).prev = slab;
            }
        }
        self.partial = slab;
    }

    /// # Safety
    ///
    /// `slab` is a listed slab of this class, under the lock.
    unsafe fn unlink(&mut self, slab: *mut Slab) {
        // SAFETY: the caller's contract; the neighbours are listed slabs.
        unsafe {
            let (prev, next) = ((*slab).prev, (*slab).next);
            if prev.is_null() {
                self.partial = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*slab).listed = false;
        }
    }

    /// Walks the partial list and checks every listed slab.
    pub(crate) fn check(&self, class: usize) -> Result<(), InvariantViolation> {
        let g = &GEOMETRY[class];
        let fail = |what, slab: *mut Slab| {
            Err(InvariantViolation {
                what,
                offset: slab.addr(),
            })
        };
        let mut slab = self.partial;
        let mut prev = ptr::null_mut();
        let (mut listed, mut empty) = (0usize, 0u32);
        while !slab.is_null() {
            listed += 1;
            if listed > self.slabs {
                return fail("small: partial list longer than the slabs held", slab);
            }
            // SAFETY: a listed slab of this class, under the lock (held by
            // the caller: `&self` comes from the lock).
            unsafe {
                if !is_slab_of(slab, class) || !(*slab).listed || (*slab).prev != prev {
                    return fail("small: corrupted slab header", slab);
                }
                let (used, fresh) = ((*slab).used as usize, (*slab).fresh as usize);
                if used >= g.blocks || fresh > g.blocks || used > fresh {
                    return fail("small: slab counts out of range", slab);
                }
                empty += u32::from(used == 0);
                let mut free = (*slab).free;
                let mut linked = 0;
                while !free.is_null() {
                    linked += 1;
                    let index = match index_of(free, class) {
                        Some(index) if slab_of(free) == slab && index < fresh => index,
                        _ => return fail("small: free list leaves its slab", slab),
                    };
                    if linked > fresh || live_byte(slab, index).load(Ordering::Relaxed) != 0 {
                        return fail("small: free list holds a live block", slab);
                    }
                    free = free.cast::<*mut u8>().read();
                }
                if fresh - linked != used {
                    return fail("small: slab free count disagrees with its list", slab);
                }
                prev = slab;
                slab = (*slab).next;
            }
        }
        if empty != self.empty {
            return fail("small: class counters disagree", self.partial);
        }
        Ok(())
    }
}
