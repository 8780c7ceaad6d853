//! Engine components and what they share: raw segments (`allocator: none`),
//! shared regions with access lists the compiler checks, and the access
//! traits the generated tokens implement.

pub(crate) mod channel;
pub(crate) mod segment;
pub(crate) mod shared;
