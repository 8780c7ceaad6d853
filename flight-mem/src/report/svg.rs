//! The memory map as an SVG picture: one bar per bank, one coloured span per
//! entry (by kind) with its used share solid and its free share pale,
//! guards dark, padding blank, a tooltip per span with the entry's figures,
//! and under each bar a key naming every entry (name, size, used share)
//! with a leader line to its span — a 256 KiB stack beside an 8 MiB heap is
//! a sliver, and the key is how it is found.
//!
//! The writer formats into any [`fmt::Write`], so it needs no heap; with
//! `std`, [`LayoutTable::svg`] returns a `String`.

use core::fmt::{self, Write};

use crate::LayoutTable;
use crate::{Bytes, EntryKind};

const WIDTH: usize = 960;
const LEFT: usize = 160;
const BAR: usize = WIDTH - LEFT - 20;
const TOP: usize = 44;
const GUARD: &str = "#333";
/// Room for one legend item ("component" is the longest).
const LEGEND_STEP: usize = 98;

/// Fill colour of an entry's span, by kind.
pub(crate) fn colour(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Region => "#4e79a7",
        EntryKind::Frame => "#f28e2b",
        EntryKind::Stack => "#59a14f",
        EntryKind::Pool => "#b07aa1",
        EntryKind::Reserve => "#e15759",
        EntryKind::Component => "#76b7b2",
        EntryKind::Shared => "#edc948",
    }
}

/// Text with the five XML special characters escaped.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&apos;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `part` of `whole` as a pixel length of a bar, at least 1 px when `part`
/// is not zero (so small entries stay visible).
fn scale(part: usize, whole: usize) -> f64 {
    if whole == 0 || part == 0 {
        return 0.0;
    }
    (part as f64 * BAR as f64 / whole as f64).max(1.0)
}

/// Monospace 11 px: about 6.7 px a character, in tenths of a pixel.
const CHAR_TENTHS: usize = 67;
/// Height of one row of the key under a bar.
const KEY_ROW: usize = 28;
/// The bar, the leader lines and the gap before the key.
const BAR_HEIGHT: usize = 40;
const LEADER: usize = 18;

impl LayoutTable {
    /// Key rows a bank's labels need so that neighbouring labels do not
    /// overlap: labels are spread evenly under the bar in address order and
    /// staggered over this many rows.
    fn key_rows(&self, bank: &crate::BankInfo) -> usize {
        let count = bank.entries().len().max(1);
        let widest_chars = bank
            .entries()
            .iter()
            .map(|&i| self.regions()[i].name.chars().count().max(18))
            .max()
            .unwrap_or(0);
        // Integer pixels (no `f64::ceil` in `core`): a slot is `BAR / count`.
        let widest = widest_chars * CHAR_TENTHS / 10 + 8;
        (widest * count).div_ceil(BAR).clamp(1, count)
    }

    fn bank_height(&self, bank: &crate::BankInfo) -> usize {
        BAR_HEIGHT + LEADER + self.key_rows(bank) * KEY_ROW + 16
    }

