//! Incremental defragmentation, bounded per call, in two phases.
//!
//! # Algorithm
//!
//! *First phase, evacuation* (the `plan` module): while the largest free
//! range is short of `free - free / 32` bytes, the blocks overlapping the
//! cheapest range of that size move, one per step, into free ranges outside
//! it (best fit, largest first). A block may move up or down; it moves once
//! in this phase, and the bytes moved stay close to the least any
//! compaction must move (`BENCHMARKS.md`).
//!
//! *Second phase, sliding*: blocks are visited in address order. Each
//! block's *target* is the first place after the previous block (or the
//! start) aligned as the block requires; a block above its target slides
//! down to it. A pinned block, or one longer than the budget's `max_bytes`,
//! stays where it is and the blocks after it slide up to it instead. Slides
//! keep the address order, so they change no list links. When the walk ends
//! every movable block sits at its target: `done`. Touching blocks that
//! slide by the same distance move as one *run* with one copy (the `slide`
//! module).
//!
//! Each move (or run) is one *step*: the lock is taken for the step (the
//! search or the next move of a planned batch, and one copy) and released
//! before the progress callback runs, so the callback may use the
//! allocator; it is told each block of a run. A slide resumes after the
//! block of the previous one, or from the start if that block was freed
//! meanwhile; the next call resumes there too if nothing was allocated,
//! freed or moved in between and every block before it sits at its target.
//! A call stops before the move that would exceed the budget. Allocating
//! or freeing a block starts the first phase again.
//!
//! Short evacuations (at most [`FREEZE_MAX`] bytes each) that a batch
//! planned one after another are made in one step as a *group* (the
//! `group` module): one lock hold and one fence for up to 16 moves.
//!
//! # Locked instructions per move
//!
//! Each costs 8–25 ns on the hosts measured (`BENCHMARKS.md`), as much as
//! copying a few hundred bytes. A long evacuation (over [`FREEZE_MAX`])
//! pays the lock, the mark's compare-and-swap, the fence of the `scope`
//! protocol and the compare-and-swap of `commit` that lets readers win; a
//! short one is frozen from its mark (`relocate`), so no second
//! compare-and-swap, and in a group it shares the lock and the fence with
//! the others: one compare-and-swap plus a share of two. Every move ends
//! with a plain release store of its state word (`Compact::publish`),
//! not a read-modify-write: nobody else writes a frozen word.
//!
//! The bookkeeping per move is O(1) apart from the planning: a batch of up
//! to 64 evacuations costs two walks of the block list (the `batch`
//! module); a repair step (the `plan` module) walks for its one move but
//! keeps the room it evacuates, and skips the window's check and the batch
//! while they would find nothing (`plan::Repair`); a slide walk visits
//! each block once per phase; and the largest free range the report needs
//! is tracked (the `gaps` module) rather than walked for.

use core::fmt;

use super::batch::FIND;
use super::plan::{Evacuation, Plan, Span};
use super::table::{FROZEN, MOVING, Slot, generation, pins};
use super::{Compact, Geometry, Handle, State, extent};
use crate::sync::Ordering;

/// How much one [`Compact::defragment`] call may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DefragBudget {
    /// Bytes copied, at most (moves abandoned because of a pin count too:
    /// the budget bounds the time spent). This is a hard bound: a block
    /// longer than this is not moved by a call with this budget; it stays
    /// like a pinned block (the blocks after it compact up to it), counts in
    /// [`DefragReport::oversized`], and a call with a larger budget (a
    /// loading screen's) moves it.
    pub max_bytes: usize,
    /// Blocks moved (or moves abandoned), at most.
    pub max_moves: usize,
}

impl DefragBudget {
    /// No bound: compacts everything that is not pinned, in one call.
    pub const UNLIMITED: Self = Self {
        max_bytes: usize::MAX,
        max_moves: usize::MAX,
    };

    /// At most `max_bytes` bytes, any number of blocks.
    pub const fn bytes(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            max_moves: usize::MAX,
        }
    }
}

