//! The first phase of defragmentation: evacuate the cheapest window.
//!
//! # Why
//!
//! Sliding compaction moves every block above the first hole — about all
//! live bytes — before the free space is one range. Most of that is not
//! needed for what a game wants from defragmentation, one free range large
//! enough for the next big load: some range of that size must end up free,
//! so the blocks overlapping it must move, and nothing else has to. The
//! cheapest such range (the *window*) is a lower bound for any compaction;
//! evacuating exactly its blocks into holes elsewhere reaches it, if they
//! fit.
//!
//! # Rule (one move per step, recomputed from the layout each time)
//!
//! * The goal is one free range of `free - free / 32` bytes ([`goal`]).
//!   When the largest free range is that large already, when sliding every
//!   block into place would move no more bytes than evacuating the window
//!   (below), or when the phase is over (below), this module proposes
//!   nothing and sliding compaction takes over.
//! * The window `W` is the range of the goal's size whose overlapping
//!   blocks have the fewest bytes, among ranges holding no block that
//!   cannot move now (pinned, lent mutably, or longer than the budget's
//!   `max_bytes`); ties go to the lowest address. Evacuating `W` only makes
//!   it cheaper and other windows no cheaper, so the choice is stable from
//!   step to step without storing it.
//! * Best fit, decreasing: the largest block of `W` that fits some free
//!   range outside `W` moves to the smallest free range outside `W` that
//!   holds it (at that range's start, aligned). It moves once: nothing
//!   moves it again in this phase, since it is outside `W` now.
//! * Repair: when no block of `W` fits anywhere outside it, the largest one
//!   (`E`) needs a free range made: the cheapest window `V` of `E`'s size
//!   outside `W` is evacuated the same way (into free ranges outside `W`
//!   and `V`), after which `E` fits.
//! * The phase ends — sliding compaction moves the rest toward the start,
//!   so `done` still means compacted — when none of this finds a move, and
//!   after `2 × live blocks + 16` evacuation steps (a bound that makes the
//!   phase finite whatever ties do); allocating or freeing a block starts a
//!   new phase.
//!
//! On the issue-13 workload this moves 1.03–1.13× the window lower bound to
//! reach a free range of 95 % of the free bytes (sliding compaction moved
//! 2.4–2.9×); see `BENCHMARKS.md`. Each step is O(blocks): a few walks over
//! the address-ordered list, no memory beyond the stack. The `batch` module
//! plans up to 64 of these steps at once, exactly as this module would, and
//! this module decides only what a batch cannot (repairs, pins, alignment).

use super::table::{NIL, WRITER, pins};
use super::{Compact, Geometry, State, extent};
use crate::sync::Ordering;

/// A range of the data area, `start..end`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Span {
    pub(super) const EMPTY: Self = Self { start: 0, end: 0 };

    pub(super) fn len(self) -> usize {
        self.end - self.start
    }
}

/// One evacuation the planner chose.
#[derive(Clone, Copy)]
pub(super) struct Evacuation {
    /// The block's slot.
    pub(super) index: u32,
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) len: usize,
    /// The block the destination follows in address order (`NIL`: the
    /// start), for relinking.
    pub(super) after: u32,
}

/// What the planner proposes.
pub(super) enum Plan {
    /// Move this block.
    Move(Evacuation),
    /// The next move does not fit the rest of this call's budget.
    OverBudget,
    /// Nothing to evacuate: slide.
    Slide,
}

