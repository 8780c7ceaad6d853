//! flight-mem's per-thread handles behind [`Subject`] (issue 12): a
//! `Linear::local` bump handle and `BlockPool::local` / `Pool::local`
//! magazines, each over a `static` allocator as a game declares it, plus the
//! two-CAS free list reference row and the two-thread scaling driver.
//!
//! Each handle subject owns the one handle of its static allocator; creating
//! a second while one lives panics (the workloads create one at a time).

use core::alloc::Layout;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use flight_mem::{
    Arena, BlockMagazine, BlockPool, Linear, LocalBump, Pool, PoolBox, PoolMagazine, RawMemory,
};

use crate::peers::Block64;
use crate::plan::{LINEAR_ARENA, POOL_CAPACITY};
use crate::{AlignedBuf, RawBlock, Reset, Subject};

static LOCAL_LINEAR_MEMORY: Arena<LINEAR_ARENA> = Arena::new();
// SAFETY: `LOCAL_LINEAR_MEMORY` is used by this allocator only.
static LOCAL_LINEAR: Linear = Linear::new(unsafe { RawMemory::from_arena(&LOCAL_LINEAR_MEMORY) });
static LOCAL_LINEAR_TAKEN: AtomicBool = AtomicBool::new(false);

/// A `Linear::local()` handle on a static `Linear` (in a `ManuallyDrop`
/// rather than an `Option`, so the allocation path has no extra check).
pub struct FmLinearLocal(ManuallyDrop<LocalBump<'static>>);

impl Subject for FmLinearLocal {
    const NAME: &'static str = "flight-mem Linear::local";
    type Block = NonNull<u8>;

    fn create(_arena: usize) -> Self {
        assert!(
            !LOCAL_LINEAR_TAKEN.swap(true, Ordering::Acquire),
            "one FmLinearLocal at a time"
        );
        Self(ManuallyDrop::new(LOCAL_LINEAR.local()))
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate(layout).ok().map(NonNull::cast)
    }

    #[inline]
    unsafe fn free(&mut self, _block: NonNull<u8>) {}
}

impl Reset for FmLinearLocal {
    fn reset(&mut self) {
        // SAFETY: the handle is dropped once here and replaced below before
        // anything uses it again.
        unsafe { ManuallyDrop::drop(&mut self.0) };
        // SAFETY: the workloads drop every block before they reset, the one
        // handle was just dropped, and nothing else uses `LOCAL_LINEAR`.
        unsafe { LOCAL_LINEAR.reset() };
        self.0 = ManuallyDrop::new(LOCAL_LINEAR.local());
    }
}

impl Drop for FmLinearLocal {
    fn drop(&mut self) {
        // SAFETY: dropped once, never used again.
        unsafe { ManuallyDrop::drop(&mut self.0) };
        LOCAL_LINEAR_TAKEN.store(false, Ordering::Release);
    }
}

static LOCAL_POOL_MEMORY: Arena<{ BlockPool::bytes_for(64, 8, POOL_CAPACITY) }> = Arena::new();
// SAFETY: `LOCAL_POOL_MEMORY` is used by this allocator only.
static LOCAL_BLOCK_POOL: BlockPool =
    BlockPool::new(unsafe { RawMemory::from_arena(&LOCAL_POOL_MEMORY) }, 64, 8);

/// A `BlockPool::local()` magazine on a static block pool.
pub struct FmBlockPoolLocal(BlockMagazine<'static>);

impl Subject for FmBlockPoolLocal {
    const NAME: &'static str = "flight-mem BlockPool::local";
    type Block = NonNull<u8>;

    fn create(_arena: usize) -> Self {
        Self(LOCAL_BLOCK_POOL.local())
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate(layout).ok().map(NonNull::cast)
    }

    #[inline]
    unsafe fn free(&mut self, block: NonNull<u8>) {
        // SAFETY: the block came from this magazine's pool (the caller's contract).
        let freed = unsafe { self.0.free(block) };
        debug_assert!(freed.is_ok());
    }
}

static LOCAL_TYPED_MEMORY: Arena<{ Pool::<Block64>::bytes_for(POOL_CAPACITY) }> = Arena::new();
// SAFETY: `LOCAL_TYPED_MEMORY` is used by this pool only.
static LOCAL_TYPED_POOL: Pool<Block64> =
    Pool::new(unsafe { RawMemory::from_arena(&LOCAL_TYPED_MEMORY) });

/// A `Pool::local()` magazine on a static typed pool.
pub struct FmPoolLocal(PoolMagazine<'static, Block64>);

impl Subject for FmPoolLocal {
    const NAME: &'static str = "flight-mem Pool<T>::local";
    type Block = NonNull<Block64>;

    fn create(_arena: usize) -> Self {
        Self(LOCAL_TYPED_POOL.local())
    }

    #[inline]
    fn alloc(&mut self, _layout: Layout) -> Option<NonNull<Block64>> {
        let value = self.0.alloc(core::mem::MaybeUninit::uninit()).ok()?;
        Some(PoolBox::into_raw(value))
    }

    #[inline]
    unsafe fn free(&mut self, block: NonNull<Block64>) {
        // SAFETY: the block came from `PoolBox::into_raw` on a box of this pool.
        self.0
            .free(unsafe { PoolBox::from_raw(&LOCAL_TYPED_POOL, block) });
    }
}

/// The least a `Sync` free list can do: a Treiber stack of 64-byte blocks
/// with one CAS to pop and one to push, links inside the blocks, no tag.
/// Not ABA-safe and racy under the Rust memory model (the popper reads a
/// link another thread may be overwriting): a reference row, not a pool.
pub struct TwoCasFreeList {
    head: AtomicPtr<u8>,
    _memory: AlignedBuf,
}

impl Subject for TwoCasFreeList {
    const NAME: &'static str = "limit: two-CAS free list";
    type Block = RawBlock;

    fn create(arena: usize) -> Self {
        let memory = AlignedBuf::new(arena);
        let mut head = core::ptr::null_mut::<u8>();
        for index in (0..memory.len() / 64).rev() {
            // SAFETY: `index` is a 64-byte block inside the arena.
            unsafe {
                let block = memory.as_ptr().add(index * 64);
                block.cast::<*mut u8>().write(head);
                head = block;
            }
        }
        Self {
            head: AtomicPtr::new(head),
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        if layout.size() > 64 || layout.align() > 64 {
            return None;
        }
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let ptr = NonNull::new(head)?;
            // SAFETY: `head` is a free block of the arena holding its link
            // (single-threaded in the benches).
            let next = unsafe { head.cast::<*mut u8>().read() };
            match self
                .head
                .compare_exchange_weak(head, next, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(RawBlock { ptr, layout }),
                Err(seen) => head = seen,
            }
        }
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        let ptr = block.ptr.as_ptr();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: the block is ours until the CAS publishes it.
            unsafe { ptr.cast::<*mut u8>().write(head) };
            match self
                .head
                .compare_exchange_weak(head, ptr, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => head = seen,
            }
        }
    }
}
