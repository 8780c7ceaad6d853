//! Everything the code `memory_layout!` generates needs, behind one
//! `#[doc(hidden)] pub mod __private` (as RTIC's `export` and serde's
//! `__private`): not a public API, and no safety boundary either. Every
//! constructor here whose values safe code later trusts to write memory is
//! `unsafe`, with its contract written down; the descriptors have named
//! fields, so two swapped numbers are a compile error, not a wrong layout.

use core::alloc::Layout as AllocLayout;
use core::ptr::NonNull;

pub use const_format;

pub use crate::memory::arena_memory;

use crate::{
    AllocError, BankInfo, GuardZone, LayoutTable, MemoryFlags, MemoryTypes, PressureCallbacks,
    PressureWatch, RawAllocator, RegionInfo,
};

/// A flag that says yes once: how a component's token is handed out only
/// the first time `take_NAME` is called (an atomic swap, a critical section
/// on targets without compare-and-swap).
#[derive(Debug)]
pub struct TakeOnce(crate::sync::AtomicBool);

impl TakeOnce {
    crate::sync::const_fn! {
        /// Not taken yet.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(crate::sync::AtomicBool::new(false))
        }
    }

    /// `true` the first time only, whichever thread asks.
    pub fn take(&self) -> bool {
        !self.0.swap(true, crate::sync::Ordering::AcqRel)
    }
}

/// A bank of a layout, by field.
#[derive(Clone, Copy, Debug)]
pub struct BankParts {
    /// Its name.
    pub name: &'static str,
    /// The memory types it holds.
    pub memory: MemoryTypes,
    /// What it offers.
    pub flags: MemoryFlags,
    /// Bytes a program may use in it.
    pub budget: usize,
    /// Bytes the layout places in it.
    pub used: usize,
    /// Its hardware address, when known.
    pub address: Option<usize>,
    /// Whether its storage is at `address`.
    pub fixed: bool,
    /// Its first byte in this process.
    pub storage: fn() -> *mut u8,
    /// Indices of its entries, in address order.
    pub entries: &'static [usize],
}

/// The description of a bank.
///
/// # Safety
///
/// `storage()` returns null or the start of at least `used` bytes that are
/// valid for reads and writes for the rest of the program and belong to this
/// bank alone (a static array, or RAM an `unsafe bank` promises at `base`).
pub const unsafe fn bank_info(parts: BankParts) -> BankInfo {
    let BankParts {
        name,
        memory,
        flags,
        budget,
        used,
        address,
        fixed,
        storage,
        entries,
    } = parts;
    BankInfo {
        name,
        memory,
        flags,
        budget,
        used,
        address,
        fixed,
        storage,
        entries,
    }
}

/// The allocators of a layout's entries by index: the generated code
/// implements it with one `match` over the entries' accessors, so that its
/// allocator table can hold instances of [`entry_allocator`] instead of a
/// closure per entry (each closure is a body of its own that rustc
/// type-checks, borrow-checks and builds MIR for: ~0.3M instructions of
/// every `cargo check` per entry).
///
/// Any code can call it, so it holds only the entries whose accessors are
/// public anyway: a component's or shared region's allocator is reached
/// through its token only, and the table holds a closure for it.
pub trait EntryAllocators {
    /// The allocator of entry `index`; panics for a component or shared
    /// region and past the last entry.
    fn entry_allocator(index: usize) -> &'static dyn RawAllocator;
}

/// `L::entry_allocator(I)` as a plain `fn()`, for the allocator table of
/// [`TableParts`]; inlined with `I` known, the `match` folds to the one
/// accessor.
#[inline]
pub fn entry_allocator<L: EntryAllocators, const I: usize>() -> &'static dyn RawAllocator {
    L::entry_allocator(I)
}

