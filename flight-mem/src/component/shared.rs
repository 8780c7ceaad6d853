//! Shared regions: bytes several components reach through their tokens,
//! readers sharing and a writer excluding them, with the access list of the
//! layout checked by the compiler.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use bytemuck::Pod;

use crate::RawMemory;
use crate::sync::{AtomicUsize, Ordering};

/// A component token that may read shared region `R`: the layout's
/// `access` list names its component with `read` or `write`.
///
/// `memory_layout!` implements it for exactly the listed tokens.
///
/// # Safety
///
/// An implementation grants its type the region's bytes: only the access
/// list may do that. The trait is `unsafe` because it is the access list's
/// only enforcement: as a safe trait, any code could implement it for a
/// type of its own (the orphan rule allows it in any crate) or for a
/// component the list leaves out, and read or write the region
/// (audit13). Implement it by hand only for a type that stands for a
/// component the region's owner lets in (a test's own token, a region
/// built with `Shared::new` outside a layout).
#[diagnostic::on_unimplemented(
    message = "component `{Self}` may not read shared region `{R}`",
    label = "`{Self}` is not in the `access` list of `{R}`",
    note = "to grant it, add this component as `NAME: read` (or `NAME: write`) to the `access: [..]` list of `{R}` in the layout"
)]
pub unsafe trait CanRead<R> {}

/// A component token that may write shared region `R`: the layout's
/// `access` list names its component with `write`. See [`CanRead`].
///
/// # Safety
///
/// As [`CanRead`]: an implementation grants its type the right to write the
/// region, which only the access list may do.
#[diagnostic::on_unimplemented(
    message = "component `{Self}` may not write shared region `{R}`",
    label = "`{Self}` has no `write` access to `{R}`",
    note = "to grant it, list this component as `NAME: write` in the `access: [..]` list of `{R}` in the layout"
)]
pub unsafe trait CanWrite<R>: CanRead<R> {}

/// The lock word: the number of readers, or `WRITER`, or `CHANNEL`.
const WRITER: usize = 1 << (usize::BITS - 1);
/// The region serves a channel for good: no guard is handed out again.
pub(crate) const CHANNEL: usize = WRITER | 1;

/// A shared region of a layout, `R` being its marker type
/// (`engine::FrameData`): bytes that the components in its access list
/// reach with their tokens.
///
/// * [`read`](Self::read) / [`try_read`](Self::try_read) give a guard that
///   derefs to `[u8]`; any number of readers at once.
/// * [`write`](Self::write) / [`try_write`](Self::try_write) give one that
///   derefs mutably; a writer excludes readers and other writers.
/// * A token whose component is not in the access list (or only as a
///   reader, for `write`) is a compile error naming both.
///
/// The lock is one atomic word: lock-free where the target has
/// compare-and-swap, a critical section per operation where it has not
/// (thumbv6m, through `portable-atomic`). `read` and `write` spin while the
/// other side holds the region; an interrupt handler on a single core must
/// use the `try_` forms (spinning on a lock its own core holds never ends).
/// No flight-mem code holds the lock while it runs a callback.
///
/// A region can instead carry a single-producer, single-consumer
/// [channel](Self::sender) between a writer and a reader of its access list.
///
/// A typed region (`shared NAME = [T; N] { .. }`) is a `Shared<R, T>`
/// whose guards deref to `[T]`. `T: bytemuck::Pod` is how that is checked:
/// every bit pattern is a valid `T` (so bytes never written, or written by
/// another component, or left in RAM at a fixed address, are valid values),
/// and a `T` has no padding a reader could see uninitialised.
pub struct Shared<R: 'static, T: Pod = u8> {
    pub(crate) memory: RawMemory,
    pub(crate) state: AtomicUsize,
    pub(crate) channel: super::channel::Ring,
    region: PhantomData<(fn() -> R, T)>,
}

// SAFETY: the bytes are reached only through guards, and the lock word
// guarantees that a mutable guard never coexists with any other guard of the
// same region, across threads; the bytes are plain `u8`s, valid in any state.
unsafe impl<R, T: Pod> Sync for Shared<R, T> {}
// SAFETY: the region owns its memory range; moving it moves that ownership.
unsafe impl<R, T: Pod> Send for Shared<R, T> {}

