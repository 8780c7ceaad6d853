//! The two lower bounds written in the bench itself: what an allocator of
//! each family costs when it does nothing but its core operation, with no
//! synchronisation, no statistics and no checks.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use crate::{AlignedBuf, RawBlock, Reset, Subject};

/// A plain unsynchronised pointer bump: align the cursor, add the size,
/// compare with the end.
pub struct PlainBump {
    base: *mut u8,
    offset: usize,
    len: usize,
    _memory: AlignedBuf,
}

impl Subject for PlainBump {
    const NAME: &'static str = "limit: plain bump";
    type Block = NonNull<u8>;

    fn create(arena: usize) -> Self {
        let memory = AlignedBuf::new(arena);
        Self {
            base: memory.as_ptr(),
            offset: 0,
            len: memory.len(),
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // The arena is page aligned, so aligning the offset aligns the address.
        let start = self.offset.checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let end = start.checked_add(layout.size())?;
        if end > self.len {
            return None;
        }
        self.offset = end;
        // SAFETY: `start <= end <= len`, so the pointer stays inside the arena.
        Some(unsafe { NonNull::new_unchecked(self.base.add(start)) })
    }

    #[inline]
    unsafe fn free(&mut self, _block: NonNull<u8>) {}
}

impl Reset for PlainBump {
    #[inline]
    fn reset(&mut self) {
        self.offset = 0;
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
