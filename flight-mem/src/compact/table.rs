//! The handle table: for each handle a hot [`Slot`] (what a read needs)
//! and a cold [`Links`] entry (what only the lock holder needs), in two
//! arrays inside the allocator's memory, and the state word that pins,
//! writers and the mover agree through.
//!
//! # Hot and cold
//!
//! A read ([`PinnedAll::get`](super::PinnedAll::get), `Compact::get`) needs
//! a slot's state word, offset and length: 16 bytes, one aligned line
//! piece per handle, in the hot array. The alignment and the address-order
//! links (12 bytes) are read and written only under the allocator's lock,
//! in the cold array after it. A read touches one 16-byte slot, so 4,096
//! handles' hot slots take 64 KiB rather than the 128 KiB a 32-byte slot
//! took.
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
//! | 35 | `FROZEN` | no pin may start: the copy overlaps the block or is short (frozen from the start), or the move is publishing its new offset |
//! | 36..64 | pins | live [`Pinned`](super::Pinned) guards |
//!
//! Putting the generation, the pins and the move flags in one word makes
//! every decision a single compare-and-swap: a pin cannot slip in between a
//! free's generation check and its release, and a move cannot start while a
//! pin lives. The offset is not in the word (it would not fit with a 32-bit
//! generation on targets without 128-bit atomics). A move therefore ends in
//! two steps: a compare-and-swap that requires the pin count to be zero
//! sets `FROZEN` (from then on no pin can start, and none lives), then the
//! new offset is stored and a release store of the word without
//! `MOVING | FROZEN` clears them (a plain store: while `FROZEN` is set
//! nobody else writes the word; see `Compact::publish`). A move frozen
//! from its first compare-and-swap skips the second.
//! A pinner reads the offset only after its pin compare-and-swap, which
//! cannot succeed between those two steps, so it always reads the offset
//! that belongs to the state it pinned — never an offset published for a
//! move that is then abandoned (an abandoned move never stores it).
//!
//! # Generations never wrap
//!
//! A free increments the generation; a slot whose generation reached
//! `u32::MAX` is *retired* on its last free instead of going back to the free
//! list. A slot's generations therefore only ever increase, so a stale handle
//! never matches a later block. Retiring costs one slot (28 bytes of handle
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
const PIN_SHIFT: u32 = 36;
/// One pin.
pub(crate) const PIN: u64 = 1 << PIN_SHIFT;
/// The most pins one block can hold at once (2^28 - 1); `get` refuses more
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

/// The hot part of one handle's entry: what a read needs.
///
/// `state` is read and written without the allocator's lock; `offset` and
/// `len` are written only under it (by allocation and by a move while its
/// block is `FROZEN`) and read by pinners after their pin. All are atomics
/// so that the table, which lives in raw memory, can be shared as `&Slot`
/// without any field needing exclusive access (`Relaxed` accesses compile
/// to plain loads and stores).
#[repr(C, align(16))]
pub(crate) struct Slot {
    /// The state word described in the module documentation.
    pub(crate) state: AtomicU64,
    /// The block's offset from the start of the data area.
    pub(crate) offset: AtomicU32,
    /// The requested length in bytes (what a pin derefs to).
    pub(crate) len: AtomicU32,
}

/// The cold part of one handle's entry, touched only under the lock.
#[repr(C)]
pub(crate) struct Links {
    /// log2 of the block's alignment.
    pub(crate) align_log2: AtomicU32,
    /// Address-ordered list of live blocks; for a free slot, `next` links
    /// the free-slot stack.
    pub(crate) prev: AtomicU32,
    pub(crate) next: AtomicU32,
}

/// Bytes of hot table per handle.
pub(crate) const HOT_SIZE: usize = core::mem::size_of::<Slot>();
/// Bytes of table per handle, hot and cold.
pub(crate) const SLOT_SIZE: usize = HOT_SIZE + core::mem::size_of::<Links>();
/// Alignment of the table (the hot array comes first; the cold array
/// after it is then aligned too, since `HOT_SIZE` is a multiple of its
/// alignment).
pub(crate) const SLOT_ALIGN: usize = core::mem::align_of::<Slot>();

// Loom's atomics are larger; the layout argument holds for any sizes that
// pass the second assertion.
#[cfg(not(loom))]
const _: () = assert!(HOT_SIZE == 16 && SLOT_SIZE == 28);
const _: () = assert!(HOT_SIZE.is_multiple_of(core::mem::align_of::<Links>()));

impl Slot {
    /// A never-used slot: generation 0, not live.
    pub(crate) fn fresh() -> Self {
        Self {
            state: AtomicU64::new(0),
            offset: AtomicU32::new(0),
            len: AtomicU32::new(0),
        }
    }

    /// The offset, read under the lock or by a pinner after its pin.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.offset.load(Ordering::Relaxed) as usize
    }

    /// The length, read under the lock or by a pinner after its pin.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed) as usize
    }

    /// Sets `flags` (a mover's `MOVING`, `FROZEN`) in the state word last
    /// seen as `word`, unless a pin or a writer holds the block: the word
    /// the mark replaced, or `None`. Called under the allocator's lock.
    #[inline]
    pub(crate) fn mark_unpinned(&self, mut word: u64, flags: u64) -> Option<u64> {
        loop {
            if pins(word) != 0 || word & WRITER != 0 {
                return None;
            }
            // Acquire: the last writer's and readers' accesses (released by
            // their guards' drops) happen before the caller's copy.
            match self.state.compare_exchange_weak(
                word,
                word | flags,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(word),
                Err(now) => word = now,
            }
        }
    }
}

impl Links {
    /// A never-used entry: no links.
    pub(crate) fn fresh() -> Self {
        Self {
            align_log2: AtomicU32::new(0),
            prev: AtomicU32::new(NIL),
            next: AtomicU32::new(NIL),
        }
    }

    #[inline]
    pub(crate) fn prev(&self) -> u32 {
        self.prev.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn next(&self) -> u32 {
        self.next.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn align(&self) -> usize {
        1 << self.align_log2.load(Ordering::Relaxed)
    }
}
