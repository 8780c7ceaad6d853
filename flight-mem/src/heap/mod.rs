//! General-purpose heaps over a layout's memory: TLSF, buddy, free list,
//! and the platform allocator behind the same interface.

pub(crate) mod buddy;
pub(crate) mod free_list;
mod locked;
#[cfg(not(loom))]
pub(crate) mod small;
#[cfg(feature = "std")]
pub(crate) mod system;
pub(crate) mod tlsf;
