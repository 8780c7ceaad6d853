//! The second phase of defragmentation: sliding, in runs.
//!
//! Blocks are visited in address order from the cursor; a block above its
//! target (the first place after the previous block, aligned) slides down
//! to it. The blocks right behind it that touch it (no free byte between)
//! and may move now would each slide by the same distance, so they are
//! moved with it as one *run*: up to [`RUN`] blocks, one `memmove` of the
//! whole range, then each block's offset is stored in its slot. That is
//! the copy a sequential slide of those blocks makes, byte for byte (plus
//! the at most 7 padding bytes after each block but the last), and the same
//! moves in the same order, but one copy, one fence and one lock hold
//! instead of one each per block.
//!
//! A run ends before a block that does not touch the previous one, is
//! pinned or lent mutably, would need another distance for its alignment,
//! or does not fit the rest of the budget; the next step starts there, as
//! a sequential walk would.
//!
//! # Pins
//!
//! A single block keeps the protocol of [`Compact::relocate`]: readers may
//! pin it during a copy that does not overlap it, and the move is then
//! abandoned. A run's copy writes over the bytes of its own blocks (each
//! block's destination overlaps its predecessor's source), so every block
//! of the run is marked `MOVING | FROZEN` before the copy, each with a
//! compare-and-swap that requires it unpinned and without a writer (a
//! block that fails ends the run before it); a `get` of one of them waits
//! for the one copy, as for a single slide over itself. After the marks,
//! one fence and look for [`PinnedAll`](super::PinnedAll) scopes (the
//! `scope` module's protocol) covers the whole run. With every block frozen
//! no pin can start, so no move of a run is abandoned: each block's new
//! offset is stored and its flags cleared with a plain release store of
//! its word (`Compact::publish`: nobody else writes a frozen word).

use super::defrag::{Call, Cursor, DefragStep, RUN, Refused, copy};
use super::table::{FROZEN, MOVING, NIL, WRITER, generation, pins};
use super::{Compact, Handle, State, extent};
use crate::sync::Ordering;

/// One block of a run.
#[derive(Clone, Copy)]
struct Member {
    index: u32,
    word: u64,
    from: usize,
    len: usize,
}

impl Member {
    const NONE: Self = Self {
        index: NIL,
        word: 0,
        from: 0,
        len: 0,
    };
}

impl Compact {
    /// Finds the next block to slide after `cursor` and slides it, with the
    /// run behind it; `None` when the walk ends or the budget is spent
    /// (`report.done` says which).
    pub(super) fn slide(&self, state: &mut State, call: &mut Call) -> bool {
        let g = call.g;
        let (mut end, mut cur) = (0, state.first);
        match call.cursor.after {
            Some(handle) if self.contains(handle) => {
                // Under the lock a live block stays live and in place.
                let slot = self.slot_locked(g, handle.index);
                end = slot.offset() + extent(slot.len());
                cur = self.links(g, handle.index).next();
            }
            // Freed meanwhile (by a progress callback): from the start.
            Some(_) => call.cursor = Cursor::START,
            None => {}
        }
        while cur != NIL {
            let slot = self.slot_locked(g, cur);
            let links = self.links(g, cur);
            let word = slot.state.load(Ordering::Relaxed);
            let from = slot.offset();
            let len = slot.len();
            // `from` itself is aligned and at or after `end`, so the target
            // exists and is at most `from`.
            let to = Compact::place(g, end, links.align())
                .unwrap_or(from)
                .min(from);
            if to < from {
                let budget = call.budget;
                if pins(word) != 0 || word & WRITER != 0 || self.scoped_hint() {
                    call.report.skipped_pinned += 1;
                    call.cursor.clean = false;
                } else if len > budget.max_bytes {
                    call.report.oversized += 1;
                    call.cursor.clean = false;
                } else if call.moves() >= budget.max_moves || len > budget.max_bytes - call.copied()
                {
                    call.report.done = false;
                    return false;
                } else {
                    let first = Member {
                        index: cur,
                        word,
                        from,
                        len,
                    };
                    let mut run = [Member::NONE; RUN];
                    let n = if state.batch.enabled {
                        self.gather(call, first, from - to, &mut run)
                    } else {
                        run[0] = first;
                        1
                    };
                    let slid = if n == 1 {
                        self.slide_one(state, call, first, to)
                    } else {
                        self.slide_run(state, call, &run[..n], from - to)
                    };
                    if slid {
                        return true;
                    }
                    // Pinned before the copy: skip it, as above.
                    call.report.skipped_pinned += 1;
                    call.cursor.clean = false;
                }
            }
            end = from + extent(len);
            cur = links.next();
        }
        call.report.done = true;
        false
    }

    /// Fills `run` with `first` and the blocks right behind it that slide
    /// by the same `delta` within the budget; returns how many.
    fn gather(&self, call: &Call, first: Member, delta: usize, run: &mut [Member; RUN]) -> usize {
        let (g, budget) = (call.g, call.budget);
        let (mut copied, mut moves) = (call.copied(), call.moves());
        run[0] = first;
        copied += first.len;
        moves += 1;
        let mut n = 1;
        let mut end = first.from + extent(first.len);
        let mut next = self.links(g, first.index).next();
        while n < RUN && next != NIL {
            let slot = self.slot_locked(g, next);
            let links = self.links(g, next);
            let (word, from, len) = (
                slot.state.load(Ordering::Relaxed),
                slot.offset(),
                slot.len(),
            );
            // Touching the previous block, so its target is `from - delta`
            // if that place keeps its alignment.
            let joins = from == end
                && (g.base.addr() + from - delta).is_multiple_of(links.align())
                && pins(word) == 0
                && word & WRITER == 0
                && moves < budget.max_moves
                && len <= budget.max_bytes - copied;
            if !joins {
                break;
            }
            run[n] = Member {
                index: next,
                word,
                from,
                len,
            };
            n += 1;
            copied += len;
            moves += 1;
            end = from + extent(len);
            next = links.next();
        }
        n
    }

