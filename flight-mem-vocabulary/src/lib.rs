//! The vocabulary [flight-mem](https://docs.rs/flight-mem) and its
//! `memory_layout!` macro share, so that the macro parses exactly the words
//! the runtime knows and a size reads the same wherever it is printed:
//!
//! - the words of the layout language — [`MemoryType`], [`MemoryFlag`],
//!   [`AllocatorKind`], [`EntryKind`] — with their names in the language;
//! - [`Human`], the one const formatter of byte counts behind flight-mem's
//!   `Bytes`, the budget messages of its const assertions and the macro's
//!   errors.
//!
//! flight-mem re-exports what its users need; depend on this crate only to
//! read or write layout words without the runtime.
//!
//! ```
//! use flight_mem_vocabulary::{EntryKind, Human, MemoryType};
//!
//! const TEXT: Human = Human::new(16_711_680);
//! assert_eq!(TEXT.as_str(), "15.93 MiB");
//! assert_eq!(Human::new(1 << 30).as_str(), "1 GiB");
//! assert_eq!(Human::new(u128::MAX).as_str(), "309485009821345068724781055.99 TiB");
//!
//! assert_eq!(MemoryType::from_name("Video"), Some(MemoryType::Video));
//! assert_eq!(EntryKind::from_keyword("frame").map(EntryKind::default_memory),
//!            Some(MemoryType::Temporary));
//! ```

#![no_std]
#![deny(missing_docs)]

mod units;
mod words;

pub use units::{ConstStr, Human};
pub use words::{AllocatorKind, EntryKind, MemoryFlag, MemoryType};
