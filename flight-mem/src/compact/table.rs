//! The handle table: one [`Slot`] per handle, inside the allocator's memory,
//! and the state word that pins, writers and the mover agree through.
//!
//! # The state word
//!
//! Every slot has one `AtomicU64`, low bits first:
//!
//! | bits | field | meaning |
//! |---|---|---|
//! | 0..32 | generation | the generation a handle must carry to reach the block |
//! | 32 | `LIVE` | the slot holds a block |
//! | 33 | `WRITER` | a [`PinnedMut`](super::PinnedMut) lives |
//! | 34 | `MOVING` | the defragmenter is copying the block |
//! | 35 | `FROZEN` | ... into a range that overlaps the block: no pin may start |
//! | 36 | `SIDE` | which of the two offset words is current |
//! | 37..64 | pins | live [`Pinned`](super::Pinned) guards |
//!
//! Putting the generation, the pins and the move flags in one word makes
//! every decision a single compare-and-swap: a pin cannot slip in between a
//! free's generation check and its release, and a move cannot start while a
//! pin lives. The offset is not in the word (it would not fit with a 32-bit
//! generation on targets without 128-bit atomics); instead a slot has two
//! offset words and `SIDE` names the current one. The mover writes the new
//! offset into the other word and flips `SIDE` in the same compare-and-swap
//! that ends the move, so a pinner that reads the offset after its pin
//! compare-and-swap always reads the offset that belongs to the state it
//! pinned — never an offset published for a move that is then abandoned.
//!
//! # Generations never wrap
//!
//! A free increments the generation; a slot whose generation reached
//! `u32::MAX` is *retired* on its last free instead of going back to the free
//! list. A slot's generations therefore only ever increase, so a stale handle
//! never matches a later block. Retiring costs one slot (32 bytes of handle
//! capacity) per 2^32 frees of that slot.

use core::fmt;

use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// A slot index that names no slot: the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

pub(crate) const GEN_MASK: u64 = u32::MAX as u64;
pub(crate) const LIVE: u64 = 1 << 32;
pub(crate) const WRITER: u64 = 1 << 33;
pub(crate) const MOVING: u64 = 1 << 34;
pub(crate) const FROZEN: u64 = 1 << 35;
pub(crate) const SIDE: u64 = 1 << 36;
const PIN_SHIFT: u32 = 37;
/// One pin.
pub(crate) const PIN: u64 = 1 << PIN_SHIFT;
/// The most pins one block can hold at once (2^27 - 1); `get` refuses more
/// rather than carry into nothing.
pub(crate) const MAX_PINS: u64 = u64::MAX >> PIN_SHIFT;

/// The generation in a state word.
#[inline]
pub(crate) const fn generation(state: u64) -> u32 {
    (state & GEN_MASK) as u32
}

/// The number of shared pins in a state word.
#[inline]
pub(crate) const fn pins(state: u64) -> u64 {
    state >> PIN_SHIFT
}

/// Which offset word is current.
#[inline]
pub(crate) const fn side(state: u64) -> usize {
    ((state & SIDE) != 0) as usize
}

/// A reference to a block of a [`Compact`](super::Compact) allocator: a slot
/// index and the slot's generation when the block was allocated.
///
/// A handle is a plain value, never a pointer, so the block behind it may
/// move. A handle whose block was freed — even if its slot holds another
/// block by now — reaches nothing: `get` gives `None`, `free` an `Err`.
/// A handle is only meaningful to the allocator that made it; used on
/// another `Compact` it names whatever (if anything) that allocator's slot
/// holds, which is a logic error but never undefined behaviour.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl Handle {
    /// The slot index.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation of the slot when the block was allocated.
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// The handle as one integer (index in the high half), for storing in
    /// asset tables or passing through FFI.
    pub const fn to_bits(self) -> u64 {
        ((self.index as u64) << 32) | self.generation as u64
    }

    /// The handle [`to_bits`](Self::to_bits) encoded. Any value is accepted:
    /// a handle that names no live block is refused by the allocator.
    pub const fn from_bits(bits: u64) -> Self {
        Self {
            index: (bits >> 32) as u32,
            generation: bits as u32,
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}v{})", self.index, self.generation)
    }
}

/// One handle's entry in the table.
///
/// Only `state` and the current offset word are read without the
/// allocator's lock; the other fields change only under the lock. All are
/// atomics so that the table, which lives in raw memory, can be shared as
/// `&Slot` without any field needing exclusive access (`Relaxed` accesses
/// compile to plain loads and stores).
#[repr(C)]
pub(crate) struct Slot {
    /// The state word described in the module documentation.
    pub(crate) state: AtomicU64,
    /// Block offsets from the start of the data area; `SIDE` picks one.
    pub(crate) offset: [AtomicU32; 2],
    /// The requested length in bytes (what a pin derefs to).
    pub(crate) len: AtomicU32,
    /// log2 of the block's alignment.
    pub(crate) align_log2: AtomicU32,
    /// Address-ordered list of live blocks (under the lock); for a free
    /// slot, `next` links the free-slot stack.
    pub(crate) prev: AtomicU32,
    pub(crate) next: AtomicU32,
}

/// Bytes of table per handle.
pub(crate) const SLOT_SIZE: usize = core::mem::size_of::<Slot>();
/// Alignment of the table.
pub(crate) const SLOT_ALIGN: usize = core::mem::align_of::<Slot>();

impl Slot {
    /// A never-used slot: generation 0, not live.
    pub(crate) fn fresh() -> Self {
        Self {
            state: AtomicU64::new(0),
            offset: [AtomicU32::new(0), AtomicU32::new(0)],
            len: AtomicU32::new(0),
            align_log2: AtomicU32::new(0),
            prev: AtomicU32::new(NIL),
            next: AtomicU32::new(NIL),
        }
    }

    /// The current offset, read under the lock (where `SIDE` cannot change).
    #[inline]
    pub(crate) fn offset_locked(&self) -> u32 {
        let state = self.state.load(Ordering::Relaxed);
        self.offset[side(state)].load(Ordering::Relaxed)
    }
}
