//! The memory map in the layout struct's rustdoc: a table of banks (budget,
//! placed bytes, headroom) and, per bank, a table of its entries (kind,
//! allocator, memory type, offset, size, alignment, guard), so a reader of
//! the game's `cargo doc` sees the whole budget without building it.
//!
//! The numbers are the macro's own placement ([`crate::analyze::walk`], the
//! walk behind the budget proof). Where a size is a type or an expression
//! only rustc can evaluate (`[Particle; 4096]`, `(4 * FRAME)`), the table
//! shows it as written and says that the numbers that depend on it are
//! computed and checked at compile time.

use std::fmt::Write as _;

use super::*;
use crate::errors::format_bytes;

/// The `#[doc]` attribute that appends the map to the struct's docs.
pub(super) fn memory_map_doc(layout: &LayoutModel, analysis: &LayoutAnalysis) -> TokenStream {
    let text = memory_map(layout, analysis);
    quote!(#[doc = #text])
}

/// The map as Markdown.
fn memory_map(layout: &LayoutModel, analysis: &LayoutAnalysis) -> String {
    let mut out = String::from("\n\n# Memory map\n\n");
    let name = &layout.name;
    match layout.platform {
        Some(platform) => {
            let _ = writeln!(
                out,
                "The plan of `{name}` for `{}`, as `memory_layout!` placed it.",
                platform.name
            );
        }
        None => {
            let _ = writeln!(out, "The plan of `{name}`, as `memory_layout!` placed it.");
        }
    }
    out.push_str("\n| bank | address | budget | placed | headroom |\n|---|---:|---:|---:|---:|\n");
    let mut inexact = false;
    for (bank, walked) in layout
        .banks
        .iter()
        .zip(analysis.banks.iter().map(|b| &b.placed))
    {
        let end = walked.last().map_or(0, |p| p.offset + p.size + p.guard);
        let exact = walked.last().is_none_or(|p| p.exact);
        inexact |= !exact;
        let address = bank
            .address
            .map_or_else(|| "—".to_owned(), |a| format!("`{a:#x}`"));
        let budget = size_cell(&bank.budget);
        let (placed_cell, headroom) = match (exact, bank.budget.literal()) {
            (true, Some(budget)) => (
                bytes_cell(end),
                bytes_cell(u128::from(budget).saturating_sub(end)),
            ),
            (true, None) => (bytes_cell(end), "checked at compile time".to_owned()),
            (false, Some(budget)) => (
                format!("at least {}", bytes_cell(end)),
                format!(
                    "at most {}",
                    bytes_cell(u128::from(budget).saturating_sub(end))
                ),
            ),
            (false, None) => (
                format!("at least {}", bytes_cell(end)),
                "checked at compile time".to_owned(),
            ),
        };
        let _ = writeln!(
            out,
            "| `{}` | {address} | {budget} | {placed_cell} | {headroom} |",
            bank.name
        );
    }

    for (bank, placed) in layout.banks.iter().zip(&analysis.banks) {
        let walked = &placed.placed;
        if placed.entries.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "\n## Bank `{}`\n\n| entry | kind | allocator | memory | offset | size | align | guard |\n|---|---|---|---|---:|---:|---:|---:|\n",
            bank.name
        );
        for (slot, (&index, place)) in placed.entries.iter().zip(walked).enumerate() {
            let entry = &layout.entries[index];
            // An offset is exact when everything before it is.
            let offset_exact = slot == 0 || walked[slot - 1].exact;
            let offset = if offset_exact {
                format!("`{:#x}`", place.offset)
            } else {
                "after the previous entry".to_owned()
            };
            // A component's guard is on both sides (the one before it is
            // the previous entry's guard, or a lead the walk adds).
            let guard = match entry.kind.keyword() {
                "component" => format!("{} both sides", size_cell(&entry.guard)),
                _ => size_cell(&entry.guard),
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {offset} | {} | {} | {guard} |",
                entry.name.unraw(),
                entry.kind.keyword(),
                allocator_name(entry),
                entry.memory.name(),
                shape_cell(entry),
                entry.align,
            );
        }
    }
    if inexact {
        out.push_str(
            "\nSizes written as a type or an expression are known only to rustc: the \
             offsets after them and the bank's placed bytes and headroom are computed \
             at compile time, where a const assertion checks the plan against the \
             budget, so a plan that builds fits. `map()` prints every number at run time.\n",
        );
    }
    out
}

/// What serves an entry's allocations: the `allocator:` of a region (and of
/// any kind with that option), else the allocator the kind implies.
fn allocator_name(entry: &EntryModel) -> String {
    match (entry.kind.keyword(), &entry.shape) {
        ("reserve", _) => "tlsf".to_owned(),
        ("stack", _) => "stack".to_owned(),
        ("frame", _) => "frames".to_owned(),
        ("pool", Shape::Typed { .. }) => "pool".to_owned(),
        ("pool", _) => "block pool".to_owned(),
        // Shared by components through their tokens, not allocated from.
        ("shared", _) => "none (shared)".to_owned(),
        // `region` and every kind with an `allocator:` option. The debug
        // name keeps this correct for allocators added later.
        _ => format!("{:?}", entry.allocator).to_lowercase(),
    }
}

/// An entry's size: the number where the macro knows it, else the shape as
/// written.
fn shape_cell(entry: &EntryModel) -> String {
    if let Some(bytes) = crate::analyze::literal_footprint(entry) {
        return match &entry.shape {
            Shape::Frames { frame, count } => format!(
                "{} ({count} × {})",
                bytes_cell(bytes),
                size_cell(frame).trim_matches('`')
            ),
            // The blocks as written, then the bytes with links and padding.
            Shape::Blocks { block, count } => format!(
                "{} = {}",
                code(&format!("[{}; {count}]", size_text(block))),
                bytes_cell(bytes)
            ),
            _ => bytes_cell(bytes),
        };
    }
    match &entry.shape {
        Shape::Bytes(size) => size_cell(size),
        Shape::Frames { frame, count } => code(&format!("[{}; {count}]", size_text(frame))),
        Shape::Blocks { block, count } => code(&format!("[{}; {count}]", size_text(block))),
        Shape::Typed { ty, count } => code(&format!("[{}; {count}]", tokens_text(&quote!(#ty)))),
    }
}

/// A size as written: `4 KiB`, or the expression in code.
fn size_cell(size: &Size) -> String {
    match size {
        Size::Literal { bytes, .. } => bytes_cell(u128::from(*bytes)),
        Size::Expr { .. } => code(&size_text(size)),
    }
}

fn size_text(size: &Size) -> String {
    match size {
        Size::Literal { bytes, .. } => format!("{bytes} B"),
        Size::Expr { tokens, .. } => format!("({})", tokens_text(tokens)),
    }
}

/// `8 MiB`; a figure that is not a whole number of its unit also in bytes,
/// so the table never rounds.
fn bytes_cell(bytes: u128) -> String {
    let short = format_bytes(bytes);
    if short.contains('.') {
        format!("{short} ({bytes} B)")
    } else {
        short
    }
}

/// Tokens as Rust source, without the spaces `TokenStream`'s printer puts
/// around punctuation where they read oddly.
fn tokens_text(tokens: &TokenStream) -> String {
    tokens
        .to_string()
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
        .replace(" ,", ",")
        .replace(" ;", ";")
        .replace("( ", "(")
        .replace(" )", ")")
}

/// Inline code in a table cell: backticks around, `|` escaped (it would end
/// the cell).
fn code(text: &str) -> String {
    format!("`{}`", text.replace('|', "\\|"))
}
