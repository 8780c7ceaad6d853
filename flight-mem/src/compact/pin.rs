//! The guards that pin a block while its bytes are borrowed.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use core::{fmt, slice};

use super::Handle;
use super::table::{PIN, Slot, WRITER};
use crate::sync::Ordering;

/// Shared access to a block of a [`Compact`](super::Compact) allocator:
/// derefs to its bytes and keeps it in place (pinned) until dropped.
///
/// Any number of `Pinned` guards of one block may live at once, on any
/// threads; while one lives, the block is neither moved, freed nor lent out
/// mutably.
pub struct Pinned<'a> {
    pub(super) slot: &'a Slot,
    pub(super) bytes: NonNull<u8>,
    pub(super) len: usize,
    pub(super) handle: Handle,
    pub(super) _bytes: PhantomData<&'a [u8]>,
}

// SAFETY: a `Pinned` is a shared borrow of initialised bytes that nobody
// writes while it lives (writers and moves need the pin count to be zero),
// like `&[u8]`, which is `Send` and `Sync`; its drop is one atomic
// decrement, valid on any thread.
unsafe impl Send for Pinned<'_> {}
// SAFETY: as above; `&Pinned` gives only `&[u8]`.
unsafe impl Sync for Pinned<'_> {}

impl Pinned<'_> {
    /// The handle this guard pins.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// The first byte. Stays valid (and the block in place) while the
    /// guard lives.
    pub fn as_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
}

impl Deref for Pinned<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `bytes..bytes + len` is the block's payload inside the
        // allocator's memory, initialised (zeroed on allocation, copied
        // whole on a move). The pin taken in `Compact::get` keeps it from
        // being moved, freed or written until this guard drops, and the
        // slice borrows the guard.
        unsafe { slice::from_raw_parts(self.bytes.as_ptr(), self.len) }
    }
}

impl Drop for Pinned<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: our reads of the block happen before a mover or `free`
        // that sees the pin count drop (both acquire the state word).
        self.slot.state.fetch_sub(PIN, Ordering::Release);
    }
}

impl fmt::Debug for Pinned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinned")
            .field("handle", &self.handle)
            .field("ptr", &self.bytes)
            .field("len", &self.len)
            .finish()
    }
}

/// Exclusive access to a block of a [`Compact`](super::Compact) allocator:
/// derefs mutably to its bytes and keeps it in place until dropped.
pub struct PinnedMut<'a> {
    pub(super) slot: &'a Slot,
    pub(super) bytes: NonNull<u8>,
    pub(super) len: usize,
    pub(super) handle: Handle,
    pub(super) _bytes: PhantomData<&'a mut [u8]>,
}

// SAFETY: a `PinnedMut` is the only access to its block while it lives (the
// `WRITER` bit is set only when no pin or move exists, and keeps new ones
// out), like `&mut [u8]`, which is `Send` and `Sync`; its drop is one atomic
// operation, valid on any thread.
unsafe impl Send for PinnedMut<'_> {}
// SAFETY: as above; `&PinnedMut` gives only `&[u8]`.
unsafe impl Sync for PinnedMut<'_> {}

impl PinnedMut<'_> {
    /// The handle this guard pins.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// The first byte. Stays valid (and the block in place) while the
    /// guard lives.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_ptr()
    }
}

impl Deref for PinnedMut<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: as for `Pinned::deref`; the `WRITER` bit excludes every
        // other access, and this borrow is tied to `&self`.
        unsafe { slice::from_raw_parts(self.bytes.as_ptr(), self.len) }
    }
}

impl DerefMut for PinnedMut<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: the `WRITER` bit, set by `Compact::get_mut` only when no
        // pin and no move existed, keeps every other pin, move and free out
        // until this guard drops; the borrow is tied to `&mut self`, so it
        // is the only reference to the bytes.
        unsafe { slice::from_raw_parts_mut(self.bytes.as_ptr(), self.len) }
    }
}

impl Drop for PinnedMut<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: our writes happen before whoever pins, moves or frees
        // the block next (they acquire the state word).
        self.slot.state.fetch_and(!WRITER, Ordering::Release);
    }
}

impl fmt::Debug for PinnedMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedMut")
            .field("handle", &self.handle)
            .field("ptr", &self.bytes)
            .field("len", &self.len)
            .finish()
    }
}
