//! The interface every flight-mem allocator implements, and adapters from it
//! to `allocator_api2::alloc::Allocator` and `GlobalAlloc`.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use crate::{AllocError, AllocatorKind, AllocatorStats, InvariantViolation};

/// An allocator over memory it owns: what a layout's entries are, and what
/// generic code (routing, reports, validation) is written against.
///
/// # Safety
///
/// Implementors promise that a block returned by `allocate` is at least
/// `layout.size()` bytes long, aligned to `layout.align()`, inside the
/// memory the allocator owns (so `owns` is true for every byte of it),
/// disjoint from every other live block, and valid for reads and writes
/// until it is passed to `free` (or, for [`Frames`](crate::Frames), until the
/// reset its documentation names). Safe methods never cause undefined
/// behaviour whatever they are called with.
pub unsafe trait RawAllocator: Sync {
    /// Allocates a block for `layout`.
    ///
    /// Zero-sized layouts are refused with [`AllocError::ZeroSize`]; the
    /// `allocator_api2` adapter serves them without calling this.
    ///
    /// With the `track` feature this is `#[track_caller]`, so the block is
    /// recorded with the line that called it.
    #[cfg_attr(feature = "track", track_caller)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError>;

    /// Allocates a zero-filled block for `layout`.
    #[cfg_attr(feature = "track", track_caller)]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.allocate(layout)?;
        // SAFETY: `allocate` returned a block valid for writes of its length.
        unsafe { block.cast::<u8>().as_ptr().write_bytes(0, block.len()) };
        Ok(block)
    }

    /// Returns a block to the allocator. The size is known to the allocator.
    ///
    /// Detectable misuse is an `Err` and changes nothing: a pointer outside
    /// the allocator's memory or not at a block start
    /// ([`AllocError::ForeignPointer`]), a block already free where the
    /// allocator can tell ([`AllocError::DoubleFree`]), a stack block that is
    /// not on top ([`AllocError::OutOfOrder`]).
    ///
    /// # Safety
    ///
    /// `ptr` was returned by `allocate` on this allocator and is not used
    /// after this call. (The checks above are a second line of defence, not
    /// a licence: not every double free can be detected.)
    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError>;

    /// Whether `ptr` points into this allocator's memory.
    fn owns(&self, ptr: NonNull<u8>) -> bool;

    /// Bytes this allocator can hand out when empty.
    fn capacity(&self) -> usize;

    /// A snapshot of the allocator's statistics.
    fn stats(&self) -> AllocatorStats;

    /// Which algorithm this is.
    fn kind(&self) -> AllocatorKind;

    /// Walks the allocator's bookkeeping (free lists, bitmaps, headers,
    /// counters) and reports the first inconsistency.
    fn check(&self) -> Result<(), InvariantViolation>;
}

/// Refuses what no allocator serves: zero sizes and alignments above `max_align`.
#[inline]
pub(crate) fn check_request(layout: Layout, max_align: usize) -> Result<(), AllocError> {
    if layout.size() == 0 {
        return Err(AllocError::ZeroSize);
    }
    if layout.align() > max_align {
        return Err(AllocError::AlignmentTooLarge {
            align: layout.align(),
            max: max_align,
        });
    }
    Ok(())
}

/// A dangling, aligned, non-null pointer: the answer to a zero-sized request.
#[inline]
pub(crate) fn dangling(layout: Layout) -> NonNull<[u8]> {
    // `align` is a non-zero power of two, so it is a valid non-null address.
    let ptr = core::ptr::without_provenance_mut::<u8>(layout.align());
    NonNull::slice_from_raw_parts(NonNull::new(ptr).unwrap_or(NonNull::dangling()), 0)
}

