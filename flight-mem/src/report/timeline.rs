//! Memory over time: a fixed-capacity recorder that samples a layout's
//! statistics once per frame, and an SVG chart of the samples — used and
//! peak bytes per entry over frames against the entry's budget, the
//! layout's pressure level along the top, and marks where pressure rose or
//! an allocation failed. The picture a console SDK's memory timeline gives,
//! for a `memory_layout!`.
//!
//! The recorder allocates nothing and is const-constructible, so it can be
//! a `static` on a `no_std` target; it keeps the newest `FRAMES` samples
//! (a ring). The chart writer formats into any [`fmt::Write`].

use core::fmt::{self, Write};

use super::svg::{Escaped, colour};
use crate::{Bytes, EntryKind, LayoutTable, PressureLevel};

/// One entry's figures in one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EntrySample {
    /// Bytes in use.
    pub used: usize,
    /// The highest `used` so far.
    pub peak: usize,
    /// Refused requests since the program started.
    pub failures: u64,
    /// The entry's pressure level from its free share (regions and
    /// component segments with an allocator; `None` for the entries
    /// pressure does not watch).
    pub pressure: PressureLevel,
}

const ZERO: EntrySample = EntrySample {
    used: 0,
    peak: 0,
    failures: 0,
    pressure: PressureLevel::None,
};

/// One recorded frame.
#[derive(Clone, Copy, Debug)]
pub struct FrameSample<'a> {
    /// The frame's number (0 for the first recorded).
    pub frame: u64,
    /// The layout's pressure level in that frame.
    pub pressure: PressureLevel,
    /// One sample per entry, in declaration order.
    pub entries: &'a [EntrySample],
}

/// The newest `FRAMES` per-frame samples of up to `ENTRIES` entries of one
/// layout (entries beyond `ENTRIES` are not recorded).
///
/// ```
/// use flight_mem::{Timeline, memory_layout};
///
/// memory_layout! {
///     layout Demo {
///         budget = 256 KiB;
///         region heap = 64 KiB;
///         frame scratch = [16 KiB; 2];
///     }
/// }
///
/// // Const-constructible: a `static` (behind the game's own lock) works too.
/// static EMPTY: Timeline<600, 4> = Timeline::new();
/// assert!(EMPTY.is_empty());
///
/// let mut timeline = Timeline::<600, 4>::new();
/// for _frame in 0..3 {
///     // … the frame's work …
///     timeline.record::<Demo>();
/// }
/// assert_eq!(timeline.len(), 3);
/// # #[cfg(feature = "std")]
/// let svg = timeline.svg();
/// ```
pub struct Timeline<const FRAMES: usize, const ENTRIES: usize> {
    table: Option<&'static LayoutTable>,
    frames: [u64; FRAMES],
    levels: [PressureLevel; FRAMES],
    samples: [[EntrySample; ENTRIES]; FRAMES],
    capacity: [usize; ENTRIES],
    /// Ring index of the oldest sample.
    start: usize,
    len: usize,
    next_frame: u64,
}

impl<const FRAMES: usize, const ENTRIES: usize> Default for Timeline<FRAMES, ENTRIES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const FRAMES: usize, const ENTRIES: usize> Timeline<FRAMES, ENTRIES> {
    /// An empty recorder.
    pub const fn new() -> Self {
        Self {
            table: None,
            frames: [0; FRAMES],
            levels: [PressureLevel::None; FRAMES],
            samples: [[ZERO; ENTRIES]; FRAMES],
            capacity: [0; ENTRIES],
            start: 0,
            len: 0,
            next_frame: 0,
        }
    }

    /// Samples layout `L` as the next frame.
    pub fn record<L: crate::Layout>(&mut self) {
        self.record_table(L::table());
    }

    /// Samples `table` as the next frame: every entry's used, peak and
    /// failure count, and the layout's pressure level. A different layout
    /// than before starts the recording afresh.
    pub fn record_table(&mut self, table: &'static LayoutTable) {
        if FRAMES == 0 {
            return;
        }
        if !self.table.is_some_and(|t| core::ptr::eq(t, table)) {
            *self = Self::new();
            self.table = Some(table);
        }
        let slot = if self.len < FRAMES {
            self.len += 1;
            (self.start + self.len - 1) % FRAMES
        } else {
            let oldest = self.start;
            self.start = (self.start + 1) % FRAMES;
            oldest
        };
        self.frames[slot] = self.next_frame;
        self.next_frame += 1;
        let thresholds = table.thresholds();
        let mut layout_level = PressureLevel::None;
        for (i, row) in table.stats().entries().take(ENTRIES).enumerate() {
            let stats = row.stats;
            // The rule of `LayoutTable::pressure`, per entry.
            let pressure = if crate::layout::routing::watched(row.info) {
                thresholds.level(stats.free(), stats.capacity)
            } else {
                PressureLevel::None
            };
            layout_level = layout_level.max(pressure);
            self.capacity[i] = stats.capacity;
            self.samples[slot][i] = EntrySample {
                used: stats.used,
                peak: stats.peak,
                failures: stats.failures,
                pressure,
            };
        }
        // Entries beyond `ENTRIES` still count towards the layout's level.
        self.levels[slot] = if table.regions().len() > ENTRIES {
            table.pressure()
        } else {
            layout_level
        };
    }

