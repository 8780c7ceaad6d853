//! A layout's memory pressure and its callbacks, and request routing with
//! fallbacks and reserves. Guard zones and validation are in
//! `validation.rs`.
//!
//! # Pressure
//!
//! Each `region` entry has a level from its free share (`capacity - used`
//! of its allocator) against the layout's thresholds; the layout's level is
//! the highest of them ([`LayoutTable::pressure`]). Callbacks registered with
//! [`LayoutTable::on_pressure`] run on a region's rise into their level or a
//! higher one, once per transition (a [`PressureWatch`](crate::PressureWatch) per region detects
//! the edge), and once more — all of them — when an allocation fails with
//! [`AllocError::OutOfMemory`], before the allocation is retried once.
//!
//! The bookkeeping runs after the allocator call has returned, so no
//! allocator lock is held while a callback runs: a callback may allocate from
//! or free into the region that triggered it. While nobody is registered
//! the region accessors pay one relaxed atomic load and a branch. A failure
//! while failure callbacks are running (a callback allocating from an
//! exhausted region, or another thread failing meanwhile) returns its error
//! without running them again, so callbacks cannot recurse into themselves.
//! Only `OutOfMemory` triggers them: bad requests and requests larger than a
//! region ever holds cannot be helped by freeing caches.
//!
//! # Routing
//!
//! [`LayoutTable::allocate`] serves an [`AllocationRequest`]:
//!
//! 1. `region` entries of the requested memory type, in declaration order
//!    (the *first choice*);
//! 2. if the request allows [`fallback`](AllocationRequest::fallback): the
//!    other `region` entries, `System` memory first, then the rest in
//!    declaration order;
//! 3. if the request is [`CRITICAL`](MemoryFlags::CRITICAL) or the layout is
//!    at [`PressureLevel::Critical`]: `reserve` entries, in the same order
//!    (requested memory type first, the others only with fallback).
//!
//! Only entries whose flags contain the request's placement flags
//! ([`DMA`](MemoryFlags::DMA), [`GPU`](MemoryFlags::GPU),
//! [`CACHEABLE`](MemoryFlags::CACHEABLE), [`UNCACHED`](MemoryFlags::UNCACHED))
//! are candidates; an entry's flags include its bank's. An entry that cannot
//! give the alignment refuses and the next is tried. `ZEROED` requests are
//! zero-filled. With no candidate at all the answer is
//! [`AllocError::NoRoute`]; when every candidate refuses, the first refusal's
//! error. [`Allocation::fell_back`] is `true` unless a first-choice region
//! served the request. Free the block with the layout's `deallocate`.
//!
//! The region accessors (`alloc_heap`) never leave their entry, so their
//! blocks always go back through `free_heap`; reserves are reached through
//! routing only.
//!

use core::alloc::Layout;
use core::ops::ControlFlow;
use core::ptr::NonNull;

use crate::{
    AllocError, Allocation, AllocationRequest, AllocatorKind, CallbackId, EntryKind, LayoutTable,
    MemoryFlags, MemoryType, PressureCallback, PressureError, PressureInfo, PressureLevel,
    PressureThresholds, RawAllocator, RegionInfo,
};

/// Flags that say where memory must be, as opposed to what to do with it.
const PLACEMENT: MemoryFlags = MemoryFlags::DMA
    .union(MemoryFlags::GPU)
    .union(MemoryFlags::CACHEABLE)
    .union(MemoryFlags::UNCACHED);

/// Whether an entry has a pressure level: `region`s, and component
/// segments with an allocator (a raw segment is always wholly in use).
pub(crate) fn watched(info: &RegionInfo) -> bool {
    info.kind == EntryKind::Region
        || (info.kind == EntryKind::Component && info.allocator != AllocatorKind::Segment)
}

/// Where a route ended when no entry served it.
struct Refused {
    /// The first candidate's error; `None` when there was no candidate.
    error: Option<AllocError>,
    /// The first candidate that ran out of memory.
    out_of_memory: Option<usize>,
}

impl LayoutTable {
    /// The layout's pressure thresholds.
    pub const fn thresholds(&self) -> PressureThresholds {
        PressureThresholds(self.pressure)
    }

