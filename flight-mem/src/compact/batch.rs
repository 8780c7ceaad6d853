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
//! moves, so the walking is paid once per `BATCH` moves rather than per
//! move.
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
//! * The second walk keeps the [`PIECES`] smallest free ranges outside `W`
//!   (by length, then address) among those at least as long as the
//!   smallest of those blocks (a shorter one holds none of them), and the
//!   smallest range it had to leave out. Block `j` goes to the smallest
//!   kept range (or what is left of one an earlier move of the batch used)
//!   that holds it. Every range left out is at least as long as every kept
//!   range was, so that is the planner's choice — unless a range was left
//!   out and the choice is not smaller than it (or nothing kept holds the
//!   block), when the batch ends there (the next one walks again). The
//!   largest ranges are tracked the same way ([`ROOMS`] largest) for the
//!   "fits at all" test.
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
pub(super) const BATCH: usize = 64;
/// Smallest free ranges kept by the second walk.
const PIECES: usize = BATCH;
/// Largest free ranges kept (for the "fits at all" test).
const ROOMS: usize = 16;
/// An `after` that names no slot: the block the destination follows was
/// in the window when planned, so it is looked up when the move is made.
pub(super) const FIND: u32 = NIL - 1;

/// A free range outside the window, or what is left of one.
#[derive(Clone, Copy)]
struct Piece {
    /// Its length above its start (both fit 32 bits: `MAX_CAPACITY`):
    /// the planner's order of free ranges, shortest first, then lowest, as
    /// one number, which the searches of a batch compare in one
    /// instruction.
    key: u64,
    /// The block it follows (`NIL`: the start; `FIND`: look it up).
    prev: u32,
    /// The free range it is (part of), numbered in address order.
    id: u32,
    /// A move of this batch went into the range.
    touched: bool,
}

impl Piece {
    const NONE: Self = Self {
        key: 0,
        prev: NIL,
        id: u32::MAX,
        touched: false,
    };

    fn new(span: Span, prev: u32, id: u32, touched: bool) -> Self {
        Self {
            key: ((span.len() as u64) << 32) | span.start as u64,
            prev,
            id,
            touched,
        }
    }

    /// The planner's order of free ranges (see `key`).
    fn key(&self) -> u64 {
        self.key
    }

    fn len(&self) -> usize {
        (self.key >> 32) as usize
    }

    fn span(&self) -> Span {
        let start = self.key as u32 as usize;
        Span {
            start,
            end: start + self.len(),
        }
    }
}

/// One planned evacuation, stored in 20 bytes (offsets and lengths fit a
/// `u32`: see `MAX_CAPACITY`), so that the batch kept in the allocator's
/// state stays small.
#[derive(Clone, Copy)]
struct Planned {
    index: u32,
    from: u32,
    to: u32,
    len: u32,
    after: u32,
}

/// Planned evacuations, made in order.
#[derive(Clone, Copy)]
pub(super) struct Batch {
    moves: [Planned; BATCH],
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
            moves: [Planned {
                index: NIL,
                from: 0,
                to: 0,
                len: 0,
                after: NIL,
            }; BATCH],
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

    /// Whether the move popped last came from this batch and is not made
    /// yet.
    pub(super) fn pending(&self) -> bool {
        self.pending
    }

    /// The move after the one popped last, without taking it: for a
    /// group of evacuations (the `group` module), made with the one popped
    /// last, so the layout is the one it was planned for.
    pub(super) fn peek(&self) -> Option<Evacuation> {
        let m = self.moves[..self.len].get(self.next)?;
        Some(Evacuation {
            index: m.index,
            from: m.from as usize,
            to: m.to as usize,
            len: m.len as usize,
            after: m.after,
        })
    }

    /// Takes the move [`peek`](Self::peek) showed into the group being
    /// made.
    pub(super) fn take(&mut self) {
        debug_assert!(self.next < self.len);
        self.next += 1;
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
        let e = self.peek();
        self.next += 1;
        self.pending = true;
        e
    }

    fn push(&mut self, e: Evacuation) {
        // Offsets and lengths lie inside the data area, at most
        // `MAX_CAPACITY` (below `u32::MAX`).
        self.moves[self.len] = Planned {
            index: e.index,
            from: e.from as u32,
            to: e.to as u32,
            len: e.len as u32,
            after: e.after,
        };
        self.len += 1;
    }
}

