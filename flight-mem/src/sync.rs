//! The synchronisation primitives every allocator is built on.
//!
//! Three build configurations share one vocabulary:
//!
//! * normal builds take their atomics from `portable-atomic`, which is
//!   `core`'s atomics where the target has them, a lock-based fallback for
//!   64-bit atomics on 32-bit targets (thumbv7em), and a critical section on
//!   targets without compare-and-swap (thumbv6m);
//! * `cfg(loom)` builds swap in loom's atomics so the model checker sees every
//!   interleaving of the lock-free pool and bump paths;
//! * [`Lock`] is a spin lock where the target has CAS, and a
//!   `critical-section` otherwise (or everywhere with the `irq-safe` feature).
//!
//! Constructors of types holding atomics are `const fn` in normal builds and
//! plain `fn` under loom (loom's atomics cannot be built in const context);
//! [`const_fn!`] writes both from one definition.

// Not every build uses every width (thumbv6m has no pool, say).
#[allow(unused_imports)]
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[allow(unused_imports)]
#[cfg(not(loom))]
pub(crate) use portable_atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

use core::cell::UnsafeCell;

/// Defines a function that is `const` except under `cfg(loom)`.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis unsafe fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])* $vis const unsafe fn $name $($rest)*
        #[cfg(loom)]
        $(#[$attr])* $vis unsafe fn $name $($rest)*
    };
    ($(#[$attr:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])* $vis const fn $name $($rest)*
        #[cfg(loom)]
        $(#[$attr])* $vis fn $name $($rest)*
    };
}
pub(crate) use const_fn;

/// Tells the processor (and loom) that this thread is waiting on another.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Mutual exclusion for the allocators whose state cannot be updated by a
/// single atomic (TLSF, buddy, free list).
///
/// The lock never calls user code while held, so a pressure callback or a
/// `Drop` that allocates cannot deadlock on it. Reentrant use (which only a
/// bug inside this crate could cause) panics instead of aliasing `&mut T`.
pub(crate) struct Lock<T> {
    #[cfg(not(any(feature = "irq-safe", not(target_has_atomic = "8"))))]
    locked: AtomicBool,
    #[cfg(any(feature = "irq-safe", not(target_has_atomic = "8")))]
    entered: core::cell::Cell<bool>,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through `with`, which grants one `&mut T` at
// a time: the spin flag (acquire/release) or the critical section (plus the
// `entered` flag against reentrance) orders every access. Moving `T` between
// threads that way needs `T: Send`, and nothing hands out `&T` unlocked.
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: the lock owns its `T`; sending the lock sends the `T`.
unsafe impl<T: Send> Send for Lock<T> {}

impl<T> Lock<T> {
    const_fn! {
        /// Creates an unlocked lock holding `value`.
        pub(crate) fn new(value: T) -> Self {
            Self {
                #[cfg(not(any(feature = "irq-safe", not(target_has_atomic = "8"))))]
                locked: AtomicBool::new(false),
                #[cfg(any(feature = "irq-safe", not(target_has_atomic = "8")))]
                entered: core::cell::Cell::new(false),
                value: UnsafeCell::new(value),
            }
        }
    }

    /// Runs `f` with exclusive access to the protected value.
    ///
    /// The uncontended acquire (one swap) and the release (a plain store)
    /// are inlined into the caller; only waiting for another holder is out
    /// of line, so a caller's hot path carries no spin loop and no extra
    /// frame. A swap rather than a compare-and-swap: on x86 an `xchg` needs
    /// no expected value in a register and no flag to test, one instruction
    /// fewer per lock (writing `true` over `true` when the lock is held
    /// changes nothing, and waiters spin on plain loads).
    #[cfg(not(any(feature = "irq-safe", not(target_has_atomic = "8"))))]
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        struct Unlock<'a>(&'a AtomicBool);
        impl Drop for Unlock<'_> {
            #[inline(always)]
            fn drop(&mut self) {
                // Loom orders a plain store only after the stores its
                // thread has seen, not after a waiter's failed swap (which
                // writes `true` again): its waiter could then read that
                // `true` forever, and the model never ends. A swap is
                // ordered after every write (as the store is on hardware,
                // the failed swap being atomic), so loom builds release
                // with one; the ordering is the same.
                #[cfg(loom)]
                self.0.swap(false, Ordering::Release);
                #[cfg(not(loom))]
                self.0.store(false, Ordering::Release);
            }
        }
        if self.locked.swap(true, Ordering::Acquire) {
            self.lock_contended();
        }
        let _unlock = Unlock(&self.locked);
        // SAFETY: the acquire-swap above that found the flag clear (or in `lock_contended`)
        // makes this thread the only holder until `_unlock` releases the
        // flag, after `f` returns or unwinds; no other `&mut T` exists
        // meanwhile.
        f(unsafe { &mut *self.value.get() })
    }

    /// Waits until this thread's acquire-swap finds the flag clear: the
    /// path of a contended lock.
    #[cfg(not(any(feature = "irq-safe", not(target_has_atomic = "8"))))]
    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        loop {
            let mut spins = 0u32;
            while self.locked.load(Ordering::Relaxed) {
                spin_hint();
                spins = spins.wrapping_add(1);
                #[cfg(all(feature = "std", not(loom)))]
                if spins.is_multiple_of(64) {
                    // A preempted holder needs the core more than we do.
                    std::thread::yield_now();
                }
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }

    /// Runs `f` with exclusive access to the protected value.
    #[cfg(any(feature = "irq-safe", not(target_has_atomic = "8")))]
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        critical_section::with(|_| {
            struct Leave<'a>(&'a core::cell::Cell<bool>);
            impl Drop for Leave<'_> {
                fn drop(&mut self) {
                    self.0.set(false);
                }
            }
            assert!(!self.entered.replace(true), "flight-mem: lock re-entered");
            let _leave = Leave(&self.entered);
            // SAFETY: inside the critical section no other context runs, and
            // `entered` proves this is not a nested call on the same lock, so
            // this is the only `&mut T`.
            f(unsafe { &mut *self.value.get() })
        })
    }
}