/// Implements `allocator_api2::alloc::Allocator` for `&'static $ty`.
///
/// Zero-sized requests get a dangling pointer and never reach the allocator,
/// as the `Allocator` contract requires them to succeed.
macro_rules! impl_allocator_api2 {
    ($ty:ty) => {
        // SAFETY: blocks come from `RawAllocator::allocate`, whose contract
        // (valid, aligned, disjoint, live until freed) is what `Allocator`
        // requires; the instance is `'static`, so it outlives every block,
        // and copies of the `&'static` reference share one allocator.
        unsafe impl $crate::allocator_api2::alloc::Allocator for &'static $ty {
            #[inline]
            fn allocate(
                &self,
                layout: ::core::alloc::Layout,
            ) -> ::core::result::Result<
                ::core::ptr::NonNull<[u8]>,
                $crate::allocator_api2::alloc::AllocError,
            > {
                if layout.size() == 0 {
                    return Ok($crate::allocator::dangling(layout));
                }
                $crate::RawAllocator::allocate(*self, layout).map_err(Into::into)
            }

            #[inline]
            fn allocate_zeroed(
                &self,
                layout: ::core::alloc::Layout,
            ) -> ::core::result::Result<
                ::core::ptr::NonNull<[u8]>,
                $crate::allocator_api2::alloc::AllocError,
            > {
                if layout.size() == 0 {
                    return Ok($crate::allocator::dangling(layout));
                }
                $crate::RawAllocator::allocate_zeroed(*self, layout).map_err(Into::into)
            }

            #[inline]
            unsafe fn deallocate(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                layout: ::core::alloc::Layout,
            ) {
                if layout.size() == 0 {
                    return;
                }
                // SAFETY: the caller guarantees `ptr` is a live block of this
                // allocator (the `Allocator::deallocate` contract).
                // `deallocate` cannot report an error and must not unwind
                // (collections call it from `Drop`); a refused free (a
                // `Stack` block that is not on top) changes nothing and its
                // bytes come back with the stack's release below it.
                let _refused = unsafe { $crate::RawAllocator::free(*self, ptr) };
            }
        }
    };
}
pub(crate) use impl_allocator_api2;

/// An allocator whose `free` takes back every live block at any time, in any
/// order: what `GlobalAlloc` needs, since the standard library frees in
/// whatever order its values die, and what a
/// [`SmallFront`](crate::SmallFront) needs, whose slabs empty in any order.
///
/// [`Stack`](crate::Stack) frees only its top block and does not implement
/// it, so `GlobalRegion<Stack>` and `SmallFront<Stack>` do not compile.
///
/// # Safety
///
/// `free` of a block that `allocate` returned and that is still live
/// returns `Ok` and makes its bytes available again (or, for a bump
/// allocator, keeps them until a reset that safe code on a shared
/// reference cannot trigger); it never panics.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot free blocks in any order",
    label = "frees only in a fixed order",
    note = "`GlobalRegion` and `SmallFront` free blocks in whatever order they die; use `Tlsf`, `Buddy`, `FreeList`, a pool or a bump allocator"
)]
pub unsafe trait FreesInAnyOrder: RawAllocator {}

/// Makes a `'static` flight-mem allocator that [frees in any
/// order](FreesInAnyOrder) the program's global allocator.
///
/// ```no_run
/// use flight_mem::{Arena, GlobalRegion, RawMemory, Tlsf};
///
/// static ARENA: Arena<{ 1 << 20 }> = Arena::new();
/// // SAFETY: the arena belongs to this allocator alone.
/// static HEAP: Tlsf = Tlsf::new(unsafe { RawMemory::from_arena(&ARENA) });
///
/// #[global_allocator]
/// static GLOBAL: GlobalRegion<Tlsf> = GlobalRegion::new(&HEAP);
///
/// fn main() {
///     let v: Vec<u32> = (0..100).collect();
///     assert!(HEAP.stats().live >= 1);
///     drop(v);
/// }
/// ```
pub struct GlobalRegion<A: FreesInAnyOrder + 'static>(&'static A);

impl<A: FreesInAnyOrder + 'static> GlobalRegion<A> {
    /// Wraps a static allocator.
    pub const fn new(allocator: &'static A) -> Self {
        Self(allocator)
    }

    /// The wrapped allocator.
    pub const fn allocator(&self) -> &'static A {
        self.0
    }
}

