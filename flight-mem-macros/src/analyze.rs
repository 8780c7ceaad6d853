//! Placement and the first tier of the budget proof.
//!
//! Entries are placed in their bank in declaration order: each starts at
//! the next multiple of its alignment after the previous entry's guard, and
//! is followed by its own guard. The bank needs everything up to the last
//! guard. `flight_mem::__private::BankPlan::place` does the same arithmetic
//! in const context for the generated code; this module does it at expansion
//! where sizes are literals, so the macro itself can point at the entry that
//! crosses the budget.
//!
//! Sizes the macro cannot know (`size_of::<T>()` pools, `( const-expr )`)
//! count as zero here, so the walk still finds plans that are over budget by
//! their literal entries alone ("needs at least"); the exact proof for those
//! banks is the const assertion codegen emits.

use crate::errors::{Errors, format_bytes};
use crate::model::{BankModel, EntryModel, LayoutModel, Shape, Size};
use crate::vocabulary::EntryKind;

/// Placement facts codegen needs, per layout (parallel to `Model::layouts`).
pub(crate) struct LayoutAnalysis {
    pub(crate) banks: Vec<BankAnalysis>,
    /// Each entry's position among its bank's entries (its slot in the
    /// bank's placement plan), parallel to `LayoutModel::entries`.
    pub(crate) slots: Vec<usize>,
}

pub(crate) struct BankAnalysis {
    /// Indices of the bank's entries, in declaration (and address) order.
    pub(crate) entries: Vec<usize>,
    /// The alignment of the bank's first byte: a page (or the largest entry
    /// alignment) for static storage, the alignment of `base` when fixed.
    pub(crate) storage_align: u64,
    /// Each entry's placement as the macro sees it, parallel to `entries`;
    /// codegen emits the figures of the `exact` ones as literals.
    pub(crate) placed: Vec<Placed>,
    /// Bytes the bank needs, when the macro placed all of it exactly (a
    /// literal budget, only literal sizes and guards) and it fits: the bank
    /// then gets no const plan for rustc to evaluate. `None` leaves the
    /// rest of placement and the budget proof to `BankPlan` in const
    /// context.
    pub(crate) exact_needed: Option<u64>,
    /// The most bytes of this bank the macro places by itself
    /// ([`portable`]): [`MAX_PORTABLE`], less what rounding a static's
    /// size up to its alignment would add (see [`limit`]).
    pub(crate) limit: u128,
}

/// The bytes an entry manages, when the macro can know them.
pub(crate) fn literal_footprint(entry: &EntryModel) -> Option<u128> {
    match &entry.shape {
        Shape::Bytes(size) => size.literal().map(u128::from),
        Shape::Frames { frame, count } => {
            frame.literal().map(|f| u128::from(f) * u128::from(*count))
        }
        Shape::Blocks { block, count } => block
            .literal()
            .and_then(|block| block_pool_bytes(block, entry.align, *count)),
        // Their size is the runtime's `bytes_for` of `size_of::<T>()`, only
        // rustc knows it.
        Shape::Typed { .. } => None,
    }
}

/// `BlockPool::bytes_for(block, align, count)` as the runtime computes it
/// (the blocks at their aligned stride, a 4-byte link per slot, padding
/// before the link table), when that is a size the macro may place on any
/// target: `None` for a pool `BlockPool` refuses (a zero or too large
/// block, more slots than its 32-bit slot index) and for one past
/// [`MAX_PORTABLE`], which stay with the const plan (whose
/// `block_pool_bytes` sizes an impossible pool `usize::MAX` and blames the
/// entry). Below `MAX_PORTABLE` no step overflows a 32-bit `usize`, so the
/// figure is the one every target computes; the `flight-mem-macros` test
/// `macro_pool_bytes_match_the_runtime` compares the two.
pub(crate) fn block_pool_bytes(block: u64, align: u64, count: u64) -> Option<u128> {
    // `free_slots::ALLOCATED`: the largest block, and the slot index limit.
    const ALLOCATED: u64 = u32::MAX as u64 - 2;
    // `size_of::<AtomicU32>()` = `align_of::<AtomicU32>()` on every target.
    const LINK: u64 = 4;
    if block == 0 || !align.is_power_of_two() || block > ALLOCATED {
        return None;
    }
    if count > ALLOCATED - (block - 1) {
        return None;
    }
    if count == 0 {
        return Some(0);
    }
    let stride = u128::from(block.next_multiple_of(align));
    let padding = u128::from(LINK.saturating_sub(align));
    let bytes = (stride + u128::from(LINK)) * u128::from(count) + padding;
    (bytes <= MAX_PORTABLE).then_some(bytes)
}

