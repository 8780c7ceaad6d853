//! Debug tracking of live allocations (feature `track`): leak reports since a
//! checkpoint, exact double-free detection, and per-allocator live counts.
//!
//! The general allocators and the pools ([`Tlsf`](crate::Tlsf),
//! [`Buddy`](crate::Buddy), [`FreeList`](crate::FreeList),
//! [`Pool`](crate::Pool), [`BlockPool`](crate::BlockPool)) record each block
//! they hand out in one process-wide table and remove it when the block comes
//! back. A `free` of a pointer inside the allocator's memory that is not a
//! live block start is refused before the allocator looks at it when it is
//! a block already freed ([`AllocError::DoubleFree`]; freed addresses are
//! remembered until the table needs the room); addresses the table never saw
//! are left to the allocator's own checks — in release builds too, and also where the
//! allocator alone could not tell (a TLSF block already merged with its
//! neighbours). Not tracked: bump allocators (`Linear`, `Frames`) reclaim by
//! reset, a [`Stack`](crate::Stack) releases whole runs of blocks to a
//! marker and refuses out-of-order frees itself, and
//! [`System`](crate::System) keeps an exact list of its live blocks anyway.
//!
//! A stale pointer to a block that was freed and handed out again cannot be
//! told from the new owner's pointer by any allocator; tracking does not
//! change that.
//!
//! The table is a fixed array of [`CAPACITY`] slots behind a lock, with open
//! addressing and backward-shift deletion: no heap (so a tracked allocator
//! can be the global allocator), O(1) expected per operation. When it
//! overflows, further blocks go untracked ([`TrackStats::untracked`]) and
//! double-free detection stops being exact; the stats say so.
//!
//! This is a debugging aid: it costs a lock and a hash-table update per
//! allocation and free. Leave the feature off in shipping builds.

use core::panic::Location;
use core::ptr::NonNull;

use crate::sync::Lock;
use crate::{AllocError, RawAllocator};

/// Runs an allocation and records the block it returns, with the source
/// location of the first caller up the `#[track_caller]` chain: the line
/// that called a generated accessor or an allocator's public entry point.
#[inline(always)]
#[track_caller]
pub(crate) fn allocated<A: ?Sized>(
    allocator: &A,
    size: usize,
    result: Result<NonNull<[u8]>, AllocError>,
) -> Result<NonNull<[u8]>, AllocError> {
    if let Ok(block) = &result {
        record(
            core::ptr::from_ref(allocator).addr(),
            block.cast::<u8>().addr().get(),
            size,
            Location::caller(),
        );
    }
    result
}

/// Re-attributes the live block at `ptr` to `location`: for entry points
/// that reach the allocator through a `dyn RawAllocator` or a closure (the
/// layout's request router), where `#[track_caller]` cannot carry the
/// caller's location down.
pub(crate) fn attribute(ptr: NonNull<u8>, location: &'static Location<'static>) {
    TABLE.with(|t| {
        if let Some(i) = t.find(ptr.addr().get())
            && t.slots[i].live
        {
            t.slots[i].location = Some(location);
        }
    });
}

/// Runs `free` for `ptr` only if the table holds it as a live block of
/// `allocator`; puts it back if `free` refuses it after all.
#[inline(always)]
pub(crate) fn freed<A: RawAllocator + ?Sized>(
    allocator: &A,
    ptr: NonNull<u8>,
    free: impl FnOnce() -> Result<(), AllocError>,
) -> Result<(), AllocError> {
    if !allocator.owns(ptr) {
        // Not this allocator's memory at all: its own check says so.
        return free();
    }
    let owner = core::ptr::from_ref(allocator).addr();
    let forgotten = forget(owner, ptr.addr().get())?;
    let result = free();
    if let (Err(_), Some(slot)) = (&result, forgotten) {
        TABLE.with(|t| t.insert(Slot { live: true, ..slot }));
    }
    result
}

