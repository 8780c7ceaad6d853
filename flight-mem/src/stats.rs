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
        Counters::new().snapshot(capacity, capacity)
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

    /// [`used_percent`](Self::used_percent), printable without floats.
    pub(crate) fn used_share(&self) -> crate::vocabulary::Percent {
        use crate::vocabulary::Percent;
        Percent::of(self.used, self.capacity, Percent::whole(100))
    }

    /// [`fragmentation`](Self::fragmentation) in percent, printable
    /// without floats.
    pub(crate) fn fragmentation_share(&self) -> crate::vocabulary::Percent {
        use crate::vocabulary::Percent;
        let free = self.free();
        Percent::of(free - self.largest_free.min(free), free, Percent::whole(0))
    }
}

impl fmt::Display for AllocatorStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} used ({}%), peak {}, {} live, {} allocs, {} frees, {} failures, largest free {}, fragmentation {}%",
            crate::Bytes(self.used),
            crate::Bytes(self.capacity),
            self.used_share(),
            crate::Bytes(self.peak),
            self.live,
            self.allocations,
            self.deallocations,
            self.failures,
            crate::Bytes(self.largest_free),
            self.fragmentation_share()
        )
    }
}

/// The counters a locked allocator keeps behind its lock, in the units of
/// [`AllocatorStats`]; the allocator adds only what depends on its layout
/// (capacity and largest free block) when it takes a snapshot.
#[derive(Clone, Copy, Debug)]
// Field order: no two counters that one hot path adds to are neighbours,
// which keeps LLVM from pairing two of the additions into a vector add
// (five instructions where two scalar read-modify-write adds do).
pub(crate) struct Counters {
    /// `peak` less the bytes consumed by live blocks (overhead and rounding
    /// included): `used` is derived, `peak - headroom`. An allocation
    /// subtracts its bytes here and a borrow is a new peak, so the hot path
    /// updates one word with one subtraction and tests its carry, where
    /// keeping `used` and comparing it with `peak` takes an add, a store,
    /// a compare and a branch (Tlsf, workload 3: 1 instruction per
    /// operation fewer).
    headroom: usize,
    /// The highest `used` ever reached.
    pub(crate) peak: usize,
    /// Sum of the caller's requested sizes of live blocks.
    pub(crate) requested: usize,
    /// Requests refused since creation.
    pub(crate) failures: u64,
    /// Successful allocations since creation.
    pub(crate) allocations: u64,
    /// Frees since creation.
    pub(crate) deallocations: u64,
}

impl Counters {
    /// All zero: nothing allocated, freed or refused yet.
    pub(crate) const fn new() -> Self {
        Self {
            headroom: 0,
            peak: 0,
            requested: 0,
            allocations: 0,
            deallocations: 0,
            failures: 0,
        }
    }

    /// Counts a block handed out for a request of `requested` bytes that
    /// consumed `consumed` bytes of the capacity.
    #[inline]
    pub(crate) fn allocated(&mut self, requested: usize, consumed: usize) {
        let (headroom, new_peak) = self.headroom.overflowing_sub(consumed);
        self.headroom = headroom;
        // A branch, not branch-free arithmetic: a new peak is rare once a
        // program runs. `used` went `consumed - old headroom` bytes past the
        // peak, which is the wrapped headroom's negation; the headroom at a
        // new peak is zero.
        if new_peak {
            // Read back from memory (volatile: LLVM may not reuse the
            // difference), so that the hot path needs the difference only
            // for the store and its carry: one `sub` to memory and a
            // branch, no load and store around it.
            // SAFETY: a read of a field through a reference to it.
            let wrapped = unsafe { core::ptr::read_volatile(&self.headroom) };
            self.peak = self.peak.wrapping_sub(wrapped);
            self.headroom = 0;
        }
        self.requested += requested;
        self.allocations += 1;
    }

    /// Bytes consumed by live blocks, overhead and rounding included.
    #[inline]
    pub(crate) const fn used(&self) -> usize {
        // Wrapping: a corrupted record freed may leave the headroom above
        // the peak, which `check_against` reports rather than a panic here.
        self.peak.wrapping_sub(self.headroom)
    }

    /// Counts the free of a block counted by [`allocated`](Self::allocated).
    ///
    /// `requested` is read back from the block, so a corrupted record must
    /// not panic on underflow: the counter wraps (one subtraction on the hot
    /// path, where a clamp costs four instructions), which leaves it above
    /// `used`, the mismatch `check` reports.
    #[inline]
    pub(crate) fn freed(&mut self, requested: usize, consumed: usize) {
        self.headroom += consumed;
        self.requested = self.requested.wrapping_sub(requested);
        self.deallocations += 1;
    }

    /// Live blocks: allocations not freed yet (one counter fewer to keep
    /// on the hot paths).
    #[inline]
    pub(crate) const fn live(&self) -> usize {
        (self.allocations - self.deallocations) as usize
    }

    /// Counts a refused request.
    pub(crate) fn failed(&mut self) {
        self.failures += 1;
    }

    /// The counters as statistics of an allocator of `capacity` bytes whose
    /// largest request of alignment 1 that would succeed now is
    /// `largest_free`.
    pub(crate) const fn snapshot(&self, capacity: usize, largest_free: usize) -> AllocatorStats {
        AllocatorStats {
            capacity,
            used: self.used(),
            peak: self.peak,
            requested: self.requested,
            live: self.live(),
            allocations: self.allocations,
            deallocations: self.deallocations,
            failures: self.failures,
            largest_free,
        }
    }

    /// The cross-check a `check` ends with: `recount`, built by counting
    /// every live block found in the heap with [`allocated`](Self::allocated),
    /// must agree on `used`, `live` and `requested`, and `peak` and `used`
    /// must lie within `capacity`.
    pub(crate) fn check_against(
        &self,
        recount: &Self,
        capacity: usize,
    ) -> Result<(), &'static str> {
        if self.headroom > self.peak {
            return Err("peak or used out of range");
        }
        if recount.used() != self.used() || recount.live() != self.live() {
            return Err("used or live counter disagrees with the blocks");
        }
        if recount.requested != self.requested {
            return Err("requested bytes disagree with slack records (overrun?)");
        }
        if self.used() > capacity {
            return Err("peak or used out of range");
        }
        Ok(())
    }
}