/// The room a repair is evacuating, kept from step to step.
///
/// While a repair runs, each step finds again that no block of the window
/// `W` fits outside it, and again the cheapest range `V` of the stuck
/// block's size outside `W` — two walks of three cursors, most of what a
/// repair step cost besides copying (`BENCHMARKS.md`). The answer does not
/// change while the only layout changes are the repair's own moves: each
/// takes a block overlapping `V` to a free range outside `W` and `V`. That
/// lowers `V`'s cost by the block's length, lowers any other range's cost
/// by at most that (only ranges overlapping the block's old place get
/// cheaper), and a range starting at the moved block's new end weighs at
/// least what the range starting at the start of the free range it landed
/// in weighed before (it overlaps every block that one did, the moved one
/// excepted) — so `V` stays strictly the cheapest, ties included. `W` and
/// the stuck block (the largest of `W`) do not change either. So `V` is
/// kept with the layout epoch it is valid at; the step after one of the
/// repair's own moves advances the epoch (`Repair::made`), any other change
/// of the layout (an allocation, a free, another move) leaves it stale. A
/// pin in `V` (or anything else that stops `evacuate_one` in `V`) makes the
/// planner choose again. With the fast paths off (the comparison test)
/// nothing is kept, so that test checks the kept `V` is the one chosen
/// afresh.
///
/// The window's check (and a batch, which would plan nothing) is skipped
/// too while it would fail by size: when it
/// last ran, every block of `W` was longer than the largest free range
/// outside `W` (`Tight`). No repair move can then take a block of `W`
/// (what it moves fits outside `W` and `V`, so outside `W`), so `W`'s
/// blocks and its largest block stay; the free ranges outside `W` change
/// only where the moved block was (longer) and where it went (shorter), so
/// the largest of them is at most the larger of the kept one and the
/// vacated range's part outside `W`. While that bound stays below `W`'s
/// least extent, the check would fail again with the same block. Pins
/// taken meanwhile on blocks of `W` are seen when the check runs again (or
/// by the next phase's walk): as with a batch, a pinned block never moves,
/// it is only noticed a few steps later than step-by-step planning would.
#[derive(Clone, Copy)]
pub(super) struct Repair {
    /// The layout epoch `room` is valid at.
    epoch: u64,
    /// The window, the stuck block's extent and the budget's `max_bytes`
    /// it was chosen for.
    key: (Span, usize, usize),
    room: Option<Span>,
    /// The window's largest block (which fits nowhere outside it), and
    /// why nothing of the window fitted: the largest free range outside the
    /// window then, raised to an upper bound of it since by each of the
    /// repair's moves, and the least extent of the window's blocks.
    stuck: Block,
    tight: Tight,
    /// The planner proposed a move of this repair that is not made yet.
    pub(super) proposed: bool,
}

impl Repair {
    pub(super) const NONE: Self = Self {
        epoch: 0,
        key: (Span::EMPTY, 0, 0),
        room: None,
        stuck: Block::NONE,
        tight: Tight { room: 0, least: 0 },
        proposed: false,
    };

    /// The kept room, if it is valid at `epoch` for `key`.
    fn room(&self, epoch: u64, key: (Span, usize, usize)) -> Option<Span> {
        self.room.filter(|_| self.epoch == epoch && self.key == key)
    }

    /// The window's stuck block, if the kept figures show that no block of
    /// `window` fits outside it at `epoch`.
    pub(super) fn stuck(
        &self,
        epoch: u64,
        window: Span,
        max_bytes: usize,
    ) -> Option<(Block, Tight)> {
        let (w, _, m) = self.key;
        (self.room.is_some()
            && self.epoch == epoch
            && (w, m) == (window, max_bytes)
            && self.tight.room < self.tight.least)
            .then_some((self.stuck, self.tight))
    }

    /// A move was made, leaving the layout at `epoch` and `vacated` (the
    /// block's old place with the free ranges on either side) free: if it
    /// was the repair's own, the kept room is still the choice there, and
    /// no free range outside the window is longer than before or than
    /// what `vacated` adds outside it.
    pub(super) fn made(&mut self, epoch: u64, vacated: Span) {
        if self.proposed {
            self.epoch = epoch;
            let window = self.key.0;
            let below = vacated.end.min(window.start).saturating_sub(vacated.start);
            let above = vacated.end.saturating_sub(vacated.start.max(window.end));
            self.tight.room = self.tight.room.max(below).max(above);
        }
        self.proposed = false;
    }
}

/// Free ranges `evacuate_one` keeps from its first walk to choose the
/// destination from (24 bytes each on 64-bit targets, 12 on 32-bit, on the
/// stack); with more it walks again. During a repair on the issue-13
/// workload there are about 20 outside the window and the room. The unit
/// tests keep 4, so that their layouts take both paths (the integration
/// tests build the library without `cfg(test)`: 64).
#[cfg(not(test))]
const KEPT: usize = 64;
#[cfg(test)]
const KEPT: usize = 4;

/// The free range the first phase aims at, for `free` free bytes.
pub(super) const fn goal(free: usize) -> usize {
    free - free / 32
}