impl Compact {
    /// Plans a batch of evacuations of `window` into `state.batch`
    /// (emptied first); leaves it empty when the step-by-step planner must
    /// decide.
    // Out of line: called once per batch, and callgrind then counts it
    // apart from the per-move path.
    #[inline(never)]
    pub(super) fn plan_batch(
        &self,
        state: &mut State,
        g: Geometry,
        max_bytes: usize,
        window: Span,
    ) {
        let (first, epoch) = (state.first, state.epoch);
        let (anchor, batch) = (&mut state.anchor, &mut state.batch);
        batch.clear();
        batch.epoch = epoch;
        batch.max_bytes = max_bytes;
        if !batch.enabled {
            return;
        }
        let overlaps =
            |offset: usize, len: usize| offset < window.end && offset + extent(len) > window.start;
        // Walk 1: the largest blocks of the window, largest first (ties to
        // the lower block: a later block goes after equal ones).
        // Each kept block as one number, its length above its slot (both
        // fit 32 bits), so that an insertion shifts 8 bytes per kept block,
        // not a whole `Block`; the rest is read from the slot when the
        // batch is assigned.
        let mut top = [0u64; BATCH];
        let mut n = 0;
        // From the last block before the window that an earlier batch of
        // this window passed (`State::anchor`), if it still lies before the
        // window: every block overlapping the window follows it in address
        // order, and the blocks before it need not be walked again.
        let start = match *anchor {
            NIL => first,
            a => {
                let slot = self.slot_locked(g, a);
                if slot.offset() + extent(slot.len()) <= window.start {
                    a
                } else {
                    first
                }
            }
        };
        #[cfg(debug_assertions)]
        {
            let inside = |from: u32| {
                self.blocks_from(from, g, max_bytes)
                    .take_while(|b| b.offset < window.end)
                    .filter(|b| overlaps(b.offset, b.len))
                    .map(|b| b.index)
            };
            debug_assert!(inside(start).eq(inside(first)), "a stale anchor");
        }
        for b in self.blocks_from(start, g, max_bytes) {
            if b.offset >= window.end {
                break;
            }
            if !overlaps(b.offset, b.len) {
                // Starts before the window's end, so ends before its start.
                *anchor = b.index;
                continue;
            }
            if !b.movable {
                return;
            }
            // Not above the least kept block: it would go after it.
            // (`top_len(t) >= b.len` as one comparison: the slot is below.)
            let len_key = (b.len as u64) << 32;
            if n == BATCH && top[BATCH - 1] >= len_key {
                continue;
            }
            // After every kept block at least as long (`top` is in
            // decreasing length): a binary search, as a window holds
            // hundreds of blocks and `top` up to `BATCH`.
            let at = top[..n].partition_point(|&t| t >= len_key);
            if at < BATCH {
                let last = n.min(BATCH - 1);
                top.copy_within(at..last, at + 1);
                top[at] = ((b.len as u64) << 32) | u64::from(b.index);
                n = (n + 1).min(BATCH);
            }
        }
        if n == 0 {
            return;
        }
        // Walk 2: the smallest ranges that may hold a block, and the
        // largest ranges. Ranges come in address order, so a later range
        // displaces an earlier one only if strictly better. `pieces` is
        // put in key order (shortest, then lowest, first; keys differ, as
        // ranges do) once full or after the walk, so the largest kept one is
        // the last and the smallest that holds a block is the first that
        // does.
        let mut pieces = [Piece::NONE; PIECES];
        let mut np = 0;
        // The least key of a range left out of `pieces`.
        let mut dropped: Option<u64> = None;
        let mut rooms = [Piece::NONE; ROOMS];
        let mut room_count = 0;
        let mut id = 0u32;
        // A range shorter than the smallest block's extent matters to no
        // block (not even as the largest range: every block exceeds it).
        let least = extent(top_len(top[n - 1]));
        let mut keep = |span: Span, prev: u32, id: u32| {
            if span.len() < least {
                return;
            }
            let piece = Piece::new(span, prev, id, false);
            insert(&mut rooms, &mut room_count, piece, |a, b| a.len() > b.len());
            if np < PIECES {
                pieces[np] = piece;
                np += 1;
                // Sorted once full (and after the walk if never).
                if np == PIECES {
                    pieces.sort_unstable_by_key(Piece::key);
                }
                return;
            }
            // Full: keep the smaller of the new range and the largest
            // kept one.
            let worst = pieces[PIECES - 1];
            let out = if piece.key() < worst.key() {
                np -= 1;
                insert_sorted(&mut pieces, &mut np, piece);
                worst
            } else {
                piece
            };
            dropped = Some(dropped.map_or(out.key(), |d| d.min(out.key())));
        };
        // The free ranges outside the window, in address order, as
        // `free_outside` gives them (numbered the same way), but walking
        // only what a range needs: each block's place, length and link (no
        // state word, no alignment), and whether the block a range follows
        // lies in the window (then its successor there is looked up when
        // the move is made: `FIND`).
        let mut clip = |start: usize, end: usize, prev: u32, prev_inside: bool| {
            let prev = if prev_inside { FIND } else { prev };
            let below = end.min(window.start);
            if start < below {
                keep(Span { start, end: below }, prev, id);
                id += 1;
            }
            let above = start.max(window.end);
            if above < end {
                keep(Span { start: above, end }, prev, id);
                id += 1;
            }
        };
        let (mut end, mut prev, mut prev_inside) = (0, NIL, false);
        let mut cur = first;
        while cur != NIL {
            let slot = self.slot_locked(g, cur);
            let (offset, ext) = (slot.offset(), extent(slot.len()));
            if offset > end {
                clip(end, offset, prev, prev_inside);
            }
            end = offset + ext;
            prev_inside = offset < window.end && end > window.start;
            prev = cur;
            cur = self.links(g, cur).next();
        }
        if g.capacity > end {
            clip(end, g.capacity, prev, prev_inside);
        }
        if np < PIECES {
            pieces[..np].sort_unstable_by_key(Piece::key);
        }
        // Assign in order. Each move replaces the piece it went into by
        // what is left after the block (which now follows it) and adds any
        // alignment gap before it, both in key order.
        let mut room_touched = [false; ROOMS];
        let mut room_ids = [u32::MAX; ROOMS];
        for (id, room) in room_ids.iter_mut().zip(&rooms[..room_count]) {
            *id = room.id;
        }
        for &t in &top[..n] {
            // The lock is held since walk 1: the slot is as it was then.
            let index = t as u32;
            let slot = self.slot_locked(g, index);
            let b = &Block {
                index,
                offset: slot.offset(),
                len: top_len(t),
                align: self.links(g, index).align(),
                movable: true,
            };
            // The smallest piece that holds the block, aligned: the first
            // long enough that it fits (`pieces` is in key order).
            let ext = extent(b.len);
            let from = pieces[..np].partition_point(|p| p.key() < (ext as u64) << 32);
            let best = pieces[from..np]
                .iter()
                .enumerate()
                .find_map(|(k, p)| fits(g, p.span(), b).map(|to| (from + k, to)));
            let untouched = match (0..room_count).find(|&k| !room_touched[k]) {
                Some(k) => rooms[k].len(),
                // Every range we know is touched, and there may be more.
                None if room_count == ROOMS => return,
                None => 0,
            };
            // The largest touched piece is the last touched one in key
            // order; looked for only when the untouched ranges are too
            // short.
            if ext > untouched {
                let touched_max = pieces[..np]
                    .iter()
                    .rev()
                    .find(|p| p.touched)
                    .map_or(0, Piece::len);
                if ext > touched_max {
                    continue; // never fits in this window: the planner skips it
                }
            }
            // None: it fits a range left out, or only by size and not
            // aligned (the planner's repair). Not below every range left
            // out: one of those may be the smaller.
            let Some((at, to)) = best else {
                return;
            };
            let piece = pieces[at];
            if dropped.is_some_and(|d| piece.key() >= d) {
                return;
            }
            batch.push(Evacuation {
                index: b.index,
                from: b.offset,
                to,
                len: b.len,
                after: piece.prev,
            });
            // A touched piece's range was marked by the first move into it.
            if !piece.touched {
                // Over all `ROOMS` (unused ids never match): a loop the
                // compiler unrolls.
                for k in 0..ROOMS {
                    room_touched[k] |= room_ids[k] == piece.id;
                }
            }
            // What is left is no longer than the piece and starts no lower,
            // so its key is at most the piece's and its place in key order
            // is at or before `at`: shift only the pieces in between (not
            // all after `at` out and back in).
            let span = piece.span();
            let rest = Piece::new(
                Span {
                    start: to + extent(b.len),
                    end: span.end,
                },
                b.index,
                piece.id,
                true,
            );
            debug_assert!(rest.key() <= piece.key());
            let place = pieces[..at].partition_point(|q| q.key() <= rest.key());
            pieces.copy_within(place..at, place + 1);
            pieces[place] = rest;
            if span.start < to {
                if np == PIECES {
                    // Nowhere to keep the gap: a later block might go there.
                    break;
                }
                insert_sorted(
                    &mut pieces,
                    &mut np,
                    Piece::new(
                        Span {
                            start: span.start,
                            end: to,
                        },
                        piece.prev,
                        piece.id,
                        true,
                    ),
                );
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

/// The length of a block kept in walk 1's list (see `plan_batch`).
#[inline]
fn top_len(t: u64) -> usize {
    (t >> 32) as usize
}

/// Where `b` goes in `span` (aligned), if it fits.
#[inline]
fn fits(g: Geometry, span: Span, b: &Block) -> Option<usize> {
    // The data area starts on a granule: for the common alignment the
    // place is the start rounded up (a span clipped to the window may start
    // anywhere), with no address arithmetic.
    let at = if b.align <= super::GRANULE {
        extent(span.start)
    } else {
        Compact::place(g, span.start, b.align)?
    };
    at.checked_add(extent(b.len))
        .is_some_and(|e| e <= span.end)
        .then_some(at)
}

/// Inserts `p` into `pieces[..*np]` (in key order, `*np < PIECES`) at its
/// place in key order.
fn insert_sorted(pieces: &mut [Piece; PIECES], np: &mut usize, p: Piece) {
    let at = pieces[..*np].partition_point(|q| q.key() <= p.key());
    pieces.copy_within(at..*np, at + 1);
    pieces[at] = p;
    *np += 1;
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
    // Full and not better than the last: it would not be kept.
    if *count == N && !better(&p, &list[N - 1]) {
        return;
    }
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