/// What one [`Compact::defragment`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DefragReport {
    /// Bytes moved (block lengths; abandoned moves not included).
    pub bytes_moved: usize,
    /// Blocks moved.
    pub blocks_moved: usize,
    /// The largest free range before the call.
    pub largest_free_before: usize,
    /// The largest free range after the call.
    pub largest_free_after: usize,
    /// Blocks that were to move but were pinned, so stayed (with the
    /// blocks after them compacted up to them).
    pub skipped_pinned: usize,
    /// Moves abandoned because a reader pinned the block during the copy.
    pub abandoned: usize,
    /// Bytes copied by abandoned moves (they count against the budget).
    pub bytes_abandoned: usize,
    /// Blocks that were to move but are longer than `max_bytes`.
    pub oversized: usize,
    pub(super) done: bool,
}

impl DefragReport {
    /// Whether nothing is left that this budget can move: every block sits
    /// at its target except pinned blocks and blocks longer than the
    /// budget's `max_bytes` (see [`oversized`](Self::oversized)), so calling
    /// again with the same budget changes nothing until blocks are freed,
    /// unpinned or allocated. False when the budget ran out first.
    ///
    /// A block longer than `max_bytes` counts as fixed rather than keeping
    /// `done` false: the budget bounds one call's time (a frame's), so such
    /// a block can never move with it, and a loop `while !done()` must end.
    /// `oversized > 0` with `done` says a larger budget would do more.
    pub fn done(&self) -> bool {
        self.done
    }
}

impl fmt::Display for DefragReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "moved {} blocks ({}), largest free {} -> {}, {} pinned skipped, {} abandoned, {} oversized{}",
            self.blocks_moved,
            crate::Bytes(self.bytes_moved),
            crate::Bytes(self.largest_free_before),
            crate::Bytes(self.largest_free_after),
            self.skipped_pinned,
            self.abandoned,
            self.oversized,
            if self.done { ", done" } else { "" }
        )
    }
}

/// One step of a defragmentation, as told to the progress callback of
/// [`Compact::defragment_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DefragStep {
    /// The block.
    pub handle: Handle,
    /// Its offset in the data area before the step.
    pub from: usize,
    /// The offset it was copied to.
    pub to: usize,
    /// Its length in bytes.
    pub len: usize,
    /// Whether the move took effect (false: a reader pinned the block during
    /// the copy, so it stays at `from`).
    pub moved: bool,
    /// Bytes moved so far in this call, this step included.
    pub bytes_moved: usize,
    /// Blocks moved so far in this call, this step included.
    pub blocks_moved: usize,
}

impl DefragStep {
    /// The step of evacuation `e` of the block whose state word was `word`
    /// when marked, with the call's running totals.
    fn evacuation(e: &Evacuation, word: u64, moved: bool, report: &DefragReport) -> Self {
        DefragStep {
            handle: Handle {
                index: e.index,
                generation: generation(word),
            },
            from: e.from,
            to: e.to,
            len: e.len,
            moved,
            bytes_moved: report.bytes_moved,
            blocks_moved: report.blocks_moved,
        }
    }
}

/// Where the next slide starts.
#[derive(Clone, Copy)]
pub(super) struct Cursor {
    /// After this block, if it is still live; else from the start.
    pub(super) after: Option<Handle>,
    /// Every block before the cursor sits at its target: the walk that got
    /// here skipped none (pinned, oversized, abandoned). Only such a cursor
    /// may be kept for the next call (`State::resume`).
    pub(super) clean: bool,
}

impl Cursor {
    pub(super) const START: Self = Self {
        after: None,
        clean: true,
    };
}

/// The most slides one step makes as one run (one copy).
pub(super) const RUN: usize = 16;

/// The moves one step made, for the progress callback: one move, or a run
/// of slides made with one copy.
pub(super) struct Steps {
    items: [DefragStep; RUN],
    len: usize,
}

