//! Guard zones: the gaps a layout leaves after its entries, armed so that an
//! overrun is caught.
//!
//! A zone is armed one of two ways:
//!
//! * **Protected** (feature `std` on Unix): when the zone covers whole pages,
//!   they are made inaccessible with `mprotect`, so the first write past an
//!   entry traps with `SIGSEGV` at the faulting instruction.
//! * **Canary**: otherwise (no MMU, a guard smaller than a page, a bank that
//!   is not page-aligned) the zone is filled with [`CANARY`] bytes, and
//!   [`GuardZone::check`] — run by a layout's `validate()` — reports the first
//!   byte that changed.
//!
//! Arming is idempotent and thread-safe: the first caller arms, concurrent
//! callers wait until the zone is armed, later calls return at once.

use core::fmt;

use crate::sync::{AtomicU8, Ordering, spin_hint};

/// The byte a canary guard is filled with (as in debug heaps: a value that
/// is neither zero, nor a small integer, nor a plausible pointer byte).
pub const CANARY: u8 = 0xFD;

/// How a guard zone is armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuardMode {
    /// Not armed yet.
    Unarmed,
    /// Filled with [`CANARY`] bytes, checked by `validate()`.
    Canary,
    /// Pages made inaccessible: an overrun traps.
    Protected,
}

const UNARMED: u8 = 0;
const ARMING: u8 = 1;
const CANARY_MODE: u8 = 2;
const PROTECTED: u8 = 3;

/// One guard zone and its arming state.
pub struct GuardZone {
    state: AtomicU8,
}

impl fmt::Debug for GuardZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardZone")
            .field("mode", &self.mode())
            .finish()
    }
}

/// A canary byte that changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GuardBreach {
    /// Offset of the first changed byte from the start of the zone.
    pub offset: usize,
    /// What that byte holds now.
    pub found: u8,
}

impl fmt::Display for GuardBreach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guard byte {} overwritten: {:#04x} instead of {:#04x}",
            self.offset, self.found, CANARY
        )
    }
}

impl GuardZone {
    crate::sync::const_fn! {
        /// An unarmed zone.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self { state: AtomicU8::new(UNARMED) }
        }
    }

    /// How the zone is armed now.
    pub fn mode(&self) -> GuardMode {
        match self.state.load(Ordering::Acquire) {
            CANARY_MODE => GuardMode::Canary,
            PROTECTED => GuardMode::Protected,
            _ => GuardMode::Unarmed,
        }
    }

    /// Arms the zone `ptr..ptr + len`: protects it when `protect` is true and
    /// the platform can, fills it with canaries otherwise. Returns the mode.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` is valid for writes, belongs to this zone alone, and
    /// nothing reads or writes it except through this `GuardZone` (it lies
    /// between entries of a layout, outside every allocator's memory).
    pub unsafe fn arm(&self, ptr: *mut u8, len: usize, protect: bool) -> GuardMode {
        loop {
            match self
                .state
                .compare_exchange(UNARMED, ARMING, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(ARMING) => spin_hint(),
                Err(_) => return self.mode(),
            }
        }
        // SAFETY: forwarded from the caller; the ARMING state makes this the
        // only thread writing the zone.
        let protected = protect && unsafe { protect_pages(ptr, len) };
        let mode = if protected {
            PROTECTED
        } else {
            // SAFETY: the caller guarantees the zone is valid for writes and
            // unused by anyone else.
            unsafe { ptr.write_bytes(CANARY, len) };
            CANARY_MODE
        };
        self.state.store(mode, Ordering::Release);
        self.mode()
    }

    /// Checks the zone's canaries. `Ok` when the zone is protected (an
    /// overrun would have trapped) or not armed yet.
    ///
    /// # Safety
    ///
    /// As for [`arm`](Self::arm): `ptr..ptr + len` is the zone this value was
    /// armed with, valid for reads.
    pub unsafe fn check(&self, ptr: *const u8, len: usize) -> Result<(), GuardBreach> {
        if self.state.load(Ordering::Acquire) != CANARY_MODE {
            return Ok(());
        }
        // SAFETY: the zone is readable (caller) and, armed as canaries, not
        // protected; the Acquire load orders these reads after the fill.
        let bytes = unsafe { core::slice::from_raw_parts(ptr, len) };
        match bytes.iter().position(|&b| b != CANARY) {
            None => Ok(()),
            Some(offset) => Err(GuardBreach {
                offset,
                found: bytes[offset],
            }),
        }
    }
}

/// The page size when the platform can protect pages, else `None`.
pub fn page_size() -> Option<usize> {
    #[cfg(all(feature = "std", unix, not(miri)))]
    {
        // SAFETY: `sysconf` has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).ok().filter(|s| s.is_power_of_two())
    }
    #[cfg(not(all(feature = "std", unix, not(miri))))]
    {
        None
    }
}

/// Makes `ptr..ptr + len` inaccessible if it is whole pages; `false` when the
/// platform cannot or the range is not page-aligned.
///
/// # Safety
///
/// The range is memory this process owns that nothing will access again.
unsafe fn protect_pages(ptr: *mut u8, len: usize) -> bool {
    #[cfg(all(feature = "std", unix, not(miri)))]
    {
        let Some(page) = page_size() else {
            return false;
        };
        if len == 0 || !(ptr as usize).is_multiple_of(page) || !len.is_multiple_of(page) {
            return false;
        }
        // SAFETY: the range is page-aligned, owned by this process (caller)
        // and never accessed again, so revoking access breaks no reference.
        unsafe { libc::mprotect(ptr.cast(), len, libc::PROT_NONE) == 0 }
    }
    #[cfg(not(all(feature = "std", unix, not(miri))))]
    {
        let _ = (ptr, len);
        false
    }
}
