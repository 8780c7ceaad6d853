//! The memory allocators manage: static arenas and raw address ranges.

use core::cell::UnsafeCell;

/// `N` bytes of static, zero-initialised, page-aligned storage for an
/// allocator (placed in `.bss`, so it costs no image size).
///
/// ```
/// use flight_mem::{Arena, RawMemory, Tlsf};
///
/// static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static HEAP: Tlsf = Tlsf::new(unsafe { RawMemory::from_arena(&ARENA) });
///
/// let block = HEAP.allocate(core::alloc::Layout::new::<[u64; 4]>()).unwrap();
/// assert!(HEAP.owns(block.cast()));
/// ```
#[repr(C, align(4096))]
pub struct Arena<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: an `Arena` is never read or written through `&Arena`; its bytes
// are only reached through the raw pointer of `as_mut_ptr`, by the one
// allocator that `RawMemory::from_arena`'s caller gave it to, and that
// allocator synchronises its own accesses.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// Zeroed storage.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(UnsafeCell::new([0; N]))
    }

    /// The first byte.
    pub const fn as_mut_ptr(&self) -> *mut u8 {
        self.0.get().cast()
    }

    /// The size in bytes.
    pub const fn len(&self) -> usize {
        N
    }

    /// Whether the arena has no bytes.
    pub const fn is_empty(&self) -> bool {
        N == 0
    }
}

/// A range of memory given to exactly one allocator for the rest of the
/// program: a static [`Arena`], a slice of a layout's bank, or a fixed
/// address on bare metal.
///
/// A `RawMemory` is neither `Copy` nor `Clone`: building an allocator
/// consumes it, and safe code divides one only by value
/// ([`split_at`](Self::split_at), [`slice`](Self::slice),
/// [`aligned`](Self::aligned)), so two allocators over one range take an
/// `unsafe` constructor call each.
///
/// ```compile_fail
/// use flight_mem::{Arena, RawMemory, Tlsf};
///
/// static ARENA: Arena<4096> = Arena::new();
/// // SAFETY: ARENA is handed to this one value.
/// let memory = unsafe { RawMemory::from_arena(&ARENA) };
/// let first = Tlsf::new(memory);
/// let second = Tlsf::new(memory); // error: use of moved value
/// ```
///
/// ```
/// use flight_mem::{Arena, RawMemory, Tlsf};
///
/// static ARENA: Arena<8192> = Arena::new();
/// // SAFETY: ARENA is handed to this one value.
/// let memory = unsafe { RawMemory::from_arena(&ARENA) };
/// let (front, back) = memory.split_at(4096).unwrap();
/// let (a, b) = (Tlsf::new(front), Tlsf::new(back));
/// assert_eq!(a.capacity() + b.capacity(), 8192 - 16);
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct RawMemory {
    ptr: *mut u8,
    len: usize,
}

/// The bytes `offset..offset + len` of a static arena, for the allocator
/// statics `memory_layout!` generates (reached as
/// `flight_mem::__private::arena_memory`).
///
/// What `RawMemory::from_raw_parts(arena.as_mut_ptr().wrapping_add(offset),
/// len)` is, in one call frame instead of four: rustc evaluates every call
/// in a static initializer anew, and a layout has one of these per entry.
/// Within the arena the start is a place projection (no call); an `offset`
/// at or past its end (nothing placement produces) takes the plain
/// pointer arithmetic, so the build never fails here.
///
/// # Safety
///
/// As [`RawMemory::from_raw_parts`]: the range lies inside the arena and is
/// given to one allocator only, disjoint from every other range handed out.
#[doc(hidden)]
pub const unsafe fn arena_memory<const N: usize>(
    arena: &'static Arena<N>,
    offset: usize,
    len: usize,
) -> RawMemory {
    // A pointer to the whole array, with the provenance `as_mut_ptr` gives
    // (the bytes are inside the `UnsafeCell`, so writes through it are
    // allowed).
    let bytes = &raw const arena.0 as *mut [u8; N];
    let ptr = if offset < N {
        // SAFETY: `offset < N` is inside the array; `&raw mut` creates no
        // reference, only the address of that byte.
        unsafe { &raw mut (*bytes)[offset] }
    } else {
        (bytes as *mut u8).wrapping_add(offset)
    };
    RawMemory { ptr, len }
}

