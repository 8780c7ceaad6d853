//! The crates a user would pick instead of flight-mem, behind [`Subject`].
//!
//! The `&mut self` allocators (rlsf, talc, buddy_system_allocator,
//! linked_list_allocator) sit behind the same [`SpinLock`], the least a user
//! must add to share one as a static; flight-mem's locked allocators pay for
//! their internal lock in the same way.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use std::sync::Once;

use heapless::pool::boxed::{Box as PoolBox, BoxBlock};

use crate::{AlignedBuf, RawBlock, Reset, SpinLock, Subject};

/// bumpalo's `Bump` with its first chunk sized to the arena.
pub struct Bumpalo(bumpalo::Bump);

impl Subject for Bumpalo {
    const NAME: &'static str = "bumpalo";
    type Block = NonNull<u8>;

    fn create(arena: usize) -> Self {
        Self(bumpalo::Bump::with_capacity(arena))
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.try_alloc_layout(layout).ok()
    }

    #[inline]
    unsafe fn free(&mut self, _block: NonNull<u8>) {}
}

impl Reset for Bumpalo {
    #[inline]
    fn reset(&mut self) {
        self.0.reset();
    }
}

/// The element type of the 64-byte pools: 64 bytes, align 8, and never
/// initialised, so no contender pays for writing a value.
pub type Block64 = MaybeUninit<[u64; 8]>;

/// The block count of workload 2's pools.
pub const POOL_BLOCKS: usize = 4096;

heapless::box_pool!(HeaplessPool64: Block64);

/// heapless' lock-free `box_pool!` with [`POOL_BLOCKS`] blocks of 64 bytes.
///
/// The pool is a process-wide singleton (that is how heapless pools work),
/// so every instance shares it; blocks are handed to it once.
pub struct HeaplessPool;

impl Subject for HeaplessPool {
    const NAME: &'static str = "heapless pool";
    type Block = PoolBox<HeaplessPool64>;

    fn create(_arena: usize) -> Self {
        static MANAGED: Once = Once::new();
        MANAGED.call_once(|| {
            #[allow(clippy::declare_interior_mutable_const)]
            const BLOCK: BoxBlock<Block64> = BoxBlock::new();
            static mut BLOCKS: [BoxBlock<Block64>; POOL_BLOCKS] = [BLOCK; POOL_BLOCKS];
            // SAFETY: `call_once` runs this exactly once, so this is the only
            // reference ever made to `BLOCKS`.
            let blocks = unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) };
            for block in blocks {
                HeaplessPool64.manage(block);
            }
        });
        Self
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<Self::Block> {
        if layout.size() > size_of::<Block64>() || layout.align() > align_of::<Block64>() {
            return None;
        }
        HeaplessPool64.alloc(MaybeUninit::uninit()).ok()
    }

    #[inline]
    unsafe fn free(&mut self, block: Self::Block) {
        drop(block);
    }
}

/// The system allocator: glibc's malloc on this machine.
pub struct Glibc;

impl Subject for Glibc {
    const NAME: &'static str = "glibc malloc";
    type Block = RawBlock;

    fn create(_arena: usize) -> Self {
        Self
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        // SAFETY: the workloads never ask for zero bytes.
        let ptr = NonNull::new(unsafe { std::alloc::System.alloc(layout) })?;
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the block came from `System.alloc` with this layout.
        unsafe { std::alloc::System.dealloc(block.ptr.as_ptr(), block.layout) };
    }
}

/// mimalloc, called through its `GlobalAlloc` implementation.
pub struct Mimalloc;

impl Subject for Mimalloc {
    const NAME: &'static str = "mimalloc";
    type Block = RawBlock;

    fn create(_arena: usize) -> Self {
        Self
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        // SAFETY: the workloads never ask for zero bytes.
        let ptr = NonNull::new(unsafe { mimalloc::MiMalloc.alloc(layout) })?;
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the block came from `MiMalloc.alloc` with this layout.
        unsafe { mimalloc::MiMalloc.dealloc(block.ptr.as_ptr(), block.layout) };
    }
}

/// rlsf's TLSF: 28 first-level classes (blocks up to 8 GiB on 64-bit) and
/// 32 second-level classes, the configuration of its `GlobalTlsf`.
type RlsfTlsf = rlsf::Tlsf<'static, u32, u32, 28, 32>;

/// An rlsf TLSF over a fresh arena of `arena` bytes, and the arena. The
/// caller keeps the arena alive as long as the TLSF (a field declared after
/// it, so dropped after it).
fn rlsf_over(arena: usize) -> (RlsfTlsf, AlignedBuf) {
    let memory = AlignedBuf::new(arena);
    let mut tlsf = RlsfTlsf::new();
    let block = NonNull::slice_from_raw_parts(
        NonNull::new(memory.as_ptr()).expect("arena is non-null"),
        memory.len(),
    );
    // SAFETY: the arena is valid for reads and writes and owned by the
    // caller, which keeps it alive as long as the TLSF (the buffer's heap
    // allocation does not move when the `AlignedBuf` value is moved).
    unsafe { tlsf.insert_free_block_ptr(block) };
    (tlsf, memory)
}