/// A lower bound of the bytes an entry manages: exact where
/// [`literal_footprint`] knows them; for a block pool of literal blocks it
/// cannot size (one the runtime refuses, or past `MAX_PORTABLE`), its
/// blocks at their aligned stride (`BlockPool::bytes_for` adds a link per
/// slot and table padding on top); zero where only rustc knows.
fn footprint_at_least(entry: &EntryModel) -> u128 {
    match (&entry.shape, literal_footprint(entry)) {
        (_, Some(bytes)) => bytes,
        (Shape::Blocks { block, count }, None) => block.literal().map_or(0, |block| {
            u128::from(block.next_multiple_of(entry.align)) * u128::from(*count)
        }),
        _ => 0,
    }
}

/// Places every entry of `layout` and reports, for banks whose figures are
/// literals, entries larger than their bank and banks over budget.
pub(crate) fn analyze(layout: &LayoutModel, errors: &mut Errors) -> LayoutAnalysis {
    let mut banks = Vec::with_capacity(layout.banks.len());
    for (index, bank) in layout.banks.iter().enumerate() {
        let entries: Vec<usize> = layout
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.bank == index)
            .map(|(i, _)| i)
            .collect();
        let storage_align =
            storage_align(bank, entries.iter().map(|&i| &layout.entries[i]), errors);
        let placed = walk(layout, &entries);
        let limit = limit(bank, storage_align);
        let mut exact_needed = None;
        if let Some(budget) = bank.budget.literal() {
            prove_budget(layout, bank, &entries, u128::from(budget), errors);
            exact_needed = needed_if_exact(&placed, budget, limit);
        }
        banks.push(BankAnalysis {
            entries,
            storage_align,
            placed,
            exact_needed,
            limit,
        });
    }
    let mut slots = vec![0; layout.entries.len()];
    for bank in &banks {
        for (slot, &entry) in bank.entries.iter().enumerate() {
            slots[entry] = slot;
        }
    }
    LayoutAnalysis { banks, slots }
}

/// The most bytes a placement the macro proves by itself may span: the
/// smallest `isize::MAX` of the 32-bit targets. The macro runs on the host
/// and cannot see the target's pointer width; past this, rustc checks the
/// placement on the target (`BankPlan::place` caps budgets at the target's
/// `isize::MAX`), so an over-large bank is blamed on the entry that crosses.
pub(crate) const MAX_PORTABLE: u128 = i32::MAX as u128;

/// The most bytes of `bank` the macro places by itself: for a fixed bank
/// [`MAX_PORTABLE`], and no more than lie between its base and the last
/// 32-bit address; for one in a static, the largest multiple of the
/// static's alignment up to it, since rustc rounds the static's size up to
/// that (2047 MiB placed with a 512 MiB-aligned entry made a 2 GiB static,
/// too big for a 32-bit target, blamed on the whole macro call: audit11).
/// `BankPlan::place` rounds the target's limit the same way.
fn limit(bank: &BankModel, storage_align: u64) -> u128 {
    match (bank.fixed, bank.address) {
        // A fixed bank must also end inside a 32-bit address space, before
        // its last address (`base + size <= usize::MAX`, as
        // `BankPlan::place_fixed`: audit14).
        (true, Some(base)) => {
            MAX_PORTABLE.min(u128::from(u32::MAX).saturating_sub(u128::from(base)))
        }
        _ => MAX_PORTABLE / u128::from(storage_align) * u128::from(storage_align),
    }
}

/// Whether the macro may emit `p`'s figures as literals, in a bank whose
/// [`limit`] is `limit`.
pub(crate) fn portable(p: &Placed, limit: u128) -> bool {
    p.exact && p.offset + p.size + p.guard <= limit
}

/// The bytes a bank needs, when every figure of its placement is a
/// literal and it fits `budget` on every target.
fn needed_if_exact(placed: &[Placed], budget: u64, limit: u128) -> Option<u64> {
    let needed = placed.last().map_or(0, |p| p.offset + p.size + p.guard);
    let exact = placed.iter().all(|p| portable(p, limit)) && needed <= u128::from(budget);
    // Fits a `u64` budget.
    exact.then_some(needed as u64)
}

fn storage_align<'a>(
    bank: &BankModel,
    entries: impl Iterator<Item = &'a EntryModel>,
    errors: &mut Errors,
) -> u64 {
    match (bank.fixed, bank.address) {
        (true, Some(base)) => {
            let align = (base & base.wrapping_neg()).min(1 << 29);
            for entry in entries {
                if entry.align > align {
                    errors.error(
                        entry.name.span(),
                        format!(
                            "`{}` needs {}-byte alignment but bank `{}` starts at {base:#x}, which is aligned to {align} bytes; lower its `align` or move the bank's `base`",
                            entry.name, entry.align, bank.name
                        ),
                    );
                }
            }
            align
        }
        _ => entries.map(|e| e.align).fold(4096, u64::max),
    }
}

/// What a bank needs, split for the message.
#[derive(Default)]
struct Need {
    entries: u128,
    guards: u128,
    padding: u128,
}

impl Need {
    fn total(&self) -> u128 {
        self.entries + self.guards + self.padding
    }
}