/// How many live allocations the table holds.
pub const CAPACITY: usize = 1 << 16;

/// A point in the allocation history: allocations after it are reported by
/// `live_since`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checkpoint(u64);

impl Checkpoint {
    /// The start of the program: every live allocation is after it.
    pub const START: Self = Self(0);
}

/// A live allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LiveAllocation {
    /// The block's address (an address for reports, not a pointer to use).
    pub address: usize,
    /// The size requested for it.
    pub size: usize,
    /// The address of the allocator that handed it out (compare with
    /// `core::ptr::from_ref(allocator).addr()`).
    pub allocator: usize,
    /// Its place in the allocation history (1 for the first).
    pub sequence: u64,
    /// The source line that allocated it: the caller of the generated
    /// accessor or of the allocator's public entry point (`None` only for a
    /// block recorded without one).
    pub location: Option<&'static Location<'static>>,
}

/// Figures of the tracking table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TrackStats {
    /// Allocations tracked now.
    pub live: usize,
    /// Allocations not tracked because the table was full.
    pub untracked: u64,
    /// Frees refused as double frees.
    pub double_frees: u64,
}

#[derive(Clone, Copy)]
struct Slot {
    /// Block address; 0 marks an empty slot (no block lives at address 0).
    ptr: usize,
    size: usize,
    allocator: usize,
    sequence: u64,
    location: Option<&'static Location<'static>>,
    /// False once freed: the address is remembered so a second free is told
    /// apart from a pointer that never was a block.
    live: bool,
}

const EMPTY: Slot = Slot {
    ptr: 0,
    size: 0,
    allocator: 0,
    sequence: 0,
    location: None,
    live: false,
};

struct Table {
    slots: [Slot; CAPACITY],
    /// Freed addresses remembered.
    dead: usize,
    sequence: u64,
    stats: TrackStats,
}

static TABLE: Lock<Table> = Lock::new(Table {
    slots: [EMPTY; CAPACITY],
    dead: 0,
    sequence: 0,
    stats: TrackStats {
        live: 0,
        untracked: 0,
        double_frees: 0,
    },
});

/// Live plus remembered entries stay under three quarters of the table, so
/// probe runs stay short.
const LIMIT: usize = CAPACITY / 4 * 3;

