//! Allocator statistics.

use core::fmt;

/// A snapshot of one allocator's use of its memory.
///
/// Byte figures count what the allocator consumed from its capacity,
/// including block headers and alignment rounding, so
/// `capacity - used` is what is left. `requested` is what callers asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AllocatorStats {
    /// Bytes this allocator can hand out when empty (after its own
    /// bookkeeping structures).
    pub capacity: usize,
    /// Bytes currently consumed, including per-block overhead and padding.
    pub used: usize,
    /// The highest `used` ever reached.
    pub peak: usize,
    /// Sum of the sizes requested by live allocations.
    pub requested: usize,
    /// Live blocks.
    pub live: usize,
    /// Successful allocations since creation.
    pub allocations: u64,
    /// Frees since creation (blocks released by a frame or stack reset count).
    pub deallocations: u64,
    /// Requests refused since creation.
    pub failures: u64,
    /// The largest request of alignment 1 that would succeed now.
    pub largest_free: usize,
}

impl AllocatorStats {
    /// An empty snapshot for an allocator of `capacity` bytes.
    pub const fn empty(capacity: usize) -> Self {
        Self {
            capacity,
            used: 0,
            peak: 0,
            requested: 0,
            live: 0,
            allocations: 0,
            deallocations: 0,
            failures: 0,
            largest_free: capacity,
        }
    }

    /// Bytes not consumed.
    pub const fn free(&self) -> usize {
        self.capacity.saturating_sub(self.used)
    }

    /// External fragmentation: the share of free memory that a single
    /// request cannot use, `1 - largest_free / free`, from 0.0 (one free
    /// block) towards 1.0 (free memory scattered in small pieces).
    pub fn fragmentation(&self) -> f32 {
        let free = self.free();
        if free == 0 {
            0.0
        } else {
            1.0 - (self.largest_free.min(free) as f32 / free as f32)
        }
    }

    /// Used share of capacity, in percent.
    pub fn used_percent(&self) -> f32 {
        if self.capacity == 0 {
            100.0
        } else {
            self.used as f32 * 100.0 / self.capacity as f32
        }
    }
}

impl fmt::Display for AllocatorStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} used ({:.1}%), peak {}, {} live, {} allocs, {} frees, {} failures, largest free {}, fragmentation {:.1}%",
            crate::Bytes(self.used),
            crate::Bytes(self.capacity),
            self.used_percent(),
            crate::Bytes(self.peak),
            self.live,
            self.allocations,
            self.deallocations,
            self.failures,
            crate::Bytes(self.largest_free),
            self.fragmentation() * 100.0
        )
    }
}
