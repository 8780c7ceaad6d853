//! Memory pressure: levels per region, edge detection, and a fixed-capacity
//! table of callbacks that run outside every allocator lock.
//!
//! A region's level comes from its free share against the layout's
//! thresholds ([`PressureThresholds`], default 50 / 25 / 10 / 5 % free). Each
//! region keeps its last level in a [`PressureWatch`]; after an allocation or
//! free, the layout asks the watch for the new level and, on a rise, runs the
//! callbacks whose level was crossed. A callback registered for level `L`
//! runs when a region goes from below `L` to `L` or above — once per
//! transition, not on every allocation; after the region recovers below `L`
//! and rises again it runs again. When an allocation fails, every callback
//! runs once more (so the game can drop caches) before the layout retries
//! the allocation once.
//!
//! Callbacks are plain `fn` pointers in a table of [`PressureCallbacks::CAPACITY`]
//! slots: no heap, registration from any thread, and they are called after
//! the allocator's lock is released, so a callback may allocate from or free
//! into the very region that triggered it without deadlocking.
//!
//! ```
//! use flight_mem::{PressureCallbacks, PressureInfo, PressureLevel, PressureThresholds, PressureWatch};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! static CALLBACKS: PressureCallbacks = PressureCallbacks::new();
//! static WATCH: PressureWatch = PressureWatch::new();
//! static CALLS: AtomicUsize = AtomicUsize::new(0);
//!
//! fn drop_caches(level: PressureLevel, info: &PressureInfo) {
//!     assert_eq!(info.region, "heap");
//!     assert!(level >= PressureLevel::High);
//!     CALLS.fetch_add(1, Ordering::Relaxed);
//! }
//!
//! CALLBACKS.register(PressureLevel::High, drop_caches).unwrap();
//! let thresholds = PressureThresholds::DEFAULT;
//! // 8 % free: the region rises from None to High; the callback runs once.
//! let change = WATCH.update(8, 100, thresholds);
//! CALLBACKS.notify("heap", change, 8, 100);
//! // Still High: no transition, no call.
//! let change = WATCH.update(7, 100, thresholds);
//! CALLBACKS.notify("heap", change, 7, 100);
//! assert_eq!(CALLS.load(Ordering::Relaxed), 1);
//! ```

use core::fmt;

use crate::PressureLevel;
use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, Ordering, const_fn};

/// What a pressure callback learns about the region that triggered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PressureInfo {
    /// The region's name in the layout.
    pub region: &'static str,
    /// The region's level now.
    pub level: PressureLevel,
    /// Its free bytes.
    pub free: usize,
    /// Its total bytes.
    pub total: usize,
}

impl fmt::Display for PressureInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "region `{}` at {:?} pressure: {} of {} free",
            self.region,
            self.level,
            crate::Bytes(self.free),
            crate::Bytes(self.total)
        )
    }
}

/// A pressure callback: the level it fires at and the region's figures.
pub type PressureCallback = fn(PressureLevel, &PressureInfo);

/// Free-share thresholds, in percent, at or below which a region is at
/// `Low`, `Medium`, `High` and `Critical` pressure (strictly decreasing,
/// each in 1..=99).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PressureThresholds(pub [u8; 4]);

impl PressureThresholds {
    /// 50 / 25 / 10 / 5 % free.
    pub const DEFAULT: Self = Self([50, 25, 10, 5]);

    /// The level of a region with `free` of `total` bytes free.
    pub const fn level(self, free: usize, total: usize) -> PressureLevel {
        PressureLevel::from_free(free, total, self.0)
    }
}

impl Default for PressureThresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A change of a region's level seen by [`PressureWatch::update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PressureChange {
    /// The level before.
    pub from: PressureLevel,
    /// The level now.
    pub to: PressureLevel,
}

