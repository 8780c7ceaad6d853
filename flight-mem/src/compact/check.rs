//! [`Compact::check`]: the handle table against the blocks.

use super::table::{FROZEN, GEN_MASK, HOT_SIZE, LIVE, MOVING, NIL, generation};
use super::{Compact, Geometry, State, extent};
use crate::InvariantViolation;
use crate::stats::Counters;
use crate::sync::Ordering;

impl Compact {
    /// Checks the handle table against the blocks: the address-ordered list
    /// (links, order, no overlap, bounds, alignment, every listed slot live
    /// and every live slot listed), the free-slot stack, retired slots and
    /// the counters. O(slots), under the lock.
    pub fn check(&self) -> Result<(), InvariantViolation> {
        let g = self.geometry();
        self.state.with(|state| self.check_locked(state, g))
    }

    /// The §8 name of [`check`](Self::check): validates the handle table
    /// against the blocks.
    pub fn validate(&self) -> Result<(), InvariantViolation> {
        self.check()
    }

    fn check_locked(&self, state: &State, g: Geometry) -> Result<(), InvariantViolation> {
        let fail = |what, offset| Err(InvariantViolation { what, offset });
        let fresh = self.fresh.load(Ordering::Relaxed);
        // A memory too small for one slot gets an empty table, whose start
        // (the memory's end rounded down to the slot alignment) may fall
        // below a misaligned memory's start: offsets are reported from 0.
        let table_at = g.table.addr().saturating_sub(self.memory.as_ptr().addr());
        let slot_at = |index: u32| table_at + index as usize * HOT_SIZE;
        if fresh > self.slots {
            return fail("more slots initialised than the table holds", table_at);
        }
        let mut recount = Counters::new();
        let (mut end, mut prev, mut cur, mut listed) = (0usize, NIL, state.first, 0u32);
        let mut anchor_listed = state.anchor == NIL;
        while cur != NIL {
            if cur >= fresh || listed >= fresh {
                return fail(
                    "block list names a bad slot or loops",
                    slot_at(cur.min(fresh)),
                );
            }
            let slot = self.slot_locked(g, cur);
            let links = self.links(g, cur);
            let word = slot.state.load(Ordering::Relaxed);
            let offset = slot.offset();
            let len = slot.len();
            let align_log2 = links.align_log2.load(Ordering::Relaxed);
            if word & LIVE == 0 || word & (MOVING | FROZEN) != 0 {
                return fail(
                    "listed block not live, or a move left unfinished",
                    slot_at(cur),
                );
            }
            if links.prev() != prev {
                return fail("block list back link broken", slot_at(cur));
            }
            if len == 0 || offset < end || offset + extent(len) > g.capacity {
                return fail(
                    "block overlaps its predecessor or leaves the data area",
                    offset,
                );
            }
            if align_log2 >= usize::BITS
                || !(g.base.addr() + offset).is_multiple_of(1 << align_log2)
            {
                return fail("block misaligned", offset);
            }
            recount.allocated(len, extent(len));
            anchor_listed |= cur == state.anchor;
            end = offset + extent(len);
            prev = cur;
            listed += 1;
            cur = links.next();
        }
        if !anchor_listed {
            return fail(
                "defragmentation's walk start is not a listed block",
                table_at,
            );
        }
        if state.last != prev {
            return fail("last block is not the end of the list", table_at);
        }
        if state.largest.known && state.largest != self.walk_gaps(state, g) {
            return fail("largest free range tracked wrongly", table_at);
        }
        let (mut free, mut cur) = (0u32, state.free_slots);
        while cur != NIL {
            if cur >= fresh || free >= fresh {
                return fail("free-slot stack names a bad slot or loops", table_at);
            }
            let word = self.slot_locked(g, cur).state.load(Ordering::Relaxed);
            if word & LIVE != 0 || word & !GEN_MASK != 0 {
                return fail("free slot is live or pinned", slot_at(cur));
            }
            free += 1;
            cur = self.links(g, cur).next();
        }
        let mut live = 0u32;
        let mut retired = 0u32;
        for index in 0..fresh {
            let word = self.slot_locked(g, index).state.load(Ordering::Relaxed);
            if word & LIVE != 0 {
                live += 1;
            } else if generation(word) == u32::MAX {
                retired += 1;
            }
        }
        if live != listed || retired != state.retired || listed + free + retired != fresh {
            return fail("live, free and retired slots do not add up", table_at);
        }
        state
            .counters
            .check_against(&recount, g.capacity)
            .or_else(|what| fail(what, 0))
    }
}
