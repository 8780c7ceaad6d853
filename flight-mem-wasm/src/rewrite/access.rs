//! The rewrite of one load or store: relocated, checked or masked, the
//! check or mask placed where it costs the fewest interpreter steps.

use super::track::{Copy, End, Entry, Key, LoadPush};
use super::{Extent, Func, Instr, Prev, What};
use crate::ops::Access;
use crate::plan::{Kind, MemPlan, PAGE};
use crate::{Check, Error, Isolation};

impl Func<'_> {
    pub(super) fn access(
        &mut self,
        op: Instr<'_, '_>,
        a: Access,
        m: u32,
        pos: u64,
        p1: Prev,
        p2: Prev,
    ) -> Result<(), Error> {
        if a.writes {
            self.refuse_write(m, pos, op)?;
        }
        let mem = *self.mem(m);
        let base = u64::from(mem.base);
        let offset = a.memarg.offset;
        let width = u64::from(a.width);
        if a.atomic && base % width != 0 {
            return Err(Error::MisalignedBase {
                what: self.plan.names[m as usize].clone(),
                base,
            });
        }
        let at = pos as usize;
        // A wait on an unshared memory (the own one or a window) traps in
        // the original; over a shared unified memory (some other memory
        // is shared) it would wait. `checked` and `masked` trap before
        // it, `trusted` adds nothing (README).
        let waits = matches!(
            op,
            Instr::Op(
                wasmparser::Operator::MemoryAtomicWait32 { .. }
                    | wasmparser::Operator::MemoryAtomicWait64 { .. }
            )
        );
        let unshared_wait =
            waits && !mem.shared && self.plan.shared && self.plan.isolation != Isolation::Trusted;
        // `masked` confines an access to its span, which a window (or a
        // segment) of fewer bytes than the access is wide cannot hold: the
        // clamp's last start, `span - width`, would be negative. Such a
        // memory has no whole page, so the original's has 0 bytes.
        let wider = self.plan.isolation == Isolation::Masked && width > mem.span;
        // `offset + base` without overflow: unvalidated input may carry
        // any u64 offset (wasmparser reads u64s), and one near 2^64 wrapped
        // the sum below 4 GiB, which relocated the access below the base.
        if unshared_wait || wider || offset > u64::from(u32::MAX) - base {
            // Every execution traps in the original: the unshared wait, an
            // access wider than the memory, or offset + base >= 2^32 >=
            // base + span means offset >= span, out of bounds. The
            // instruction stays, unreachable (an offset past 2^32 keeps
            // the output invalid, as the input is).
            self.track.clear();
            self.flush(at);
            self.oob_trap();
            self.relocated(op, 0, None)?;
            self.note(op, pos, m, offset, offset, Check::Trap);
            return Ok(());
        }
        if self.plan.isolation == Isolation::Trusted {
            self.flush(at);
            self.relocated(op, base, None)?;
            self.note(op, pos, m, offset, offset + base, Check::None);
            return Ok(());
        }
        let pending = self.pending;
        let n = a.operands.len();
        // The stretch since the last memory instruction is walked when
        // something is known from before it, or when the address may have
        // been pushed in it (a store whose value is computed).
        let entry = if !self.track.empty() || (n > 0 && !p1.pure()) {
            self.track
                .walk(self.src, pending, at)
                .then(|| self.track.address(n))
                .flatten()
        } else {
            None
        };
        // Where the output is at the start of the address pushed right
        // before a load (nothing has been written past `pending` yet).
        let p1_out =
            (n == 0 && p1.pure() && p1.at >= pending).then(|| self.out.len() + (p1.at - pending));
        self.track.prev_load = self.track.load_push.take();
        self.access_inner(op, a, m, pos, p1, p2, entry)?;
        self.track.prev_load = None;
        // After a load, the value under its address (pushed by `p2`, right
        // before the address) and the loaded value are on top of the
        // stack; after any other access, nothing known is. Only a load
        // with a local's value under it leaves something to track (a
        // read-modify-write; the stretch after the others is walked only
        // when it must be: the walk is a second decode of it).
        self.track.stack.clear();
        if n == 0
            && let Some(end) = p1_out.filter(|_| p2.at >= pending)
            && let What::Local(x) = p2.what
        {
            self.track.stack.push(Entry {
                local: Some(x),
                end: End::Out(end),
                get: None,
            });
            self.track.stack.push(Entry {
                local: None,
                end: End::Out(self.out.len()),
                get: None,
            });
        }
        Ok(())
    }

    /// The rewrite of a load or store in `masked` or `checked`; `entry`
    /// is its address when the walk of the stretch before it found it.
    #[allow(clippy::too_many_arguments)]
    fn access_inner(
        &mut self,
        op: Instr<'_, '_>,
        a: Access,
        m: u32,
        pos: u64,
        p1: Prev,
        p2: Prev,
        entry: Option<Entry>,
    ) -> Result<(), Error> {
        let mem = *self.mem(m);
        let base = u64::from(mem.base);
        let offset = a.memarg.offset;
        let width = u64::from(a.width);
        let at = pos as usize;
        let constant = match (a.operands.len(), p1.what, p2.what) {
            (0, What::Const(c), _) => Some(c),
            (1, _, What::Const(c)) if p1.pure() => Some(c),
            _ => None,
        };
        // Memory never shrinks: inside the initial size means always inside.
        if constant.is_some_and(|c| u64::from(c) + offset + width <= mem.min_bytes) {
            self.flush(at);
            self.relocated(op, base, None)?;
            self.note(op, pos, m, offset, offset + base, Check::Elided);
            return Ok(());
        }
        // Where the address is on top of the stack with nothing but pure
        // pushes between there and the instruction: a load's own position,
        // or a store's whose value is one pure instruction. A check or mask
        // placed there runs before side-effect-free instructions only, so
        // it traps (or confines) exactly as one right before the access.
        let top = match (a.operands.len(), p1) {
            (0, _) => Some(at),
            (1, p) if p.pure() && p.at >= self.pending => Some(p.at),
            _ => None,
        };
        // The address as a local, read by the instruction starting at the
        // position given: a check needs no scratch local there.
        let local = match (a.operands.len(), p1, p2) {
            (
                0,
                Prev {
                    what: What::Local(x),
                    at: q,
                },
                _,
            ) => Some((x, q)),
            (
                1,
                p,
                Prev {
                    what: What::Local(x),
                    at: q,
                },
            ) if p.pure() => Some((x, q)),
            _ => None,
        }
        .filter(|&(_, q)| q >= self.pending);
        match self.plan.isolation {
            // Done above, before the operands are looked at.
            Isolation::Trusted => {}
            Isolation::Masked => {
                // The mask covers every byte the memory can ever hold: the
                // own memory's maximum rounded up to a power of two, or the
                // whole window. It confines where an access *starts*; one
                // of `width` bytes reaches `offset + width - 1` bytes
                // further. When the segment has room past the masked range
                // for that, `addr & MASK` and the offset stays in the
                // memarg (the same address for every in-bounds access).
                // Else `addr % (span - offset - width + 1)`, one unsigned
                // remainder by a constant: in-bounds addresses are below it
                // (`addr + offset + width <= bytes <= span`), so they do
                // not change, and no access ends past the segment. An
                // offset that alone reaches past the segment (every access
                // out of bounds) keeps the old form: offset added, masked,
                // clamped to start at `span - width` (a `select`). Either
                // way isolation is exact and branch-free.
                let reach = match mem.kind {
                    Kind::Own => (u64::from(mem.max_pages) * PAGE)
                        .next_power_of_two()
                        .min(mem.span),
                    Kind::Window { .. } => mem.span,
                };
                // Without that room, an access whose offset and width
                // leave in-bounds addresses a smaller range may still fit
                // one mask: its addresses are below `max - offset - width
                // + 1` when in bounds (`max` the most bytes the memory
                // can hold), so a mask of that rounded up to a power of
                // two changes none of them.
                let max = match mem.kind {
                    Kind::Own => (u64::from(mem.max_pages) * PAGE).min(mem.span),
                    Kind::Window { .. } => mem.span,
                };
                let reach = match reach + offset + width - 1 <= mem.span {
                    true => reach,
                    false if offset + width <= max => {
                        reach.min((max - offset - width + 1).next_power_of_two())
                    }
                    false => reach,
                };
                let fits = reach + offset + width - 1 <= mem.span;
                let modulo = !fits && offset + width <= mem.span;
                let fold = fits || modulo;
                let clamp = !fold && width > 1 && reach + width - 1 > mem.span;
                // What the confinement below does to an address, for a copy
                // of it (`track::Copy`): addresses below `keep` unchanged,
                // none above `hi`. The offset added when not folded: the
                // value is no address another access could use (`keep` 0,
                // `hi` past any access).
                //
                // The bound `m` of a clamp or remainder: every in-bounds
                // address is below `max - offset - width + 1`, and
                // `span - offset - width + 1` is the largest that keeps the
                // access inside. A copy takes the middle of the two (the
                // segment's spare bytes split): later accesses through the
                // local whose extent differs by up to half of them either
                // way are served by it too.
                let bound = mem.span.saturating_sub(offset + width) + 1;
                let bound_copy = match offset + width <= max {
                    true => bound - (mem.span - max) / 2,
                    false => bound,
                };
                let keeps = |bound: u64| {
                    if modulo {
                        (bound, bound - 1)
                    } else if fits {
                        (reach, reach - 1)
                    } else {
                        (0, mem.span)
                    }
                };
                // `here`: the address is local `x`'s value where it is
                // confined. Then the remainder's job is done by a clamp,
                // `select(addr, m - 1, x < m)`: the same addresses kept
                // (those below `m`), the others moved to `m - 1`, whose
                // access ends at the segment's end. Two cheap steps where
                // the remainder is one dear one: wasmi 2.0 runs `lt_u` and
                // `select` in 17 host instructions against `rem_u`'s 19,
                // V8's TurboFan a compare and a conditional move against a
                // multiply-shift sequence. Without the local it would take
                // a `local.tee` (wasmi 21 in all): the remainder stays.
                let confine = |f: &mut Self, here: Option<u32>, m: u64| {
                    if modulo {
                        let m = m as i32;
                        match here {
                            Some(x) => f
                                .emit()
                                .i32_const(m - 1)
                                .local_get(x)
                                .i32_const(m)
                                .i32_lt_u()
                                .select(),
                            None => f.emit().i32_const(m).i32_rem_u(),
                        };
                        return;
                    }
                    if !fold && offset != 0 {
                        f.emit().i32_const(offset as i32).i32_add();
                    }
                    f.emit().i32_const((reach - 1) as i32).i32_and();
                    if clamp {
                        let t = f.scratch;
                        f.uses_scratch = true;
                        let last = (mem.span - width) as i32;
                        f.emit()
                            .local_tee(t)
                            .i32_const(last)
                            .local_get(t)
                            .i32_const(last)
                            .i32_lt_u()
                            .select();
                    }
                };
                // Else where the walk found the address pushed: in the
                // input still to copy, or in the output already written
                // (before the load that computed a stored value). A mask
                // neither traps nor has an effect, and the address does
                // not change on the stack until the access.
                let pushed = top.map(End::In).or(entry.map(|e| e.end));
                let copy = self.scratch + super::SCRATCH_COPY;
                // The address as a `local.get` since the last memory
                // instruction: the local, where the `local.get` starts and
                // where it ends.
                let get = match (a.operands.len(), p1, p2) {
                    (
                        0,
                        Prev {
                            what: What::Local(x),
                            at: q,
                        },
                        _,
                    ) => Some((x, q, at)),
                    (
                        1,
                        p,
                        Prev {
                            what: What::Local(x),
                            at: q,
                        },
                    ) if p.pure() => Some((x, q, p.at)),
                    _ => entry.and_then(|e| match (e.local, e.get, e.end) {
                        (Some(x), Some(q), End::In(end)) => Some((x, q, end)),
                        _ => None,
                    }),
                }
                .filter(|&(_, q, _)| q >= self.pending);
                // The local the address is the value of where it was
                // pushed (and so where it is confined, right after): the
                // `local.get` just found, or the walk's entry (the local
                // not written since its push).
                let here = match pushed {
                    Some(End::In(q)) => get
                        .filter(|g| g.2 == q)
                        .map(|g| g.0)
                        .or_else(|| entry.filter(|e| e.end == End::In(q))?.local),
                    Some(End::Out(_)) => entry.and_then(|e| e.local),
                    None => None,
                };
                // The confining bytes, when the last load may share them
                // (written and taken back: most accesses follow no such
                // load, and pay nothing).
                let key = if self.track.prev_load.is_some() {
                    let s0 = self.out.len();
                    confine(self, here, bound);
                    let key = Key::new(&self.out[s0..]);
                    self.out.truncate(s0);
                    key
                } else {
                    None
                };
                // The copy holds this local confined, set before the
                // `local.get` (at an earlier memory instruction), the local
                // not written since, in a way that serves this access
                // (every in-bounds address unchanged, no value reaching
                // past the segment with this offset and width), the offset
                // staying in the memarg. The same confining bytes are not
                // the test: the copy's bound may have moved (below), and
                // the same bytes may confine another memory's accesses of
                // another offset and width.
                let reuse = get.filter(|&(x, ..)| {
                    self.track.copy.is_some_and(|c| {
                        c.local == x && fold && c.serves(offset, width, max, mem.span)
                    })
                });
                let prev_load = self.track.prev_load.take();
                match (reuse, pushed) {
                    (Some((_, q, end)), _) => {
                        self.flush(q);
                        self.emit().local_get(copy);
                        self.pending = end;
                        self.flush(at);
                    }
                    (None, Some(End::In(q))) => {
                        self.flush(q);
                        let s = self.out.len();
                        confine(self, here, bound);
                        // A load of `local.get x`, confined right after it:
                        // the next access may store to the value pushed
                        // just before (see `LoadPush`).
                        if a.operands.is_empty()
                            && let Some((x, g, end)) = get
                            && end == at
                            && q == at
                            && let Some(key) = Key::new(&self.out[s..])
                        {
                            self.track.load_push = Some(LoadPush {
                                local: x,
                                key,
                                range: (s - (at - g), self.out.len()),
                                memory: m,
                            });
                        }
                        self.flush(at);
                    }
                    (None, Some(End::Out(p))) => {
                        // Pushed before the last access, a load that read
                        // the same local right after it and confined it
                        // the same way: confine once, where this address
                        // was pushed, keep the value in the copy, and let
                        // the load read the copy.
                        let once = prev_load.filter(|l| {
                            Some(l.key) == key
                                && l.range.0 == p
                                && entry.is_some_and(|e| e.local == Some(l.local))
                        });
                        let start = self.out.len();
                        // The load confined the same way for the same
                        // memory: its offset and width are the store's, so
                        // the middle bound keeps its in-bounds addresses too.
                        let b = match once.is_some_and(|l| l.memory == m) {
                            true => bound_copy,
                            false => bound,
                        };
                        confine(self, here, b);
                        let (keep, hi) = keeps(b);
                        if let Some(l) = once {
                            self.emit().local_tee(copy).local_get(copy);
                            let bytes: Vec<u8> = self.out.drain(start..).collect();
                            self.out.splice(l.range.0..l.range.1, bytes);
                            self.uses_scratch = true;
                            self.track.copy = Some(Copy {
                                local: l.local,
                                keep,
                                hi,
                            });
                        } else {
                            let len = self.out.len() - start;
                            self.out[p..].rotate_right(len);
                        }
                        self.flush(at);
                    }
                    (None, None) => {
                        self.flush(at);
                        let (locals, n) = self.operand_locals(a.operands);
                        let locals = &locals[..n];
                        for &l in locals.iter().rev() {
                            self.emit().local_set(l);
                        }
                        confine(self, here, bound);
                        for &l in locals {
                            self.emit().local_get(l);
                        }
                    }
                }
                let new = base + if fold { offset } else { 0 };
                self.relocated(op, 0, Some(new))?;
                self.note(op, pos, m, offset, new, Check::Mask);
            }
            Isolation::Checked => {
                let extent = offset + width;
                let fits = extent <= mem.min_bytes;
                // The address as a local not written since it was pushed,
                // read by the instruction at `q`, or (found by the walk)
                // still the local's value at the access.
                let reread = local
                    .filter(|_| fits)
                    .or_else(|| Some((entry?.local?, at)).filter(|_| fits));
                if let Some((x, q)) = reread {
                    if self.track.covered(x, m, extent) {
                        // An earlier check of the same value reached at
                        // least as far: memory never shrinks, so this one
                        // cannot fail.
                        self.flush(at);
                        self.relocated(op, base, None)?;
                        self.note(op, pos, m, offset, offset + base, Check::Elided);
                        return Ok(());
                    }
                    // `local.get x` again, compared, before the pushes (or
                    // right before the access): nothing with an effect or
                    // a trap runs between the check and the access.
                    self.flush(q);
                    self.emit().local_get(x);
                    self.limit(&mem, offset, width);
                    self.emit().i32_gt_u();
                    self.trap_if();
                    self.flush(at);
                    self.track.learn(x, m, extent);
                } else {
                    self.flush(at);
                    let (locals, n) = self.operand_locals(a.operands);
                    let locals = &locals[..n];
                    for &l in locals.iter().rev() {
                        self.emit().local_set(l);
                    }
                    let addr = self.scratch;
                    self.uses_scratch = true;
                    self.emit().local_tee(addr);
                    if extent <= mem.min_bytes {
                        self.limit(&mem, offset, width);
                        self.emit().i32_gt_u();
                    } else {
                        self.outside(None, Extent::Const(extent), &mem);
                    }
                    self.trap_if();
                    self.emit().local_get(addr);
                    for &l in locals {
                        self.emit().local_get(l);
                    }
                }
                self.relocated(op, base, None)?;
                self.note(op, pos, m, offset, offset + base, Check::Bounds);
            }
        }
        Ok(())
    }

    /// Pushes the last address at which an access of `width` bytes at
    /// `offset` is inside memory `m`, as an i32: `bytes - offset - width`,
    /// never negative as the extent fits in the memory's minimum (the
    /// caller makes sure) and memory never shrinks. So `addr > limit`
    /// (unsigned, 32 bits) is exactly the 33-bit `addr + offset + width >
    /// bytes` of wasm. A memory that cannot grow (a window, or an own
    /// memory already at its maximum) has a constant limit; else it is
    /// read from the global `memory.grow` keeps at `bytes - width`, less
    /// the offset.
    fn limit(&mut self, m: &MemPlan, offset: u64, width: u64) {
        let extent = offset + width;
        let fixed = match m.kind {
            Kind::Own => u64::from(m.max_pages) * PAGE <= m.min_bytes,
            Kind::Window { .. } => true,
        };
        if fixed {
            self.emit().i32_const((m.min_bytes - extent) as i32);
        } else {
            // Access widths are 1, 2, 4, 8 or 16 bytes.
            let g = self.plan.limit_global + width.trailing_zeros();
            self.emit().global_get(g);
            if offset > 0 {
                self.emit().i32_const(offset as i32).i32_sub();
            }
        }
    }
}