#[inline]
fn home(ptr: usize) -> usize {
    // Fibonacci hashing of the address without its always-zero low bits.
    ((ptr >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 7) & (CAPACITY - 1)
}

impl Table {
    fn find(&self, ptr: usize) -> Option<usize> {
        let mut i = home(ptr);
        loop {
            match self.slots[i].ptr {
                0 => return None,
                p if p == ptr => return Some(i),
                _ => i = (i + 1) & (CAPACITY - 1),
            }
        }
    }

    /// Empties slot `hole` and shifts later members of its probe run back,
    /// so lookups never need tombstones.
    fn remove_at(&mut self, mut hole: usize) {
        let mut i = hole;
        loop {
            i = (i + 1) & (CAPACITY - 1);
            let slot = self.slots[i];
            if slot.ptr == 0 {
                break;
            }
            // Move `slot` into the hole unless its home lies cyclically in
            // (hole, i]: then it is still reachable from its home.
            let h = home(slot.ptr);
            let reachable = if hole <= i {
                hole < h && h <= i
            } else {
                hole < h || h <= i
            };
            if !reachable {
                self.slots[hole] = slot;
                hole = i;
            }
        }
        self.slots[hole] = EMPTY;
    }

    /// Forgets freed addresses (they only sharpen the error of a bad free).
    fn purge_dead(&mut self) {
        let mut i = 0;
        while i < CAPACITY {
            let slot = self.slots[i];
            if slot.ptr != 0 && !slot.live {
                // The backward shift may move another entry into `i`: look
                // at `i` again.
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
        // A run that wrapped past the end may have moved a freed entry
        // behind the scan; count what is really left.
        self.dead = self.slots.iter().filter(|s| s.ptr != 0 && !s.live).count();
    }
}

/// Records a block handed out by `allocator` at `location`, with a new
/// sequence number.
fn record(allocator: usize, ptr: usize, size: usize, location: &'static Location<'static>) {
    TABLE.with(|t| {
        t.sequence += 1;
        let live = Slot {
            ptr,
            size,
            allocator,
            sequence: t.sequence,
            location: Some(location),
            live: true,
        };
        t.insert(live);
    });
}

impl Table {
    /// Records the live block `live` (a new one, or one whose refused free
    /// is undone).
    fn insert(&mut self, live: Slot) {
        let t = self;
        let ptr = live.ptr;
        if let Some(i) = t.find(ptr) {
            // A remembered free block handed out again — or the block of an
            // allocator that was dropped with blocks still live (a test's
            // stack-local heap) whose memory now serves another one.
            if !t.slots[i].live {
                t.dead -= 1;
                t.stats.live += 1;
            }
            t.slots[i] = live;
            return;
        }
        if t.stats.live + t.dead >= LIMIT && t.dead > 0 {
            t.purge_dead();
        }
        if t.stats.live + t.dead >= LIMIT {
            t.stats.untracked += 1;
            return;
        }
        let mut i = home(ptr);
        while t.slots[i].ptr != 0 {
            i = (i + 1) & (CAPACITY - 1);
        }
        t.slots[i] = live;
        t.stats.live += 1;
    }
}

/// Checks that `ptr` is a live block of `allocator` and marks it freed,
/// returning its record. A block already freed is
/// [`AllocError::DoubleFree`]. `Ok(None)`: an address the table does not
/// know (never a block start, or forgotten to make room), which the
/// allocator judges itself.
fn forget(allocator: usize, ptr: usize) -> Result<Option<Slot>, AllocError> {
    TABLE.with(|t| match t.find(ptr) {
        Some(i) if t.slots[i].allocator != allocator => Err(AllocError::ForeignPointer),
        Some(i) if t.slots[i].live => {
            let slot = &mut t.slots[i];
            slot.live = false;
            let found = *slot;
            t.stats.live -= 1;
            t.dead += 1;
            Ok(Some(found))
        }
        Some(_) => {
            t.stats.double_frees += 1;
            Err(AllocError::DoubleFree)
        }
        None => Ok(None),
    })
}

/// Forgets every entry inside `memory`: an allocator taking it over on first
/// use owns it exclusively (the `RawMemory` contract), so entries there are
/// left from an earlier allocator at the same addresses (a test's stack-local
/// heap over reused memory) and would misjudge this one's frees. O(table).
pub(crate) fn forget_range(memory: &crate::RawMemory) {
    TABLE.with(|t| {
        // A backward shift can move an entry from the start of the table
        // (a probe run that wrapped) behind the scan: scan until clean.
        loop {
            let mut removed = false;
            let mut i = 0;
            while i < CAPACITY {
                let slot = t.slots[i];
                if slot.ptr != 0 && memory.contains(core::ptr::without_provenance(slot.ptr)) {
                    if slot.live {
                        t.stats.live -= 1;
                    } else {
                        t.dead -= 1;
                    }
                    // The shift may move another entry into `i`: look again.
                    t.remove_at(i);
                    removed = true;
                } else {
                    i += 1;
                }
            }
            if !removed {
                break;
            }
        }
    });
}

/// The current point of the allocation history.
pub fn checkpoint() -> Checkpoint {
    TABLE.with(|t| Checkpoint(t.sequence))
}

/// The table's figures.
pub fn stats() -> TrackStats {
    TABLE.with(|t| t.stats)
}

/// Copies the allocations made after `since` that are still live into
/// `out`, oldest first; returns how many there are in all (which may exceed
/// `out.len()`). No heap, and nothing runs under the table's lock but the
/// copy.
pub fn live_since(since: Checkpoint, out: &mut [LiveAllocation]) -> usize {
    let mut total = 0;
    TABLE.with(|t| {
        for slot in t.slots.iter().filter(|s| s.live && s.sequence > since.0) {
            if let Some(entry) = out.get_mut(total) {
                *entry = LiveAllocation {
                    address: slot.ptr,
                    size: slot.size,
                    allocator: slot.allocator,
                    sequence: slot.sequence,
                    location: slot.location,
                };
            }
            total += 1;
        }
    });
    let filled = total.min(out.len());
    out[..filled].sort_unstable_by_key(|a| a.sequence);
    total
}

/// The allocations made after `since` that are still live, oldest first.
#[cfg(feature = "std")]
pub fn leaks_since(since: Checkpoint) -> std::vec::Vec<LiveAllocation> {
    let placeholder = LiveAllocation {
        address: 0,
        size: 0,
        allocator: 0,
        sequence: 0,
        location: None,
    };
    let mut out = std::vec::Vec::new();
    loop {
        // Size the buffer outside the lock: allocating under it could
        // re-enter the table when a tracked allocator is the global one.
        let wanted = live_since(since, &mut []) + 16;
        out.resize(wanted, placeholder);
        let total = live_since(since, &mut out);
        if total <= out.len() {
            out.truncate(total);
            return out;
        }
    }
}

#[cfg(feature = "std")]
impl crate::LayoutTable {
    /// The allocations made after `since` that are still live in this
    /// layout, with the entry each belongs to, oldest first: a leak report
    /// for a level, a scene or a frame.
    pub fn leaks_since(
        &self,
        since: Checkpoint,
    ) -> std::vec::Vec<(&'static crate::RegionInfo, LiveAllocation)> {
        leaks_since(since)
            .into_iter()
            .filter_map(|live| {
                // An address for the lookup only: `owner_of` compares it and
                // never reads through it.
                let ptr = NonNull::new(core::ptr::without_provenance_mut::<u8>(live.address))?;
                self.owner_of(ptr).map(|info| (info, live))
            })
            .collect()
    }
}

#[cfg(feature = "std")]
impl crate::LayoutTable {
    /// Every allocation live in this layout now, with its entry, oldest
    /// first: what `Game::live_allocations()` returns.
    pub fn live_allocations(&self) -> std::vec::Vec<(&'static crate::RegionInfo, LiveAllocation)> {
        self.leaks_since(Checkpoint::START)
    }

    /// The allocations made after `since` that are still live in this
    /// layout, grouped by entry and, within an entry, by the source line
    /// that allocated them; largest first. Prints as a table.
    pub fn leak_report(&self, since: Checkpoint) -> LeakReport {
        LeakReport::new(self.name, &self.leaks_since(since))
    }
}

/// Live allocations of a layout grouped by entry and by allocation site,
/// each group with its count and bytes, largest first
/// ([`LayoutTable::leak_report`](crate::LayoutTable::leak_report)).
///
/// ```text
/// leaks in layout `Level`: 3 blocks, 248 B
///   heap: 2 blocks, 200 B
///     tests/track.rs:120  2 blocks, 200 B
///   bullets: 1 block, 48 B
///     tests/track.rs:122  1 block, 48 B
/// ```
#[cfg(feature = "std")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakReport {
    /// The layout's name.
    pub layout: &'static str,
    /// One group per entry with live blocks, most bytes first.
    pub entries: std::vec::Vec<EntryLeaks>,
}

/// The live blocks of one entry in a [`LeakReport`].
#[cfg(feature = "std")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryLeaks {
    /// The entry.
    pub entry: &'static crate::RegionInfo,
    /// Its live blocks.
    pub count: usize,
    /// Their requested bytes.
    pub bytes: usize,
    /// The blocks by allocation site, most bytes first.
    pub sites: std::vec::Vec<LeakSite>,
}

/// The live blocks one source line allocated in one entry.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakSite {
    /// The line that allocated them.
    pub location: Option<&'static Location<'static>>,
    /// How many are live.
    pub count: usize,
    /// Their requested bytes.
    pub bytes: usize,
}

