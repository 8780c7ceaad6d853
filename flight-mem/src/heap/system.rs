//! See [`System`].

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use std::alloc::GlobalAlloc;

use crate::allocator::{check_request, impl_allocator_api2};
use crate::stats::Counters;
use crate::sync::{Lock, const_fn};
use crate::{AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawAllocator};

/// A live block's bookkeeping, in a platform allocation of its own.
#[repr(C)]
struct Header {
    /// The block's first byte.
    block: *mut u8,
    /// The caller's layout, with which the block is freed.
    size: usize,
    align: usize,
    prev: *mut Header,
    next: *mut Header,
}

struct State {
    head: *mut Header,
    counters: Counters,
    /// Budget taken by allocations between their two lock holds (the
    /// platform call runs unlocked): counted against the budget, not yet
    /// in `counters` (whose `used` is derived from the peak).
    reserved: usize,
}

// SAFETY: the raw pointers in `State` point to headers this allocator
// allocated from the platform allocator, which may be used and freed from
// any thread; they are only followed under the lock.
unsafe impl Send for State {}

/// The platform allocator with a budget, statistics and size-less free.
///
/// The platform allocator behind the flight-mem interface (feature `std`).
///
/// `System` forwards to [`std::alloc::System`] and adds what the layout
/// machinery needs from every allocator: a byte budget enforced exactly as on
/// the console (so a PC build fails where the console would), size-less
/// `free`, statistics, and ownership queries.
///
/// Every block has a header of five words (the block's address, size and
/// alignment, and the links of an intrusive list of live blocks) in a
/// platform allocation of its own. The list is what makes
/// [`RawAllocator::owns`] and `free`'s foreign-pointer check possible without
/// reading memory the allocator did not hand out: both compare addresses
/// against the list under a lock, O(live blocks). Allocation and free are
/// O(1) plus the platform allocator's own cost (two calls each).
///
/// The header lives apart so that a block is freed with the caller's own
/// pointer and nothing else touches its bytes: a `Box`'s pointer may carry
/// provenance over the block alone, and under a `GlobalRegion` a `Box` that
/// is still a protected function argument may be freed (std's
/// `Thread::init` does that); a header in front of the block would have to
/// be reached, and the block freed, through a pointer the `Box` did not
/// derive, which Stacked Borrows rejects in both cases.
///
/// The budget charges a block as if its header sat in front of it (the
/// header rounded up to the block's alignment, plus the block).
///
/// ```
/// use core::alloc::Layout;
/// use flight_mem::{RawAllocator, System};
///
/// static PC_HEAP: System = System::with_budget(1 << 20);
///
/// let block = PC_HEAP.allocate(Layout::new::<[u8; 100]>()).unwrap();
/// assert!(PC_HEAP.owns(block.cast()));
/// // SAFETY: `block` came from PC_HEAP and is not used again.
/// unsafe { PC_HEAP.free(block.cast()).unwrap() };
/// assert_eq!(PC_HEAP.stats().live, 0);
/// ```
pub struct System {
    budget: usize,
    state: Lock<State>,
}

impl System {
    const_fn! {
        /// A system allocator with no budget beyond the machine's memory.
        pub fn new() -> Self {
            Self::with_budget(usize::MAX)
        }
    }

    const_fn! {
        /// A system allocator that refuses requests once `budget` bytes
        /// (headers and padding included) are in use.
        pub fn with_budget(budget: usize) -> Self {
            Self {
                budget,
                state: Lock::new(State { head: ptr::null_mut(), counters: Counters::new(), reserved: 0 }),
            }
        }
    }

    /// The bytes the budget charges for a block of `layout`: the header
    /// rounded up to the block's alignment, plus the block (what one
    /// allocation holding both would take).
    fn charged(layout: Layout) -> Result<usize, AllocError> {
        Layout::new::<Header>()
            .extend(layout)
            .map(|(outer, _)| outer.size())
            .map_err(|_| AllocError::SizeOverflow {
                size: layout.size(),
            })
    }

    /// Finds the live header whose block contains `addr`, under the lock.
    fn find(head: *mut Header, addr: usize, exact: bool) -> *mut Header {
        let mut cursor = head;
        while !cursor.is_null() {
            // SAFETY: every header in the list is live and only read or
            // written under the lock the caller holds.
            let header = unsafe { &*cursor };
            let start = header.block as usize;
            let hit = if exact {
                addr == start
            } else {
                addr.wrapping_sub(start) < header.size
            };
            if hit {
                return cursor;
            }
            cursor = header.next;
        }
        ptr::null_mut()
    }
}

