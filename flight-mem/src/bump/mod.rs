//! Bump allocation: the lock-free bump engine and its scope proof
//! (`linear`), the N-frame ring built on it (`frames`), per-thread handles
//! on both (`local`), and the LIFO stack.

/// The typed conveniences of a scope, written once for [`Scope`](crate::Scope) and
/// [`LocalScope`](crate::LocalScope): each type provides `alloc_layout` and
/// `count_failure`.
macro_rules! scope_conveniences {
    () => {
    /// Moves `value` into the scope; gives it back when there is no room.
    ///
    /// `T` must not need `Drop` (a compile error otherwise): the scope never
    /// runs destructors.
    ///
    /// ```compile_fail
    /// use flight_mem::{Arena, Linear, RawMemory};
    ///
    /// static ARENA: Arena<256> = Arena::new();
    /// // SAFETY: ARENA is handed to this one allocator and nothing else.
    /// static SCRATCH: Linear = Linear::new(unsafe { RawMemory::from_arena(&ARENA) });
    ///
    /// SCRATCH.scope(|scope| {
    ///     let _ = scope.alloc(String::from("never dropped"));
    /// });
    /// ```
    #[allow(clippy::mut_from_ref)] // each call returns a fresh, disjoint block
    pub fn alloc<T>(&self, value: T) -> Result<&mut T, T> {
        const {
            assert!(
                !core::mem::needs_drop::<T>(),
                "flight-mem: scope values are never dropped; allocate only types without drop glue"
            )
        };
        let layout = Layout::new::<T>();
        let ptr = if layout.size() == 0 {
            NonNull::dangling()
        } else {
            match self.alloc_layout(layout) {
                Ok(block) => block.cast::<T>(),
                Err(_) => return Err(value),
            }
        };
        // SAFETY: `ptr` is aligned for `T` and either dangling for a
        // zero-sized `T` or a fresh block of `size_of::<T>()` bytes that no
        // one else uses until this scope ends, which the returned borrow of
        // `self` cannot outlive.
        unsafe {
            ptr.write(value);
            Ok(&mut *ptr.as_ptr())
        }
    }

    /// Copies `src` into the scope.
    #[allow(clippy::mut_from_ref)] // each call returns a fresh, disjoint block
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&mut [T], AllocError> {
        let ptr = self.alloc_array::<T>(src.len())?;
        // SAFETY: `ptr` is a fresh, aligned block for `src.len()` values of
        // `T` (or dangling when that is zero bytes), disjoint from `src`,
        // borrowed no longer than the scope lives.
        unsafe {
            ptr.as_ptr()
                .copy_from_nonoverlapping(src.as_ptr(), src.len());
            Ok(core::slice::from_raw_parts_mut(ptr.as_ptr(), src.len()))
        }
    }

    /// `len` copies of `value` in the scope.
    #[allow(clippy::mut_from_ref)] // each call returns a fresh, disjoint block
    pub fn alloc_slice_fill<T: Copy>(&self, len: usize, value: T) -> Result<&mut [T], AllocError> {
        let ptr = self.alloc_array::<T>(len)?;
        for i in 0..len {
            // SAFETY: `i < len`, inside the fresh block of `len` values.
            unsafe { ptr.add(i).write(value) };
        }
        // SAFETY: all `len` values were just initialised; the block is fresh
        // and the borrow cannot outlive the scope.
        Ok(unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), len) })
    }

    /// Copies `src` into the scope.
    #[allow(clippy::mut_from_ref)] // each call returns a fresh, disjoint block
    pub fn alloc_str(&self, src: &str) -> Result<&mut str, AllocError> {
        let bytes = self.alloc_slice_copy(src.as_bytes())?;
        // SAFETY: the bytes are a copy of a valid `str`.
        Ok(unsafe { core::str::from_utf8_unchecked_mut(bytes) })
    }

    /// An aligned block for `len` values of `T`; dangling when that is zero
    /// bytes.
    fn alloc_array<T>(&self, len: usize) -> Result<NonNull<T>, AllocError> {
        let layout = Layout::array::<T>(len).map_err(|_| {
            self.count_failure();
            AllocError::SizeOverflow {
                size: len.saturating_mul(size_of::<T>()),
            }
        })?;
        if layout.size() == 0 {
            return Ok(NonNull::dangling());
        }
        Ok(self.alloc_layout(layout)?.cast())
    }
    };
}

pub(crate) mod frames;
pub(crate) mod linear;
pub(crate) mod local;
pub(crate) mod stack;