    /// Writes the memory map as a standalone SVG document: per bank, a bar
    /// with one span per entry (used share shaded, guards dark), and under
    /// it a key that names every entry — however thin its span — joined to
    /// its span by a leader line.
    pub fn write_svg(&self, out: &mut impl Write) -> fmt::Result {
        let banks_height: usize = self.banks().iter().map(|b| self.bank_height(b)).sum();
        let height = TOP + banks_height + 30;
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">"#
        )?;
        writeln!(
            out,
            r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#
        )?;
        let title = Escaped(self.name());
        match self.platform() {
            Some(platform) => writeln!(
                out,
                r#"<text x="10" y="24" font-size="16">layout {title} for {}</text>"#,
                Escaped(platform)
            )?,
            None => writeln!(
                out,
                r#"<text x="10" y="24" font-size="16">layout {title}</text>"#
            )?,
        }
        let mut y = TOP;
        for bank in self.banks() {
            self.write_bank(out, bank, y)?;
            y += self.bank_height(bank);
        }
        // The legend: the kinds, then guards and free space, in one row.
        let legend_y = y + 12;
        let kinds = [
            EntryKind::Region,
            EntryKind::Frame,
            EntryKind::Stack,
            EntryKind::Pool,
            EntryKind::Reserve,
            EntryKind::Component,
            EntryKind::Shared,
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let x = 10 + i * LEGEND_STEP;
            writeln!(
                out,
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
                legend_y - 10,
                colour(kind),
                x + 16,
                legend_y,
                kind.keyword()
            )?;
        }
        let x = 10 + kinds.len() * LEGEND_STEP;
        writeln!(
            out,
            r##"<rect x="{x}" y="{}" width="4" height="12" fill="{GUARD}"/><text x="{}" y="{}">guard</text><rect x="{}" y="{}" width="12" height="12" fill="#4e79a7" fill-opacity="0.45"/><text x="{}" y="{}">free</text>"##,
            legend_y - 10,
            x + 10,
            legend_y,
            x + LEGEND_STEP,
            legend_y - 10,
            x + LEGEND_STEP + 16,
            legend_y,
        )?;
        writeln!(out, "</svg>")
    }

    fn write_bank(&self, out: &mut impl Write, bank: &crate::BankInfo, y: usize) -> fmt::Result {
        let budget = bank.budget.max(bank.used);
        writeln!(
            out,
            r#"<g class="bank" data-name="{}">"#,
            Escaped(bank.name)
        )?;
        writeln!(
            out,
            r##"<text x="10" y="{}" font-size="13">{}</text><text x="10" y="{}" fill="#666">{} / {}</text>"##,
            y + 18,
            Escaped(bank.name),
            y + 34,
            Bytes(bank.used),
            Bytes(bank.budget)
        )?;
        writeln!(
            out,
            r##"<rect class="budget" x="{LEFT}" y="{y}" width="{BAR}" height="{BAR_HEIGHT}" fill="#eee" stroke="#999"/>"##
        )?;
        let rows = self.key_rows(bank);
        let count = bank.entries().len().max(1);
        let slot = BAR as f64 / count as f64;
        let bar_end = LEFT as f64 + BAR as f64;
        for (position, &index) in bank.entries().iter().enumerate() {
            let info = &self.regions()[index];
            let used = self
                .any_allocator(index)
                .map_or(0.0, |a| a.stats().used_percent() as f64);
            let x = LEFT as f64 + scale(info.offset, budget).min(BAR as f64);
            let width = scale(info.size, budget).min(bar_end - x);
            writeln!(
                out,
                r#"<g class="entry" data-name="{name}"><title>{name}: {kind} {allocator}, {memory}, {size} at offset {offset:#x}, guard {guard}, {used:.1}% used</title>"#,
                name = Escaped(info.name),
                kind = info.kind.keyword(),
                allocator = info.allocator.name(),
                memory = info.memory.name(),
                size = Bytes(info.size),
                offset = info.offset,
                guard = Bytes(info.guard),
            )?;
            writeln!(
                out,
                r#"<rect x="{x:.2}" y="{y}" width="{width:.2}" height="{BAR_HEIGHT}" fill="{}" fill-opacity="0.45" stroke="white" stroke-width="0.5"/>"#,
                colour(info.kind)
            )?;
            writeln!(
                out,
                r#"<rect x="{x:.2}" y="{y}" width="{:.2}" height="{BAR_HEIGHT}" fill="{}"/>"#,
                width * used / 100.0,
                colour(info.kind)
            )?;
            // The key: slots in address order, so leader lines never cross;
            // staggered over `rows` rows when names are wider than a slot.
            let key_x = LEFT as f64 + slot * position as f64 + 4.0;
            let row = position % rows;
            let key_y = y + BAR_HEIGHT + LEADER + row * KEY_ROW;
            let anchor = (x + width / 2.0).min(bar_end);
            // Straight: spans and keys are both in address order, so no
            // two leaders cross.
            writeln!(
                out,
                r##"<line class="leader" x1="{anchor:.2}" y1="{}" x2="{key_x:.2}" y2="{}" stroke="#888" stroke-width="0.8"/>"##,
                y + BAR_HEIGHT,
                key_y,
            )?;
            writeln!(out, "</g>")?;
        }
        // The labels after every leader, each on a white halo, so a leader
        // running to the second row never draws over a first-row label.
        writeln!(out, r#"<g class="keys">"#)?;
        for (position, &index) in bank.entries().iter().enumerate() {
            let info = &self.regions()[index];
            let used = self
                .any_allocator(index)
                .map_or(0.0, |a| a.stats().used_percent() as f64);
            let key_x = LEFT as f64 + slot * position as f64 + 4.0;
            let key_y = y + BAR_HEIGHT + LEADER + (position % rows) * KEY_ROW;
            write!(
                out,
                r##"<text class="label" data-name="{}" x="{:.2}" y="{}" stroke="white" stroke-width="3" paint-order="stroke"><tspan font-weight="bold" fill="{}">{}</tspan><tspan x="{:.2}" dy="12" fill="#555">{} · {:.0}%"##,
                Escaped(info.name),
                key_x + 3.0,
                key_y + 11,
                colour(info.kind),
                Escaped(info.name),
                key_x + 3.0,
                Bytes(info.size),
                used,
            )?;
            // A shared region's access list: who writes (w) and reads (r).
            for grant in info.access {
                let right = if grant.write { "w" } else { "r" };
                write!(out, " · {}:{right}", Escaped(grant.component))?;
            }
            writeln!(out, "</tspan></text>")?;
        }
        writeln!(out, "</g>")?;
        // Guards last, over the spans' edges.
        for &index in bank.entries() {
            let info = &self.regions()[index];
            if info.guard_before > 0 {
                let gx =
                    LEFT as f64 + scale(info.offset - info.guard_before, budget).min(BAR as f64);
                let gw = scale(info.guard_before, budget).min(bar_end - gx).max(0.0);
                writeln!(
                    out,
                    r#"<rect class="guard-before" data-entry="{}" x="{gx:.2}" y="{y}" width="{gw:.2}" height="{BAR_HEIGHT}" fill="{GUARD}"><title>guard before {}: {}</title></rect>"#,
                    Escaped(info.name),
                    Escaped(info.name),
                    Bytes(info.guard_before)
                )?;
            }
            if info.guard > 0 {
                let gx = LEFT as f64 + scale(info.offset + info.size, budget).min(BAR as f64);
                let gw = scale(info.guard, budget).min(bar_end - gx).max(0.0);
                writeln!(
                    out,
                    r#"<rect class="guard" data-entry="{}" x="{gx:.2}" y="{y}" width="{gw:.2}" height="{BAR_HEIGHT}" fill="{GUARD}"><title>guard after {}: {}</title></rect>"#,
                    Escaped(info.name),
                    Escaped(info.name),
                    Bytes(info.guard)
                )?;
            }
        }
        writeln!(out, "</g>")
    }

    /// The memory map as an SVG document.
    #[cfg(feature = "std")]
    pub fn svg(&self) -> std::string::String {
        let mut out = std::string::String::new();
        self.write_svg(&mut out)
            .expect("formatting into a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::colour;
    use crate::EntryKind;

    #[test]
    fn entry_kinds_have_distinct_colours() {
        for (i, a) in EntryKind::ALL.into_iter().enumerate() {
            for b in EntryKind::ALL.into_iter().skip(i + 1) {
                assert_ne!(colour(a), colour(b), "{a:?} and {b:?} share a colour");
            }
        }
    }
}