impl Steps {
    pub(super) const fn new() -> Self {
        const NONE: DefragStep = DefragStep {
            handle: Handle {
                index: super::NIL,
                generation: 0,
            },
            from: 0,
            to: 0,
            len: 0,
            moved: false,
            bytes_moved: 0,
            blocks_moved: 0,
        };
        Self {
            items: [NONE; RUN],
            len: 0,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    pub(super) fn push(&mut self, step: DefragStep) {
        self.items[self.len] = step;
        self.len += 1;
    }

    fn as_slice(&self) -> &[DefragStep] {
        &self.items[..self.len]
    }
}

/// What every step of one [`Compact::defragment`] call works with besides
/// the locked state: the geometry, the budget, the report so far, where
/// the next slide starts and the buffer of the step's moves for the
/// progress callback. One value per call, lent to each step.
pub(super) struct Call {
    pub(super) g: Geometry,
    pub(super) budget: DefragBudget,
    pub(super) report: DefragReport,
    pub(super) cursor: Cursor,
    /// Filled under the lock by each step, read after it (one buffer for
    /// the call rather than one returned per step).
    pub(super) out: Steps,
}

impl Call {
    /// Bytes this call has copied so far, abandoned moves included.
    pub(super) fn copied(&self) -> usize {
        self.report.bytes_moved + self.report.bytes_abandoned
    }

    /// Moves this call has made or abandoned so far.
    pub(super) fn moves(&self) -> usize {
        self.report.blocks_moved + self.report.abandoned
    }
}

/// Why a move did not happen.
pub(super) enum Refused {
    /// A pin, writer or [`PinnedAll`](super::PinnedAll) was there before
    /// the copy started.
    Pinned,
    /// A reader pinned the block during the copy.
    Abandoned,
}

impl Compact {
    /// Moves unpinned blocks, within `budget`, until the free space is one
    /// range at the end; see the [`Compact`] documentation
    /// for the algorithm and how moves and concurrent pins agree.
    ///
    /// SPEC §8 says blocks move "toward one end". The first phase moves
    /// blocks out of one range into holes anywhere else (up or down), which
    /// opens one large free range early, possibly in the middle; the second
    /// slides every movable block toward the start. When
    /// [`DefragReport::done`] is true, every movable block sits at its place
    /// packed toward the start, so the free space is one range at the end
    /// (apart from pinned and oversized blocks).
    pub fn defragment(&self, budget: DefragBudget) -> DefragReport {
        self.defragment_with(budget, |_| {})
    }

    /// [`defragment`](Self::defragment), telling `progress` each step (each
    /// move or abandoned move). `progress` runs without the allocator's lock
    /// held, so it may allocate, free and pin.
    pub fn defragment_with(
        &self,
        budget: DefragBudget,
        progress: impl FnMut(&DefragStep),
    ) -> DefragReport {
        self.defragment_planned(budget, progress, true)
    }

    /// `defragment_with` with its fast paths (evacuations planned in
    /// batches, slides in runs, slide walks resumed from the last call) or
    /// (`batched` false, for the test that compares the two) without:
    /// evacuations planned one step at a time, one slide per step, every
    /// call's walk from the start.
    pub(super) fn defragment_planned(
        &self,
        budget: DefragBudget,
        mut progress: impl FnMut(&DefragStep),
        batched: bool,
    ) -> DefragReport {
        let g = self.geometry();
        let (largest, cursor) = self.state.with(|state| {
            // A slide walk that the last call left with every block before
            // it in place, and nothing allocated, freed or moved since,
            // resumes there instead of walking those blocks again.
            let cursor = match state.resume {
                Some((epoch, handle)) if epoch == state.epoch && batched => Cursor {
                    after: Some(handle),
                    clean: true,
                },
                _ => Cursor::START,
            };
            (self.largest(state, g), cursor)
        });
        let mut call = Call {
            g,
            budget,
            report: DefragReport {
                largest_free_before: largest,
                ..DefragReport::default()
            },
            cursor,
            out: Steps::new(),
        };
        while self.state.with(|state| {
            state.batch.enabled = batched;
            call.out.clear();
            self.step(state, &mut call)
        }) {
            for step in call.out.as_slice() {
                progress(step);
            }
        }
        call.report.largest_free_after = self.state.with(|state| self.largest(state, g));
        call.report
    }

    /// Makes the next move: an evacuation while the first phase has one
    /// (see the `plan` module), else the next slide after `cursor`. `None`
    /// when the walk ends or the budget is spent (`report.done` says which).
    fn step(&self, state: &mut State, call: &mut Call) -> bool {
        let (g, max_bytes) = (call.g, call.budget.max_bytes);
        while !state.sliding {
            // Only the planner's repair path proposes (see `plan::Repair`).
            state.repair.proposed = false;
            let evacuation = match self.next_evacuation(state, g, max_bytes, call.copied()) {
                Plan::Slide => break,
                Plan::OverBudget => {
                    state.batch.unpop();
                    call.report.done = false;
                    return false;
                }
                Plan::Move(evacuation) => evacuation,
            };
            if call.moves() >= call.budget.max_moves {
                state.batch.unpop();
                call.report.done = false;
                return false;
            }
            // A short move from the batch is made with the short moves
            // planned after it, as one group (the `group` module).
            if state.batch.pending() && evacuation.len <= FREEZE_MAX {
                state.batch.made();
                if self.evacuate_group(state, call, evacuation) {
                    return true;
                }
                state.batch.clear();
                continue;
            }
            state.batch.made();
            match self.evacuate(state, g, &mut call.report, evacuation) {
                Some(step) => {
                    if step.moved {
                        // Our own move: the rest of the batch expects it.
                        state.batch.epoch = state.epoch;
                    } else {
                        state.batch.clear();
                    }
                    call.out.push(step);
                    return true;
                }
                None => state.batch.clear(),
            }
        }
        self.slide(state, call)
    }

    /// The next evacuation: from the batch while it lasts (planning a new
    /// one when it is empty), else from the step-by-step planner.
    fn next_evacuation(
        &self,
        state: &mut State,
        g: Geometry,
        max_bytes: usize,
        spent: usize,
    ) -> Plan {
        // The planner's own first checks (a scope, the phase's bound).
        if self.scoped_hint() || state.evacuations > 2 * state.counters.live() as u64 + 16 {
            state.batch.clear();
            return Plan::Slide;
        }
        let mut planned = state.batch.pop(state.epoch, max_bytes);
        if planned.is_none()
            && let Some(window) = self.window(state, g, max_bytes)
            // In a repair that no block of the window can fit yet, a batch
            // would plan nothing (see `plan::Repair`).
            && state.repair.stuck(state.epoch, window, max_bytes).is_none()
        {
            self.plan_batch(state, g, max_bytes, window);
            planned = state.batch.pop(state.epoch, max_bytes);
        }
        match planned {
            Some(mut e) => {
                if e.after == FIND {
                    e.after = self.predecessor(state, g, e.to);
                }
                Self::within_budget(e, max_bytes, spent)
            }
            None => self.plan(state, g, max_bytes, spent),
        }
    }

    /// Makes one evacuation the planner chose; `None` if a pin came first
    /// (the planner then plans around it).
    fn evacuate(
        &self,
        state: &mut State,
        g: Geometry,
        report: &mut DefragReport,
        e: Evacuation,
    ) -> Option<DefragStep> {
        let slot = self.slot_locked(g, e.index);
        let word = slot.state.load(Ordering::Relaxed);
        state.evacuations += 1;
        let (before, after) = self.gaps_around(g, e.index, e.from, extent(e.len));
        match self.relocate(g, slot, word, e.from, e.to, e.len) {
            Ok(()) => Some(self.evacuated(state, g, report, e, word, (before, after))),
            Err(Refused::Pinned) => {
                report.skipped_pinned += 1;
                None
            }
            Err(Refused::Abandoned) => {
                report.abandoned += 1;
                report.bytes_abandoned += e.len;
                state.moves_abandoned += 1;
                Some(DefragStep::evacuation(&e, word, false, report))
            }
        }
    }

    /// The bookkeeping of evacuation `e` of the block whose state word was
    /// `word` (its generation), made and published: counts, the repair's
    /// room, the address-order links and the largest free ranges (`gaps`:
    /// the free bytes before and after the block at its old place, taken
    /// before the move).
    pub(super) fn evacuated(
        &self,
        state: &mut State,
        g: Geometry,
        report: &mut DefragReport,
        e: Evacuation,
        word: u64,
        gaps: (usize, usize),
    ) -> DefragStep {
        let (before, after) = gaps;
        let ext = extent(e.len);
        report.bytes_moved += e.len;
        report.blocks_moved += 1;
        state.blocks_moved += 1;
        state.bytes_moved += e.len as u64;
        state.epoch += 1;
        // A repair's room expects its own moves.
        let vacated = Span {
            start: e.from - before,
            end: e.from + ext + after,
        };
        state.repair.made(state.epoch, vacated);
        // The block's place in address order changes unless it stays
        // between the same neighbours.
        let prev = self.links(g, e.index).prev();
        if e.after != e.index && e.after != prev {
            self.unlink(state, g, e.index);
            self.link_after(state, g, e.index, e.after);
        }
        state.largest.vacate(before, ext, after);
        let (before, after) = self.gaps_around(g, e.index, e.to, ext);
        state.largest.occupy(before, ext, after);
        DefragStep::evacuation(&e, word, true, report)
    }

    /// Moves the block of `slot` (state `word`, unpinned when read) from
    /// `from` to `to`. Called under the lock, so the block can be neither
    /// freed nor moved by anyone else meanwhile.
    ///
    /// Locked instructions: a block that is frozen from the start (an
    /// overlapping slide, or a copy of at most [`FREEZE_MAX`] bytes) costs
    /// the mark's compare-and-swap and the fence of `scoped_after_mark`; a
    /// longer non-overlapping move also the compare-and-swap of `commit`.
    /// The flags are cleared with a plain release store (see `publish`).
    pub(super) fn relocate(
        &self,
        g: Geometry,
        slot: &Slot,
        seen: u64,
        from: usize,
        to: usize,
        len: usize,
    ) -> Result<(), Refused> {
        // A destination overlapping the block means the copy overwrites
        // bytes a reader would read: no pin may start until it is done.
        // Only slides overlap, and they go down. A short copy is frozen
        // too: a reader waits for it rather than the move waiting for
        // readers (see `FREEZE_MAX`).
        let overlapping = to < from + len && from < to + len;
        debug_assert!(!overlapping || to < from);
        let frozen = overlapping || len <= FREEZE_MAX;
        let flags = if frozen { MOVING | FROZEN } else { MOVING };
        let word = slot.mark_unpinned(seen, flags).ok_or(Refused::Pinned)?;
        // A `PinnedAll` pins every block: give way to it before copying
        // (the `scope` module's protocol, mark then look).
        if self.scoped_after_mark() {
            slot.state.fetch_and(!flags, Ordering::Release);
            return Err(Refused::Pinned);
        }
        // SAFETY: `from..from + len` is the block and `to..to + len` lies in
        // a free range (an evacuation's) or in the free range between the
        // previous block's end and `from + len` (a slide's), both inside the
        // data area. The source is only read by us and, unless `frozen`, by
        // readers pinned during the copy; the destination, apart from the
        // block's own bytes when overlapping, belongs to no block, and with
        // `FROZEN` set no reader or writer can reach the block's bytes (no
        // pin existed when we set it, and none can start until we clear it).
        unsafe { copy(g.base.add(from), g.base.add(to), len, overlapping) };
        if frozen {
            // No pin lived when the mark went up and none can start while
            // `FROZEN` is set: the move cannot be abandoned.
            Self::publish(slot, word, to);
            Ok(())
        } else {
            Self::commit(slot, word | MOVING, to)
        }
    }

    /// Ends the move of `slot` (state `moving`, which has `MOVING` set by
    /// us) whose bytes are copied to `to`: publishes the new offset, or
    /// abandons the move if a reader pinned the block meanwhile.
    fn commit(slot: &Slot, mut moving: u64, to: usize) -> Result<(), Refused> {
        loop {
            if pins(moving) != 0 {
                debug_assert!(moving & FROZEN == 0, "a pin started on a frozen block");
                // Release: our writes to the destination happen before
                // whoever is later given that free range. A read-modify-
                // write: the pins that made us give up may drop meanwhile.
                slot.state.fetch_and(!MOVING, Ordering::Release);
                return Err(Refused::Abandoned);
            }
            // Acquire: the reads of every reader that pinned during the copy
            // happen before the old range is reused.
            match slot.state.compare_exchange_weak(
                moving,
                moving | FROZEN,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => moving = now,
            }
        }
        Self::publish(slot, moving & !MOVING, to);
        Ok(())
    }

    /// Publishes the move of `slot`, whose bytes are copied to `to` and
    /// whose state word is `unmarked | MOVING | FROZEN`, set or confirmed
    /// by our own compare-and-swap: stores the new offset, then `unmarked`.
    ///
    /// A plain store of the whole word, not a read-modify-write, because
    /// nobody else changes the word while `FROZEN` is set:
    ///
    /// * `Compact::get` compare-and-swaps only a word without `FROZEN`, so
    ///   no pin starts; and no pin lives (the count was zero in the word
    ///   our compare-and-swap set), so no `Pinned` drop decrements it;
    /// * `Compact::get_mut` compare-and-swaps only a word without `MOVING`
    ///   or `FROZEN`, and no `PinnedMut` lives (`WRITER` was clear), so no
    ///   writer's drop clears `WRITER`;
    /// * `Compact::free` and `allocate` write it only under the lock, which
    ///   the mover holds;
    /// * `PinnedAll::get` and scopes never write it (a scope's count is
    ///   another word).
    ///
    /// So the word is still `unmarked | MOVING | FROZEN` and storing
    /// `unmarked` clears exactly our flags. `tests/loom_compact.rs` checks
    /// it with readers, writers and scopes racing frozen moves.
    pub(super) fn publish(slot: &Slot, unmarked: u64, to: usize) {
        debug_assert_eq!(
            slot.state.load(Ordering::Relaxed),
            unmarked | MOVING | FROZEN
        );
        // `FROZEN` keeps every pin out: nobody reads the offset until the
        // flags clear.
        slot.offset.store(to as u32, Ordering::Relaxed);
        // Release: the copied bytes and the new offset happen before any pin
        // (acquire) that sees the flags cleared. A later release by anyone
        // else is a read-modify-write reading this value or a later one, so
        // no earlier release is lost to a reader: ours happens after all of
        // them (our compare-and-swap acquired them).
        slot.state.store(unmarked, Ordering::Release);
    }
}

/// The longest block a non-overlapping move freezes from the start (sets
/// `FROZEN` in its first compare-and-swap).
///
/// A frozen move cannot be abandoned, so it needs no second
/// compare-and-swap after the copy (each locked instruction costs
/// 8–25 ns on the hosts measured in `BENCHMARKS.md`); the price is that a
/// `get` of the block in the meantime waits for the copy instead of
/// winning over the move. 4 KiB bounds that wait at one page's copy, about
/// 0.1–0.5 µs (a cache-cold `memcpy` at 8–40 GB/s) — the cost of a handful
/// of cache misses, far below the waits `get` already accepts for slides
/// over themselves (a copy of up to the budget's `max_bytes`). Above it the
/// saved compare-and-swap is under ~5 % of the copy, so longer blocks keep
/// the protocol that lets readers win. Loom's models use blocks of 16–64
/// bytes, so under loom the bound is 32 bytes and both protocols run.
#[cfg(not(loom))]
pub(super) const FREEZE_MAX: usize = 4096;
#[cfg(loom)]
pub(super) const FREEZE_MAX: usize = 32;

/// Copies `len` bytes from `src` to `dst`.
///
/// Under loom the copy is cut into chunks with a scheduling point between
/// them, so the model checker runs readers in the middle of a move: a
/// protocol that let one read a half-moved block would fail its content
/// check.
///
/// # Safety
///
/// `src..src + len` is valid for reads and `dst..dst + len` for writes; they
/// do not overlap unless `overlapping`.
pub(super) unsafe fn copy(src: *const u8, dst: *mut u8, len: usize, overlapping: bool) {
    #[cfg(not(loom))]
    {
        if overlapping {
            // SAFETY: the caller's promise; `copy` allows overlap.
            unsafe { core::ptr::copy(src, dst, len) };
        } else {
            // SAFETY: the caller's promise.
            unsafe { core::ptr::copy_nonoverlapping(src, dst, len) };
        }
    }
    #[cfg(loom)]
    {
        // Moves go down (`dst < src`), so a forward copy in chunks is a
        // correct memmove.
        let _ = overlapping;
        const CHUNK: usize = 16;
        let mut done = 0;
        while done < len {
            let n = CHUNK.min(len - done);
            // SAFETY: the caller's promise; `dst < src`, so copying forward
            // never reads a byte this loop already overwrote.
            unsafe { core::ptr::copy(src.add(done), dst.add(done), n) };
            done += n;
            crate::sync::spin_hint();
        }
    }
}