impl<R, T: Pod> Shared<R, T> {
    crate::sync::const_fn! {
        /// A shared region over `memory`.
        ///
        /// # Safety
        ///
        /// As [`RawMemory::from_raw_parts`]: the bytes are reached only
        /// through this region (one `Shared` per range); the range starts
        /// aligned for `T` and its length is a multiple of `size_of::<T>()`.
        pub unsafe fn new(memory: RawMemory) -> Self {
            Self {
                memory,
                state: AtomicUsize::new(0),
                channel: super::channel::Ring::new(),
                region: PhantomData,
            }
        }
    }

    /// The region's length in bytes.
    pub fn len(&self) -> usize {
        self.memory.len()
    }

    /// Whether the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.memory.is_empty()
    }

    /// Shared access for a component in the access list; `None` while a
    /// writer holds the region.
    pub fn try_read<C: CanRead<R>>(&self, token: &C) -> Option<SharedRef<'_, T>> {
        let _ = token;
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            // A reader count that reached `WRITER - 1` would collide with
            // the writer bit; that many live guards cannot exist in memory.
            if current & WRITER != 0 || current == WRITER - 1 {
                return None;
            }
            match self.state.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(SharedRef {
                        bytes: self.bytes(),
                        state: &self.state,
                    });
                }
                Err(seen) => current = seen,
            }
        }
    }

    /// Shared access for a component in the access list, waiting while a
    /// writer holds the region.
    pub fn read<C: CanRead<R>>(&self, token: &C) -> SharedRef<'_, T> {
        loop {
            if let Some(guard) = self.try_read(token) {
                return guard;
            }
            core::hint::spin_loop();
        }
    }

    /// Exclusive access for a component with `write` in the access list;
    /// `None` while anyone else holds the region.
    pub fn try_write<C: CanWrite<R>>(&self, token: &C) -> Option<SharedMut<'_, T>> {
        let _ = token;
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SharedMut {
                bytes: self.bytes(),
                state: &self.state,
            })
    }

    /// Exclusive access for a component with `write` in the access list,
    /// waiting while anyone else holds the region.
    pub fn write<C: CanWrite<R>>(&self, token: &C) -> SharedMut<'_, T> {
        loop {
            if let Some(guard) = self.try_write(token) {
                return guard;
            }
            core::hint::spin_loop();
        }
    }

    /// Whether a writer holds the region now (a snapshot).
    pub fn is_write_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WRITER != 0
    }

    /// The number of readers now (a snapshot).
    pub fn readers(&self) -> usize {
        let state = self.state.load(Ordering::Relaxed);
        if state & WRITER != 0 { 0 } else { state }
    }

    fn bytes(&self) -> *mut [T] {
        core::ptr::slice_from_raw_parts_mut(
            self.memory.as_ptr().cast::<T>(),
            self.memory.len() / size_of::<T>().max(1),
        )
    }
}

impl<R, T: Pod> fmt::Debug for Shared<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("len", &self.len())
            .field("readers", &self.readers())
            .field("write_locked", &self.is_write_locked())
            .finish()
    }
}

/// Shared access to a [`Shared`] region's bytes; the region stays readable
/// by others and unwritable while it lives.
pub struct SharedRef<'a, T = u8> {
    bytes: *mut [T],
    state: &'a AtomicUsize,
}

impl<T> Deref for SharedRef<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: the region's bytes are valid for its lifetime and aligned
        // for `T` (`new`'s contract), and any bytes are a valid `T` (`Pod`);
        // this guard counts as a reader, so no mutable guard exists until it
        // drops.
        unsafe { &*self.bytes }
    }
}

impl<T> Drop for SharedRef<'_, T> {
    fn drop(&mut self) {
        self.state.fetch_sub(1, Ordering::Release);
    }
}

/// Exclusive access to a [`Shared`] region's bytes.
pub struct SharedMut<'a, T = u8> {
    bytes: *mut [T],
    state: &'a AtomicUsize,
}

impl<T> Deref for SharedMut<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: as in `deref_mut`; a shared view of the exclusive access.
        unsafe { &*self.bytes }
    }
}

impl<T> DerefMut for SharedMut<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: the region's bytes are valid for its lifetime; this guard
        // holds the writer bit, so no other guard exists until it drops,
        // and `&mut self` makes this the only borrow of it.
        unsafe { &mut *self.bytes }
    }
}

impl<T> Drop for SharedMut<'_, T> {
    fn drop(&mut self) {
        self.state.store(0, Ordering::Release);
    }
}

impl<T> fmt::Debug for SharedRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRef")
            .field("len", &self.len())
            .finish()
    }
}

impl<T> fmt::Debug for SharedMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMut")
            .field("len", &self.len())
            .finish()
    }
}