    /// Frames recorded (at most `FRAMES`).
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was recorded.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th recorded frame, oldest first.
    pub fn frame(&self, i: usize) -> Option<FrameSample<'_>> {
        if i >= self.len {
            return None;
        }
        let slot = (self.start + i) % FRAMES;
        Some(FrameSample {
            frame: self.frames[slot],
            pressure: self.levels[slot],
            entries: &self.samples[slot][..self.entries()],
        })
    }

    /// Every recorded frame, oldest first.
    pub fn frames(&self) -> impl Iterator<Item = FrameSample<'_>> {
        (0..self.len).filter_map(|i| self.frame(i))
    }

    /// Entries recorded per frame.
    pub fn entries(&self) -> usize {
        self.table.map_or(0, |t| t.regions().len().min(ENTRIES))
    }

    /// Frames (by number) where the layout's pressure level rose above the
    /// previous frame's, with the new level.
    pub fn pressure_rises(&self) -> impl Iterator<Item = (u64, PressureLevel)> + '_ {
        self.frames()
            .zip(self.frames().skip(1))
            .filter(|(before, now)| now.pressure > before.pressure)
            .map(|(_, now)| (now.frame, now.pressure))
    }

    /// Frames (by number) where entry `entry`'s own pressure level rose,
    /// with the new level.
    pub fn entry_pressure_rises(
        &self,
        entry: usize,
    ) -> impl Iterator<Item = (u64, PressureLevel)> + '_ {
        self.frames()
            .zip(self.frames().skip(1))
            .filter_map(move |(before, now)| {
                let (b, n) = (before.entries.get(entry)?, now.entries.get(entry)?);
                (n.pressure > b.pressure).then_some((now.frame, n.pressure))
            })
    }

    /// Frames (by number) where entry `entry` refused an allocation: its
    /// failure count grew since the previous frame. (The first recorded
    /// frame has no previous one; failures before the recording started are
    /// not marked.)
    pub fn failures(&self, entry: usize) -> impl Iterator<Item = u64> + '_ {
        self.frames()
            .zip(self.frames().skip(1))
            .filter_map(move |(before, now)| {
                let (b, n) = (before.entries.get(entry)?, now.entries.get(entry)?);
                (n.failures > b.failures).then_some(now.frame)
            })
    }

    /// Writes the chart as a standalone SVG document: one panel per entry
    /// with its used bytes (solid), peak (dashed) and budget (red line),
    /// frames along the x axis; the pressure level as a band along the top;
    /// orange lines where pressure rose, red marks where an entry refused
    /// an allocation.
    pub fn write_svg(&self, out: &mut impl Write) -> fmt::Result {
        let entries = self.entries();
        let rows = entries.div_ceil(COLUMNS);
        let height = TOP + rows * PANEL_H + 20;
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">"#
        )?;
        writeln!(
            out,
            r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#
        )?;
        let (first, last) = match (
            self.frame(0),
            self.len.checked_sub(1).and_then(|i| self.frame(i)),
        ) {
            (Some(a), Some(b)) => (a.frame, b.frame),
            _ => (0, 0),
        };
        let title = self.table.map_or("", |t| t.name());
        match self.table.and_then(|t| t.platform()) {
            Some(platform) => writeln!(
                out,
                r#"<text x="10" y="22" font-size="15">layout {} for {}: memory over frames {first}–{last}</text>"#,
                Escaped(title),
                Escaped(platform)
            )?,
            None => writeln!(
                out,
                r#"<text x="10" y="22" font-size="15">layout {}: memory over frames {first}–{last}</text>"#,
                Escaped(title)
            )?,
        }
        self.write_legend(out)?;
        self.write_pressure_band(out, first, last)?;
        for entry in 0..entries {
            let x = MARGIN + (entry % COLUMNS) * (PANEL_W + GAP);
            let y = TOP + (entry / COLUMNS) * PANEL_H;
            self.write_panel(out, entry, x, y, first, last)?;
        }
        writeln!(out, "</svg>")
    }

    fn write_legend(&self, out: &mut impl Write) -> fmt::Result {
        let y = 42;
        writeln!(
            out,
            r##"<g class="legend"><line x1="10" y1="{y}" x2="30" y2="{y}" stroke="#333" stroke-width="2"/><text x="34" y="{}">used</text><line x1="80" y1="{y}" x2="100" y2="{y}" stroke="#333" stroke-dasharray="4 3"/><text x="104" y="{}">peak</text><line x1="150" y1="{y}" x2="170" y2="{y}" stroke="{BUDGET}" stroke-width="1.5"/><text x="174" y="{}">budget</text><line x1="236" y1="{}" x2="236" y2="{}" stroke="{RISE}" stroke-width="2"/><text x="242" y="{}">pressure rose</text><path d="M 358 {} l 4 7 l 4 -7 z" fill="{BUDGET}"/><text x="372" y="{}">allocation failed</text></g>"##,
            y + 4,
            y + 4,
            y + 4,
            y - 6,
            y + 6,
            y + 4,
            y - 4,
            y + 4,
        )
    }

    /// The layout's pressure level per frame, as runs of colour.
    fn write_pressure_band(&self, out: &mut impl Write, first: u64, last: u64) -> fmt::Result {
        let y = 54;
        let left = MARGIN as f64;
        let width = (COLUMNS * PANEL_W + (COLUMNS - 1) * GAP) as f64;
        writeln!(
            out,
            r##"<g class="pressure"><text x="10" y="{}">pressure</text><rect x="{left}" y="{y}" width="{width}" height="10" fill="#f4f4f4"/>"##,
            y + 9
        )?;
        let x_of = |frame: u64| left + frame_x(frame, first, last, width);
        let mut run: Option<(u64, PressureLevel)> = None;
        let flush = |out: &mut dyn Write, start: u64, end: u64, level: PressureLevel| {
            if level == PressureLevel::None {
                return Ok(());
            }
            let x = x_of(start);
            let w = (x_of(end) - x).max(1.0);
            writeln!(
                out,
                r#"<rect class="level" data-level="{level:?}" x="{x:.1}" y="{y}" width="{w:.1}" height="10" fill="{}"/>"#,
                level_colour(level)
            )
        };
        for sample in self.frames() {
            match run {
                Some((_, level)) if level == sample.pressure => {}
                Some((start, level)) => {
                    flush(out, start, sample.frame, level)?;
                    run = Some((sample.frame, sample.pressure));
                }
                None => run = Some((sample.frame, sample.pressure)),
            }
        }
        if let Some((start, level)) = run {
            flush(out, start, last.max(start + 1), level)?;
        }
        for (frame, level) in self.pressure_rises() {
            let mx = x_of(frame);
            writeln!(
                out,
                r#"<path class="mark pressure" data-frame="{frame}" data-level="{level:?}" d="M {:.1} {} l 3 5 l 3 -5 z" fill="{RISE}"/>"#,
                mx - 3.0,
                y - 6
            )?;
        }
        writeln!(out, "</g>")
    }

    fn write_panel(
        &self,
        out: &mut impl Write,
        entry: usize,
        x: usize,
        y: usize,
        first: u64,
        last: u64,
    ) -> fmt::Result {
        let Some(table) = self.table else {
            return Ok(());
        };
        let info = &table.regions()[entry];
        let capacity = self.capacity[entry];
        let peak = self
            .frames()
            .map(|f| f.entries[entry].peak)
            .max()
            .unwrap_or(0);
        // Headroom above the budget line, so it never hides under the frame.
        let top = (capacity.max(peak) as f64 * 1.12).max(1.0);
        let (left, plot_top) = (x as f64, (y + 18) as f64);
        let (w, h) = (PANEL_W as f64, PLOT_H as f64);
        let y_of = |bytes: usize| plot_top + h - bytes as f64 * h / top;
        let x_of = |frame: u64| left + frame_x(frame, first, last, w);
        let colour = colour(info.kind);
        writeln!(
            out,
            r#"<g class="series" data-entry="{}" data-capacity="{capacity}">"#,
            Escaped(info.name)
        )?;
        let latest = self
            .len
            .checked_sub(1)
            .and_then(|i| self.frame(i))
            .map_or(ZERO, |f| f.entries[entry]);
        // The allocator only where the kind does not say it.
        let allocator = match info.allocator.name() {
            name if name == info.kind.keyword() || info.kind == EntryKind::Frame => "",
            name => name,
        };
        writeln!(
            out,
            r##"<text x="{left}" y="{}" font-size="12"><tspan font-weight="bold">{}</tspan> {} {allocator}</text><text x="{}" y="{}" text-anchor="end" fill="#444">now {}, peak {}</text>"##,
            y + 12,
            Escaped(info.name),
            info.kind.keyword(),
            left + w,
            y + 12,
            Bytes(latest.used),
            Bytes(peak),
        )?;
        writeln!(
            out,
            r##"<rect x="{left}" y="{plot_top}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>"##
        )?;
        // Axes: frames below, bytes on the left.
        let bottom = plot_top + h;
        writeln!(
            out,
            r##"<g class="axis" stroke="#666"><line class="x-axis" x1="{left}" y1="{bottom}" x2="{}" y2="{bottom}"/><line class="y-axis" x1="{left}" y1="{plot_top}" x2="{left}" y2="{bottom}"/>"##,
            left + w
        )?;
        let step = tick_step(last - first);
        for frame in (first.div_ceil(step) * step..=last).step_by(step as usize) {
            let tx = x_of(frame);
            writeln!(
                out,
                r##"<line x1="{tx:.1}" y1="{bottom}" x2="{tx:.1}" y2="{}"/><text x="{tx:.1}" y="{}" stroke="none" fill="#666" text-anchor="middle" font-size="10">{frame}</text>"##,
                bottom + 3.0,
                bottom + 13.0
            )?;
        }
        writeln!(
            out,
            r##"<text x="{}" y="{}" stroke="none" fill="#666" text-anchor="end" font-size="10">0</text></g>"##,
            left - 3.0,
            bottom
        )?;
        // The budget: the entry's capacity.
        let by = y_of(capacity);
        writeln!(
            out,
            r#"<line class="budget" x1="{left}" y1="{by:.1}" x2="{}" y2="{by:.1}" stroke="{BUDGET}" stroke-width="1.5"/><text x="{}" y="{:.1}" fill="{BUDGET}" text-anchor="end" font-size="10">{}</text>"#,
            left + w,
            left - 3.0,
            by + 3.0,
            Bytes(capacity)
        )?;
        // This entry's own pressure rises.
        for (frame, level) in self.entry_pressure_rises(entry) {
            let mx = x_of(frame);
            writeln!(
                out,
                r#"<line class="mark pressure" data-frame="{frame}" data-level="{level:?}" x1="{mx:.1}" y1="{plot_top}" x2="{mx:.1}" y2="{bottom}" stroke="{RISE}" stroke-opacity="0.7"/>"#
            )?;
        }
        write!(
            out,
            r#"<polyline class="used" fill="none" stroke="{colour}" stroke-width="1.5" points=""#
        )?;
        for f in self.frames() {
            write!(
                out,
                "{:.1},{:.1} ",
                x_of(f.frame),
                y_of(f.entries[entry].used)
            )?;
        }
        writeln!(out, r#""/>"#)?;
        write!(
            out,
            r#"<polyline class="peak" fill="none" stroke="{colour}" stroke-dasharray="4 3" points=""#
        )?;
        for f in self.frames() {
            write!(
                out,
                "{:.1},{:.1} ",
                x_of(f.frame),
                y_of(f.entries[entry].peak)
            )?;
        }
        writeln!(out, r#""/>"#)?;
        for frame in self.failures(entry) {
            let mx = x_of(frame);
            writeln!(
                out,
                r#"<path class="mark failure" data-frame="{frame}" d="M {:.1} {plot_top} l 4 7 l 4 -7 z" fill="{BUDGET}"/>"#,
                mx - 4.0
            )?;
        }
        writeln!(out, "</g>")
    }

    /// The chart as an SVG document.
    #[cfg(feature = "std")]
    pub fn svg(&self) -> std::string::String {
        let mut out = std::string::String::new();
        self.write_svg(&mut out)
            .expect("formatting into a String cannot fail");
        out
    }
}

const WIDTH: usize = 1000;
const COLUMNS: usize = 2;
const MARGIN: usize = 80;
const GAP: usize = 90;
const PANEL_W: usize = (WIDTH - MARGIN - 20 - (COLUMNS - 1) * GAP) / COLUMNS;
const PANEL_H: usize = 130;
const PLOT_H: usize = 84;
const TOP: usize = 76;
const BUDGET: &str = "#d62728";
const RISE: &str = "#ff9f1c";

/// `frame`'s x offset in a plot `width` wide showing `first..=last`.
fn frame_x(frame: u64, first: u64, last: u64, width: f64) -> f64 {
    if last <= first {
        return 0.0;
    }
    (frame.saturating_sub(first)) as f64 * width / (last - first) as f64
}

/// A round frame step for axis ticks: 1, 2 or 5 times a power of ten,
/// giving at most six ticks over `span` frames.
fn tick_step(span: u64) -> u64 {
    let mut power = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let step = power.saturating_mul(factor);
            if span / step <= 5 {
                return step;
            }
        }
        power = power.saturating_mul(10);
    }
}

fn level_colour(level: PressureLevel) -> &'static str {
    match level {
        PressureLevel::None => "#f4f4f4",
        PressureLevel::Low => "#ffe08a",
        PressureLevel::Medium => "#ffb347",
        PressureLevel::High => "#ff7043",
        PressureLevel::Critical => "#c62828",
    }
}