// SAFETY: `GlobalAlloc` requires blocks that satisfy the layout and stay
// valid until `dealloc`: exactly the `RawAllocator` contract. Failure is a
// null return, as `GlobalAlloc` asks; `layout.size()` is never zero here
// (the `GlobalAlloc` contract forbids it). `FreesInAnyOrder` makes every
// `dealloc` succeed, and nothing here panics or unwinds.
unsafe impl<A: FreesInAnyOrder + 'static> GlobalAlloc for GlobalRegion<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.0.allocate(layout) {
            Ok(block) => block.cast().as_ptr(),
            Err(_) => core::ptr::null_mut(),
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.0.allocate_zeroed(layout) {
            Ok(block) => block.cast().as_ptr(),
            Err(_) => core::ptr::null_mut(),
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: the caller passes a pointer `alloc` returned and does
            // not use it again (the `GlobalAlloc::dealloc` contract).
            // `FreesInAnyOrder` makes that free succeed; unwinding out of a
            // global allocator is undefined behaviour, so no result is
            // asserted here.
            let _ = unsafe { self.0.free(ptr) };
        }
    }
}

/// Gives an allocator the inherent surface every flight-mem allocator has
/// (`allocate`, `allocate_zeroed`, `free`, `owns`, `capacity`, `stats`,
/// `kind`, `check`), forwarding to its [`RawAllocator`] impl, so that
/// `Game::temp().stats()` needs no trait import.
macro_rules! inherent_surface {
    ($ty:ty) => {
        impl $ty {
            /// Allocates a block for `layout` (see [`RawAllocator::allocate`](crate::RawAllocator::allocate)).
            #[inline]
            #[cfg_attr(feature = "track", track_caller)]
            pub fn allocate(
                &self,
                layout: ::core::alloc::Layout,
            ) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, $crate::AllocError> {
                <Self as $crate::RawAllocator>::allocate(self, layout)
            }

            /// Allocates a zero-filled block for `layout`.
            #[inline]
            #[cfg_attr(feature = "track", track_caller)]
            pub fn allocate_zeroed(
                &self,
                layout: ::core::alloc::Layout,
            ) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, $crate::AllocError> {
                <Self as $crate::RawAllocator>::allocate_zeroed(self, layout)
            }

            /// Returns a block (see [`RawAllocator::free`](crate::RawAllocator::free)).
            ///
            /// # Safety
            ///
            /// `ptr` was returned by `allocate` on this allocator and is not
            /// used after this call.
            #[inline]
            pub unsafe fn free(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
            ) -> ::core::result::Result<(), $crate::AllocError> {
                // SAFETY: forwarded to the caller.
                unsafe { <Self as $crate::RawAllocator>::free(self, ptr) }
            }

            $crate::allocator::inherent_queries!();
        }
    };
}
pub(crate) use inherent_surface;

/// The read-only part of [`inherent_surface!`], for types whose allocation
/// entry point is their own (a typed pool's `alloc(value)`).
macro_rules! inherent_queries {
    () => {
        /// Whether `ptr` points into this allocator's memory.
        #[inline]
        pub fn owns(&self, ptr: ::core::ptr::NonNull<u8>) -> bool {
            <Self as $crate::RawAllocator>::owns(self, ptr)
        }

        /// Bytes this allocator can hand out when empty.
        #[inline]
        pub fn capacity(&self) -> usize {
            <Self as $crate::RawAllocator>::capacity(self)
        }

        /// A snapshot of the allocator's statistics.
        #[inline]
        pub fn stats(&self) -> $crate::AllocatorStats {
            <Self as $crate::RawAllocator>::stats(self)
        }

        /// Which algorithm this is.
        #[inline]
        pub fn kind(&self) -> $crate::AllocatorKind {
            <Self as $crate::RawAllocator>::kind(self)
        }

        /// Walks the allocator's bookkeeping and reports the first
        /// inconsistency.
        #[inline]
        pub fn check(&self) -> ::core::result::Result<(), $crate::InvariantViolation> {
            <Self as $crate::RawAllocator>::check(self)
        }
    };
}
pub(crate) use inherent_queries;
