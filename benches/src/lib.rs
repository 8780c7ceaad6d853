//! Benchmark harness for flight-mem: the seeded workloads of issue 5, run the
//! same way against flight-mem and the allocators a user would otherwise pick.
//!
//! Everything an allocator is asked to do goes through [`Subject`], so every
//! contender runs the identical operation sequence. Operation sequences are
//! generated up front from a fixed seed ([`plan`]), so the random number
//! generator is never inside a timed region.
//!
//! Timing lives in the bench targets (`benches/throughput.rs`, a criterion
//! bench, and `benches/report.rs`, which prints the tables of
//! `BENCHMARKS.md`) and in the callgrind driver `src/bin/icount.rs`; nothing
//! here measures time, so this crate's `cargo test` checks only that the
//! contenders and workloads behave.

pub mod limits;
pub mod local;
pub mod peers;
pub mod plan;
pub mod small;
pub mod subjects;

pub mod workload;

use core::alloc::Layout;
use core::ptr::NonNull;

/// One contender: an allocator instance plus the glue that makes every
/// contender look alike to the workloads.
pub trait Subject: Sized {
    /// The name printed in the tables.
    const NAME: &'static str;

    /// What `alloc` hands out and `free` takes back.
    type Block;

    /// A fresh instance over an arena of `arena` bytes (ignored by the
    /// contenders that take memory from the operating system).
    fn create(arena: usize) -> Self;

    /// Allocates a block for `layout`, or `None` when the allocator refuses.
    fn alloc(&mut self, layout: Layout) -> Option<Self::Block>;

    /// Returns a block.
    ///
    /// # Safety
    ///
    /// `block` came from `alloc` on this very instance.
    unsafe fn free(&mut self, block: Self::Block);
}

/// A contender that can drop every block at once (linear allocators).
pub trait Reset: Subject {
    /// Releases every block handed out so far.
    fn reset(&mut self);
}

/// A block of a contender that hands out raw pointers and wants the layout back.
#[derive(Clone, Copy, Debug)]
pub struct RawBlock {
    /// Start of the block.
    pub ptr: NonNull<u8>,
    /// The layout it was allocated with.
    pub layout: Layout,
}

/// Heap memory with a fixed address, used as the arena of one contender.
///
/// Page-aligned so that no contender gets a luckier or unluckier start
/// address than another, and written once on creation so that page faults
/// (expensive in this VM, and the kernel's cost, not the allocator's) never
/// land inside a timed region.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuf {
    /// The alignment of every arena.
    pub const ALIGN: usize = 4096;

    /// Allocates `len` bytes (`len > 0`), aligned to [`Self::ALIGN`].
    pub fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, Self::ALIGN).expect("arena size overflows");
        assert!(len > 0, "an arena has at least one byte");
        // SAFETY: `layout` has a non-zero size (asserted above).
        let raw = unsafe { std::alloc::alloc(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        // SAFETY: the allocation is `len` bytes long and writable.
        unsafe { ptr.as_ptr().write_bytes(0, len) };
        Self { ptr, layout }
    }

    /// Start of the arena.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length of the arena in bytes.
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Always false: arenas have at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated in `new` with exactly this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// A minimal test-and-test-and-set spin lock: the synchronisation a user adds
/// to make an `&mut self` allocator (rlsf, talc, buddy_system_allocator,
/// linked_list_allocator) a `Sync` static, so those contenders pay for a
/// lock as flight-mem's locked allocators do.
pub struct SpinLock<T> {
    locked: core::sync::atomic::AtomicBool,
    value: core::cell::UnsafeCell<T>,
}

// SAFETY: the value is only reached through `with`, which holds the lock, so
// at most one thread touches it at a time; `T: Send` lets it move between threads.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new, unlocked lock around `value`.
    pub const fn new(value: T) -> Self {
        Self {
            locked: core::sync::atomic::AtomicBool::new(false),
            value: core::cell::UnsafeCell::new(value),
        }
    }

    /// Runs `f` with the lock held.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        use core::sync::atomic::Ordering;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        // SAFETY: the lock is held until the store below, so this is the
        // only reference to the value.
        let result = f(unsafe { &mut *self.value.get() });
        self.locked.store(false, Ordering::Release);
        result
    }
}

/// Calls `$run::<Type>($args)` for every contender of a workload, so each
/// bench target lists its contenders once, in table order.
#[macro_export]
macro_rules! for_each {
    ($run:ident $args:tt for [$($subject:ty),* $(,)?]) => {
        { $( $run::<$subject> $args; )* }
    };
}

/// Workload 1's contenders: the linear allocators.
#[macro_export]
macro_rules! linear_contenders {
    ($run:ident $args:tt) => {
        $crate::for_each!($run $args for [
            $crate::limits::PlainBump,
            $crate::limits::AtomicBump,
            $crate::peers::Bumpalo,
            $crate::local::FmLinearLocal,
            $crate::subjects::FmLinear,
            $crate::subjects::StaticLinear,
            $crate::subjects::FmFrames,
            $crate::subjects::StaticFrames,
            $crate::subjects::LayoutFrames,
        ])
    };
}

/// Workload 2a's contenders: those of 2b and flight-mem's LIFO stack.
#[macro_export]
macro_rules! lifo_contenders {
    ($run:ident $args:tt) => {{
        $crate::pool_contenders!($run $args);
        $crate::for_each!($run $args for [$crate::subjects::FmStack]);
    }};
}

/// Workload 2's contenders: the pools, then the general allocators serving
/// the same 64-byte requests.
#[macro_export]
macro_rules! pool_contenders {
    ($run:ident $args:tt) => {
        $crate::for_each!($run $args for [
            $crate::limits::PlainFreeList,
            $crate::local::TwoCasFreeList,
            $crate::peers::HeaplessPool,
            $crate::local::FmPoolLocal,
            $crate::local::FmBlockPoolLocal,
            $crate::subjects::FmPool,
            $crate::subjects::FmBlockPool,
            $crate::subjects::StaticBlockPool,
            $crate::subjects::LayoutBlockPool,
            $crate::peers::Mimalloc,
            $crate::peers::Glibc,
            $crate::peers::Rlsf,
            $crate::peers::Talc,
            $crate::peers::BuddySystem,
            $crate::subjects::FmTlsf,
            $crate::subjects::StaticTlsf,
            $crate::subjects::LayoutTlsf,
            $crate::subjects::FmBuddy,
        ])
    };
}

/// Workload 3's contenders: the general-purpose allocators.
#[macro_export]
macro_rules! general_contenders {
    ($run:ident $args:tt) => {
        $crate::for_each!($run $args for [
            $crate::peers::Mimalloc,
            $crate::peers::Glibc,
            $crate::peers::Rlsf,
            $crate::peers::RlsfNoLock,
            $crate::peers::Talc,
            $crate::peers::BuddySystem,
            $crate::peers::LinkedList,
            $crate::subjects::FmTlsf,
            $crate::subjects::FmFreeList,
            $crate::subjects::FmFreeListBest,
            $crate::subjects::FmBuddy,
        ])
    };
}

/// Workloads 4 and 5's contenders: the allocators that work in a fixed arena.
#[macro_export]
macro_rules! arena_contenders {
    ($run:ident $args:tt) => {
        $crate::for_each!($run $args for [
            $crate::peers::Rlsf,
            $crate::peers::Talc,
            $crate::peers::BuddySystem,
            $crate::peers::LinkedList,
            $crate::subjects::FmTlsf,
            $crate::subjects::FmFreeList,
            $crate::subjects::FmFreeListBest,
            $crate::subjects::FmBuddy,
        ])
    };
}