/// rlsf behind a spin lock.
pub struct Rlsf {
    tlsf: SpinLock<RlsfTlsf>,
    _memory: AlignedBuf,
}

impl Subject for Rlsf {
    const NAME: &'static str = "rlsf";
    type Block = RawBlock;

    fn create(arena: usize) -> Self {
        let (tlsf, memory) = rlsf_over(arena);
        Self {
            tlsf: SpinLock::new(tlsf),
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        let ptr = self.tlsf.with(|tlsf| tlsf.allocate(layout))?;
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the block came from this TLSF with this alignment.
        self.tlsf
            .with(|tlsf| unsafe { tlsf.deallocate(block.ptr, block.layout.align()) });
    }
}

/// rlsf with no lock at all (`&mut self`, as issue 12 reads "rlsf runs with
/// none"): the floor a shared allocator's lock is measured against. The
/// `rlsf` row is the same allocator behind [`SpinLock`].
pub struct RlsfNoLock {
    tlsf: RlsfTlsf,
    _memory: AlignedBuf,
}

impl Subject for RlsfNoLock {
    const NAME: &'static str = "rlsf (no lock)";
    type Block = RawBlock;

    fn create(arena: usize) -> Self {
        let (tlsf, memory) = rlsf_over(arena);
        Self {
            tlsf,
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        let ptr = self.tlsf.allocate(layout)?;
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the block came from this TLSF with this alignment.
        unsafe { self.tlsf.deallocate(block.ptr, block.layout.align()) };
    }
}

/// talc behind a spin lock.
pub struct Talc {
    talc: SpinLock<talc::Talc<talc::ErrOnOom>>,
    _memory: AlignedBuf,
}

impl Subject for Talc {
    const NAME: &'static str = "talc";
    type Block = RawBlock;

    fn create(arena: usize) -> Self {
        let memory = AlignedBuf::new(arena);
        let mut talc = talc::Talc::new(talc::ErrOnOom);
        // SAFETY: the arena is valid for reads and writes, owned by this
        // subject and outlives the allocator (`_memory` is dropped after `talc`).
        unsafe { talc.claim(talc::Span::from_base_size(memory.as_ptr(), memory.len())) }
            .expect("talc claims the arena");
        Self {
            talc: SpinLock::new(talc),
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        // SAFETY: the workloads never ask for zero bytes.
        let ptr = self.talc.with(|talc| unsafe { talc.malloc(layout) }).ok()?;
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the block came from this allocator with this layout.
        self.talc
            .with(|talc| unsafe { talc.free(block.ptr, block.layout) });
    }
}

/// buddy_system_allocator's `Heap` behind a spin lock.
pub struct BuddySystem {
    heap: SpinLock<buddy_system_allocator::Heap<32>>,
    _memory: AlignedBuf,
}

impl Subject for BuddySystem {
    const NAME: &'static str = "buddy_system_allocator";
    type Block = RawBlock;

    fn create(arena: usize) -> Self {
        let memory = AlignedBuf::new(arena);
        let mut heap = buddy_system_allocator::Heap::<32>::new();
        // SAFETY: the arena is valid for reads and writes, owned by this
        // subject and outlives the heap (`_memory` is dropped after `heap`).
        unsafe { heap.init(memory.as_ptr() as usize, memory.len()) };
        Self {
            heap: SpinLock::new(heap),
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        let ptr = self.heap.with(|heap| heap.alloc(layout)).ok()?;
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        self.heap.with(|heap| heap.dealloc(block.ptr, block.layout));
    }
}

/// linked_list_allocator's first-fit `Heap` behind a spin lock.
pub struct LinkedList {
    heap: SpinLock<linked_list_allocator::Heap>,
    _memory: AlignedBuf,
}

impl Subject for LinkedList {
    const NAME: &'static str = "linked_list_allocator";
    type Block = RawBlock;

    fn create(arena: usize) -> Self {
        let memory = AlignedBuf::new(arena);
        let mut heap = linked_list_allocator::Heap::empty();
        // SAFETY: the arena is valid for reads and writes, owned by this
        // subject and outlives the heap (`_memory` is dropped after `heap`).
        unsafe { heap.init(memory.as_ptr(), memory.len()) };
        Self {
            heap: SpinLock::new(heap),
            _memory: memory,
        }
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        let ptr = self
            .heap
            .with(|heap| heap.allocate_first_fit(layout))
            .ok()?;
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the block came from this heap with this layout.
        self.heap
            .with(|heap| unsafe { heap.deallocate(block.ptr, block.layout) });
    }
}
