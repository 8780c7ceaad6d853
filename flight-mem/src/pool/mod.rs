//! Fixed-size slots: typed pools, untyped block pools, and the lock-free
//! list of free slots behind both.

pub(crate) mod block;
pub(crate) mod free_slots;
pub(crate) mod typed;
