//! The memory map as an SVG picture: one bar per bank, one coloured span per
//! entry (by kind) with its used share shaded, guards and padding left
//! blank, and a tooltip per span with the entry's figures.
//!
//! The writer formats into any [`fmt::Write`], so it needs no heap; with
//! `std`, [`LayoutTable::svg`] returns a `String`.

use core::fmt::{self, Write};

use crate::LayoutTable;
use crate::{Bytes, EntryKind};

const WIDTH: usize = 960;
const LEFT: usize = 180;
const BAR: usize = WIDTH - LEFT - 20;
const BANK_HEIGHT: usize = 84;
const TOP: usize = 48;

/// Fill colour of an entry's span, by kind.
pub(crate) fn colour(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Region => "#4e79a7",
        EntryKind::Frame => "#f28e2b",
        EntryKind::Stack => "#59a14f",
        EntryKind::Pool => "#b07aa1",
        EntryKind::Reserve => "#e15759",
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

impl LayoutTable {
    /// Writes the memory map as a standalone SVG document.
    pub fn write_svg(&self, out: &mut impl Write) -> fmt::Result {
        let height = TOP + self.banks().len() * BANK_HEIGHT + 40;
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="12">"#
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
        for (row, bank) in self.banks().iter().enumerate() {
            let y = TOP + row * BANK_HEIGHT;
            let budget = bank.budget.max(bank.used);
            writeln!(
                out,
                r#"<g class="bank" data-name="{}">"#,
                Escaped(bank.name)
            )?;
            writeln!(
                out,
                r##"<text x="10" y="{}">{}</text><text x="10" y="{}" fill="#666">{} / {}</text>"##,
                y + 18,
                Escaped(bank.name),
                y + 34,
                Bytes(bank.used),
                Bytes(bank.budget)
            )?;
            writeln!(
                out,
                r##"<rect class="budget" x="{LEFT}" y="{y}" width="{BAR}" height="40" fill="#eee" stroke="#999"/>"##
            )?;
            for &index in bank.entries() {
                let info = &self.regions()[index];
                let used = self
                    .allocator(index)
                    .map_or(0.0, |a| a.stats().used_percent() as f64);
                let x = LEFT as f64 + scale(info.offset, budget).min(BAR as f64);
                let width = scale(info.size, budget).min(LEFT as f64 + BAR as f64 - x);
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
                    r#"<rect x="{x:.2}" y="{y}" width="{width:.2}" height="40" fill="{}" fill-opacity="0.45" stroke="white"/>"#,
                    colour(info.kind)
                )?;
                writeln!(
                    out,
                    r#"<rect x="{x:.2}" y="{y}" width="{:.2}" height="40" fill="{}"/>"#,
                    width * used / 100.0,
                    colour(info.kind)
                )?;
                // Monospace 12 px: about 7.3 px a character.
                if width >= 7.5 * info.name.len() as f64 + 6.0 {
                    writeln!(
                        out,
                        r#"<text x="{:.2}" y="{}" fill="white">{}</text>"#,
                        x + 3.0,
                        y + 25,
                        Escaped(info.name)
                    )?;
                }
                writeln!(out, "</g>")?;
            }
            writeln!(out, "</g>")?;
        }
        let legend_y = TOP + self.banks().len() * BANK_HEIGHT + 16;
        for (i, kind) in [
            EntryKind::Region,
            EntryKind::Frame,
            EntryKind::Stack,
            EntryKind::Pool,
            EntryKind::Reserve,
        ]
        .into_iter()
        .enumerate()
        {
            let x = LEFT + i * 120;
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
        writeln!(out, "</svg>")
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