/// Why a range has nothing to evacuate.
enum Stuck {
    /// No block overlaps it.
    Clear,
    /// A block in it cannot move now.
    Fixed,
    /// None of its blocks fits anywhere outside; this is the largest.
    NoFit(Block, Tight),
}

/// Why nothing fitted, for [`Repair`]: the largest free range outside
/// the range and its blocks' least extent (0 when one fitted by size and
/// only alignment kept it out: then nothing is kept).
#[derive(Clone, Copy)]
pub(super) struct Tight {
    room: usize,
    least: usize,
}

/// What a block is to the planner.
#[derive(Clone, Copy)]
pub(super) struct Block {
    pub(super) index: u32,
    pub(super) offset: usize,
    pub(super) len: usize,
    pub(super) align: usize,
    /// It may move now (not pinned, no writer, within the budget).
    pub(super) movable: bool,
}

impl Block {
    pub(super) const NONE: Self = Self {
        index: NIL,
        offset: 0,
        len: 0,
        align: 1,
        movable: false,
    };
}

impl Compact {
    /// The blocks in address order, with what the planner needs.
    pub(super) fn blocks<'s>(
        &'s self,
        state: &State,
        g: Geometry,
        max_bytes: usize,
    ) -> impl Iterator<Item = Block> + Clone + 's {
        self.blocks_from(state.first, g, max_bytes)
    }

    /// The blocks from `first` on, in address order.
    pub(super) fn blocks_from<'s>(
        &'s self,
        first: u32,
        g: Geometry,
        max_bytes: usize,
    ) -> impl Iterator<Item = Block> + Clone + 's {
        let mut cur = first;
        core::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let slot = self.slot_locked(g, cur);
            let links = self.links(g, cur);
            let word = slot.state.load(Ordering::Relaxed);
            let len = slot.len();
            let block = Block {
                index: cur,
                offset: slot.offset(),
                len,
                align: links.align(),
                movable: pins(word) == 0 && word & WRITER == 0 && len <= max_bytes,
            };
            cur = links.next();
            Some(block)
        })
    }

    /// The blocks from `first` on, in address order, with only their
    /// slot, place and length read (`align` 1, `movable` false): for the
    /// walks that look at the free ranges between blocks, which need no
    /// more and are most of a repair step's cost (`BENCHMARKS.md`).
    pub(super) fn places_from<'s>(
        &'s self,
        first: u32,
        g: Geometry,
    ) -> impl Iterator<Item = Block> + Clone + 's {
        let mut cur = first;
        core::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let slot = self.slot_locked(g, cur);
            let block = Block {
                index: cur,
                offset: slot.offset(),
                len: slot.len(),
                align: 1,
                movable: false,
            };
            cur = self.links(g, cur).next();
            Some(block)
        })
    }

    /// The window of `size` bytes inside `within` whose overlapping blocks
    /// weigh least (in bytes), among windows with only movable blocks; ties
    /// to the lowest. A window starts at `within.start` or at a block's end,
    /// which loses nothing: sliding any window down to the nearest such
    /// place overlaps no more blocks. O(blocks): three cursors that only
    /// move forward.
    fn cheapest_window(
        blocks: impl Iterator<Item = Block> + Clone,
        size: usize,
        within: Span,
    ) -> Option<(Span, usize)> {
        let end_of = |b: &Block| b.offset + extent(b.len);
        // `lo..hi` are the blocks overlapping the window at `start`.
        let (mut lo, mut hi, mut ends) = (blocks.clone(), blocks.clone(), blocks);
        // Pins and writers come and go without the lock, so `lo` may see a
        // block's `movable` differently from `hi`: count nothing on the way
        // out. A window is free of fixed blocks when every fixed block
        // added so far (as `hi` saw it) ends at or before its start.
        let (mut cost, mut fixed_end) = (0usize, 0usize);
        let (mut lo_next, mut hi_next) = (None::<Block>, None::<Block>);
        let mut added = 0usize;
        let mut removed = 0usize;
        let mut best: Option<(Span, usize)> = None;
        let mut start = within.start;
        while let Some(window_end) = start.checked_add(size).filter(|&e| e <= within.end) {
            // Add the blocks that start before the window ends.
            loop {
                let next = hi_next.take().or_else(|| hi.next());
                match next {
                    Some(b) if b.offset < window_end => {
                        cost += b.len;
                        if !b.movable {
                            fixed_end = fixed_end.max(end_of(&b));
                        }
                        added += 1;
                    }
                    other => {
                        hi_next = other;
                        break;
                    }
                }
            }
            // Drop the blocks that end at or before the window starts.
            while removed < added {
                let next = lo_next.take().or_else(|| lo.next());
                match next {
                    Some(b) if end_of(&b) <= start => {
                        cost -= b.len;
                        removed += 1;
                    }
                    other => {
                        lo_next = other;
                        break;
                    }
                }
            }
            if fixed_end <= start && best.is_none_or(|(_, c)| cost < c) {
                best = Some((
                    Span {
                        start,
                        end: window_end,
                    },
                    cost,
                ));
            }
            // The next candidate start: the next block end past `start`.
            match ends.by_ref().map(|b| end_of(&b)).find(|&e| e > start) {
                Some(e) => start = e,
                None => break,
            }
        }
        best
    }

    /// Calls `f` with every free range outside `avoid` (each range clipped
    /// to what lies outside both spans) and the block it follows.
    pub(super) fn free_outside(
        blocks: impl Iterator<Item = Block>,
        capacity: usize,
        avoid: [Span; 2],
        mut f: impl FnMut(Span, u32),
    ) {
        let mut clip = |gap: Span, prev: u32| {
            // By start, then end: an empty span at the start of the other
            // must come first, or "after the second" would be everything
            // after it (the window at 0 with `Span::EMPTY` as `also` once
            // let evacuations land inside the window and ping-pong).
            let (a, b) = if (avoid[0].start, avoid[0].end) <= (avoid[1].start, avoid[1].end) {
                (avoid[0], avoid[1])
            } else {
                (avoid[1], avoid[0])
            };
            // At most three pieces: before `a`, between `a` and `b`, after `b`.
            let pieces = [
                Span {
                    start: gap.start,
                    end: gap.end.min(a.start),
                },
                Span {
                    start: gap.start.max(a.end),
                    end: gap.end.min(b.start),
                },
                Span {
                    start: gap.start.max(b.end),
                    end: gap.end,
                },
            ];
            for piece in pieces {
                if piece.start < piece.end {
                    f(piece, prev);
                }
            }
        };
        let (mut end, mut prev) = (0, NIL);
        for b in blocks {
            if b.offset > end {
                clip(
                    Span {
                        start: end,
                        end: b.offset,
                    },
                    prev,
                );
            }
            end = b.offset + extent(b.len);
            prev = b.index;
        }
        if capacity > end {
            clip(
                Span {
                    start: end,
                    end: capacity,
                },
                prev,
            );
        }
    }

    /// The evacuation of the largest movable block overlapping `from` that
    /// fits (aligned) into a free range outside `from` and `also`, into the
    /// smallest such range; or why there is none.
    fn evacuate_one(
        &self,
        state: &State,
        g: Geometry,
        max_bytes: usize,
        from: Span,
        also: Span,
    ) -> Result<Evacuation, Stuck> {
        let inside = |b: &Block| b.offset < from.end && b.offset + extent(b.len) > from.start;
        // The first walk also notes where `from`'s blocks start, so the
        // second visits only them, not the whole list.
        let mut room = 0;
        let mut first_inside = NIL;
        let noting = self.places_from(state.first, g).inspect(|b| {
            if first_inside == NIL && inside(b) {
                first_inside = b.index;
            }
        });
        // It also keeps the free ranges (in address order), so that the
        // destination is chosen from them instead of by a third walk; only
        // when there are more than `KEPT` does the third walk run.
        let mut kept = [(Span::EMPTY, NIL); KEPT];
        let mut count = 0;
        Self::free_outside(noting, g.capacity, [from, also], |span, prev| {
            room = room.max(span.len());
            if count < KEPT {
                kept[count] = (span, prev);
            }
            count += 1;
        });
        let in_from = self
            .blocks_from(first_inside, g, max_bytes)
            .take_while(|b| b.offset < from.end)
            .filter(inside);
        let mut largest: Option<Block> = None;
        let mut chosen: Option<Block> = None;
        let mut least = usize::MAX;
        for b in in_from {
            if !b.movable {
                return Err(Stuck::Fixed);
            }
            least = least.min(extent(b.len));
            if largest.is_none_or(|l| b.len > l.len) {
                largest = Some(b);
            }
            if b.movable && extent(b.len) <= room && chosen.is_none_or(|c| b.len > c.len) {
                chosen = Some(b);
            }
        }
        let Some(block) = chosen else {
            let tight = Tight { room, least };
            return Err(largest.map_or(Stuck::Clear, |l| Stuck::NoFit(l, tight)));
        };
        let ext = extent(block.len);
        // The smallest range that holds it aligned; ties to the lower.
        let mut best: Option<(usize, usize, u32)> = None;
        let mut consider = |span: Span, prev: u32| {
            if let Some(at) = Compact::place(g, span.start, block.align)
                && at.checked_add(ext).is_some_and(|e| e <= span.end)
                && best.is_none_or(|(len, _, _)| span.len() < len)
            {
                best = Some((span.len(), at, prev));
            }
        };
        if count <= KEPT {
            // The walk above saw these ranges, in the same order, and the
            // layout has not changed since (the lock is held).
            for &(span, prev) in &kept[..count] {
                consider(span, prev);
            }
        } else {
            Self::free_outside(
                self.places_from(state.first, g),
                g.capacity,
                [from, also],
                consider,
            );
        }
        match best {
            Some((_, to, after)) => Ok(Evacuation {
                index: block.index,
                from: block.offset,
                to,
                len: block.len,
                after,
            }),
            // Only alignment kept it out of the largest range.
            None => {
                let tight = Tight { room, least: 0 };
                Err(largest.map_or(Stuck::Clear, |l| Stuck::NoFit(l, tight)))
            }
        }
    }

    /// Bytes a sliding compaction of the movable blocks moves.
    fn slide_cost(g: Geometry, blocks: impl Iterator<Item = Block>) -> usize {
        let (mut end, mut cost) = (0, 0);
        for b in blocks {
            let target = Compact::place(g, end, b.align).unwrap_or(b.offset);
            if b.movable && target < b.offset {
                cost += b.len;
                end = target + extent(b.len);
            } else {
                end = b.offset + extent(b.len);
            }
        }
        cost
    }

    /// The window of the first phase: the cached one, or a new one (`None`:
    /// no evacuation, slide). The cache lives until the layout changes
    /// (allocate, free) or a block in the window cannot move: evacuating
    /// the window keeps it the cheapest (see the module documentation).
    pub(super) fn window(&self, state: &mut State, g: Geometry, max_bytes: usize) -> Option<Span> {
        if let Some(window) = state.window {
            return Some(window);
        }
        let free = g.capacity - state.counters.used();
        let goal = goal(free);
        if self.largest(state, g) >= goal {
            return None;
        }
        let blocks = || self.blocks(state, g, max_bytes);
        let all = Span {
            start: 0,
            end: g.capacity,
        };
        let (window, cost) = Self::cheapest_window(blocks(), goal, all)?;
        // Sliding everything into place costs no more: slide (evacuating
        // would move blocks that the slides then move again).
        if Self::slide_cost(g, blocks()) <= cost {
            return None;
        }
        state.window = Some(window);
        state.anchor = NIL;
        Some(window)
    }

    /// The next evacuation of the first phase, or why there is none.
    /// `spent` is what this call has copied so far.
    // Out of line, as `plan_batch`: not on the per-move path of batches.
    #[inline(never)]
    pub(super) fn plan(
        &self,
        state: &mut State,
        g: Geometry,
        max_bytes: usize,
        spent: usize,
    ) -> Plan {
        if self.scoped_hint() || state.evacuations > 2 * state.counters.live() as u64 + 16 {
            return Plan::Slide;
        }
        let (window, stuck, tight) = loop {
            let Some(window) = self.window(state, g, max_bytes) else {
                return Plan::Slide;
            };
            // In a repair, while no block of the window can fit yet (see
            // `Repair`), the window's check would fail the same way.
            if state.batch.enabled
                && let Some((stuck, tight)) = state.repair.stuck(state.epoch, window, max_bytes)
            {
                break (window, stuck, tight);
            }
            match self.evacuate_one(state, g, max_bytes, window, Span::EMPTY) {
                Ok(evacuation) => return Self::within_budget(evacuation, max_bytes, spent),
                Err(Stuck::Clear) => return Plan::Slide,
                // A pin or writer came: choose again, around it (the new
                // window has no such block, so this loops at most once).
                Err(Stuck::Fixed) if state.window.take().is_some() => {
                    state.anchor = NIL;
                    continue;
                }
                Err(Stuck::Fixed) => return Plan::Slide,
                Err(Stuck::NoFit(block, tight)) => break (window, block, tight),
            }
        };
        // Make room for the largest block of the window: evacuate the
        // cheapest range of its size outside the window (the one the last
        // step chose, if only its moves happened since: see `Repair`).
        let size = extent(stuck.len);
        let key = (window, size, max_bytes);
        let cached = state
            .batch
            .enabled
            .then(|| state.repair.room(state.epoch, key));
        if let Some(Some(room)) = cached
            && let Ok(evacuation) = self.evacuate_one(state, g, max_bytes, room, window)
        {
            state.repair.stuck = stuck;
            state.repair.tight = tight;
            state.repair.proposed = true;
            return Self::within_budget(evacuation, max_bytes, spent);
        }
        state.repair = Repair::NONE;
        let blocks = || self.blocks(state, g, max_bytes);
        let below = Span {
            start: 0,
            end: window.start,
        };
        let above = Span {
            start: window.end,
            end: g.capacity,
        };
        let room = [below, above]
            .into_iter()
            .filter_map(|within| Self::cheapest_window(blocks(), size, within))
            .min_by_key(|&(_, cost)| cost);
        let Some((room, _)) = room else {
            return Plan::Slide;
        };
        match self.evacuate_one(state, g, max_bytes, room, window) {
            Ok(evacuation) => {
                state.repair = Repair {
                    epoch: state.epoch,
                    key,
                    room: Some(room),
                    stuck,
                    tight,
                    proposed: true,
                };
                Self::within_budget(evacuation, max_bytes, spent)
            }
            Err(_) => Plan::Slide,
        }
    }

    /// `planned`, unless it does not fit what is left of the budget.
    pub(super) fn within_budget(planned: Evacuation, max_bytes: usize, spent: usize) -> Plan {
        if planned.len > max_bytes - spent {
            Plan::OverBudget
        } else {
            Plan::Move(planned)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::cell::Cell;
    use std::rc::Rc;

    use super::{Block, Span};
    use crate::Compact;

    /// Four 48-byte blocks 64 bytes apart; block 1's `movable` is `true` on
    /// its first read and `false` on every later one, as when a reader pins
    /// it (without the lock) between two of the search's passes.
    fn blocks(racy: bool) -> impl Iterator<Item = Block> + Clone {
        let reads = Rc::new(Cell::new(0usize));
        (0..4u32).map(move |index| {
            let movable = if racy && index == 1 {
                let n = reads.get();
                reads.set(n + 1);
                n == 0
            } else {
                true
            };
            Block {
                index,
                offset: index as usize * 64,
                len: 48,
                align: 8,
                movable,
            }
        })
    }

    /// The window search reads each block up to three times; a pin that
    /// appears between the reads once underflowed its count of fixed
    /// blocks (a panic in debug builds, found by `stress_compact`). It now
    /// judges each block by its first read, so the race gives the same
    /// window as no race.
    #[test]
    fn a_pin_taken_between_the_window_passes_keeps_the_search_consistent() {
        let within = Span { start: 0, end: 256 };
        let calm = Compact::cheapest_window(blocks(false), 64, within);
        let raced = Compact::cheapest_window(blocks(true), 64, within);
        assert!(calm.is_some());
        assert_eq!(raced, calm);
    }

    /// With the window at 0 and `Span::EMPTY` as the second span, the free
    /// ranges "outside" once included the window itself (the empty span
    /// sorted second, and everything after it counted as outside), so
    /// evacuations could land inside the window and ping-pong.
    #[test]
    fn free_ranges_outside_a_window_at_zero_exclude_it() {
        let window = Span { start: 0, end: 200 };
        let mut pieces = std::vec::Vec::new();
        Compact::free_outside(blocks(false), 512, [window, Span::EMPTY], |span, _| {
            pieces.push(span)
        });
        // Gaps 48..64, 112..128, 176..192 lie inside; 240..512 is outside.
        assert_eq!(
            pieces,
            [Span {
                start: 240,
                end: 512
            }]
        );
    }
}