#[cfg(feature = "std")]
impl LeakReport {
    fn new(layout: &'static str, live: &[(&'static crate::RegionInfo, LiveAllocation)]) -> Self {
        use std::vec::Vec;
        let mut entries: Vec<EntryLeaks> = Vec::new();
        for (info, block) in live {
            let group = match entries
                .iter_mut()
                .position(|g| core::ptr::eq(g.entry, *info))
            {
                Some(i) => &mut entries[i],
                None => {
                    entries.push(EntryLeaks {
                        entry: info,
                        count: 0,
                        bytes: 0,
                        sites: Vec::new(),
                    });
                    entries.last_mut().expect("just pushed")
                }
            };
            group.count += 1;
            group.bytes += block.size;
            // A site is a line (what the report prints): two calls on one
            // line are one site.
            let site = site_key(block.location);
            match group
                .sites
                .iter_mut()
                .find(|s| site_key(s.location) == site)
            {
                Some(site) => {
                    site.count += 1;
                    site.bytes += block.size;
                }
                None => group.sites.push(LeakSite {
                    location: block.location,
                    count: 1,
                    bytes: block.size,
                }),
            }
        }
        // Largest first; ties in a fixed order, so a report is stable.
        for group in &mut entries {
            group.sites.sort_by(|a, b| {
                b.bytes
                    .cmp(&a.bytes)
                    .then(b.count.cmp(&a.count))
                    .then_with(|| site_key(a.location).cmp(&site_key(b.location)))
            });
        }
        entries.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(b.count.cmp(&a.count))
                .then_with(|| a.entry.name.cmp(b.entry.name))
        });
        Self { layout, entries }
    }

    /// Whether nothing is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Live blocks over every entry.
    pub fn count(&self) -> usize {
        self.entries.iter().map(|e| e.count).sum()
    }

    /// Their requested bytes.
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(|e| e.bytes).sum()
    }
}

