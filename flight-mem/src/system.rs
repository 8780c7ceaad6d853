//! The platform allocator behind the flight-mem interface (feature `std`).
//!
//! `System` forwards to [`std::alloc::System`] and adds what the layout
//! machinery needs from every allocator: a byte budget enforced exactly as on
//! the console (so a PC build fails where the console would), size-less
//! `free`, statistics, and ownership queries.
//!
//! Every block carries a header of four words in front of it (size,
//! alignment, and the links of an intrusive list of live blocks), rounded up
//! to the block's alignment. The list is what makes [`RawAllocator::owns`]
//! and `free`'s foreign-pointer check possible without reading memory the
//! allocator did not hand out: both compare addresses against the list
//! under a lock, O(live blocks). Allocation and free are O(1) plus the
//! platform allocator's own cost.
//!
//! ```
//! use core::alloc::Layout;
//! use flight_mem::{RawAllocator, System};
//!
//! static PC_HEAP: System = System::with_budget(1 << 20);
//!
//! let block = PC_HEAP.allocate(Layout::new::<[u8; 100]>()).unwrap();
//! assert!(PC_HEAP.owns(block.cast()));
//! // SAFETY: `block` came from PC_HEAP and is not used again.
//! unsafe { PC_HEAP.free(block.cast()).unwrap() };
//! assert_eq!(PC_HEAP.stats().live, 0);
//! ```

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use std::alloc::GlobalAlloc;

use crate::raw::{check_request, impl_allocator_api2};
use crate::stats::Counters;
use crate::sync::{Lock, const_fn};
use crate::{AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawAllocator};

/// The header directly in front of every block.
#[repr(C)]
struct Header {
    /// The caller's layout, from which the platform layout is recomputed.
    size: usize,
    align: usize,
    prev: *mut Header,
    next: *mut Header,
}

const HEADER: usize = size_of::<Header>();

struct State {
    head: *mut Header,
    counters: Counters,
}

// SAFETY: the raw pointers in `State` point to headers this allocator
// allocated from the platform allocator, which may be used and freed from
// any thread; they are only followed under the lock.
unsafe impl Send for State {}

/// The platform allocator with a budget, statistics and size-less free.
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
                state: Lock::new(State { head: ptr::null_mut(), counters: Counters::new() }),
            }
        }
    }

    /// The platform layout for a block of `layout` behind its header, and the
    /// block's offset in it. The header sits directly before the block: the
    /// offset is at least `HEADER`, and the block is aligned to at least
    /// `align_of::<Header>()` because `HEADER` is a multiple of it.
    fn outer_layout(layout: Layout) -> Result<(Layout, usize), AllocError> {
        Layout::new::<Header>()
            .extend(layout)
            .map_err(|_| AllocError::SizeOverflow {
                size: layout.size(),
            })
    }

    /// Finds the live header whose block contains `addr`, under the lock.
    fn find(head: *mut Header, addr: usize, exact: bool) -> *mut Header {
        let mut cursor = head;
        while !cursor.is_null() {
            let start = cursor as usize + HEADER;
            // SAFETY: every header in the list is live and only read or
            // written under the lock the caller holds.
            let header = unsafe { &*cursor };
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

// SAFETY: blocks come from the platform allocator with a layout that holds
// the header and then the requested layout, so they are valid, aligned and
// disjoint until `free` returns them; `free` follows a pointer only after
// finding its header in the live list, so a foreign pointer is refused
// without being read.
unsafe impl RawAllocator for System {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let checked =
            check_request(layout, usize::MAX / 2 + 1).and_then(|()| Self::outer_layout(layout));
        let (outer, offset) = match checked {
            Ok(found) => found,
            Err(err) => {
                self.state.with(|s| s.counters.failed());
                return Err(err);
            }
        };
        // Take the budget first, so concurrent requests cannot overshoot it.
        self.state.with(|s| {
            let free = self.budget - s.counters.used;
            if outer.size() > free {
                s.counters.failed();
                Err(AllocError::OutOfMemory {
                    size: layout.size(),
                    largest_free: free,
                })
            } else {
                s.counters.used += outer.size();
                Ok(())
            }
        })?;
        // SAFETY: `outer` has a non-zero size (it contains the header).
        let base = unsafe { std::alloc::System.alloc(outer) };
        let Some(base) = NonNull::new(base) else {
            self.state.with(|s| {
                s.counters.used -= outer.size();
                s.counters.failed();
            });
            return Err(AllocError::OutOfMemory {
                size: layout.size(),
                largest_free: 0,
            });
        };
        // SAFETY: `HEADER <= offset <= outer.size()`: both pointers stay
        // inside the platform allocation.
        let (block, header) =
            unsafe { (base.add(offset), base.add(offset - HEADER).cast::<Header>()) };
        self.state.with(|s| {
            // SAFETY: `header` is in bounds of the fresh allocation and
            // aligned (see `outer_layout`); `s.head` is null or a live header,
            // touched only under this lock.
            unsafe {
                header.write(Header {
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
            s.counters.used -= outer.size();
            s.counters.allocated(layout.size(), outer.size());
        });
        Ok(NonNull::slice_from_raw_parts(block, layout.size()))
    }

    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        let layout = self.state.with(|s| {
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
            let layout = Layout::from_size_align(size, align).expect("stored layout was valid");
            let (outer, offset) = Self::outer_layout(layout).expect("stored layout was valid");
            s.counters.freed(size, outer.size());
            Ok((outer, offset))
        });
        let (outer, offset) = layout?;
        // SAFETY: the block was found live in the list, so it was allocated
        // here at `offset` into a platform allocation of layout `outer`, and
        // it is now unlinked: nothing else frees it.
        unsafe { std::alloc::System.dealloc(ptr.as_ptr().sub(offset), outer) };
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
        let counters = self.state.with(|s| s.counters);
        counters.snapshot(self.budget, self.budget - counters.used)
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
                let (outer, _) =
                    Self::outer_layout(layout).map_err(|_| violation("corrupted block header"))?;
                live += 1;
                if live > s.counters.live {
                    return Err(violation("more blocks in the live list than counted"));
                }
                requested += header.size;
                used += outer.size();
                prev = cursor;
                cursor = header.next;
            }
            let here = InvariantViolation {
                what: "",
                offset: 0,
            };
            if live != s.counters.live {
                return Err(InvariantViolation {
                    what: "live count disagrees with the live list",
                    ..here
                });
            }
            if requested != s.counters.requested || used != s.counters.used {
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