// SAFETY: `RawMemory` is an address range, a capability handed to one
// allocator; it performs no access itself.
unsafe impl Send for RawMemory {}
// SAFETY: as above, `&RawMemory` only reads the two fields.
unsafe impl Sync for RawMemory {}

impl RawMemory {
    /// Describes `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// For as long as any allocator built from this value lives (usually
    /// `'static`): the range `ptr..ptr + len` is valid for reads and writes,
    /// is not accessed except through that allocator and the blocks it hands
    /// out, does not wrap the address space, and is given to one allocator
    /// only.
    pub const unsafe fn from_raw_parts(ptr: *mut u8, len: usize) -> Self {
        Self { ptr, len }
    }

    /// The whole of a static arena.
    ///
    /// # Safety
    ///
    /// The arena is given to one allocator only (two allocators over one
    /// arena would hand out overlapping blocks).
    pub const unsafe fn from_arena<const N: usize>(arena: &'static Arena<N>) -> Self {
        Self {
            ptr: arena.as_mut_ptr(),
            len: N,
        }
    }

    /// The first byte.
    pub const fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` lies inside the range.
    #[inline]
    pub fn contains(&self, addr: *const u8) -> bool {
        (addr as usize).wrapping_sub(self.ptr as usize) < self.len
    }

    /// The sub-range `offset..offset + len`, or `None` when it does not
    /// fit; the rest of the range is given up.
    pub const fn slice(self, offset: usize, len: usize) -> Option<Self> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Some(Self {
                // `offset <= self.len`, so the result stays inside (or one
                // past) the range.
                ptr: self.ptr.wrapping_add(offset),
                len,
            }),
            _ => None,
        }
    }

    /// The ranges `..mid` and `mid..`, or `None` when `mid` is past the end.
    pub const fn split_at(self, mid: usize) -> Option<(Self, Self)> {
        if mid > self.len {
            return None;
        }
        let back = Self {
            ptr: self.ptr.wrapping_add(mid),
            len: self.len - mid,
        };
        Some((
            Self {
                ptr: self.ptr,
                len: mid,
            },
            back,
        ))
    }

    /// The largest sub-range that starts on an `align` boundary (a power
    /// of two); the bytes before it are given up.
    pub fn aligned(self, align: usize) -> Self {
        let pad = self.ptr.align_offset(align).min(self.len);
        Self {
            ptr: self.ptr.wrapping_add(pad),
            len: self.len - pad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ARENA: Arena<8192> = Arena::new();

    /// `arena_memory` is the range `as_mut_ptr().wrapping_add(offset)`,
    /// `len` (what the generated statics used before), inside the arena and
    /// at or past its end, and its bytes are writable through it.
    #[test]
    fn arena_memory_is_the_offset_range() {
        for (offset, len) in [(0, 8192), (64, 128), (8191, 1), (8192, 0), (9000, 0)] {
            // SAFETY: the ranges are only compared and (below) written
            // inside the arena; no allocator is built on them.
            let memory = unsafe { arena_memory(&ARENA, offset, len) };
            assert_eq!(memory.as_ptr(), ARENA.as_mut_ptr().wrapping_add(offset));
            assert_eq!(memory.len(), len);
        }
        // Evaluated as the generated statics are: in a static initializer.
        // SAFETY: as above.
        static PART: RawMemory = unsafe { arena_memory(&ARENA, 4096, 16) };
        assert_eq!(PART.as_ptr(), ARENA.as_mut_ptr().wrapping_add(4096));
        // SAFETY: bytes 4096..4112 of the arena, written by this test only.
        unsafe { PART.as_ptr().write_bytes(0xa5, PART.len()) };
        // SAFETY: as above, read back through the arena's own pointer.
        assert_eq!(unsafe { *ARENA.as_mut_ptr().add(4111) }, 0xa5);
    }
}
