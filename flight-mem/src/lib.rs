//! # flight-mem
//!
//! Memory budgets for games and embedded systems. A game declares its
//! platform's memory plan once, in a `memory_layout!` block; the macro proves
//! at compile time that the plan fits and expands it into `static`, typed
//! allocator instances backed by the allocators of this crate.
//!
//! This crate is `#![no_std]`; the `std` feature (on by default) adds the
//! system allocator behind the same interface, guard pages and reports.
//!
//! ## The allocators
//!
//! | type | use | alloc / free | per-block overhead |
//! |---|---|---|---|
//! | [`Frames`] | per-frame scratch, N linear frames | O(1) bump, lock-free / reset | none |
//! | [`Stack`] | LIFO temporaries with markers | O(1) / O(1), lock-free | one header |
//! | [`Pool`] | typed fixed-size objects | O(1) / O(1), lock-free, ABA-safe | none in the object |
//! | [`BlockPool`] | untyped fixed-size blocks | O(1) / O(1), lock-free, ABA-safe | none in the block |
//! | [`Buddy`] | power-of-two blocks | O(log n) / O(log n) | rounding to a power of two |
//! | [`Tlsf`] | general heap, bounded worst case | O(1) / O(1) | one word |
//! | [`FreeList`] | general heap, segregated first/best fit | O(blocks in the size class) / O(1) | one header word |
//! | [`SmallFront`] | size-class slabs (≤ 4 KiB) over any general heap, per-thread [`SmallLocal`] caches | O(1) / O(1) | rounding to a class, one byte |
//! | [`Compact`] | relocatable blocks behind [`Handle`]s, incremental defragmentation | O(n) / O(1) | 28 bytes per handle (16-byte hot slot) |
//!
//! Every allocator is const-constructible over memory it owns, usable from a
//! `static` with no initialisation call, `Sync`, and implements
//! [`RawAllocator`]; `&'static` instances implement
//! [`allocator_api2::alloc::Allocator`], and [`GlobalRegion`] makes one the
//! program's `#[global_allocator]`.
//!
//! ## Locking
//!
//! Pools, frames and stacks are lock-free where the target has
//! compare-and-swap. TLSF, buddy and free list take an internal lock: a spin
//! lock where the target has CAS, a `critical-section` where it has none
//! (thumbv6m). On a single-core microcontroller whose interrupt handlers
//! allocate, enable the `irq-safe` feature so every lock is a critical
//! section (a spin lock interrupted by its own holder's core never opens).
//! Either way, provide a `critical-section` implementation on targets that
//! use one (for example `cortex-m`'s `critical-section-single-core`).
#![no_std]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "std")]
extern crate std;

pub use allocator_api2;
pub use bytemuck;

mod allocator;
mod bump;
mod compact;
mod component;
mod error;
mod heap;
mod layout;
mod memory;
mod pool;
mod report;
mod stats;
pub(crate) mod sync;
mod vocabulary;

#[cfg(feature = "track")]
pub use report::track;
#[cfg(not(feature = "track"))]
pub(crate) use report::track;

pub use allocator::{FreesInAnyOrder, GlobalRegion, RawAllocator};
pub use bump::frames::Frames;
pub use bump::linear::{Checkpoint, Linear, Scope};
pub use bump::local::{LocalBump, LocalCheckpoint, LocalScope};
pub use bump::stack::{Stack, StackMarker};
pub use compact::{
    Compact, CompactStats, DefragBudget, DefragReport, DefragStep, Handle, Pinned, PinnedAll,
    PinnedMut,
};
pub use component::channel::{Received, Receiver, Sender};
pub use component::segment::Segment;
pub use component::shared::{CanRead, CanWrite, Shared, SharedMut, SharedRef};
pub use error::{AllocError, InvariantViolation};
pub use flight_mem_macros::memory_layout;
pub use heap::buddy::Buddy;
pub use heap::free_list::{Fit, FreeList};
#[cfg(not(loom))]
pub use heap::small::{SmallFront, SmallLocal};
#[cfg(feature = "std")]
pub use heap::system::System;
pub use heap::tlsf::Tlsf;
pub use layout::guard::{CANARY, GuardBreach, GuardMode, GuardZone, page_size as guard_page_size};
pub use layout::pressure::{
    CallbackId, PressureCallback, PressureCallbacks, PressureChange, PressureError, PressureInfo,
    PressureThresholds, PressureWatch,
};
pub use layout::request::{Allocation, AllocationRequest, EntryKind, Grant, RegionInfo};
pub use layout::table::{BankInfo, EntryStats, Layout, LayoutStats, LayoutTable, MemoryMap};
pub use layout::validation::{Problem, ProblemKind, ValidationReport};
pub use memory::{Arena, RawMemory};
pub use pool::block::BlockPool;
pub use pool::local::{BlockMagazine, PoolMagazine};
pub use pool::typed::{Pool, PoolBox};
pub use report::timeline::{EntrySample, FrameSample, Timeline};
pub use stats::AllocatorStats;
pub use vocabulary::{
    AllocatorKind, Bytes, MemoryFlags, MemoryType, MemoryTypes, PressureLevel, align,
};

/// What the code `memory_layout!` generates needs; not a public API.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
