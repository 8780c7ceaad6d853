//! A layout's guard zones and its validation.
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

use core::fmt;

use crate::{GuardBreach, InvariantViolation, LayoutTable};

impl LayoutTable {
    /// The guard zone after entry `index`, once confirmed to lie inside its
    /// bank's storage and outside every entry of the bank; with whether the
    /// bank is at a fixed address.
    ///
    /// Zone `z < n` (for `n` entries) is the guard after entry `z`; zone
    /// `n + i` is the guard directly before entry `i` (components only).
    fn guard_range(&self, zone: usize) -> Option<(*mut u8, usize, bool)> {
        let count = self.regions.len();
        let (index, leading) = if zone < count {
            (zone, false)
        } else {
            (zone - count, true)
        };
        let info = self.regions.get(index)?;
        let len = if leading {
            info.guard_before
        } else {
            info.guard
        };
        if len == 0 || self.guards.len() <= zone {
            return None;
        }
        let bank = self.banks.iter().find(|b| b.entries().contains(&index))?;
        let start = if leading {
            info.offset.checked_sub(len)?
        } else {
            info.end()
        };
        let end = start.checked_add(len)?;
        let outside_entries = bank.entries().iter().all(|&other| {
            let other = &self.regions[other];
            end <= other.offset || other.end() <= start
        });
        let base = bank.start();
        if end > bank.used || !outside_entries || base.is_null() {
            debug_assert!(false, "guard of `{}` misplaced", info.name);
            return None;
        }
        Some((base.wrapping_add(start), len, bank.fixed))
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

    /// How the guard zone directly before entry `index` (a component's) is
    /// armed; `None` when it has none.
    pub fn leading_guard_mode(&self, index: usize) -> Option<crate::GuardMode> {
        let zone = self.regions.len() + index;
        self.guard_range(zone)?;
        self.guards.get(zone).map(crate::GuardZone::mode)
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
            for (zone, leading) in [(index, false), (self.regions.len() + index, true)] {
                let Some((ptr, len, _)) = self.guard_range(zone) else {
                    continue;
                };
                // SAFETY: the zone this `GuardZone` was armed with (same
                // range, from the same tables); it is only read when armed
                // as canaries, i.e. readable.
                if let Err(breach) = unsafe { self.guards[zone].check(ptr, len) } {
                    report.push(Problem {
                        region: info.name,
                        kind: if leading {
                            ProblemKind::LeadingGuardBreach(breach)
                        } else {
                            ProblemKind::GuardBreach(breach)
                        },
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
    /// A canary byte of the guard directly before the entry (a component)
    /// changed: an underrun of the entry, or an overrun of its neighbour.
    LeadingGuardBreach(GuardBreach),
    /// The entry's allocator found its bookkeeping inconsistent.
    Invariant(InvariantViolation),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProblemKind::GuardBreach(breach) => {
                write!(f, "`{}`: overrun into its guard: {breach}", self.region)
            }
            ProblemKind::LeadingGuardBreach(breach) => {
                write!(
                    f,
                    "`{}`: the guard before it was written: {breach}",
                    self.region
                )
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
