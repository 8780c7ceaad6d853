//! Fixed-size slots: typed pools, untyped block pools, and the lock-free
//! list of free slots behind both, and per-thread magazines on them.

pub(crate) mod block;
pub(crate) mod free_slots;
pub(crate) mod local;
pub(crate) mod spread;
pub(crate) mod typed;
