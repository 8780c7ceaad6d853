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
//! | [`FreeList`] | general heap, first/best fit | O(n) / O(1) | one header |
//! | [`Compact`] | relocatable blocks behind [`Handle`]s, incremental defragmentation | O(n) / O(1) | 32-byte handle slot |
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

pub mod block_pool;
pub mod buddy;
pub mod compact;
mod error;
pub mod frames;
pub mod free_list;
mod free_stack;
pub mod guard;
pub mod layout;
pub mod linear;
mod memory;
pub mod pool;
pub mod pressure;
pub(crate) mod raw;
mod request;
pub mod services;
pub mod stack;
mod stats;
mod svg;
pub(crate) mod sync;
#[cfg(feature = "std")]
pub mod system;
pub mod tlsf;
#[cfg(feature = "track")]
pub mod track;
#[cfg(not(feature = "track"))]
#[path = "untracked.rs"]
pub(crate) mod track;
mod vocabulary;

pub use block_pool::BlockPool;
pub use buddy::Buddy;
pub use compact::{
    Compact, CompactStats, DefragBudget, DefragReport, DefragStep, Handle, Pinned, PinnedMut,
};
pub use error::{AllocError, InvariantViolation};
pub use flight_mem_macros::memory_layout;
pub use frames::Frames;
pub use free_list::{Fit, FreeList};
pub use guard::{CANARY, GuardBreach, GuardMode, GuardZone, page_size as guard_page_size};
pub use layout::{BankInfo, EntryStats, Layout, LayoutStats, LayoutTable, MemoryMap};
pub use linear::{Checkpoint, Linear, Scope};
pub use memory::{Arena, RawMemory};
pub use pool::{Pool, PoolBox};
pub use pressure::{
    CallbackId, PressureCallback, PressureCallbacks, PressureChange, PressureError, PressureInfo,
    PressureThresholds, PressureWatch,
};
pub use raw::{GlobalRegion, RawAllocator};
pub use request::{Allocation, AllocationRequest, EntryKind, RegionInfo};
pub use services::{Problem, ProblemKind, ValidationReport};
pub use stack::{Stack, StackMarker};
pub use stats::AllocatorStats;
#[cfg(feature = "std")]
pub use system::System;
pub use tlsf::Tlsf;
pub use vocabulary::{
    AllocatorKind, Bytes, MemoryFlags, MemoryType, MemoryTypes, PressureLevel, align,
};

/// What the code `memory_layout!` generates needs; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::layout::memory_types;
    pub use crate::layout::private::*;
    pub use const_format;
}