/// A whole layout, by field. `allocators[i]` and `watches[i]` belong to
/// `regions[i]`; so do `guards[i]` (the zone after it) and
/// `guards[regions.len() + i]` (the zone before it).
#[derive(Clone, Copy)]
pub struct TableParts {
    /// The layout's name.
    pub name: &'static str,
    /// Its platform, if declared.
    pub platform: Option<&'static str>,
    /// Pressure thresholds in percent free: low, medium, high, critical.
    pub pressure: [u8; 4],
    /// Its entries.
    pub regions: &'static [RegionInfo],
    /// Each entry's allocator.
    pub allocators: &'static [fn() -> &'static dyn RawAllocator],
    /// Its banks.
    pub banks: &'static [BankInfo],
    /// Each entry's pressure watch.
    pub watches: &'static [PressureWatch],
    /// Each entry's guard zones: after it, then (at `regions.len() + i`)
    /// before it.
    pub guards: &'static [GuardZone],
    /// The layout's pressure callbacks.
    pub callbacks: &'static PressureCallbacks,
}

/// The table behind `flight_mem::Layout`.
///
/// # Panics
///
/// When the per-entry slices differ in length (at compile time in a
/// `static`).
///
/// # Safety
///
/// Guards are armed (canaries written, pages protected) and checked at the
/// addresses these tables give, so: every bank was made by [`bank_info`]
/// under its contract; each region lies in the bank its `bank` names, at
/// `offset..offset + size`, preceded by `guard_before` and followed by
/// `guard` bytes, all below that bank's `used`; regions do not overlap each
/// other or another region's guards;
/// `bank.entries` lists exactly the regions of that bank; and
/// `allocators[i]` returns the allocator that manages exactly region `i`'s
/// bytes, which touches no guard byte.
pub const unsafe fn layout_table(parts: TableParts) -> LayoutTable {
    let TableParts {
        name,
        platform,
        pressure,
        regions,
        allocators,
        banks,
        watches,
        guards,
        callbacks,
    } = parts;
    assert!(
        regions.len() == allocators.len()
            && regions.len() == watches.len()
            && 2 * regions.len() == guards.len(),
        "one allocator and watch and two guard zones per region"
    );
    LayoutTable {
        name,
        platform,
        pressure,
        regions,
        allocators,
        banks,
        watches,
        guards,
        callbacks,
    }
}

/// The pressure bookkeeping of a region accessor after `allocator` (entry
/// `index`'s) returned `result` (see `LayoutTable::after_allocate`).
///
/// The retry goes to the `allocator` the caller passes, never to one looked
/// up by `index`: this function is public, and a look-up would let any code
/// allocate in a component's segment without its token.
#[cold]
#[inline(never)]
#[cfg_attr(feature = "track", track_caller)]
pub fn after_allocate(
    table: &LayoutTable,
    index: usize,
    allocator: &dyn RawAllocator,
    layout: AllocLayout,
    result: &mut Result<NonNull<[u8]>, AllocError>,
) {
    table.after_allocate(index, allocator, layout, result);
}

/// What the generated allocation accessors are wrapped in:
/// `flight_mem::__private::tracked! { #[inline] pub fn alloc_heap(..) {..} }`.
///
/// With the runtime's `track` feature it adds `#[track_caller]`, so the
/// allocation is recorded with the line that called the accessor; without
/// it, it expands to the item unchanged — the same tokens as before the
/// wrapper existed, so the accessor compiles to the same instructions.
///
/// Why a `macro_rules!` of the runtime rather than an attribute the proc
/// macro writes: the proc macro cannot see the runtime's features, and a
/// `#[cfg_attr(feature = "track", ..)]` in generated code would test the
/// *user's* crate's features. A feature of the macro crate that `track`
/// turned on would work until someone builds the two crates with different
/// feature sets; this way the one crate that records allocations decides,
/// when it is compiled.
#[cfg(feature = "track")]
#[doc(hidden)]
#[macro_export]
macro_rules! __flight_mem_tracked {
    ($($item:tt)*) => {
        #[track_caller]
        $($item)*
    };
}