fn prove_budget(
    layout: &LayoutModel,
    bank: &BankModel,
    entries: &[usize],
    budget: u128,
    errors: &mut Errors,
) {
    let mut exact = true;
    let mut too_large = false;
    for &i in entries {
        let entry = &layout.entries[i];
        let exact_size = literal_footprint(entry);
        exact &= exact_size.is_some();
        match exact_size.unwrap_or_else(|| footprint_at_least(entry)) {
            size if size > budget => {
                too_large = true;
                errors.error(
                    entry.name.span(),
                    format!(
                        "`{}` ({}{}) is larger than bank `{}`{} of layout `{}`, which has {}; shrink it or move it to a larger bank with `bank: NAME`",
                        entry.name,
                        if exact_size.is_some() { "" } else { "at least " },
                        format_bytes(size),
                        bank.name,
                        platform_suffix(layout),
                        layout.name,
                        format_bytes(budget)
                    ),
                );
            }
            _ => {}
        }
    }
    if too_large {
        return;
    }

    let mut need = Need::default();
    let mut cursor: u128 = 0;
    let mut culprit = None;
    for (&i, placed) in entries.iter().zip(walk(layout, entries)) {
        exact &= placed.exact;
        need.padding += placed.offset - cursor - placed.lead;
        need.entries += placed.size;
        need.guards += placed.guard + placed.lead;
        cursor = placed.offset + placed.size + placed.guard;
        if cursor > budget && culprit.is_none() {
            culprit = Some(i);
        }
    }
    let Some(culprit) = culprit else { return };
    let entry = &layout.entries[culprit];
    let needed = need.total();
    // Sizes only rustc knows count as their lower bound here.
    let at_least = if exact { "" } else { "at least " };
    errors.error(
        entry.name.span(),
        format!(
            "layout `{}` does not fit bank `{}`{}: needs {at_least}{}, has {}, over by {at_least}{} ({at_least}{} of entries, {} of guards, {} of alignment padding); `{}` crosses the budget; largest entries: {}; shrink an entry, lower `guard`, or move an entry to another bank with `bank: NAME`",
            layout.name,
            bank.name,
            platform_suffix(layout),
            format_bytes(needed),
            format_bytes(budget),
            format_bytes(needed - budget),
            format_bytes(need.entries),
            format_bytes(need.guards),
            format_bytes(need.padding),
            entry.name,
            largest_entries(layout, entries),
        ),
    );
}

/// Where the macro places an entry in its bank (bytes from the bank's
/// start), walking the bank's entries in order as `BankPlan::place` does.
/// Sizes only rustc knows count as their lower bound ([`footprint_at_least`]),
/// guards written as expressions as zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    pub(crate) offset: u128,
    pub(crate) size: u128,
    pub(crate) align: u128,
    pub(crate) guard: u128,
    /// Guard bytes a component adds before itself, beyond the previous
    /// entry's trailing guard.
    pub(crate) lead: u128,
    /// Whether `offset`, `size` and `guard` are the real figures: every
    /// size and guard up to and including this entry's is a literal.
    pub(crate) exact: bool,
}

/// The placement of `entries` (indices into `layout.entries`, one bank's,
/// in order): the one walk behind the budget proof and the rustdoc map.
pub(crate) fn walk(layout: &LayoutModel, entries: &[usize]) -> Vec<Placed> {
    let mut cursor: u128 = 0;
    let mut exact = true;
    let mut previous_guard: u128 = 0;
    entries
        .iter()
        .map(|&i| {
            let entry = &layout.entries[i];
            exact &= literal_footprint(entry).is_some();
            let size = footprint_at_least(entry);
            let guard = match &entry.guard {
                Size::Literal { bytes, .. } => u128::from(*bytes),
                Size::Expr { .. } => {
                    exact = false;
                    0
                }
            };
            // As `BankPlan::place`: a component wants its guard before it
            // too, of which the previous entry's trailing guard counts.
            let lead = if entry.kind == EntryKind::Component {
                guard.saturating_sub(previous_guard)
            } else {
                0
            };
            let align = u128::from(entry.align);
            let offset = (cursor + lead).div_ceil(align) * align;
            cursor = offset + size + guard;
            previous_guard = guard;
            Placed {
                offset,
                size,
                align,
                guard,
                lead,
                exact,
            }
        })
        .collect()
}

fn platform_suffix(layout: &LayoutModel) -> String {
    layout
        .platform
        .map_or_else(String::new, |p| format!(" of `{}`", p.name))
}

/// The three largest entries the macro can size: "`heap` 8 MiB, `packets`
/// at least 96 KiB".
fn largest_entries(layout: &LayoutModel, entries: &[usize]) -> String {
    let mut sized: Vec<(u128, &EntryModel)> = entries
        .iter()
        .map(|&i| (footprint_at_least(&layout.entries[i]), &layout.entries[i]))
        .filter(|(size, _)| *size > 0)
        .collect();
    sized.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
    sized
        .iter()
        .take(3)
        .map(|(size, entry)| {
            let bound = if literal_footprint(entry).is_some() {
                ""
            } else {
                "at least "
            };
            format!("`{}` {bound}{}", entry.name, format_bytes(*size))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