    /// Slides one block (the protocol of `relocate`) and tells `out`;
    /// false if it was pinned before the copy.
    fn slide_one(&self, state: &mut State, call: &mut Call, m: Member, to: usize) -> bool {
        let g = call.g;
        let report = &mut call.report;
        let slot = self.slot_locked(g, m.index);
        let (before, after) = self.gaps_around(g, m.index, m.from, extent(m.len));
        let moved = match self.relocate(g, slot, m.word, m.from, to, m.len) {
            Ok(()) => {
                state.largest.slide(before, after, m.from - to);
                report.bytes_moved += m.len;
                report.blocks_moved += 1;
                self.count_slides(state, 1, m.len);
                true
            }
            Err(Refused::Pinned) => return false,
            Err(Refused::Abandoned) => {
                report.abandoned += 1;
                report.bytes_abandoned += m.len;
                state.moves_abandoned += 1;
                call.cursor.clean = false;
                false
            }
        };
        let handle = Handle {
            index: m.index,
            generation: generation(m.word),
        };
        self.advance(state, &mut call.cursor, handle);
        call.out.push(DefragStep {
            handle,
            from: m.from,
            to,
            len: m.len,
            moved,
            bytes_moved: call.report.bytes_moved,
            blocks_moved: call.report.blocks_moved,
        });
        true
    }

    /// Slides the blocks of `run` (touching, in address order, at least
    /// two) down by `delta` with one copy and tells `out` of each; false if
    /// the first was pinned before the copy or a
    /// [`PinnedAll`](super::PinnedAll) lives. A later block pinned before
    /// its mark ends the run before it.
    fn slide_run(&self, state: &mut State, call: &mut Call, run: &[Member], delta: usize) -> bool {
        let g = call.g;
        // Mark each block; stop at the first a pin or writer holds.
        let mut marked = 0;
        // Each block's word as our mark found it, for `publish`.
        let mut words = [0u64; RUN];
        'run: for m in run {
            let slot = self.slot_locked(g, m.index);
            let Some(word) = slot.mark_unpinned(m.word, MOVING | FROZEN) else {
                break 'run;
            };
            words[marked] = word;
            marked += 1;
        }
        let unmark = |members: &[Member]| {
            for m in members {
                let slot = self.slot_locked(g, m.index);
                slot.state.fetch_and(!(MOVING | FROZEN), Ordering::Release);
            }
        };
        if marked == 0 {
            return false;
        }
        // A `PinnedAll` pins every block: give way to it (mark, then look).
        if self.scoped_after_mark() {
            unmark(&run[..marked]);
            return false;
        }
        let run = &run[..marked];
        let (first, last) = (run[0], run[marked - 1]);
        let span = last.from + last.len - first.from;
        // SAFETY: the blocks of `run` touch one another, so
        // `first.from..last.from + last.len` is their bytes and the padding
        // after each but the last, inside the data area; `first.from -
        // delta` is the first block's target, and the range below
        // `first.from` down to it is free (the previous block ends at or
        // before it). Every block of the run is `MOVING | FROZEN`, set when
        // it had no pin and no writer: no pin or writer can start on them
        // until we clear the flags (`get` waits while `FROZEN` is set,
        // `get_mut` refuses), no free can start while we hold the lock
        // (`state` is its guard), and no scope lives (checked after the
        // marks). The padding belongs to no block. So nothing else reads or
        // writes either range during the copy.
        unsafe {
            copy(
                g.base.add(first.from),
                g.base.add(first.from - delta),
                span,
                delta < span,
            )
        };
        // The run touches itself inside: only the gaps at its ends change.
        let before = self
            .gaps_around(g, first.index, first.from, extent(first.len))
            .0;
        let after = self
            .gaps_around(g, last.index, last.from, extent(last.len))
            .1;
        state.largest.slide(before, after, delta);
        let mut bytes = 0;
        for (m, &word) in run.iter().zip(&words) {
            let slot = self.slot_locked(g, m.index);
            // The new offset, then the word without our flags (a plain
            // release store: nobody else writes a frozen word).
            Self::publish(slot, word, m.from - delta);
            call.report.bytes_moved += m.len;
            call.report.blocks_moved += 1;
            bytes += m.len;
            call.out.push(DefragStep {
                handle: Handle {
                    index: m.index,
                    generation: generation(m.word),
                },
                from: m.from,
                to: m.from - delta,
                len: m.len,
                moved: true,
                bytes_moved: call.report.bytes_moved,
                blocks_moved: call.report.blocks_moved,
            });
        }
        self.count_slides(state, marked, bytes);
        state.runs += 1;
        let handle = Handle {
            index: last.index,
            generation: generation(last.word),
        };
        self.advance(state, &mut call.cursor, handle);
        true
    }

    /// Counts `blocks` slides of `bytes` in the state's totals.
    fn count_slides(&self, state: &mut State, blocks: usize, bytes: usize) {
        state.blocks_moved += blocks as u64;
        state.bytes_moved += bytes as u64;
        state.epoch += 1;
        // The first phase is over until the layout changes (allocate,
        // free).
        state.sliding = true;
    }

    /// Moves the cursor past `handle`, and keeps it for the next call if
    /// every block before it sits at its target.
    fn advance(&self, state: &mut State, cursor: &mut Cursor, handle: Handle) {
        cursor.after = Some(handle);
        state.resume = cursor.clean.then_some((state.epoch, handle));
    }
}