const fn level_from_u8(raw: u8) -> PressureLevel {
    match raw {
        0 => PressureLevel::None,
        1 => PressureLevel::Low,
        2 => PressureLevel::Medium,
        3 => PressureLevel::High,
        _ => PressureLevel::Critical,
    }
}

/// The last level seen for one region, for edge detection.
pub struct PressureWatch {
    level: AtomicU8,
}

impl fmt::Debug for PressureWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PressureWatch")
            .field("level", &self.level())
            .finish()
    }
}

impl PressureWatch {
    const_fn! {
        /// A region with no pressure yet.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self { level: AtomicU8::new(PressureLevel::None as u8) }
        }
    }

    /// The last level recorded.
    pub fn level(&self) -> PressureLevel {
        level_from_u8(self.level.load(Ordering::Relaxed))
    }

    /// Records the level for `free` of `total` bytes and returns the change,
    /// if any. Of several threads racing through the same change, exactly
    /// one gets it (the swap decides), so callbacks run once per transition.
    pub fn update(
        &self,
        free: usize,
        total: usize,
        thresholds: PressureThresholds,
    ) -> Option<PressureChange> {
        let to = thresholds.level(free, total);
        let from = level_from_u8(self.level.swap(to as u8, Ordering::AcqRel));
        (from != to).then_some(PressureChange { from, to })
    }
}

/// Why a callback could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PressureError {
    /// All [`PressureCallbacks::CAPACITY`] slots are taken.
    TableFull,
    /// `PressureLevel::None` is not a pressure a callback can wait for.
    NoLevel,
}

impl fmt::Display for PressureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TableFull => write!(
                f,
                "all {} pressure callback slots are taken",
                PressureCallbacks::CAPACITY
            ),
            Self::NoLevel => f.write_str("cannot register a callback for PressureLevel::None"),
        }
    }
}

impl core::error::Error for PressureError {}

/// Identifies a registered callback, for [`PressureCallbacks::unregister`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallbackId {
    slot: u8,
    callback: usize,
}

/// Slot states besides a callback's address.
const EMPTY: usize = 0;
const CLAIMED: usize = 1;

struct Slot {
    /// `EMPTY`, `CLAIMED` (being filled), or the callback's address.
    callback: AtomicUsize,
    level: AtomicU8,
}

/// A fixed table of pressure callbacks.
pub struct PressureCallbacks {
    slots: [Slot; PressureCallbacks::CAPACITY],
    /// Registered callbacks: the hot paths' one relaxed load.
    registered: AtomicUsize,
    /// Whether failure callbacks are running (see [`PressureCallbacks::notify_failure_once`]).
    failing: AtomicBool,
}

impl fmt::Debug for PressureCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PressureCallbacks")
            .field("registered", &self.len())
            .finish()
    }
}

impl PressureCallbacks {
    /// How many callbacks one table holds.
    pub const CAPACITY: usize = 16;

