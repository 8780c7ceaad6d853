//! The largest free range, kept up to date by every allocation, free and
//! move, so that a `defragment` call does not walk the blocks to report it
//! (a walk per call was most of what a sliding call did besides copying;
//! `BENCHMARKS.md`).
//!
//! The free ranges are the gaps between neighbouring blocks, before the
//! first and after the last (empty ones included). Every change of the
//! layout replaces a few gaps next to one block or run by others
//! ([`Largest::vacate`], [`Largest::occupy`], [`Largest::slide`]), so the
//! largest length and how many gaps have it can follow along in O(1). When
//! the last gap of the largest length shrinks, the next largest is not
//! known: the value is marked unknown and the next query walks the blocks
//! once (`Compact::largest`). `check` compares the tracked value with a
//! walk.

use super::table::NIL;
use super::{Compact, Geometry, State, extent};

/// The largest gap's length and how many gaps have it, while `known`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Largest {
    pub(super) len: usize,
    pub(super) count: usize,
    pub(super) known: bool,
}

impl Largest {
    /// Not known: the next query walks.
    pub(super) const UNKNOWN: Self = Self {
        len: 0,
        count: 0,
        known: false,
    };

    fn remove(&mut self, gap: usize) {
        if self.known && gap == self.len {
            self.count -= 1;
            self.known = self.count > 0;
        }
    }

    fn add(&mut self, gap: usize) {
        if !self.known || gap < self.len {
        } else if gap == self.len {
            self.count += 1;
        } else {
            *self = Self {
                len: gap,
                count: 1,
                known: true,
            };
        }
    }

    /// A block of `ext` bytes with gaps `before` and `after` leaves: the
    /// three become one gap.
    pub(super) fn vacate(&mut self, before: usize, ext: usize, after: usize) {
        let merged = before + ext + after;
        // Longer than the largest: the new largest, whichever gaps it
        // swallowed (the largest one too: then removing it first would
        // forget the length, and the next query would walk — once per
        // evacuation from the window, which grows the largest gap).
        if self.known && merged > self.len {
            *self = Self {
                len: merged,
                count: 1,
                known: true,
            };
            return;
        }
        self.remove(before);
        self.remove(after);
        self.add(merged);
    }

    /// A block of `ext` bytes lands with gaps `before` and `after`: one gap
    /// becomes those two.
    pub(super) fn occupy(&mut self, before: usize, ext: usize, after: usize) {
        self.remove(before + ext + after);
        self.add(before);
        self.add(after);
    }

    /// Touching blocks with gaps `before` and `after` slide down by
    /// `delta`.
    pub(super) fn slide(&mut self, before: usize, after: usize, delta: usize) {
        self.remove(before);
        self.remove(after);
        self.add(before - delta);
        self.add(after + delta);
    }
}

impl Compact {
    /// The gaps before and after block `index` were it at `offset` with
    /// `ext` bytes, between its neighbours in the list now. Under the lock.
    pub(super) fn gaps_around(
        &self,
        g: Geometry,
        index: u32,
        offset: usize,
        ext: usize,
    ) -> (usize, usize) {
        let links = self.links(g, index);
        let start = match links.prev() {
            NIL => 0,
            p => {
                let slot = self.slot_locked(g, p);
                slot.offset() + extent(slot.len())
            }
        };
        let end = match links.next() {
            NIL => g.capacity,
            n => self.slot_locked(g, n).offset(),
        };
        (offset - start, end - (offset + ext))
    }

    /// The largest free range: the tracked value, after a walk if it is not
    /// known.
    pub(super) fn largest(&self, state: &mut State, g: Geometry) -> usize {
        if !state.largest.known {
            state.largest = self.walk_gaps(state, g);
        }
        state.largest.len
    }

    /// Walks the blocks for the largest gap and how many have it.
    pub(super) fn walk_gaps(&self, state: &State, g: Geometry) -> Largest {
        let mut largest = Largest {
            len: 0,
            count: 0,
            known: true,
        };
        let mut see = |gap: usize| {
            if gap > largest.len {
                (largest.len, largest.count) = (gap, 1);
            } else if gap == largest.len {
                largest.count += 1;
            }
        };
        let (mut end, mut cur) = (0, state.first);
        while cur != NIL {
            let slot = self.slot_locked(g, cur);
            let offset = slot.offset();
            see(offset - end);
            end = offset + extent(slot.len());
            cur = self.links(g, cur).next();
        }
        see(g.capacity - end);
        largest
    }
}