/// See the `track` twin above: without the feature the item is unchanged.
#[cfg(not(feature = "track"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __flight_mem_tracked {
    ($($item:tt)*) => {
        $($item)*
    };
}

pub use __flight_mem_tracked as tracked;

/// The layout-wide functions of the `track` feature on a layout struct
/// (`Game::live_allocations()`, `Game::leak_report(since)`), or nothing
/// without the feature; decided by the runtime for the reason
/// [`tracked!`] gives.
#[cfg(all(feature = "track", feature = "std"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __flight_mem_track_functions {
    ($vis:vis $layout:ident) => {
        #[allow(dead_code)]
        impl $layout {
            /// Every allocation live in this layout now, with its entry and
            /// the line that allocated it, oldest first (feature `track`).
            $vis fn live_allocations() -> ::std::vec::Vec<(
                &'static $crate::RegionInfo,
                $crate::track::LiveAllocation,
            )> {
                <Self as $crate::Layout>::table().live_allocations()
            }

            /// The allocations made after `since` that are still live,
            /// grouped by entry and by allocating line, largest first
            /// (feature `track`).
            $vis fn leak_report(since: $crate::track::Checkpoint) -> $crate::track::LeakReport {
                <Self as $crate::Layout>::table().leak_report(since)
            }
        }
    };
}

/// Without `track` (or without `std`) a layout has no tracking functions.
#[cfg(not(all(feature = "track", feature = "std")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __flight_mem_track_functions {
    ($vis:vis $layout:ident) => {};
}

pub use __flight_mem_track_functions as track_functions;

/// The pressure bookkeeping of a `compact` region accessor after its
/// allocator returned `result`.
#[cold]
#[inline(never)]
pub fn after_allocate_handle(
    table: &LayoutTable,
    index: usize,
    layout: AllocLayout,
    compact: &crate::Compact,
    result: &mut Result<crate::Handle, AllocError>,
) {
    table.after_allocate_handle(index, layout, compact, result);
}

