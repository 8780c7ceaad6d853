//! The two lower bounds written in the bench itself: what an allocator of
//! each family costs when it does nothing but its core operation, with no
//! synchronisation, no statistics and no checks.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use crate::{AlignedBuf, RawBlock, Reset, Subject};

/// No allocator at all: hands out the same dangling pointer every time. Its
/// instruction count is the workload loop itself, which the callgrind table
/// subtracts to show what the allocation alone costs.
pub struct HarnessOnly;

impl Subject for HarnessOnly {
    const NAME: &'static str = "harness only (no allocator)";
    type Block = NonNull<u8>;

    fn create(_arena: usize) -> Self {
        Self
    }

    #[inline]
    fn alloc(&mut self, _layout: Layout) -> Option<NonNull<u8>> {
        Some(NonNull::dangling())
    }

    #[inline]
    unsafe fn free(&mut self, _block: NonNull<u8>) {}
}

impl Reset for HarnessOnly {
    #[inline]
    fn reset(&mut self) {}
}

/// A plain unsynchronised pointer bump, downwards as bumpalo does it:
/// subtract the size, round down to the alignment, compare with the start.
pub struct PlainBump {
    base: *mut u8,
    cursor: usize,
    memory: AlignedBuf,
}

impl Subject for PlainBump {
    const NAME: &'static str = "limit: plain bump";
    type Block = NonNull<u8>;

    fn create(arena: usize) -> Self {
        let memory = AlignedBuf::new(arena);
        Self {
            base: memory.as_ptr(),
            cursor: memory.as_ptr() as usize + memory.len(),
            memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let start = self.cursor.checked_sub(layout.size())? & !(layout.align() - 1);
        if start < self.base as usize {
            return None;
        }
        self.cursor = start;
        // SAFETY: `base <= start` and `start + size <= the old cursor <= end`,
        // so the block lies inside the arena; the pointer keeps its provenance.
        Some(unsafe { NonNull::new_unchecked(self.base.add(start - self.base as usize)) })
    }

    #[inline]
    unsafe fn free(&mut self, _block: NonNull<u8>) {}
}

impl Reset for PlainBump {
    #[inline]
    fn reset(&mut self) {
        self.cursor = self.base as usize + self.memory.len();
    }
}

/// The least a `Sync`, lock-free bump can do: one compare-and-swap of the
/// cursor per allocation, no statistics. Not one of the limits:
/// it shows what the atomic alone costs on this machine.
pub struct AtomicBump {
    base: *mut u8,
    cursor: core::sync::atomic::AtomicUsize,
    memory: AlignedBuf,
}

impl Subject for AtomicBump {
    const NAME: &'static str = "limit: one-CAS atomic bump";
    type Block = NonNull<u8>;

    fn create(arena: usize) -> Self {
        let memory = AlignedBuf::new(arena);
        Self {
            base: memory.as_ptr(),
            cursor: core::sync::atomic::AtomicUsize::new(memory.as_ptr() as usize + memory.len()),
            memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        use core::sync::atomic::Ordering;
        let base = self.base as usize;
        let mut cursor = self.cursor.load(Ordering::Relaxed);
        loop {
            let start = cursor.checked_sub(layout.size())? & !(layout.align() - 1);
            if start < base {
                return None;
            }
            match self.cursor.compare_exchange_weak(
                cursor,
                start,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // SAFETY: as for `PlainBump`: the block lies inside the
                    // arena, which this CAS made ours alone.
                    let block = unsafe { NonNull::new_unchecked(self.base.add(start - base)) };
                    return Some(block);
                }
                Err(seen) => cursor = seen,
            }
        }
    }

    #[inline]
    unsafe fn free(&mut self, _block: NonNull<u8>) {}
}

impl Reset for AtomicBump {
    #[inline]
    fn reset(&mut self) {
        *self.cursor.get_mut() = self.base as usize + self.memory.len();
    }
}

/// A plain intrusive free list of fixed 64-byte blocks: pop the head on
/// allocation, push on free. Not `Sync`, not ABA-safe: the floor a pool can
/// approach, not a usable pool.
pub struct PlainFreeList {
    head: *mut u8,
    _memory: AlignedBuf,
}

impl PlainFreeList {
    /// The size and alignment of every block.
    pub const BLOCK: usize = 64;
}

impl Subject for PlainFreeList {
    const NAME: &'static str = "limit: plain free list";
    type Block = RawBlock;

    fn create(arena: usize) -> Self {
        let memory = AlignedBuf::new(arena);
        let blocks = memory.len() / Self::BLOCK;
        let mut head = ptr::null_mut::<u8>();
        for index in (0..blocks).rev() {
            // SAFETY: `index < blocks`, so the block lies inside the arena,
            // is 64-byte aligned (the arena is page aligned) and can hold a pointer.
            unsafe {
                let block = memory.as_ptr().add(index * Self::BLOCK);
                block.cast::<*mut u8>().write(head);
                head = block;
            }
        }
        Self {
            head,
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        if layout.size() > Self::BLOCK || layout.align() > Self::BLOCK {
            return None;
        }
        let block = NonNull::new(self.head)?;
        // SAFETY: every block on the list is a free block of the arena whose
        // first word holds the next link.
        self.head = unsafe { block.cast::<*mut u8>().read() };
        Some(RawBlock { ptr: block, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the caller returns a block of this list, which is 64-byte
        // aligned and at least a pointer long; it is free from now on.
        unsafe { block.ptr.cast::<*mut u8>().write(self.head) };
        self.head = block.ptr.as_ptr();
    }
}
