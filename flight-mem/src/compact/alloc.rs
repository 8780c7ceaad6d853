//! Allocation and freeing: first fit over the address-ordered block list,
//! the handle table's free-slot stack, and the free's side of the pin
//! protocol (see the [`Compact`] documentation).

use core::alloc::Layout;

use super::table::{LIVE, Links, MOVING, NIL, Slot, WRITER, generation, pins};
use super::{Compact, GRANULE, Geometry, Handle, State, extent};
use crate::AllocError;
use crate::sync::Ordering;

impl Compact {
    /// Allocates a zero-filled block for `layout` and returns its handle.
    ///
    /// Errors: [`AllocError::ZeroSize`], [`AllocError::AlignmentTooLarge`]
    /// (above the capacity's largest power of two), [`AllocError::TooLarge`]
    /// (above the capacity), [`AllocError::OutOfHandles`] (every slot of the
    /// table holds a block) and [`AllocError::OutOfMemory`] (no hole fits:
    /// [`defragment`](Self::defragment) may help). Every refusal counts in
    /// `failures`.
    pub fn allocate(&self, layout: Layout) -> Result<Handle, AllocError> {
        let g = self.geometry();
        let size = layout.size();
        let align = layout.align().max(GRANULE);
        let max_align = Self::max_align(g.capacity);
        let refused = if size == 0 {
            Some(AllocError::ZeroSize)
        } else if align > max_align {
            Some(AllocError::AlignmentTooLarge {
                align: layout.align(),
                max: max_align,
            })
        } else if size > g.capacity {
            Some(AllocError::TooLarge {
                size,
                max: g.capacity,
            })
        } else {
            None
        };
        self.state.with(|state| {
            if let Some(error) = refused {
                state.counters.failed();
                return Err(error);
            }
            self.allocate_locked(state, g, size, align)
        })
    }

    fn allocate_locked(
        &self,
        state: &mut State,
        g: Geometry,
        size: usize,
        align: usize,
    ) -> Result<Handle, AllocError> {
        let fresh = self.fresh.load(Ordering::Relaxed);
        let index = if state.free_slots != NIL {
            state.free_slots
        } else if fresh < self.slots {
            fresh
        } else {
            state.counters.failed();
            return Err(AllocError::OutOfHandles {
                max: self.slots as usize,
            });
        };
        let ext = extent(size);
        let Some((offset, prev)) = self.first_fit(state, g, ext, align) else {
            state.counters.failed();
            return Err(AllocError::OutOfMemory {
                size,
                largest_free: self.scan(state, g).largest_free,
            });
        };
        // SAFETY: `first_fit` found `offset..offset + ext` free inside the
        // data area (`offset + ext <= capacity`); no handle reaches it, so
        // nothing else reads or writes it.
        unsafe { g.base.add(offset).write_bytes(0, size) };
        let slot = if index == fresh {
            // SAFETY: slot `fresh < slots` lies inside the table (see
            // `slot`); no reader trusts it until `fresh` is raised below,
            // and under the lock nothing else touches it.
            let slot = unsafe {
                g.links.add(index as usize).cast_mut().write(Links::fresh());
                let slot = g.table.add(index as usize).cast_mut();
                slot.write(Slot::fresh());
                &*slot
            };
            // Release: the slot's construction happens before any reader
            // trusts it. It is not live yet, so readers refuse it until the
            // state store below.
            self.fresh.store(fresh + 1, Ordering::Release);
            slot
        } else {
            let slot = self.slot_locked(g, index);
            state.free_slots = self.links(g, index).next();
            slot
        };
        let word = slot.state.load(Ordering::Relaxed);
        slot.offset.store(offset as u32, Ordering::Relaxed);
        slot.len.store(size as u32, Ordering::Relaxed);
        self.links(g, index)
            .align_log2
            .store(align.trailing_zeros(), Ordering::Relaxed);
        self.link_after(state, g, index, prev);
        let (before, after) = self.gaps_around(g, index, offset, ext);
        state.largest.occupy(before, ext, after);
        // Release: the zeroed bytes and the fields above happen before any
        // pin that sees the block live.
        slot.state.store(word | LIVE, Ordering::Release);
        state.counters.allocated(size, ext);
        // A new layout: defragmentation starts again with evacuation.
        state.evacuations = 0;
        state.window = None;
        state.anchor = NIL;
        state.sliding = false;
        state.epoch += 1;
        Ok(Handle {
            index,
            generation: generation(word),
        })
    }

