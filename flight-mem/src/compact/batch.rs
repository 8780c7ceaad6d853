//! Evacuations planned in batches: the moves the `plan` module would choose
//! one step at a time, up to [`BATCH`] of them, worked out in two walks.
//!
//! # Why
//!
//! The `plan` module chooses each evacuation from the layout: three walks
//! over the address-ordered block list per move. With hundreds of blocks a
//! walk costs more than copying an average block, so per-move planning
//! made defragmentation 2–4× slower than `memcpy` of the same bytes
//! (`BENCHMARKS.md`). A batch walks twice and then makes up to `BATCH`
//! moves.
//!
//! # The same moves as step-by-step planning
//!
//! The planner's rule (see `plan`): the largest block of the window `W`
//! whose extent fits the largest free range outside `W` moves to the
//! smallest free range outside `W` that holds it, aligned (ties: the lower
//! range). Moves only shrink the free ranges outside `W` (a block leaving
//! `W` frees space inside it) — except the move of a block that sticks out
//! of `W`, which ends the batch — so:
//!
//! * The order of the blocks is their size order (largest first, ties to
//!   the lower block), skipping a block whose extent exceeds the largest
//!   free range: it never fits later either. The first walk keeps the
//!   `BATCH` largest blocks of `W`.
//! * For block `j`, the smallest range that holds it is either one an
//!   earlier move of the batch touched (the batch tracks those pieces), or
//!   the smallest *untouched* range among those that held it at the start.
//!   The second walk keeps, per block, the [`CANDIDATES`] smallest ranges
//!   that hold it; when all of them are touched and more may exist, the
//!   batch ends there (the next one walks again). The largest range is
//!   tracked the same way ([`ROOMS`] largest).
//!
//! So a batch proposes exactly the moves step-by-step planning would, in
//! the same order, or fewer. Whenever it cannot tell — a block of `W` that
//! cannot move, a block that fits no range only because of alignment, no
//! blocks left — it plans nothing and the step-by-step planner (with its
//! repair rule) takes the step. The batch is kept in the allocator's state
//! from call to call (a frame's budget usually ends a call in the middle of
//! one) and dropped when the layout changes under it: every allocation,
//! free and move bumps `State::epoch`, and a batch is used only at the
//! epoch its own last move left (a concurrent `defragment` on another
//! thread, or a progress callback that allocates, invalidates it) and with
//! the `max_bytes` it was planned for. A pin that stops one of its moves
//! ends the batch too; a pin taken meanwhile on another block of the
//! window is noticed by the next batch's walk (step-by-step planning
//! would notice it one step earlier and choose another window; either way
//! the pinned block does not move).

use super::plan::{Block, Evacuation, Span};
use super::table::NIL;
use super::{Compact, Geometry, State, extent};

/// Moves planned at most per batch.
pub(super) const BATCH: usize = 8;
/// Smallest fitting free ranges kept per block.
const CANDIDATES: usize = 2;
/// Largest free ranges kept (for the "fits at all" test).
const ROOMS: usize = 3;
/// An `after` that names no slot: the block the destination follows was
/// in the window when planned, so it is looked up when the move is made.
pub(super) const FIND: u32 = NIL - 1;

/// A free range outside the window, or what is left of one.
#[derive(Clone, Copy)]
struct Piece {
    span: Span,
    /// The block it follows (`NIL`: the start; `FIND`: look it up).
    prev: u32,
    /// The free range it is (part of), numbered in address order.
    id: u32,
}

impl Piece {
    const NONE: Self = Self {
        span: Span { start: 0, end: 0 },
        prev: NIL,
        id: u32::MAX,
    };
}

/// Planned evacuations, made in order.
#[derive(Clone, Copy)]
pub(super) struct Batch {
    moves: [Evacuation; BATCH],
    len: usize,
    next: usize,
    /// The last move popped is not made yet (see [`Batch::unpop`]).
    pending: bool,
    /// The layout epoch the next move expects.
    pub(super) epoch: u64,
    /// The budget's `max_bytes` it was planned for (which blocks may move
    /// depends on it).
    max_bytes: usize,
    /// Off: every move is planned step by step (tests compare the two).
    pub(super) enabled: bool,
}

