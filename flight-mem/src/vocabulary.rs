//! The words a memory plan is written in: memory types, allocator kinds,
//! flags, pressure levels, named alignments and human-readable sizes.

use core::fmt;

use flight_mem_vocabulary::MemoryFlag;
pub use flight_mem_vocabulary::{AllocatorKind, MemoryType};

/// A set of [`MemoryType`]s: what a bank holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MemoryTypes(u16);

impl MemoryTypes {
    /// No type.
    pub const NONE: Self = Self(0);
    /// Every type.
    pub const ALL: Self = Self((1 << MemoryType::ALL.len()) - 1);

    /// The set with exactly `ty`.
    pub const fn only(ty: MemoryType) -> Self {
        Self(ty.bit())
    }

    /// This set with `ty` added.
    pub const fn with(self, ty: MemoryType) -> Self {
        Self(self.0 | ty.bit())
    }

    /// Whether `ty` is in the set.
    pub const fn contains(self, ty: MemoryType) -> bool {
        self.0 & ty.bit() != 0
    }
}

bitflags::bitflags! {
    /// Properties a request needs or a bank offers.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MemoryFlags: u8 {
        /// Reachable by the DMA controller.
        const DMA = MemoryFlag::Dma.bit();
        /// Reachable by the GPU.
        const GPU = MemoryFlag::Gpu.bit();
        /// Cached by the CPU.
        const CACHEABLE = MemoryFlag::Cacheable.bit();
        /// Accessed through an uncached mirror.
        const UNCACHED = MemoryFlag::Uncached.bit();
        /// Returned filled with zeros.
        const ZEROED = MemoryFlag::Zeroed.bit();
        /// May use reserves and is served at `Critical` pressure.
        const CRITICAL = MemoryFlag::Critical.bit();
    }
}

/// How close a region is to running out, from its free share against the
/// layout's thresholds (default 50 / 25 / 10 / 5 % free).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum PressureLevel {
    /// More free than the `low` threshold.
    #[default]
    None,
    /// Free share at or below `low`.
    Low,
    /// Free share at or below `medium`.
    Medium,
    /// Free share at or below `high`.
    High,
    /// Free share at or below `critical`.
    Critical,
}

impl PressureLevel {
    /// Every level, lowest first.
    pub const ALL: [PressureLevel; 5] = [
        Self::None,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    /// The level for `free` bytes out of `total`, given the free-percent
    /// thresholds `[low, medium, high, critical]` (strictly decreasing).
    pub const fn from_free(free: usize, total: usize, thresholds: [u8; 4]) -> Self {
        if total == 0 {
            return Self::Critical;
        }
        // free / total <= t / 100  <=>  free * 100 <= t * total, in u128 so
        // no size overflows.
        let lhs = free as u128 * 100;
        let mut level = Self::None;
        let levels = [Self::Low, Self::Medium, Self::High, Self::Critical];
        let mut i = 0;
        while i < 4 {
            if lhs <= thresholds[i] as u128 * total as u128 {
                level = levels[i];
            }
            i += 1;
        }
        level
    }
}

impl fmt::Display for PressureLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Named alignments, in bytes.
pub mod align {
    /// A machine word.
    pub const WORD: usize = core::mem::size_of::<usize>();
    /// A 128-bit SIMD vector.
    pub const SIMD: usize = 16;
    /// A cache line on most current CPUs (32 on SH-4, 16 on the R3000).
    pub const CACHE_LINE: usize = 64;
    /// What most GPUs and DMA engines want for buffers and textures.
    pub const GPU: usize = 256;
    /// A 4 KiB MMU page.
    pub const PAGE: usize = 4096;
}

/// A byte count that prints in human units (`512 KiB`, `1.5 MiB`, `96 B`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub usize);

impl fmt::Display for Bytes {
    /// Exact multiples as `16 MiB`, others with two decimals, truncated so
    /// a value just under a budget never prints as the budget itself; the
    /// same text as the const formatter of the budget assertions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(crate::__private::Human::new(self.0 as u128).as_str())
    }
}

/// A share printed as a percentage with one decimal (`42.5`), computed in
/// integers: formatting an `f32` pulls core's float printer into a
/// firmware, and its `dragon` fallback alone takes about 1.4 KiB of stack
/// on a Cortex-M0 — a tenth of a micro:bit's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Percent {
    tenths: u128,
}

impl Percent {
    /// `part / whole` in percent, rounded half up to a tenth; `empty` when
    /// `whole` is zero.
    pub(crate) fn of(part: usize, whole: usize, empty: Percent) -> Self {
        if whole == 0 {
            return empty;
        }
        let (part, whole) = (part as u128, whole as u128);
        // usize is at most 64 bits, so `part * 1000` cannot overflow u128.
        Self {
            tenths: (part * 1000 + whole / 2) / whole,
        }
    }

    /// Exactly `whole` percent.
    pub(crate) const fn whole(percent: u16) -> Self {
        Self {
            tenths: percent as u128 * 10,
        }
    }
}

impl fmt::Display for Percent {
    /// Honours width and alignment (`{:>6}`) like a string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0u8; 42];
        let mut at = digits.len();
        let mut put = |byte: u8| {
            at -= 1;
            digits[at] = byte;
        };
        put(b'0' + (self.tenths % 10) as u8);
        put(b'.');
        let mut whole = self.tenths / 10;
        loop {
            put(b'0' + (whole % 10) as u8);
            whole /= 10;
            if whole == 0 {
                break;
            }
        }
        // Only ASCII digits and a dot were written.
        f.pad(core::str::from_utf8(&digits[at..]).unwrap_or("?"))
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::Bytes;
    use std::format;
    use std::string::ToString;

    #[test]
    fn percent_prints_tenths_without_floats() {
        use super::Percent;
        let none = Percent::whole(0);
        assert_eq!(Percent::of(0, 10, none).to_string(), "0.0");
        assert_eq!(Percent::of(1, 3, none).to_string(), "33.3");
        assert_eq!(Percent::of(2, 3, none).to_string(), "66.7");
        assert_eq!(
            Percent::of(1, 2000, none).to_string(),
            "0.1",
            "half rounds up"
        );
        assert_eq!(Percent::of(7, 7, none).to_string(), "100.0");
        assert_eq!(Percent::of(5, 0, Percent::whole(100)).to_string(), "100.0");
        assert_eq!(Percent::of(usize::MAX, 1, none).to_string().len(), 24);
        assert_eq!(format!("[{:>6}%]", Percent::of(1, 4, none)), "[  25.0%]");
        assert_eq!(format!("[{:<6}]", Percent::of(1, 4, none)), "[25.0  ]");
    }

    #[test]
    fn bytes_print_in_human_units_without_overflow() {
        assert_eq!(Bytes(96).to_string(), "96 B");
        assert_eq!(Bytes(512 * 1024).to_string(), "512 KiB");
        assert_eq!(Bytes(1536 * 1024).to_string(), "1.50 MiB");
        // Truncated, not rounded: just under 16 MiB never reads as 16 MiB.
        assert_eq!(Bytes(16 * 1024 * 1024 - 1).to_string(), "15.99 MiB");
        assert!(!Bytes(usize::MAX).to_string().is_empty());
        #[cfg(target_pointer_width = "64")]
        assert_eq!(Bytes(1 << 60).to_string(), "1048576 TiB");
    }
}