    /// Entry `index`'s allocator. Indices come from the layout's own tables.
    pub(super) fn entry(&self, index: usize) -> &'static dyn RawAllocator {
        (self.allocators[index])()
    }

    /// What entry `index` looks like to a pressure callback now.
    fn pressure_info(&self, index: usize) -> PressureInfo {
        let stats = self.entry(index).stats();
        PressureInfo {
            region: self.regions[index].name,
            level: self.thresholds().level(stats.free(), stats.capacity),
            free: stats.free(),
            total: stats.capacity,
        }
    }

    /// The highest level over the `region` entries and the component
    /// segments with an allocator, from their statistics now; `None` for a
    /// layout without any.
    pub fn pressure(&self) -> PressureLevel {
        let mut level = PressureLevel::None;
        for (index, info) in self.regions.iter().enumerate() {
            if watched(info) {
                level = level.max(self.pressure_info(index).level);
            }
        }
        level
    }

    /// Registers `callback` for `level` and above; it runs when a region
    /// rises from below `level` to `level` or higher (once per transition),
    /// and on every allocation failure before the one retry. At most
    /// [`PressureCallbacks::CAPACITY`](crate::PressureCallbacks::CAPACITY)
    /// callbacks per layout.
    ///
    /// Transitions count from registration on: a region already at `level`
    /// when the callback is registered does not fire it until it has fallen
    /// below and risen again.
    pub fn on_pressure(
        &self,
        level: PressureLevel,
        callback: PressureCallback,
    ) -> Result<CallbackId, PressureError> {
        if level == PressureLevel::None {
            return Err(PressureError::NoLevel);
        }
        // Watches are not updated while nobody listens; bring them up to
        // date so the first edge a callback sees is a real one.
        for (index, info) in self.regions.iter().enumerate() {
            if watched(info) {
                let now = self.pressure_info(index);
                self.watches[index].update(now.free, now.total, self.thresholds());
            }
        }
        self.callbacks.register(level, callback)
    }

    /// Removes a callback; `false` if it was removed already.
    pub fn remove_pressure_callback(&self, id: CallbackId) -> bool {
        self.callbacks.unregister(id)
    }

    /// Records entry `index`'s level after an allocation or free and runs
    /// the callbacks a rise crossed. Call with no allocator lock held.
    fn watch(&self, index: usize) {
        if !watched(&self.regions[index]) {
            return;
        }
        let stats = self.entry(index).stats();
        let change = self.watches[index].update(stats.free(), stats.capacity, self.thresholds());
        self.callbacks.notify(
            self.regions[index].name,
            change,
            stats.free(),
            stats.capacity,
        );
    }

    /// Runs the failure callbacks for entry `index`; `true` if they ran.
    fn notify_failure(&self, index: usize) -> bool {
        let info = self.pressure_info(index);
        self.callbacks.notify_failure_once(&info).is_some()
    }

    /// The pressure bookkeeping of a region accessor, after its allocator
    /// returned `result` for `layout`: update the watch and run callbacks,
    /// or on `OutOfMemory` run the failure callbacks and retry once.
    /// Generated code calls it only while a callback is registered.
    #[cfg_attr(feature = "track", track_caller)]
    pub(crate) fn after_allocate(
        &self,
        index: usize,
        allocator: &dyn RawAllocator,
        layout: Layout,
        result: &mut Result<NonNull<[u8]>, AllocError>,
    ) {
        // The result is updated in place: the accessor's fast path then
        // has one return slot and no copies.
        if matches!(result, Err(AllocError::OutOfMemory { .. })) && self.notify_failure(index) {
            *result = allocator.allocate(layout);
        }
        self.watch(index);
    }

    /// The pressure bookkeeping of a region accessor after a free.
    /// Generated code calls it only while a callback is registered.
    /// [`after_allocate`](Self::after_allocate) for a `compact` region,
    /// whose allocations are handles.
    pub(crate) fn after_allocate_handle(
        &self,
        index: usize,
        layout: Layout,
        compact: &crate::Compact,
        result: &mut Result<crate::Handle, AllocError>,
    ) {
        if matches!(result, Err(AllocError::OutOfMemory { .. })) && self.notify_failure(index) {
            *result = compact.allocate(layout);
        }
        self.watch(index);
    }

    pub(crate) fn after_free(&self, index: usize) {
        self.watch(index);
    }

    /// Allocates for `request`, routed as the `routing.rs` module docs describe:
    /// first-choice regions, then (with fallback) `System` regions and the
    /// others in declaration order, then reserves for critical requests or at
    /// `Critical` pressure. On `OutOfMemory` the failure callbacks run once
    /// and the whole route is retried once.
    ///
    /// With the `track` feature the block is recorded with the line that
    /// called this (or `Game::allocate`).
    #[cfg_attr(feature = "track", track_caller)]
    pub fn allocate(&self, request: &AllocationRequest) -> Result<Allocation, AllocError> {
        let result = self.allocate_routed(request);
        // The route reaches the allocator through `dyn RawAllocator` and a
        // closure, which `#[track_caller]` cannot cross: stamp the block
        // with this function's caller afterwards.
        #[cfg(feature = "track")]
        if let Ok(allocation) = &result {
            crate::track::attribute(allocation.ptr.cast(), core::panic::Location::caller());
        }
        result
    }

    fn allocate_routed(&self, request: &AllocationRequest) -> Result<Allocation, AllocError> {
        let layout = request.layout()?;
        let refused = match self.route(request, layout) {
            Ok(allocation) => return Ok(allocation),
            Err(refused) => refused,
        };
        let error = refused.error.unwrap_or(AllocError::NoRoute);
        match refused.out_of_memory {
            Some(index) if self.callbacks.any() && self.notify_failure(index) => self
                .route(request, layout)
                .map_err(|again| again.error.unwrap_or(AllocError::NoRoute)),
            _ => Err(error),
        }
    }

    /// One pass over the routing order.
    fn route(&self, request: &AllocationRequest, layout: Layout) -> Result<Allocation, Refused> {
        let mut refused = Refused {
            error: None,
            out_of_memory: None,
        };
        let mut attempt = |index: usize, first_choice: bool| {
            let allocator = self.entry(index);
            let result = if request.flags.contains(MemoryFlags::ZEROED) {
                allocator.allocate_zeroed(layout)
            } else {
                allocator.allocate(layout)
            };
            match result {
                Ok(ptr) => {
                    if self.callbacks.any() {
                        self.watch(index);
                    }
                    ControlFlow::Break(Allocation {
                        ptr,
                        region: &self.regions[index],
                        fell_back: !first_choice,
                    })
                }
                Err(error) => {
                    refused.error.get_or_insert(error);
                    if matches!(error, AllocError::OutOfMemory { .. }) {
                        refused.out_of_memory.get_or_insert(index);
                    }
                    ControlFlow::Continue(())
                }
            }
        };
        if let ControlFlow::Break(allocation) =
            self.candidates(EntryKind::Region, request, &mut attempt)
        {
            return Ok(allocation);
        }
        // `pressure()` reads every region's statistics: only worth it once
        // the normal route has failed.
        let reserves_open = request.flags.contains(MemoryFlags::CRITICAL)
            || self.pressure() == PressureLevel::Critical;
        // A reserve is never a first choice.
        let mut attempt_reserve = |index, _| attempt(index, false);
        if reserves_open
            && let ControlFlow::Break(allocation) =
                self.candidates(EntryKind::Reserve, request, &mut attempt_reserve)
        {
            return Ok(allocation);
        }
        Err(refused)
    }

    /// Calls `attempt(index, first_choice)` for every entry of `kind` that
    /// can serve `request`, in routing order, until one breaks.
    fn candidates<B>(
        &self,
        kind: EntryKind,
        request: &AllocationRequest,
        attempt: &mut impl FnMut(usize, bool) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let needs = request.flags.intersection(PLACEMENT);
        // A compact region's blocks move: it serves handles, never a
        // routed request for a pointer.
        let eligible = |index: usize| {
            let info = &self.regions[index];
            info.kind == kind
                && info.flags.contains(needs)
                && info.allocator != AllocatorKind::Compact
        };
        let requested = request.memory;
        let passes: [&dyn Fn(MemoryType) -> bool; 3] = [
            &|memory| memory == requested,
            &|memory| memory != requested && memory == MemoryType::System,
            &|memory| memory != requested && memory != MemoryType::System,
        ];
        let passes = if request.fallback {
            &passes[..]
        } else {
            &passes[..1]
        };
        for (pass, memory_fits) in passes.iter().enumerate() {
            for index in 0..self.regions.len() {
                if eligible(index) && memory_fits(self.regions[index].memory) {
                    attempt(index, pass == 0)?;
                }
            }
        }
        ControlFlow::Continue(())
    }
}