/// The `debug_assert!` of a generated `free_*`: a bad free the allocator
/// refused (`result` is an `Err`) panics when `debug` — the caller's
/// `cfg!(debug_assertions)`, so the user's build decides, not this
/// crate's. One call instead of an assertion per accessor keeps the
/// expansion small.
#[inline]
#[track_caller]
pub fn check_free(result: Result<(), AllocError>, debug: bool, entry: &'static str) {
    if debug && let Err(error) = result {
        bad_free(entry, error);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_free(entry: &'static str, error: AllocError) -> ! {
    panic!(
        "flight-mem: bad free in `{entry}`: {:?}",
        Err::<(), _>(error)
    )
}

/// The body of a generated region `alloc_*`: the allocator call, then
/// (its lock released) one relaxed load that decides whether pressure
/// bookkeeping runs. One generic function instead of this body in every
/// accessor: rustc type-checks and borrow-checks it once, not per entry.
/// `#[inline(always)]`, so the accessor compiles to what the body did.
///
/// Safe for the reasons `after_allocate` is: it allocates only from the
/// `allocator` the caller already holds.
#[inline(always)]
#[cfg_attr(feature = "track", track_caller)]
pub fn region_alloc<A: RawAllocator>(
    table: &LayoutTable,
    callbacks: &PressureCallbacks,
    index: usize,
    allocator: &A,
    layout: AllocLayout,
) -> Result<NonNull<[u8]>, AllocError> {
    let mut result = allocator.allocate(layout);
    if callbacks.any() {
        after_allocate(table, index, allocator, layout, &mut result);
    }
    result
}

/// The body of a generated region `free_*` (see `region_alloc`): the free,
/// `check_free` with the caller's `debug`, and the pressure bookkeeping.
///
/// # Safety
///
/// As `RawAllocator::free` on `allocator`: `ptr` was returned by it and is
/// not used after this call.
#[inline(always)]
#[track_caller]
pub unsafe fn region_free<A: RawAllocator>(
    table: &LayoutTable,
    callbacks: &PressureCallbacks,
    index: usize,
    allocator: &A,
    ptr: NonNull<u8>,
    debug: bool,
    entry: &'static str,
) {
    // SAFETY: forwarded to the caller.
    unsafe { entry_free(allocator, ptr, debug, entry) };
    if callbacks.any() {
        after_free(table, index);
    }
}

/// The body of a generated `free_*` of an entry without pressure
/// bookkeeping (a stack, a block pool): the free and `check_free`.
///
/// # Safety
///
/// As `RawAllocator::free` on `allocator`: `ptr` was returned by it and is
/// not used after this call.
#[inline(always)]
#[track_caller]
pub unsafe fn entry_free<A: RawAllocator>(
    allocator: &A,
    ptr: NonNull<u8>,
    debug: bool,
    entry: &'static str,
) {
    // SAFETY: forwarded to the caller.
    let result = unsafe { allocator.free(ptr) };
    check_free(result, debug, entry);
}

/// The pressure bookkeeping of a region accessor after a free.
#[cold]
#[inline(never)]
pub fn after_free(table: &LayoutTable, index: usize) {
    table.after_free(index);
}

/// Arms the guard zones of static banks; run before `main` on Linux.
pub fn arm_guards_at_startup(table: &LayoutTable) {
    table.arm_guards_at_startup();
}

// Its own file: this one stays under ~900 lines. (`#[path]`, as this
// module is itself loaded through one from `lib.rs`.)
#[path = "private/sizes.rs"]
mod sizes;

pub use sizes::*;

/// One entry as placement sees it.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// The entry's name, for messages.
    pub name: &'static str,
    /// Bytes the entry manages.
    pub size: usize,
    /// Its alignment (a power of two).
    pub align: usize,
    /// Guard bytes after it.
    pub guard: usize,
    /// Guard bytes it needs directly before it (a component's); the
    /// previous entry's trailing guard counts toward them.
    pub lead: usize,
}

impl Slot {
    /// An entry of `size` bytes with no leading guard.
    pub const fn new(name: &'static str, size: usize, align: usize, guard: usize) -> Self {
        Self {
            name,
            size,
            align,
            guard,
            lead: 0,
        }
    }
}

/// The placement of a bank's entries, computed in const context: each
/// entry at the next multiple of its alignment after the previous
/// entry's guard. Sums saturate at `usize::MAX`, which never fits.
#[derive(Clone, Copy, Debug)]
pub struct BankPlan<const K: usize> {
    /// The entries.
    pub slots: [Slot; K],
    /// Offset of each entry from the bank's start.
    pub offsets: [usize; K],
    /// Guard bytes placed directly before each entry: its `lead` less the
    /// previous entry's trailing guard.
    pub leads: [usize; K],
    /// Bytes the bank needs (entries, padding, guards).
    pub needed: usize,
    /// Sum of the entries' sizes.
    pub entry_bytes: usize,
    /// Sum of the guards.
    pub guard_bytes: usize,
    /// Sum of the alignment padding.
    pub padding_bytes: usize,
    /// The bank's budget.
    pub budget: usize,
    /// The alignment of the bank's first byte.
    pub base_align: usize,
    /// The first entry whose end (with its guard) crosses the budget,
    /// `K` when none does.
    pub crossing: usize,
    /// The first entry that needs more alignment than `base_align`,
    /// `K` when none does.
    pub misaligned: usize,
    /// Whether `budget` is `isize::MAX`, the target's object-size limit,
    /// rather than the (larger) budget the layout gave.
    pub capped: bool,
}

const fn add(a: usize, b: usize) -> usize {
    match a.checked_add(b) {
        Some(sum) => sum,
        None => usize::MAX,
    }
}

impl<const K: usize> BankPlan<K> {
    /// Places `slots` in a bank of `budget` bytes held in a static aligned
    /// to `base_align` (an `Arena`, page-aligned, or a wrapper of the
    /// bank's alignment).
    pub const fn place(budget: usize, base_align: usize, slots: [Slot; K]) -> Self {
        // No object, the bank's storage included, spans more than
        // `isize::MAX` bytes: on a 32-bit target a budget above it would let
        // a plan "fit" whose storage array rustc then refuses, blamed on the
        // whole macro call instead of the entry that crosses. The static's
        // size is `needed` rounded up to its alignment, so the limit is the
        // largest multiple of it (2047 MiB with a 512 MiB-aligned entry
        // made a 2 GiB static on 32-bit targets: audit11).
        let largest = isize::MAX as usize;
        let largest = if base_align.is_power_of_two() {
            largest / base_align * base_align
        } else {
            largest
        };
        Self::place_within(budget, largest, base_align, slots)
    }

    /// Places `slots` in an `unsafe bank` at the fixed address `base`,
    /// aligned to `base_align`: no static holds it, so `isize::MAX` and the
    /// end of the address space (its last address excluded) limit it. A bank whose entries ran past
    /// the last address would place the later ones at wrapped, low
    /// addresses (`base: 0xF000_0000` with 300 MiB of entries on a 32-bit
    /// target: audit13).
    pub const fn place_fixed(
        budget: usize,
        base: usize,
        base_align: usize,
        slots: [Slot; K],
    ) -> Self {
        let largest = isize::MAX as usize;
        // The bytes from `base` up to, not including, the last address: an
        // allocation ends at most there (`core::ptr`: `base + size <=
        // usize::MAX`), else the end pointer of its last entry wraps to
        // null (`ptr.add(len)` is UB, a bump's `start + len` overflows;
        // audit14).
        let room = usize::MAX - base;
        let largest = if room < largest { room } else { largest };
        Self::place_within(budget, largest, base_align, slots)
    }

    const fn place_within(
        budget: usize,
        largest: usize,
        base_align: usize,
        slots: [Slot; K],
    ) -> Self {
        let capped = budget > largest;
        let budget = if capped { largest } else { budget };
        let mut plan = Self {
            slots,
            offsets: [0; K],
            leads: [0; K],
            needed: 0,
            entry_bytes: 0,
            guard_bytes: 0,
            padding_bytes: 0,
            budget,
            base_align,
            crossing: K,
            misaligned: K,
            capped,
        };
        let mut cursor = 0usize;
        let mut i = 0;
        while i < K {
            let slot = slots[i];
            if slot.align > base_align && plan.misaligned == K {
                plan.misaligned = i;
            }
            let align = if slot.align.is_power_of_two() {
                slot.align
            } else {
                1
            };
            let previous_guard = if i == 0 { 0 } else { slots[i - 1].guard };
            let lead = slot.lead.saturating_sub(previous_guard);
            // The leading guard sits directly before the entry, after any
            // alignment padding, so an underrun reaches it first.
            let offset = match add(cursor, lead).checked_next_multiple_of(align) {
                Some(offset) => offset,
                None => usize::MAX,
            };
            plan.padding_bytes = add(plan.padding_bytes, offset.saturating_sub(add(cursor, lead)));
            plan.entry_bytes = add(plan.entry_bytes, slot.size);
            plan.guard_bytes = add(add(plan.guard_bytes, slot.guard), lead);
            plan.offsets[i] = offset;
            plan.leads[i] = lead;
            cursor = add(add(offset, slot.size), slot.guard);
            if cursor > budget && plan.crossing == K {
                plan.crossing = i;
            }
            i += 1;
        }
        plan.needed = cursor;
        plan
    }

    /// Whether the entries, padding and guards fit the budget.
    pub const fn fits(&self) -> bool {
        self.needed <= self.budget
    }

    /// Bytes of static storage to reserve: what the entries need, or
    /// nothing when they do not fit (the failed assertion is the error;
    /// an enormous array would only add another).
    pub const fn storage_len(&self) -> usize {
        if self.fits() { self.needed } else { 0 }
    }

    /// Entry `i`'s offset.
    pub const fn offset(&self, i: usize) -> usize {
        self.offsets[i]
    }

    /// Entry `i`'s size.
    pub const fn size(&self, i: usize) -> usize {
        self.slots[i].size
    }

    /// Entry `i`'s alignment.
    pub const fn align(&self, i: usize) -> usize {
        self.slots[i].align
    }

    /// Entry `i`'s guard.
    pub const fn guard(&self, i: usize) -> usize {
        self.slots[i].guard
    }

    /// The guard bytes placed directly before entry `i`.
    pub const fn lead(&self, i: usize) -> usize {
        self.leads[i]
    }

    /// The facts of the budget message, in human units.
    pub const fn report(&self) -> BudgetReport {
        let crossing = if self.crossing < K {
            self.slots[self.crossing].name
        } else {
            ""
        };
        let misaligned = if self.misaligned < K {
            self.slots[self.misaligned]
        } else {
            Slot::new("", 0, 0, 0)
        };
        BudgetReport {
            needed: Human::new(self.needed as u128),
            budget: Human::new(self.budget as u128),
            over: Human::new(self.needed.saturating_sub(self.budget) as u128),
            entries: Human::new(self.entry_bytes as u128),
            guards: Human::new(self.guard_bytes as u128),
            padding: Human::new(self.padding_bytes as u128),
            crossing,
            largest: self.largest(3),
            misaligned_name: misaligned.name,
            misaligned_align: misaligned.align,
        }
    }

    /// The message of a failed budget assertion: `head` (which names the
    /// layout and bank) followed by the report's facts. Generated code
    /// calls it only in the branch that fails, so a plan that fits never
    /// spends compile time formatting it.
    pub const fn budget_message(&self, head: &str) -> ConstStr<1024> {
        let report = self.report();
        ConstStr::empty()
            .push(head)
            .push(report.needed.as_str())
            .push(", has ")
            .push(report.budget.as_str())
            .push(if self.capped {
                " (the most this target allows for the bank)"
            } else {
                ""
            })
            .push(", over by ")
            .push(report.over.as_str())
            .push(" (")
            .push(report.entries.as_str())
            .push(" of entries, ")
            .push(report.guards.as_str())
            .push(" of guards, ")
            .push(report.padding.as_str())
            .push(" of alignment padding); `")
            .push(report.crossing)
            .push("` crosses the budget; largest entries: ")
            .push(report.largest.as_str())
            .push("; shrink an entry, lower `guard`, or move an entry to another bank with `bank: NAME`")
    }

    /// Panics with [`budget_message`](Self::budget_message): the failing
    /// branch of a generated budget assertion. One call of this (with the
    /// plan by value, which is no promoted `&PLAN` to evaluate) costs rustc
    /// about half what formatting in place did, for every assertion of
    /// every build, although the branch never runs in a plan that fits.
    /// `#[track_caller]`: rustc reports the panic at the caller, the
    /// assertion spanned on the entry, as it did the in-place `panic!`.
    #[track_caller]
    pub const fn budget_panic(self, head: &str) -> ! {
        panic!("{}", self.budget_message(head).as_str())
    }

    /// The message of a failed alignment assertion: "`name` needs N" then
    /// `tail` (which names the bank and its start's alignment).
    pub const fn misaligned_message(&self, tail: &str) -> ConstStr<512> {
        let report = self.report();
        ConstStr::empty()
            .push("`")
            .push(report.misaligned_name)
            .push("` needs ")
            .push_u128(report.misaligned_align as u128)
            .push(tail)
    }

    /// "`heap` 8 MiB, `scratch` 1 MiB, `temp` 256 KiB": the `n` largest
    /// entries, largest first (earlier entries win ties).
    const fn largest(&self, n: usize) -> ConstStr<256> {
        let mut out = ConstStr::empty();
        let mut taken = [false; K];
        let mut round = 0;
        while round < n && round < K {
            let mut best = K;
            let mut i = 0;
            while i < K {
                if !taken[i] && (best == K || self.slots[i].size > self.slots[best].size) {
                    best = i;
                }
                i += 1;
            }
            taken[best] = true;
            if round > 0 {
                out = out.push(", ");
            }
            out = out.push("`").push(self.slots[best].name).push("` ");
            out = out.push(Human::new(self.slots[best].size as u128).as_str());
            round += 1;
        }
        out
    }
}

/// The numbers of a budget message, formatted in const context.
#[derive(Clone, Copy, Debug)]
pub struct BudgetReport {
    /// Bytes needed.
    pub needed: Human,
    /// Bytes available.
    pub budget: Human,
    /// Bytes over.
    pub over: Human,
    /// Bytes of entries.
    pub entries: Human,
    /// Bytes of guards.
    pub guards: Human,
    /// Bytes of alignment padding.
    pub padding: Human,
    /// The entry that crosses the budget.
    pub crossing: &'static str,
    /// The largest entries.
    pub largest: ConstStr<256>,
    /// The entry whose alignment the bank's start cannot give.
    pub misaligned_name: &'static str,
    /// Its alignment.
    pub misaligned_align: usize,
}

/// Byte counts in human units and the const string they are built in: one
/// formatter, shared with the macro's errors (`flight-mem-vocabulary`).
pub use flight_mem_vocabulary::{ConstStr, Human};

/// The locked heaps' lock (`Tlsf`, `Buddy`, `FreeList`), for the loom model
/// of its exclusion (`tests/loom_lock.rs`): loom builds only, so no other
/// code can reach it.
#[cfg(loom)]
pub struct LoomLock<T>(crate::sync::Lock<T>);

#[cfg(loom)]
impl<T> LoomLock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        Self(crate::sync::Lock::new(value))
    }

    /// Runs `f` with the lock held, as the heaps do.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.0.with(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Arena, Pool, RawMemory};

    #[test]
    fn refused_pools_have_no_slots() {
        static BLOCKS: Arena<64> = Arena::new();
        static UNITS: Arena<64> = Arena::new();
        // SAFETY: the arena is given to this pool only.
        let blocks = unsafe { RawMemory::from_arena(&BLOCKS) };
        // A block size no pool can hold: `BlockPool::new` would panic.
        let blocks = block_pool(blocks, usize::MAX / 2, 8, 4);
        assert_eq!(blocks.slots(), 0);
        assert!(blocks.allocate(AllocLayout::new::<u8>()).is_err());
        // A zero-sized `T`: `Pool::<()>::new` would fail its const check.
        // As in generated code, only a static's initializer evaluates it
        // (called at run time, it would instantiate `Pool::<()>::new`).
        // SAFETY: the arena is given to this pool only.
        static POOL: Pool<()> = typed_pool::<()>(unsafe { RawMemory::from_arena(&UNITS) }, 16);
        let units = &POOL;
        assert_eq!(units.slots(), 0);
        assert!(units.alloc(()).is_err());
        assert_eq!(units.stats().used, 0);
    }

    #[test]
    fn possible_pools_are_the_constructors() {
        const COUNT: usize = 5;
        static BLOCKS: Arena<{ block_pool_bytes(24, 8, COUNT) }> = Arena::new();
        static VALUES: Arena<{ typed_pool_bytes::<u64>(COUNT) }> = Arena::new();
        // SAFETY: each arena is given to the one pool below only.
        let (blocks, values) = unsafe {
            (
                RawMemory::from_arena(&BLOCKS),
                RawMemory::from_arena(&VALUES),
            )
        };
        let blocks = block_pool(blocks, 24, 8, COUNT);
        assert_eq!(blocks.slots(), COUNT);
        let values = typed_pool::<u64>(values, COUNT);
        assert_eq!(values.slots(), COUNT);
        let boxes: std::vec::Vec<_> = (0..COUNT as u64)
            .map(|v| values.alloc(v).ok().unwrap())
            .collect();
        assert!(values.alloc(9).is_err());
        assert_eq!(*boxes[3], 3);
    }
}
