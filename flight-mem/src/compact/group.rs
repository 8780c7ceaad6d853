//! Short evacuations made in groups: one lock hold and one fence for up to
//! [`GROUP`] moves.
//!
//! # Why
//!
//! A short evacuation copies less than a microsecond's worth of bytes, and
//! each locked instruction costs 8–25 ns on the hosts measured in
//! `BENCHMARKS.md`. One evacuation per step pays the lock, the mark's
//! compare-and-swap and the `SeqCst` fence of the `scope` module's protocol
//! (`Y`) for one move. The batch (the `batch` module) already knows the
//! moves that follow, so a step takes the short ones among them together,
//! like a slide run (the `slide` module): mark each, one fence and look for
//! [`PinnedAll`](super::PinnedAll) scopes for all of them, then copy and
//! publish each in turn.
//!
//! # The same moves
//!
//! A group is the moves the batch planned, in its order, each made exactly
//! as one step would make it: it takes the next planned move only while it
//! is short ([`FREEZE_MAX`]), fits the rest of the call's budget (bytes and
//! moves) and the phase's bound on evacuations, and the group's bytes stay
//! within [`GROUP_BYTES`]; the first move it cannot take stays in the batch
//! for the next step. The batch's sources are blocks of its window and its
//! destinations free ranges outside it, so no move of a group copies into
//! or out of the bytes of another, and the copies may be made in any order
//! — they are made in the batch's order, each followed by its bookkeeping
//! (links, free ranges), which the next one's needs.
//!
//! # Pins
//!
//! Every block of a group is frozen from its mark (`MOVING | FROZEN`, set
//! by a compare-and-swap that requires it unpinned and without a writer):
//! no pin, writer or free can start on it until its move is published, so
//! no move of a group is abandoned and each ends with the plain release
//! store of [`Compact::publish`]. A block that fails its mark ends the
//! group before it; it counts as skipped (pinned) and the batch is dropped,
//! as for a single evacuation refused by a pin. The fence after all the
//! marks orders each of them against every scope's fence `X`, as one fence
//! after one mark does: if a scope lives, every mark is undone and nothing
//! moves. A `get` of a block of the group waits at most for the copies of
//! the group up to and including its own: [`GROUP_BYTES`]. A group's bytes
//! also stay within the call's budget, so the lock (a critical section
//! with the `irq-safe` feature) is held for at most `max_bytes` of copies,
//! as for one move.

use super::batch::FIND;
use super::defrag::{Call, FREEZE_MAX, RUN, copy};
use super::plan::Evacuation;
use super::table::{FROZEN, MOVING};
use super::{Compact, State, extent};
use crate::sync::Ordering;

/// The most moves one group makes: the progress callback's buffer holds
/// one step's moves.
const GROUP: usize = RUN;

/// The most bytes one group copies. A `get` of a block of the group waits
/// for at most these copies (with the bookkeeping between them): 16 KiB
/// is about 0.5–2 µs, four times the wait one frozen 4 KiB move
/// ([`FREEZE_MAX`]) may cause, and still far below the waits `get` accepts
/// for slides over themselves (a copy of up to the budget's `max_bytes`).
/// Short log-uniform blocks (64 B..4 KiB) average about 1 KiB, so a group
/// is usually cut by [`GROUP`] moves before it reaches this.
const GROUP_BYTES: usize = 16 * 1024;

impl Compact {
    /// Makes `first` (popped from the batch, at most [`FREEZE_MAX`] bytes,
    /// within the call's budget) and the short moves planned after it as
    /// one group; true if it moved at least one block (the caller's step
    /// is done), false if `first` was refused (the caller drops the batch
    /// and plans again).
    pub(super) fn evacuate_group(
        &self,
        state: &mut State,
        call: &mut Call,
        first: Evacuation,
    ) -> bool {
        let g = call.g;
        let budget = call.budget;
        let mut group = [first; GROUP];
        let mut n = 1;
        let mut bytes = first.len;
        // The checks each step would make before the next move (see
        // `Compact::step` and `next_evacuation`).
        let bound = 2 * state.counters.live() as u64 + 16;
        while n < GROUP {
            let Some(e) = state.batch.peek() else { break };
            let fits = e.len <= FREEZE_MAX
                && bytes + e.len <= GROUP_BYTES
                && call.copied() + bytes + e.len <= budget.max_bytes
                && call.moves() + n < budget.max_moves
                && state.evacuations + (n as u64) <= bound;
            if !fits {
                break;
            }
            state.batch.take();
            group[n] = e;
            n += 1;
            bytes += e.len;
        }
        // Mark each block, stopping at the first a pin or writer holds.
        let mut words = [0u64; GROUP];
        let mut marked = 0;
        'group: for e in &group[..n] {
            let slot = self.slot_locked(g, e.index);
            let seen = slot.state.load(Ordering::Relaxed);
            let Some(word) = slot.mark_unpinned(seen, MOVING | FROZEN) else {
                break 'group;
            };
            words[marked] = word;
            marked += 1;
        }
        // A `PinnedAll` pins every block: give way to it (mark, then look),
        // as the first move alone would have.
        if marked > 0 && self.scoped_after_mark() {
            for (e, &word) in group[..marked].iter().zip(&words) {
                // Release: pairs with the next pin's acquire (nothing was
                // copied; the block stays). A plain store: nobody else
                // writes a frozen word (see `Compact::publish`).
                self.slot_locked(g, e.index)
                    .state
                    .store(word, Ordering::Release);
            }
            marked = 0;
            n = 1;
        }
        for (i, &word) in words[..marked].iter().enumerate() {
            let mut e = group[i];
            if e.after == FIND {
                // Looked up now: the moves before it changed the links.
                e.after = self.predecessor(state, g, e.to);
            }
            state.evacuations += 1;
            let slot = self.slot_locked(g, e.index);
            let gaps = self.gaps_around(g, e.index, e.from, extent(e.len));
            // SAFETY: `e.from..e.from + e.len` is the block and
            // `e.to..e.to + e.len` lies in a free range outside the batch's
            // window, disjoint from every block and from the other moves'
            // destinations (see the module documentation), both inside the
            // data area. The block is `MOVING | FROZEN`, set when it had no
            // pin and no writer, so no pin or writer can reach its bytes
            // until `publish`; no free can start while we hold the lock; no
            // scope lives (checked after the marks).
            unsafe { copy(g.base.add(e.from), g.base.add(e.to), e.len, false) };
            Self::publish(slot, word, e.to);
            let step = self.evacuated(state, g, &mut call.report, e, word, gaps);
            // Our own move: the rest of the batch expects it.
            state.batch.epoch = state.epoch;
            call.out.push(step);
        }
        if marked < n {
            // Refused before the copy: as `evacuate` counts it.
            state.evacuations += 1;
            call.report.skipped_pinned += 1;
            state.batch.clear();
        }
        marked > 0
    }
}