impl Default for System {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: each block is a platform allocation of exactly the requested
// layout, so it is valid, aligned and disjoint until `free` returns it;
// `free` follows a pointer only after finding its header in the live list,
// so a foreign pointer is refused without being read.
unsafe impl RawAllocator for System {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let checked =
            check_request(layout, usize::MAX / 2 + 1).and_then(|()| Self::charged(layout));
        let charged = match checked {
            Ok(charged) => charged,
            Err(err) => {
                self.state.with(|s| s.counters.failed());
                return Err(err);
            }
        };
        // Take the budget first, so concurrent requests cannot overshoot it.
        self.state.with(|s| {
            let free = self.budget - s.counters.used() - s.reserved;
            if charged > free {
                s.counters.failed();
                Err(AllocError::OutOfMemory {
                    size: layout.size(),
                    largest_free: free,
                })
            } else {
                s.reserved += charged;
                Ok(())
            }
        })?;
        let header_layout = Layout::new::<Header>();
        // SAFETY: both layouts have non-zero sizes (`check_request` refused
        // a zero-sized block; a header is five words).
        let (block, header) = unsafe {
            (
                std::alloc::System.alloc(layout),
                std::alloc::System.alloc(header_layout).cast::<Header>(),
            )
        };
        let (Some(block), Some(header)) = (NonNull::new(block), NonNull::new(header)) else {
            // SAFETY: whichever of the two succeeded is a fresh platform
            // allocation of its layout, freed once here.
            unsafe {
                if !block.is_null() {
                    std::alloc::System.dealloc(block, layout);
                }
                if !header.is_null() {
                    std::alloc::System.dealloc(header.cast(), header_layout);
                }
            }
            self.state.with(|s| {
                s.reserved -= charged;
                s.counters.failed();
            });
            return Err(AllocError::OutOfMemory {
                size: layout.size(),
                largest_free: 0,
            });
        };
        self.state.with(|s| {
            // SAFETY: `header` is a fresh, aligned platform allocation of a
            // `Header`; `s.head` is null or a live header, touched only under
            // this lock.
            unsafe {
                header.write(Header {
                    block: block.as_ptr(),
                    size: layout.size(),
                    align: layout.align(),
                    prev: ptr::null_mut(),
                    next: s.head,
                });
                if let Some(old) = s.head.as_mut() {
                    old.prev = header.as_ptr();
                }
            }
            s.head = header.as_ptr();
            // The reservation above becomes the block's.
            s.reserved -= charged;
            s.counters.allocated(layout.size(), charged);
        });
        Ok(NonNull::slice_from_raw_parts(block, layout.size()))
    }

    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        let found = self.state.with(|s| {
            let found = Self::find(s.head, ptr.as_ptr() as usize, true);
            if found.is_null() {
                // A refused free changes nothing (`RawAllocator::free`):
                // `failures` counts refused requests only.
                return Err(AllocError::ForeignPointer);
            }
            // SAFETY: `found` is a live header of this allocator and so are
            // its neighbours; all are only touched under this lock.
            let (size, align) = unsafe {
                let header = &*found;
                match header.prev.as_mut() {
                    Some(prev) => prev.next = header.next,
                    None => s.head = header.next,
                }
                if let Some(next) = header.next.as_mut() {
                    next.prev = header.prev;
                }
                (header.size, header.align)
            };
            // SAFETY: the header stored a layout `allocate` accepted.
            let layout = unsafe { Layout::from_size_align_unchecked(size, align) };
            let charged = Self::charged(layout).unwrap_or(size);
            s.counters.freed(size, charged);
            Ok((found, layout))
        });
        let (header, layout) = found?;
        // SAFETY: the header was live in the list, so `ptr` is the start of
        // a platform allocation of `layout` that this allocator made, and
        // the header its own allocation; both are unlinked now, so nothing
        // else frees them. The block is freed with the caller's pointer,
        // whose provenance is the block's.
        unsafe {
            std::alloc::System.dealloc(ptr.as_ptr(), layout);
            std::alloc::System.dealloc(header.cast(), Layout::new::<Header>());
        }
        Ok(())
    }

    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.state
            .with(|s| !Self::find(s.head, ptr.as_ptr() as usize, false).is_null())
    }

    fn capacity(&self) -> usize {
        self.budget
    }

    fn stats(&self) -> AllocatorStats {
        let (counters, reserved) = self.state.with(|s| (s.counters, s.reserved));
        counters.snapshot(self.budget, self.budget - counters.used() - reserved)
    }

    fn kind(&self) -> AllocatorKind {
        AllocatorKind::System
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        self.state.with(|s| {
            let (mut live, mut requested, mut used) = (0usize, 0usize, 0usize);
            let mut prev: *mut Header = ptr::null_mut();
            let mut cursor = s.head;
            while !cursor.is_null() {
                // SAFETY: list headers are live and only touched under the lock.
                let header = unsafe { &*cursor };
                let violation = |what| InvariantViolation {
                    what,
                    offset: cursor as usize,
                };
                if header.prev != prev {
                    return Err(violation("live list back link broken"));
                }
                let layout = Layout::from_size_align(header.size, header.align)
                    .map_err(|_| violation("corrupted block header"))?;
                let charged =
                    Self::charged(layout).map_err(|_| violation("corrupted block header"))?;
                live += 1;
                if live > s.counters.live() {
                    return Err(violation("more blocks in the live list than counted"));
                }
                requested += header.size;
                used += charged;
                prev = cursor;
                cursor = header.next;
            }
            let here = InvariantViolation {
                what: "",
                offset: 0,
            };
            if live != s.counters.live() {
                return Err(InvariantViolation {
                    what: "live count disagrees with the live list",
                    ..here
                });
            }
            if requested != s.counters.requested || used != s.counters.used() {
                return Err(InvariantViolation {
                    what: "byte counters disagree with the live list",
                    ..here
                });
            }
            Ok(())
        })
    }
}

impl_allocator_api2!(System);
crate::allocator::inherent_surface!(System);
// SAFETY: `free` finds any live block in its list and returns it to the platform; it never panics.
unsafe impl crate::allocator::FreesInAnyOrder for System {}
