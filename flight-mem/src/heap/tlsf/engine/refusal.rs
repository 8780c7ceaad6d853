//! Why Tlsf's `free` refused a pointer (the cold path after the O(1)
//! checks said no): a double free or a foreign pointer.

use super::State;
use crate::AllocError;
use crate::heap::tlsf::{FLAGS, GRANULE, MIN_BLOCK, PREV_FREE, USED, WORD};

impl State {
    /// Why `free` refused `payload`: a double free when the pointer leads
    /// to a block that is free now, else a foreign pointer.
    #[cold]
    #[inline(never)]
    pub(super) fn refusal(&self, payload: usize) -> AllocError {
        if (payload - WORD) & FLAGS != 0 {
            return AllocError::ForeignPointer;
        }
        let Some(mut at) = self.region.at(payload - WORD) else {
            return AllocError::ForeignPointer;
        };
        let header = self.region.word(at);
        let gap = header & !FLAGS;
        if header & (USED | PREV_FREE) == PREV_FREE
            && gap != 0
            && gap < MIN_BLOCK
            && let Some(behind) = at.back(gap)
        {
            at = behind;
        }
        let header = self.region.word(at);
        // Headers of blocks that were freed (and perhaps merged) keep a
        // plausible size with no flags.
        let freed = header & FLAGS == 0 && self.region.span(at, header).is_some();
        if freed || self.in_freed_gap_block(payload) {
            AllocError::DoubleFree
        } else {
            AllocError::ForeignPointer
        }
    }

    /// Whether `payload` was an aligned payload behind a gap marker in a
    /// block that is now free: the marker may have been overwritten by the
    /// free block's links, so the few offsets a gap header can have are
    /// probed for a free header. Only runs for refused pointers.
    fn in_freed_gap_block(&self, payload: usize) -> bool {
        if payload >= self.region.end() || payload < WORD || (payload - WORD) & FLAGS != 0 {
            return false;
        }
        let Some(marker) = self.region.at(payload - WORD) else {
            return false;
        };
        (GRANULE..MIN_BLOCK).step_by(GRANULE).any(|gap| {
            let Some(at) = marker.back(gap) else {
                return false;
            };
            let header = self.region.word(at);
            header & FLAGS == 0
                && self
                    .region
                    .span(at, header)
                    .is_some_and(|span| span.after().get() > payload)
        })
    }
}
