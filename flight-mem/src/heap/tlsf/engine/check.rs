//! Tlsf's invariant walk: every block in address order, every list, and
//! the wrapper's counters against both.

use super::{Listed, State};
use crate::InvariantViolation;
#[cfg(target_pointer_width = "64")]
use crate::heap::tlsf::REQUESTED_SHIFT;
use crate::heap::tlsf::classes::{FL_COUNT, SL_COUNT, SL_LOG2, class_of};
use crate::heap::tlsf::{FLAGS, Link, NIL, PREV_FREE, SIZE_MASK, USED};
use crate::stats::Counters;

impl State {
    /// Whether the free block `block` is where its links and its list say:
    /// linked from its predecessor (or the list head) and its successor.
    fn is_linked(&self, block: &Listed) -> bool {
        let me = block.span.block().link();
        let (next, prev) = self.region.links(block.span.block());
        let link_of = |link: Link, field: fn((Link, Link)) -> Link| {
            self.region
                .link_block(link)
                .is_some_and(|other| field(self.region.links(other)) == me)
        };
        (if prev == NIL {
            self.heads[block.list] == me
        } else {
            link_of(prev, |links| links.0)
        }) && (next == NIL || link_of(next, |links| links.1))
    }

    /// Walks every block and list and compares them with `counters`.
    pub(super) fn check(&self, counters: &Counters) -> Result<(), InvariantViolation> {
        let fail = |what, offset| Err(InvariantViolation { what, offset });
        let end = self.region.end();
        let mut off = 0;
        let mut prev_free = false;
        let (mut used, mut live, mut free_blocks) = (0, 0, 0);
        // The requested sizes the used headers record (64-bit targets; the
        // 32-bit record needs each block's alignment gap as well).
        #[cfg(target_pointer_width = "64")]
        let mut requested = 0;
        while off < end {
            let Some(at) = self.region.at(off) else {
                return fail("block size out of range", off);
            };
            let header = self.region.word(at);
            let Some(span) = self.region.span(at, header & SIZE_MASK) else {
                return fail("block size out of range", off);
            };
            if (header & PREV_FREE != 0) != prev_free {
                return fail("previous-free flag disagrees with the previous block", off);
            }
            if header & USED != 0 {
                used += span.size();
                live += 1;
                #[cfg(target_pointer_width = "64")]
                {
                    requested += header >> REQUESTED_SHIFT;
                }
                prev_free = false;
            } else {
                if prev_free {
                    return fail("two adjacent free blocks (missed coalescing)", off);
                }
                if header & FLAGS != 0 {
                    return fail("free block with flags", off);
                }
                if self.region.word(span.tag()) != span.size() {
                    return fail("boundary tag differs from the header", off);
                }
                if !self
                    .checked_free(at)
                    .is_some_and(|block| self.is_linked(&block))
                {
                    return fail("free block missing from its list", off);
                }
                free_blocks += 1;
                prev_free = true;
            }
            off += span.size();
        }
        if let Some(marker_at) = self.region.at(end) {
            let marker = self.region.word(marker_at);
            if marker & !PREV_FREE != USED || (marker & PREV_FREE != 0) != prev_free {
                return fail("end marker corrupted", end);
            }
        }
        if used != counters.used() || used > counters.peak {
            return fail("used bytes differ from the used blocks", 0);
        }
        if live != counters.live() {
            return fail("live count differs from the used blocks", 0);
        }
        if counters.requested > counters.used() {
            return fail("requested bytes exceed used bytes", 0);
        }
        #[cfg(target_pointer_width = "64")]
        if requested != counters.requested {
            return fail("requested bytes differ from the used blocks' records", 0);
        }
        // The spare class (granular searches' last start) holds nothing,
        // and no first-level bit names a class past the last.
        if self.sl_bitmap[FL_COUNT] != 0 || self.fl_bitmap >> FL_COUNT != 0 {
            return fail("bitmap bits set past the last class", FL_COUNT);
        }
        let mut listed = 0;
        for fl in 0..FL_COUNT {
            if ((self.fl_bitmap >> fl) & 1 != 0) != (self.sl_bitmap[fl] != 0) {
                return fail("first-level bitmap disagrees with the second level", fl);
            }
            for sl in 0..SL_COUNT {
                let list = (fl << SL_LOG2) + sl;
                let mut link = self.heads[list];
                if ((self.sl_bitmap[fl] >> sl) & 1 != 0) != (link != NIL) {
                    return fail("second-level bitmap disagrees with the list", link as usize);
                }
                while link != NIL {
                    listed += 1;
                    let block = self.region.link_block(link);
                    let Some(block) = block.filter(|_| listed <= free_blocks) else {
                        return fail(
                            "free list holds a block the heap walk did not find",
                            link as usize,
                        );
                    };
                    let header = self.region.word(block.header());
                    if header & USED != 0 || class_of(header & !FLAGS) != list {
                        return fail("free list holds a used or misfiled block", link as usize);
                    }
                    link = self.region.links(block).0;
                }
            }
        }
        if listed != free_blocks {
            return fail("free lists hold fewer blocks than the heap walk", 0);
        }
        Ok(())
    }
}
