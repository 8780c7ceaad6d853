//! The sizes and checks of the consts `memory_layout!` generates for
//! figures only rustc knows (a pool of `size_of::<T>()` values, a
//! `( const-expr )` size), and the allocator constructors that stay quiet
//! where those checks already fail on the entry.

use crate::{BlockPool, MemoryType, MemoryTypes, Pool, RawMemory};

/// Panics with `message` unless `holds`: a generated assertion on a figure
/// only rustc knows (a zero-sized pool type, a const-expression frame size
/// past its limits). `#[track_caller]`, so rustc reports the failure at the
/// call the macro spans on the entry, as it did `assert!`; one call of this
/// costs rustc less than an `assert!` (whose `format_args!` it type-checks
/// and lowers in every build, although the branch never runs in a plan that
/// builds).
#[track_caller]
pub const fn require(holds: bool, message: &'static str) {
    if !holds {
        panic!("{}", message)
    }
}

/// `Pool::<T>::bytes_for(count)`, or `usize::MAX` where that would panic
/// (more slots than the 32-bit slot index, a size past `usize`): the const
/// plan of a bank then fails its budget assertion instead of panicking
/// itself, and the macro's assertion on the entry (`typed_pool_fits`) says
/// why, both spanned on the entry. A zero-sized `T` takes no bytes here
/// (the macro's own assertion on the type is its error).
pub const fn typed_pool_bytes<T>(count: usize) -> usize {
    if size_of::<T>() == 0 {
        return 0;
    }
    match crate::BlockPool::checked_bytes_for(size_of::<T>(), align_of::<T>(), count) {
        Some(bytes) => bytes,
        None => usize::MAX,
    }
}

/// `BlockPool::bytes_for(block, align, count)`, or `usize::MAX` where that
/// would panic (see [`typed_pool_bytes`]).
pub const fn block_pool_bytes(block: usize, align: usize, count: usize) -> usize {
    match crate::BlockPool::checked_bytes_for(block, align, count) {
        Some(bytes) => bytes,
        None => usize::MAX,
    }
}

/// `a * b`, or `usize::MAX` past it: a frame entry's bytes in a const plan.
pub const fn saturating_mul(a: usize, b: usize) -> usize {
    a.saturating_mul(b)
}

/// The bytes of a typed shared region of `count` values of `T`, or
/// `usize::MAX` past `usize` (see [`typed_pool_bytes`]).
pub const fn typed_shared_bytes<T>(count: usize) -> usize {
    match size_of::<T>().checked_mul(count) {
        Some(bytes) => bytes,
        None => usize::MAX,
    }
}

/// Whether a pool of `count` values of `T` can exist on this target.
pub const fn typed_pool_fits<T>(count: usize) -> bool {
    typed_pool_bytes::<T>(count) != usize::MAX
}

crate::sync::const_fn! {
    /// The allocator of a `pool NAME = [(EXPR); COUNT]` entry:
    /// `BlockPool::new(memory, block, align)` when the plan could size it
    /// (`block_pool_bytes` is not `usize::MAX`, which also means the
    /// geometry is valid and `memory` holds `count` blocks). Otherwise the
    /// build already fails on the macro's assertion spanned on the entry,
    /// and this is a pool without slots over none of `memory`, so that the
    /// static holding it adds no second error blamed on the whole macro
    /// call. Evaluated in the static's initializer: no run-time cost.
    pub fn block_pool(memory: RawMemory, block: usize, align: usize, count: usize) -> BlockPool {
        if block_pool_bytes(block, align, count) != usize::MAX {
            BlockPool::new(memory, block, align)
        } else {
            BlockPool::without_slots(memory)
        }
    }
}

crate::sync::const_fn! {
    /// The allocator of a `pool NAME = [T; COUNT]` entry: `Pool::new(memory)`,
    /// or, for a `T` or `count` the macro's assertions refuse (a zero-sized
    /// or oversized `T`, too many slots), a pool without slots (as
    /// [`block_pool`]). `Pool::<T>::new` is then never evaluated, so its own
    /// check on `T` adds no error pointing into this crate.
    pub fn typed_pool<T>(memory: RawMemory, count: usize) -> Pool<T> {
        if size_of::<T>() != 0 && typed_pool_fits::<T>(count) {
            Pool::new(memory)
        } else {
            Pool::without_slots(memory)
        }
    }
}

/// `value` clamped to `min..=max`: a `frame` entry's per-frame size in its
/// bank's plan. A frame size outside the limits fails the macro's assertion
/// spanned on the size; clamped, the memory the plan gives the entry is
/// still valid for `Frames::new`, which then adds no second error blamed on
/// the whole macro call. Sizes inside the limits are unchanged.
pub const fn clamp(value: usize, min: usize, max: usize) -> usize {
    if value < min {
        min
    } else if value > max {
        max
    } else {
        value
    }
}

/// The memory types a `MemoryType` list names, for generated code.
pub const fn memory_types(list: &[MemoryType]) -> MemoryTypes {
    let mut set = MemoryTypes::NONE;
    let mut i = 0;
    while i < list.len() {
        set = set.with(list[i]);
        i += 1;
    }
    set
}

/// The larger of two sizes.
pub const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::require;

    // A check that holds is nothing at compile time.
    const _: () = require(true, "never printed");

    #[test]
    #[should_panic(expected = "the entry's message")]
    fn a_failed_requirement_panics_with_its_message() {
        require(false, "the entry's message");
    }
}