impl Batch {
    pub(super) const fn new() -> Self {
        Self {
            moves: [Evacuation::NONE; BATCH],
            len: 0,
            next: 0,
            pending: false,
            epoch: 0,
            max_bytes: 0,
            enabled: true,
        }
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
        self.pending = false;
    }

    /// The move popped last is being made: it is no longer pending.
    pub(super) fn made(&mut self) {
        self.pending = false;
    }

    /// Puts back the move popped last if the budget stopped it before it
    /// was made, so that the next call starts with it (as step-by-step
    /// planning would).
    pub(super) fn unpop(&mut self) {
        if self.pending {
            self.next -= 1;
            self.pending = false;
        }
    }

    /// The next planned move, if the layout is still the one it was
    /// planned for.
    pub(super) fn pop(&mut self, epoch: u64, max_bytes: usize) -> Option<Evacuation> {
        if self.epoch != epoch || self.max_bytes != max_bytes || self.next == self.len {
            self.clear();
            return None;
        }
        self.next += 1;
        self.pending = true;
        Some(self.moves[self.next - 1])
    }

    fn push(&mut self, e: Evacuation) {
        self.moves[self.len] = e;
        self.len += 1;
    }
}

impl Compact {
    /// Plans a batch of evacuations of `window` into `batch` (emptied
    /// first); leaves it empty when the step-by-step planner must decide.
    pub(super) fn plan_batch(
        &self,
        state: &State,
        g: Geometry,
        max_bytes: usize,
        window: Span,
        batch: &mut Batch,
    ) {
        batch.clear();
        batch.epoch = state.epoch;
        batch.max_bytes = max_bytes;
        if !batch.enabled {
            return;
        }
        let overlaps =
            |offset: usize, len: usize| offset < window.end && offset + extent(len) > window.start;
        // Walk 1: the largest blocks of the window, largest first (ties to
        // the lower block: a later block goes after equal ones).
        let mut top = [Block::NONE; BATCH];
        let mut n = 0;
        for b in self.blocks(state, g, max_bytes) {
            if b.offset >= window.end {
                break;
            }
            if !overlaps(b.offset, b.len) {
                continue;
            }
            if !b.movable {
                return;
            }
            let mut at = n;
            while at > 0 && top[at - 1].len < b.len {
                at -= 1;
            }
            if at < BATCH {
                let last = n.min(BATCH - 1);
                top.copy_within(at..last, at + 1);
                top[at] = b;
                n = (n + 1).min(BATCH);
            }
        }
        if n == 0 {
            return;
        }
        // Walk 2: per block the smallest ranges that hold it, and the
        // largest ranges. Ranges come in address order, so a later range
        // displaces an earlier one only if strictly better.
        let mut cands = [[Piece::NONE; CANDIDATES]; BATCH];
        let mut counts = [0usize; BATCH];
        let mut rooms = [Piece::NONE; ROOMS];
        let mut room_count = 0;
        let mut id = 0u32;
        // A range shorter than the smallest block's extent matters to no
        // block (not even as the largest range: every block exceeds it).
        let least = extent(top[n - 1].len);
        Self::free_outside(
            self.blocks(state, g, max_bytes),
            g.capacity,
            [window, Span::EMPTY],
            |span, prev| {
                id += 1;
                if span.len() < least {
                    return;
                }
                let prev = if prev != NIL && {
                    let slot = self.slot_locked(g, prev);
                    overlaps(slot.offset(), slot.len())
                } {
                    FIND
                } else {
                    prev
                };
                let piece = Piece {
                    span,
                    prev,
                    id: id - 1,
                };
                insert(&mut rooms, &mut room_count, piece, |a, b| {
                    a.span.len() > b.span.len()
                });
                for j in 0..n {
                    if fits(g, piece.span, &top[j]).is_some() {
                        insert(&mut cands[j], &mut counts[j], piece, |a, b| {
                            a.span.len() < b.span.len()
                        });
                    }
                }
            },
        );
        // Assign in order, tracking the pieces of touched ranges (each move
        // replaces or adds at most two).
        let mut touched = [Piece::NONE; 2 * BATCH];
        let mut nt = 0;
        for (j, b) in top[..n].iter().enumerate() {
            let is_touched = |id: u32| touched[..nt].iter().any(|p| p.id == id);
            let untouched = match rooms[..room_count].iter().find(|p| !is_touched(p.id)) {
                Some(p) => p.span.len(),
                // Every range we know is touched, and there may be more.
                None if room_count == ROOMS => return,
                None => 0,
            };
            let room = touched[..nt]
                .iter()
                .map(|p| p.span.len())
                .fold(untouched, usize::max);
            if extent(b.len) > room {
                continue; // never fits in this window: the planner skips it
            }
            // The smallest untouched range that held it at the start...
            let mut best = cands[j][..counts[j]]
                .iter()
                .find(|p| !is_touched(p.id))
                .map(|p| (*p, None));
            if best.is_none() && counts[j] == CANDIDATES {
                return; // ... is unknown
            }
            // ... against what is left of the touched ones.
            for (at, p) in touched[..nt].iter().enumerate() {
                if fits(g, p.span, b).is_some()
                    && best.is_none_or(|(q, _)| {
                        p.span.len() < q.span.len()
                            || (p.span.len() == q.span.len() && p.span.start < q.span.start)
                    })
                {
                    best = Some((*p, Some(at)));
                }
            }
            let Some((piece, slot)) = best else {
                return; // fits only by size, not aligned: the planner's repair
            };
            let Some(to) = fits(g, piece.span, b) else {
                return;
            };
            batch.push(Evacuation {
                index: b.index,
                from: b.offset,
                to,
                len: b.len,
                after: piece.prev,
            });
            // The range splits into what is left after the block (which now
            // follows it) and any alignment gap before it.
            let rest = Piece {
                span: Span {
                    start: to + extent(b.len),
                    end: piece.span.end,
                },
                prev: b.index,
                id: piece.id,
            };
            let lead = Piece {
                span: Span {
                    start: piece.span.start,
                    end: to,
                },
                ..piece
            };
            match slot {
                Some(at) => touched[at] = rest,
                None => {
                    touched[nt] = rest;
                    nt += 1;
                }
            }
            if lead.span.start < lead.span.end {
                touched[nt] = lead;
                nt += 1;
            }
            // A block that sticks out of the window frees space outside it
            // when it leaves: the free ranges the batch knows are no longer
            // all there are.
            if b.offset < window.start || b.offset + extent(b.len) > window.end {
                break;
            }
        }
    }

