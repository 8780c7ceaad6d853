//! flight-mem's allocators behind [`Subject`], built two ways:
//!
//! - directly: a core instance over heap memory the subject owns, called
//!   through [`RawAllocator`] (the `Fm*` types);
//! - as a hand-written `static` over a static [`Arena`], called by name (the
//!   `Static*` types): the code a `memory_layout!` accessor must equal.

use core::alloc::Layout;
use core::ptr::NonNull;

use flight_mem::{
    Arena, BlockPool, Buddy, Fit, Frames, FreeList, Linear, Pool, PoolBox, RawAllocator, RawMemory,
    Stack, Tlsf,
};

use crate::peers::Block64;
use crate::plan::{LINEAR_ARENA, POOL_CAPACITY};
use crate::{AlignedBuf, RawBlock, Reset, Subject};

/// A core instance over memory it owns. The allocator is declared first so
/// it is dropped before its memory.
pub struct Owned<A> {
    allocator: A,
    _memory: AlignedBuf,
}

impl<A: RawAllocator> Owned<A> {
    /// `len` bytes of fresh memory, handed to `build`.
    fn new(len: usize, build: impl FnOnce(RawMemory) -> A) -> Self {
        let memory = AlignedBuf::new(len);
        // SAFETY: the buffer is valid for reads and writes, nothing else uses
        // it, and it outlives the allocator (`_memory` is dropped after it).
        let raw = unsafe { RawMemory::from_raw_parts(memory.as_ptr(), memory.len()) };
        Self {
            allocator: build(raw),
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&self, layout: Layout) -> Option<RawBlock> {
        let block = self.allocator.allocate(layout).ok()?;
        Some(RawBlock {
            ptr: block.cast(),
            layout,
        })
    }

    #[inline]
    unsafe fn free(&self, block: RawBlock) {
        // SAFETY: the caller returns a block of this allocator.
        let freed = unsafe { self.allocator.free(block.ptr) };
        debug_assert!(freed.is_ok());
    }
}

/// Implements [`Subject`] for a newtype around `Owned<A>`.
macro_rules! owned_subject {
    ($(#[$doc:meta])* $name:ident($alloc:ty), $label:literal, |$arena:ident| $len:expr, |$memory:ident| $build:expr) => {
        $(#[$doc])*
        pub struct $name(Owned<$alloc>);

        impl Subject for $name {
            const NAME: &'static str = $label;
            type Block = RawBlock;

            fn create($arena: usize) -> Self {
                Self(Owned::new($len, |$memory| $build))
            }

            #[inline]
            fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
                self.0.alloc(layout)
            }

            #[inline]
            unsafe fn free(&mut self, block: RawBlock) {
                // SAFETY: the caller returns a block of this subject.
                unsafe { self.0.free(block) }
            }
        }
    };
}

owned_subject!(
    /// flight-mem's TLSF.
    FmTlsf(Tlsf), "flight-mem Tlsf", |arena| arena,
    // Built at creation (`stats` builds the lazy heap), as rlsf's pool is
    // inserted at creation: the first timed operation is then not the build.
    |memory| {
        let heap = Tlsf::new(memory);
        let _ = heap.stats();
        heap
    }
);
owned_subject!(
    /// flight-mem's first/best-fit free list (default fit).
    FmFreeList(FreeList), "flight-mem FreeList", |arena| arena, |memory| FreeList::new(memory)
);
owned_subject!(
    /// flight-mem's free list with best fit.
    FmFreeListBest(FreeList), "flight-mem FreeList (best fit)", |arena| arena,
    |memory| FreeList::with_fit(memory, Fit::Best)
);
owned_subject!(
    /// flight-mem's buddy allocator.
    FmBuddy(Buddy), "flight-mem Buddy", |arena| arena, |memory| Buddy::new(memory)
);
/// flight-mem's untyped block pool, 64-byte blocks.
///
/// Its blocks are kept as bare pointers, as heapless' boxes and `Pool<T>`'s
/// are: `BlockPool::free` takes no layout, so a program keeps none. (A
/// [`RawBlock`], pointer and layout, triples the harness' live set of
/// workload 2b to 48 KiB, past a 32 KiB L1 data cache: 0.5 more L1 read
/// misses per pair in the harness, under cachegrind, charged to the pool.)
pub struct FmBlockPool(Owned<BlockPool>);

impl Subject for FmBlockPool {
    const NAME: &'static str = "flight-mem BlockPool";
    type Block = NonNull<u8>;

    fn create(arena: usize) -> Self {
        Self(Owned::new(
            BlockPool::bytes_for(64, 8, arena / 64),
            |memory| BlockPool::new(memory, 64, 8),
        ))
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        Some(self.0.allocator.allocate(layout).ok()?.cast())
    }

    #[inline]
    unsafe fn free(&mut self, block: NonNull<u8>) {
        // SAFETY: the caller returns a block of this pool.
        let freed = unsafe { self.0.allocator.free(block) };
        debug_assert!(freed.is_ok());
    }
}
owned_subject!(
    /// flight-mem's LIFO stack (workload 2a only: it frees in order).
    FmStack(Stack), "flight-mem Stack", |arena| arena, |memory| Stack::new(memory)
);
owned_subject!(
    /// flight-mem's linear allocator.
    FmLinear(Linear), "flight-mem Linear", |arena| arena, |memory| Linear::new(memory)
);
owned_subject!(
    /// flight-mem's frames, two of them, each the size of the arena.
    FmFrames(Frames), "flight-mem Frames (2)", |arena| arena * 2, |memory| Frames::new(memory, 2)
);

impl Reset for FmLinear {
    #[inline]
    fn reset(&mut self) {
        self.0.allocator.reset_mut();
    }
}

impl Reset for FmFrames {
    #[inline]
    fn reset(&mut self) {
        // The next frame is the older one, so it is empty for the next run.
        self.0.allocator.next_frame_mut();
    }
}

/// flight-mem's typed `Pool<T>` through its own API: `alloc(value)` gives
/// a `PoolBox`, dropping it frees the slot.
pub struct FmPool(Owned<Pool<Block64>>);

impl Subject for FmPool {
    const NAME: &'static str = "flight-mem Pool<T>";
    type Block = NonNull<Block64>;

    fn create(arena: usize) -> Self {
        Self(Owned::new(
            Pool::<Block64>::bytes_for(arena / 64),
            Pool::new,
        ))
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<Block64>> {
        if layout.size() > size_of::<Block64>() || layout.align() > align_of::<Block64>() {
            return None;
        }
        let value = self
            .0
            .allocator
            .alloc(core::mem::MaybeUninit::uninit())
            .ok()?;
        Some(PoolBox::into_raw(value))
    }

    #[inline]
    unsafe fn free(&mut self, block: NonNull<Block64>) {
        // SAFETY: the block came from `PoolBox::into_raw` on a box of this pool.
        drop(unsafe { PoolBox::from_raw(&self.0.allocator, block) });
    }
}

/// Workload 1's static arena for [`StaticLinear`].
static LINEAR_MEMORY: Arena<LINEAR_ARENA> = Arena::new();
/// A hand-written static linear allocator, as a layout would declare it.
// SAFETY: `LINEAR_MEMORY` is used by this allocator only.
static LINEAR: Linear = Linear::new(unsafe { RawMemory::from_arena(&LINEAR_MEMORY) });

/// Workload 2's static arena for [`StaticBlockPool`].
static POOL_MEMORY: Arena<{ BlockPool::bytes_for(64, 8, POOL_CAPACITY) }> = Arena::new();
/// A hand-written static block pool, as a layout would declare it.
// SAFETY: `POOL_MEMORY` is used by this allocator only.
static BLOCK_POOL: BlockPool =
    BlockPool::new(unsafe { RawMemory::from_arena(&POOL_MEMORY) }, 64, 8);

/// [`LINEAR`] called by name: the baseline of the accessor comparison.
///
/// Every instance shares the one static; the workloads reset it after use.
pub struct StaticLinear;

impl Subject for StaticLinear {
    const NAME: &'static str = "flight-mem Linear, static";
    type Block = NonNull<u8>;

    fn create(_arena: usize) -> Self {
        Self
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        LINEAR.allocate(layout).ok().map(NonNull::cast)
    }

    #[inline]
    unsafe fn free(&mut self, _block: NonNull<u8>) {}
}

impl Reset for StaticLinear {
    #[inline]
    fn reset(&mut self) {
        // SAFETY: the workloads drop every block before they reset, and
        // nothing else uses `LINEAR`.
        unsafe { LINEAR.reset() };
    }
}

flight_mem::memory_layout! {
    /// The plan whose generated accessors the callgrind tables compare with
    /// the hand-written statics above: the same core allocators, reached
    /// through `Bench::alloc_NAME` / `Bench::free_NAME`.
    pub layout Bench {
        budget = 130 MiB;
        /// Workload 1: two frames of 64 MiB.
        frame scratch = [64 MiB; 2];
        /// Workload 2: 4,096 blocks of 64 bytes, 8-aligned like the
        /// hand-written `BLOCK_POOL`.
        pool blocks = [64 B; 4096] { align: 8 };
        /// Workload 2 through a TLSF region.
        region heap = 256 KiB;
    }
}

/// Workload 1's static arena for [`StaticFrames`]: two 64 MiB frames.
static FRAMES_MEMORY: Arena<{ 2 * LINEAR_ARENA }> = Arena::new();
/// A hand-written static pair of frames, as the layout's `scratch`.
// SAFETY: `FRAMES_MEMORY` is used by this allocator only.
static FRAMES: Frames = Frames::new(unsafe { RawMemory::from_arena(&FRAMES_MEMORY) }, 2);

/// Workload 2's static arena for [`StaticTlsf`].
static TLSF_MEMORY: Arena<{ 256 * 1024 }> = Arena::new();
/// A hand-written static TLSF, as the layout's `heap`.
// SAFETY: `TLSF_MEMORY` is used by this allocator only.
static TLSF: Tlsf = Tlsf::new(unsafe { RawMemory::from_arena(&TLSF_MEMORY) });

/// Implements [`Subject`] for a unit struct whose allocation and free are
/// plain calls to a `static` (hand-written or generated), so the callgrind
/// table compares exactly those calls.
macro_rules! static_subject {
    ($(#[$doc:meta])* $name:ident, $label:literal, |$layout:ident| $alloc:expr, |$ptr:ident, $free_layout:ident| $free:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl Subject for $name {
            const NAME: &'static str = $label;
            type Block = RawBlock;

            fn create(_arena: usize) -> Self {
                Self
            }

            #[inline]
            fn alloc(&mut self, $layout: Layout) -> Option<RawBlock> {
                let block: NonNull<[u8]> = $alloc.ok()?;
                Some(RawBlock { ptr: block.cast(), layout: $layout })
            }

            #[inline]
            unsafe fn free(&mut self, block: RawBlock) {
                let ($ptr, $free_layout) = (block.ptr, block.layout);
                $free
            }
        }
    };
}

static_subject!(
    /// [`FRAMES`] called by name.
    StaticFrames, "flight-mem Frames, static",
    |layout| FRAMES.allocate(layout),
    |_ptr, _layout| ()
);
static_subject!(
    /// The layout's `scratch` frames through the generated accessor.
    LayoutFrames, "flight-mem Frames, layout accessor",
    |layout| Bench::alloc_scratch(layout),
    |_ptr, _layout| ()
);
static_subject!(
    /// [`BLOCK_POOL`] called by name: the baseline of the accessor comparison.
    StaticBlockPool, "flight-mem BlockPool, static",
    |layout| BLOCK_POOL.allocate(layout),
    |ptr, _layout| {
        // SAFETY: the block came from `BLOCK_POOL.allocate` (the caller's contract).
        let freed = unsafe { BLOCK_POOL.free(ptr) };
        debug_assert!(freed.is_ok());
    }
);
static_subject!(
    /// The layout's `blocks` pool through the generated accessors.
    LayoutBlockPool, "flight-mem BlockPool, layout accessor",
    |layout| Bench::alloc_blocks(layout),
    |ptr, layout| {
        // SAFETY: the block came from `Bench::alloc_blocks` (the caller's contract).
        unsafe { Bench::free_blocks(ptr, layout) }
    }
);
static_subject!(
    /// [`TLSF`] called by name.
    StaticTlsf, "flight-mem Tlsf, static",
    |layout| TLSF.allocate(layout),
    |ptr, _layout| {
        // SAFETY: the block came from `TLSF.allocate` (the caller's contract).
        let freed = unsafe { TLSF.free(ptr) };
        debug_assert!(freed.is_ok());
    }
);
static_subject!(
    /// The layout's `heap` region through the generated accessors.
    LayoutTlsf, "flight-mem Tlsf, layout accessor",
    |layout| Bench::alloc_heap(layout),
    |ptr, layout| {
        // SAFETY: the block came from `Bench::alloc_heap` (the caller's contract).
        unsafe { Bench::free_heap(ptr, layout) }
    }
);

impl Reset for StaticFrames {
    #[inline]
    fn reset(&mut self) {
        // SAFETY: the workloads drop every block before they reset, and
        // nothing else uses `FRAMES`; the next frame is the older, empty one.
        unsafe { FRAMES.next_frame() };
    }
}

impl Reset for LayoutFrames {
    #[inline]
    fn reset(&mut self) {
        // SAFETY: as for `StaticFrames`, on the layout's `scratch`.
        unsafe { Bench::scratch().next_frame() };
    }
}