#[cfg(feature = "std")]
fn site_key(location: Option<&'static Location<'static>>) -> (&'static str, u32) {
    location.map_or(("", 0), |l| (l.file(), l.line()))
}

#[cfg(feature = "std")]
fn blocks(count: usize) -> &'static str {
    if count == 1 { "block" } else { "blocks" }
}

#[cfg(feature = "std")]
impl core::fmt::Display for LeakReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use crate::Bytes;
        if self.is_empty() {
            return writeln!(f, "no leaks in layout `{}`", self.layout);
        }
        writeln!(
            f,
            "leaks in layout `{}`: {} {}, {}",
            self.layout,
            self.count(),
            blocks(self.count()),
            Bytes(self.bytes())
        )?;
        for group in &self.entries {
            writeln!(
                f,
                "  {}: {} {}, {}",
                group.entry.name,
                group.count,
                blocks(group.count),
                Bytes(group.bytes)
            )?;
            let width = group
                .sites
                .iter()
                .map(|s| site_label(s).len())
                .max()
                .unwrap_or(0);
            for site in &group.sites {
                writeln!(
                    f,
                    "    {:<width$}  {} {}, {}",
                    site_label(site),
                    site.count,
                    blocks(site.count),
                    Bytes(site.bytes)
                )?;
            }
        }
        Ok(())
    }
}

/// `file:line`, the form editors and terminals turn into a link.
#[cfg(feature = "std")]
fn site_label(site: &LeakSite) -> std::string::String {
    match site.location {
        Some(l) => std::format!("{}:{}", l.file(), l.line()),
        None => std::string::String::from("(unknown site)"),
    }
}
