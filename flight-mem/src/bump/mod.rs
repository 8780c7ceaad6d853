//! Bump allocation: the lock-free bump engine and its scope proof
//! (`linear`), the N-frame ring built on it (`frames`), per-thread handles
//! on both (`local`), and the LIFO stack.

pub(crate) mod frames;
pub(crate) mod linear;
pub(crate) mod local;
pub(crate) mod stack;