    const_fn! {
        /// An empty table.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            #[cfg(not(loom))]
            {
                Self {
                    slots: [const { Slot { callback: AtomicUsize::new(EMPTY), level: AtomicU8::new(0) } };
                        PressureCallbacks::CAPACITY],
                    registered: AtomicUsize::new(0),
                    failing: AtomicBool::new(false),
                }
            }
            #[cfg(loom)]
            {
                Self {
                    slots: core::array::from_fn(|_| Slot {
                        callback: AtomicUsize::new(EMPTY),
                        level: AtomicU8::new(0),
                    }),
                    registered: AtomicUsize::new(0),
                    failing: AtomicBool::new(false),
                }
            }
        }
    }

    /// Registers `callback` for `level` and above.
    pub fn register(
        &self,
        level: PressureLevel,
        callback: PressureCallback,
    ) -> Result<CallbackId, PressureError> {
        if level == PressureLevel::None {
            return Err(PressureError::NoLevel);
        }
        // Exposed, so `call` can turn the address back into a pointer with
        // this function's provenance (a plain `usize` transmuted to a fn
        // pointer has none: undefined behaviour under Miri's model).
        let address = (callback as *const ()).expose_provenance();
        // A function's address is never 0 or 1 (both lie in the unmapped
        // first page of every platform Rust supports and are not aligned for
        // code); the assertion documents the encoding.
        debug_assert!(address > CLAIMED);
        for (index, slot) in self.slots.iter().enumerate() {
            if slot
                .callback
                .compare_exchange(EMPTY, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.level.store(level as u8, Ordering::Relaxed);
                // Release: a reader that sees the address also sees the level.
                slot.callback.store(address, Ordering::Release);
                self.registered.fetch_add(1, Ordering::Relaxed);
                return Ok(CallbackId {
                    slot: index as u8,
                    callback: address,
                });
            }
        }
        Err(PressureError::TableFull)
    }

    /// Removes a callback; `false` if it was already removed.
    pub fn unregister(&self, id: CallbackId) -> bool {
        let removed = self.slots[usize::from(id.slot)]
            .callback
            .compare_exchange(id.callback, EMPTY, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if removed {
            self.registered.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Whether any callback may be registered: one relaxed load, for hot
    /// paths that skip all pressure bookkeeping when nobody listens. A
    /// callback registered by another thread meanwhile may be missed by an
    /// allocation that races with its registration.
    #[inline]
    pub fn any(&self) -> bool {
        self.registered.load(Ordering::Relaxed) != 0
    }

    /// Number of registered callbacks.
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.callback.load(Ordering::Relaxed) > CLAIMED)
            .count()
    }

    /// Whether no callback is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls each registered callback for which `select(level)` holds.
    fn call(&self, info: &PressureInfo, select: impl Fn(PressureLevel) -> bool) -> usize {
        let mut called = 0;
        for slot in &self.slots {
            let address = slot.callback.load(Ordering::Acquire);
            if address <= CLAIMED {
                continue;
            }
            let level = level_from_u8(slot.level.load(Ordering::Relaxed));
            if !select(level) {
                continue;
            }
            // SAFETY: every address above `CLAIMED` in a slot was stored by
            // `register` from a `PressureCallback`, and the Acquire load
            // above pairs with its Release store, so this is that fn
            // pointer, unchanged, its provenance exposed by `register`.
            let callback: PressureCallback = unsafe {
                core::mem::transmute::<*const (), PressureCallback>(
                    core::ptr::with_exposed_provenance(address),
                )
            };
            callback(info.level, info);
            called += 1;
        }
        called
    }

    /// Runs the callbacks a change crossed: those registered for a level in
    /// `from < level <= to`. Falls are recorded by the watch and call nothing.
    /// Returns how many ran.
    pub fn notify(
        &self,
        region: &'static str,
        change: Option<PressureChange>,
        free: usize,
        total: usize,
    ) -> usize {
        match change {
            Some(PressureChange { from, to }) if to > from => {
                let info = PressureInfo {
                    region,
                    level: to,
                    free,
                    total,
                };
                self.call(&info, |level| from < level && level <= to)
            }
            _ => 0,
        }
    }

    /// Runs every registered callback after an allocation from `region`
    /// failed, before the one retry. Returns how many ran.
    pub fn notify_failure(&self, info: &PressureInfo) -> usize {
        self.call(info, |_| true)
    }

    /// [`notify_failure`](Self::notify_failure), unless failure callbacks
    /// are already running (on any thread): then nothing runs and `None`
    /// comes back. A failure callback that allocates from an exhausted region
    /// therefore gets its error instead of recursing into itself.
    pub fn notify_failure_once(&self, info: &PressureInfo) -> Option<usize> {
        if self.failing.swap(true, Ordering::Acquire) {
            return None;
        }
        // Reset even if a callback panics, so later failures still notify.
        struct Reset<'a>(&'a AtomicBool);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _reset = Reset(&self.failing);
        Some(self.notify_failure(info))
    }
}
