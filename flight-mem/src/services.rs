//! What a layout does at run time beyond its entries' own allocators:
//! memory pressure and its callbacks, request routing with fallbacks and
//! reserves, guard zones, and validation.
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
//! # Guard zones
//!
//! The guard after an entry (`RegionInfo::guard` bytes at bank offset
//! `offset + size`) lies in its bank's storage and outside every entry;
//! arming checks both before it touches a byte. A zone is armed as protected
//! pages (`mprotect`, feature `std` on Unix, when the zone is whole,
//! page-aligned pages and the bank is not at a fixed address) or filled with
//! [`CANARY`](crate::CANARY) bytes otherwise. On Linux every layout's zones
//! in static banks are armed before `main` by a constructor the macro emits
//! (`.init_array`), so the hot paths never check; everywhere, the first
//! [`validate`](LayoutTable::validate), [`stats`](LayoutTable::stats) or
//! [`arm_guards`](LayoutTable::arm_guards) arms what is not armed yet. Where
//! no constructor runs (bare metal), an overrun before that first call is
//! not caught: call `arm_guards()` at start-up.

use core::alloc::Layout;
use core::fmt;
use core::ops::ControlFlow;
use core::ptr::NonNull;

use crate::{
    AllocError, Allocation, AllocationRequest, CallbackId, EntryKind, GuardBreach,
    InvariantViolation, LayoutTable, MemoryFlags, MemoryType, PressureCallback, PressureError,
    PressureInfo, PressureLevel, PressureThresholds, RawAllocator,
};