    /// The lowest place for `ext` bytes aligned to `align`, and the live
    /// block it follows (`NIL`: the start).
    fn first_fit(
        &self,
        state: &State,
        g: Geometry,
        ext: usize,
        align: usize,
    ) -> Option<(usize, u32)> {
        let (mut end, mut prev, mut cur) = (0, NIL, state.first);
        loop {
            let limit = if cur == NIL {
                g.capacity
            } else {
                self.slot_locked(g, cur).offset()
            };
            if let Some(at) = Self::place(g, end, align)
                && at.checked_add(ext).is_some_and(|e| e <= limit)
            {
                return Some((at, prev));
            }
            if cur == NIL {
                return None;
            }
            let slot = self.slot_locked(g, cur);
            end = slot.offset() + extent(slot.len());
            prev = cur;
            cur = self.links(g, cur).next();
        }
    }

    /// Links slot `index` into the address-ordered list after `prev`.
    pub(super) fn link_after(&self, state: &mut State, g: Geometry, index: u32, prev: u32) {
        let next = if prev == NIL {
            state.first
        } else {
            self.links(g, prev).next()
        };
        let links = self.links(g, index);
        links.prev.store(prev, Ordering::Relaxed);
        links.next.store(next, Ordering::Relaxed);
        match prev {
            NIL => state.first = index,
            p => self.links(g, p).next.store(index, Ordering::Relaxed),
        }
        match next {
            NIL => state.last = index,
            n => self.links(g, n).prev.store(index, Ordering::Relaxed),
        }
    }

    /// Unlinks slot `index` from the address-ordered list.
    pub(super) fn unlink(&self, state: &mut State, g: Geometry, index: u32) {
        let links = self.links(g, index);
        let (prev, next) = (links.prev(), links.next());
        match prev {
            NIL => state.first = next,
            p => self.links(g, p).next.store(next, Ordering::Relaxed),
        }
        match next {
            NIL => state.last = prev,
            n => self.links(g, n).prev.store(prev, Ordering::Relaxed),
        }
    }

    /// Frees the block of `handle`: O(1).
    ///
    /// Errors, changing nothing: [`AllocError::ForeignPointer`] for a slot
    /// index this allocator never handed out, [`AllocError::DoubleFree`] for
    /// a stale handle (freed already, or its slot reused since), and
    /// [`AllocError::Pinned`] while a [`Pinned`](super::Pinned) or
    /// [`PinnedMut`](super::PinnedMut) guard of the block, or any
    /// [`PinnedAll`](super::PinnedAll), lives.
    pub fn free(&self, handle: Handle) -> Result<(), AllocError> {
        let g = self.geometry();
        let slot = self
            .slot(g, handle.index)
            .ok_or(AllocError::ForeignPointer)?;
        self.state.with(|state| {
            let mut word = slot.state.load(Ordering::Relaxed);
            // Mark the block before looking for scopes (the `scope` module's
            // protocol); a `PinnedAll::get` of it waits for our decision.
            loop {
                if generation(word) != handle.generation || word & LIVE == 0 {
                    return Err(AllocError::DoubleFree);
                }
                // No move is in flight: the mover holds the lock we hold.
                if pins(word) != 0 || word & WRITER != 0 {
                    return Err(AllocError::Pinned);
                }
                // Acquire: the last guard's accesses happen before the bytes
                // are reused.
                match slot.state.compare_exchange_weak(
                    word,
                    word | MOVING,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => word = now,
                }
            }
            let unmark = || {
                slot.state.fetch_and(!MOVING, Ordering::Release);
                Err(AllocError::Pinned)
            };
            if self.scoped_after_mark() {
                return unmark();
            }
            let retire = handle.generation == u32::MAX;
            let next_gen = if retire {
                u32::MAX
            } else {
                handle.generation + 1
            };
            let freed = next_gen as u64;
            let mut marked = word | MOVING;
            loop {
                // `Compact::get` pins a marked block (a move in flight is
                // abandoned for it); a pin that came meanwhile wins.
                if pins(marked) != 0 {
                    return unmark();
                }
                // Acquire: as above, for pins that came and went meanwhile;
                // release: a pinner that fails on the new word sees a
                // consistent slot.
                match slot.state.compare_exchange_weak(
                    marked,
                    freed,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => marked = now,
                }
            }
            let len = slot.len.load(Ordering::Relaxed) as usize;
            let (before, after) = self.gaps_around(g, handle.index, slot.offset(), extent(len));
            state.largest.vacate(before, extent(len), after);
            self.unlink(state, g, handle.index);
            state.counters.freed(len, extent(len));
            state.evacuations = 0;
            state.window = None;
            state.anchor = NIL;
            state.sliding = false;
            state.epoch += 1;
            if retire {
                state.retired += 1;
            } else {
                self.links(g, handle.index)
                    .next
                    .store(state.free_slots, Ordering::Relaxed);
                state.free_slots = handle.index;
            }
            Ok(())
        })
    }
}