    /// The block the offset `to` follows in address order now (`NIL`: the
    /// start), for a planned move whose neighbour was in the window.
    pub(super) fn predecessor(&self, state: &State, g: Geometry, to: usize) -> u32 {
        let (mut prev, mut cur) = (NIL, state.first);
        while cur != NIL && self.slot_locked(g, cur).offset() < to {
            prev = cur;
            cur = self.links(g, cur).next();
        }
        prev
    }
}

/// Where `b` goes in `span` (aligned), if it fits.
fn fits(g: Geometry, span: Span, b: &Block) -> Option<usize> {
    let at = Compact::place(g, span.start, b.align)?;
    at.checked_add(extent(b.len))
        .is_some_and(|e| e <= span.end)
        .then_some(at)
}

/// Inserts `p` into the sorted `list` of `count` entries (kept at most its
/// length) before the first entry it is `better` than; equal entries keep
/// their order.
fn insert<const N: usize>(
    list: &mut [Piece; N],
    count: &mut usize,
    p: Piece,
    better: impl Fn(&Piece, &Piece) -> bool,
) {
    let Some(at) = (0..*count)
        .find(|&i| better(&p, &list[i]))
        .or_else(|| (*count < N).then_some(*count))
    else {
        return;
    };
    let last = (*count).min(N - 1);
    list.copy_within(at..last, at + 1);
    list[at] = p;
    *count = (*count + 1).min(N);
}