/// Flags that say where memory must be, as opposed to what to do with it.
const PLACEMENT: MemoryFlags = MemoryFlags::DMA
    .union(MemoryFlags::GPU)
    .union(MemoryFlags::CACHEABLE)
    .union(MemoryFlags::UNCACHED);

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
    fn entry(&self, index: usize) -> &'static dyn RawAllocator {
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

    /// The highest level over the `region` entries, from their statistics
    /// now; `None` for a layout without regions.
    pub fn pressure(&self) -> PressureLevel {
        let mut level = PressureLevel::None;
        for (index, info) in self.regions.iter().enumerate() {
            if info.kind == EntryKind::Region {
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
            if info.kind == EntryKind::Region {
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
        if self.regions[index].kind != EntryKind::Region {
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
    pub(crate) fn after_allocate(
        &self,
        index: usize,
        layout: Layout,
        result: &mut Result<NonNull<[u8]>, AllocError>,
    ) {
        // The result is updated in place: the accessor's fast path then
        // has one return slot and no copies.
        if matches!(result, Err(AllocError::OutOfMemory { .. })) && self.notify_failure(index) {
            *result = self.entry(index).allocate(layout);
        }
        self.watch(index);
    }

    /// The pressure bookkeeping of a region accessor after a free.
    /// Generated code calls it only while a callback is registered.
    pub(crate) fn after_free(&self, index: usize) {
        self.watch(index);
    }

    /// Allocates for `request`, routed as the [`services` module docs](crate::services) describe:
    /// first-choice regions, then (with fallback) `System` regions and the
    /// others in declaration order, then reserves for critical requests or at
    /// `Critical` pressure. On `OutOfMemory` the failure callbacks run once
    /// and the whole route is retried once.
    pub fn allocate(&self, request: &AllocationRequest) -> Result<Allocation, AllocError> {
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
        let eligible = |index: usize| {
            let info = &self.regions[index];
            info.kind == kind && info.flags.contains(needs)
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

    /// The guard zone after entry `index`, once confirmed to lie inside its
    /// bank's storage and outside every entry of the bank; with whether the
    /// bank is at a fixed address.
    fn guard_range(&self, index: usize) -> Option<(*mut u8, usize, bool)> {
        let info = &self.regions[index];
        if info.guard == 0 || self.guards.len() <= index {
            return None;
        }
        let bank = self.banks.iter().find(|b| b.entries().contains(&index))?;
        let start = info.end();
        let end = start.checked_add(info.guard)?;
        let outside_entries = bank.entries().iter().all(|&other| {
            let other = &self.regions[other];
            end <= other.offset || other.end() <= start
        });
        let base = bank.start();
        if end > bank.used || !outside_entries || base.is_null() {
            debug_assert!(false, "guard of `{}` misplaced", info.name);
            return None;
        }
        Some((base.wrapping_add(start), info.guard, bank.fixed))
    }

    /// Arms every guard zone not armed yet: protected pages where the
    /// platform can and the zone is whole pages, canaries otherwise;
    /// fixed-address banks get canaries only. Idempotent and cheap once
    /// armed.
    pub fn arm_guards(&self) {
        self.arm(true);
    }

    /// What the start-up constructor calls: zones in static storage only,
    /// as a fixed-address bank may not be RAM where the program runs
    /// (a layout for a board, simulated on the host).
    pub(crate) fn arm_guards_at_startup(&self) {
        self.arm(false);
    }

    fn arm(&self, fixed_banks_too: bool) {
        for (index, zone) in self.guards.iter().enumerate() {
            if zone.mode() != crate::GuardMode::Unarmed {
                continue;
            }
            let Some((ptr, len, fixed)) = self.guard_range(index) else {
                continue;
            };
            if fixed && !fixed_banks_too {
                continue;
            }
            // SAFETY: `guard_range` confirmed the zone lies in the bank's
            // storage (valid for writes: a static array, or the RAM an
            // `unsafe bank` promises at its base) and outside every entry,
            // so no allocator hands out or touches its bytes; this zone is
            // the only `GuardZone` for them.
            unsafe { zone.arm(ptr, len, !fixed) };
        }
    }

    /// How the guard zone after entry `index` is armed; `None` when the
    /// entry has no guard.
    pub fn guard_mode(&self, index: usize) -> Option<crate::GuardMode> {
        self.guard_range(index)?;
        self.guards.get(index).map(crate::GuardZone::mode)
    }

    /// Checks every allocator's invariants and every guard zone's canaries
    /// (arming the zones first if that has not happened), reporting each
    /// problem with the entry's name.
    pub fn validate(&self) -> ValidationReport {
        self.arm_guards();
        let mut report = ValidationReport::new(self.name);
        for (index, info) in self.regions.iter().enumerate() {
            if let Err(violation) = self.entry(index).check() {
                report.push(Problem {
                    region: info.name,
                    kind: ProblemKind::Invariant(violation),
                });
            }
            if let Some((ptr, len, _)) = self.guard_range(index) {
                // SAFETY: the zone this `GuardZone` was armed with (same
                // range, from the same tables); it is only read when armed
                // as canaries, i.e. readable.
                if let Err(breach) = unsafe { self.guards[index].check(ptr, len) } {
                    report.push(Problem {
                        region: info.name,
                        kind: ProblemKind::GuardBreach(breach),
                    });
                }
            }
        }
        report
    }
}

/// One thing [`LayoutTable::validate`] found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The entry it concerns (for a guard breach, the entry the guard
    /// follows: the likely culprit of the overrun).
    pub region: &'static str,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What kind of problem validation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A canary byte of the guard after the entry changed.
    GuardBreach(GuardBreach),
    /// The entry's allocator found its bookkeeping inconsistent.
    Invariant(InvariantViolation),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProblemKind::GuardBreach(breach) => {
                write!(f, "`{}`: overrun into its guard: {breach}", self.region)
            }
            ProblemKind::Invariant(violation) => {
                write!(
                    f,
                    "`{}`: allocator invariant broken: {violation}",
                    self.region
                )
            }
        }
    }
}

/// What [`validate`](LayoutTable::validate) found: up to
/// [`ValidationReport::CAPACITY`] problems, and how many more there were.
/// No heap: the problems are kept inline.
#[derive(Clone, Copy, Debug)]
pub struct ValidationReport {
    layout: &'static str,
    problems: [Option<Problem>; ValidationReport::CAPACITY],
    len: usize,
    overflow: usize,
}

impl ValidationReport {
    /// How many problems a report keeps.
    pub const CAPACITY: usize = 16;

    /// A clean report for the layout called `layout`.
    pub const fn new(layout: &'static str) -> Self {
        Self {
            layout,
            problems: [None; Self::CAPACITY],
            len: 0,
            overflow: 0,
        }
    }

    /// Adds a problem (counted only, past [`CAPACITY`](Self::CAPACITY)).
    pub fn push(&mut self, problem: Problem) {
        match self.problems.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(problem);
                self.len += 1;
            }
            None => self.overflow += 1,
        }
    }

    /// Whether nothing is wrong.
    pub const fn is_ok(&self) -> bool {
        self.len == 0 && self.overflow == 0
    }

    /// The layout validated.
    pub const fn layout(&self) -> &'static str {
        self.layout
    }

    /// The problems kept, in entry order.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems[..self.len].iter().flatten()
    }

    /// Problems found beyond those kept.
    pub const fn overflow(&self) -> usize {
        self.overflow
    }

    /// Every problem found, kept or not.
    pub const fn count(&self) -> usize {
        self.len + self.overflow
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return write!(
                f,
                "layout `{}`: guards intact, invariants hold",
                self.layout
            );
        }
        writeln!(f, "layout `{}`: {} problem(s)", self.layout, self.count())?;
        for problem in self.problems() {
            writeln!(f, "  {problem}")?;
        }
        if self.overflow > 0 {
            writeln!(f, "  … and {} more", self.overflow)?;
        }
        Ok(())
    }
}
