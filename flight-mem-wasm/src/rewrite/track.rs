//! What the rewriter knows about the operand stack and the locals between
//! two memory instructions, to place a check or mask where the address is
//! pushed (or re-read it from its local) instead of passing the operands
//! through scratch locals, and to drop a check an earlier one implies.
//!
//! Both paths of the rewriter (the scanner and wasmparser) see the same
//! memory instructions, the same instructions just before each (`Prev`)
//! and the same `pending` position, and this module decides from those
//! and the input bytes alone: the output stays the same byte for byte.
//! The stretch of code between two memory instructions is walked here,
//! with a table of the instructions whose stack effect is fixed and which
//! neither branch nor call (constants, locals, `global.get`/`set`,
//! numeric instructions, `drop`, untyped `select`); anything else ends
//! what is known.

/// Where the instruction that pushed a value ends: the point right after
/// which the value is on top of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// A position in the input not yet copied to the output.
    In(usize),
    /// A position in the function's output (already written).
    Out(usize),
}

/// One value on the operand stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// The local whose current value it is: pushed by `local.get` or
    /// `local.tee` of it, and the local not written since.
    pub local: Option<u32>,
    /// Where the value is on top of the stack.
    pub end: End,
    /// Where the `local.get` that pushed it starts, in the input not yet
    /// copied, when it was one (and not `local.tee`).
    pub get: Option<usize>,
}

/// The confining instructions of `masked` for one access, as bytes: two
/// accesses with the same bytes confine an address to the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Key {
    len: u8,
    bytes: [u8; 23],
}

impl Key {
    /// `None` when longer than a key holds: a mask or a remainder with
    /// its constant takes at most 14 bytes, the clamp that replaces a
    /// remainder (two constants and a `local.get`) at most 20, only the
    /// clamp of an access whose offset alone reaches past the segment more
    /// (never shared).
    pub fn new(b: &[u8]) -> Option<Key> {
        let mut bytes = [0; 23];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(Key {
            len: b.len() as u8,
            bytes,
        })
    }
}

/// `masked`: the scratch local `SCRATCH_COPY` holds `local` confined (by a
/// clamp, a remainder or a mask), set before everything since the last
/// memory instruction and `local` not written since: the copy equals
/// `local` when `local` is below `keep`, and is never above `hi`. An
/// address `local.get local` can read the copy instead of being confined
/// when the copy serves its access (`serves`), however that access would
/// be confined itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Copy {
    pub local: u32,
    pub keep: u64,
    pub hi: u64,
}

impl Copy {
    /// Whether the copy may be the address of an access of `width` bytes
    /// at memarg offset `offset` (kept in the memarg) into a memory of at
    /// most `max` bytes whose segment has `span` bytes: every address in
    /// bounds for it (`addr + offset + width <= max`) is below `keep`, so
    /// the copy is the address itself, and the copy's largest value with
    /// the offset and the width stays inside the segment.
    pub fn serves(&self, offset: u64, width: u64, max: u64, span: u64) -> bool {
        let kept = offset + width > max || max - offset - width < self.keep;
        kept && self.hi + offset + width <= span
    }
}

/// `masked`: a load whose address was `local.get local` confined right
/// there by `key`, written at `range` of the output (the `local.get` and
/// the confining instructions). When the next access stores to the same
/// local's value pushed right before that `local.get`, the confined value
/// is computed once, there, and kept in the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LoadPush {
    pub local: u32,
    pub key: Key,
    pub range: (usize, usize),
    /// The load's memory: the copy's bound may move from the key's only
    /// when the store confines for the same memory (the same key then
    /// means the same offset and width).
    pub memory: u32,
}

/// The top of the operand stack, as far as it is known: a suffix of the
/// real stack (values below it are not tracked).
pub(super) type Stack = Vec<Entry>;

/// A check that has run on every path to here: `local + extent` is inside
/// memory `memory` (memory never shrinks, and the local was not written
/// since).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fact {
    pub local: u32,
    pub memory: u32,
    pub extent: u64,
}

/// What is known after the last memory instruction of a function.
#[derive(Default)]
pub(super) struct State {
    /// The top of the stack right after it.
    pub stack: Stack,
    /// Checks known to have passed.
    pub facts: Vec<Fact>,
    /// The masked copy of a local, if one is valid.
    pub copy: Option<Copy>,
    /// The last access, when it was such a load.
    pub load_push: Option<LoadPush>,
    /// The same, for the access being rewritten (the one before it).
    pub prev_load: Option<LoadPush>,
    /// The function's first scratch local: a write to it or past it ends
    /// a walk. Valid input never names one (its locals end below it), but
    /// an unvalidated body may, and would otherwise overwrite the copy
    /// (`SCRATCH_COPY`) that a later access reads back as its address.
    /// 0 (the default) ends every walk at a write: nothing kept.
    pub scratch: u32,
}

/// Stretches longer than this are not walked (what was known is dropped):
/// the walk is a second decode of those bytes (a quarter more time for a
/// `masked` rebase of `@swc/wasm` at 96 bytes), and the value of a
/// read-modify-write is short.
pub(super) const MAX_STRETCH: usize = 24;

/// Facts kept at most (the oldest go first).
const MAX_FACTS: usize = 8;

impl State {
    /// Forgets everything known (the scratch local stays).
    pub fn clear(&mut self) {
        self.stack.clear();
        self.facts.clear();
        self.copy = None;
        self.load_push = None;
        self.prev_load = None;
    }

    /// Whether nothing is known: a walk could find only what the stretch
    /// itself pushes.
    pub fn empty(&self) -> bool {
        self.stack.is_empty() && self.facts.is_empty() && self.copy.is_none()
    }

    /// Whether `local + extent` is known to be inside memory `memory`.
    pub fn covered(&self, local: u32, memory: u32, extent: u64) -> bool {
        self.facts
            .iter()
            .any(|f| f.local == local && f.memory == memory && f.extent >= extent)
    }

    /// Records a check of `local + extent` against memory `memory`.
    pub fn learn(&mut self, local: u32, memory: u32, extent: u64) {
        if let Some(f) = self
            .facts
            .iter_mut()
            .find(|f| f.local == local && f.memory == memory)
        {
            f.extent = f.extent.max(extent);
            return;
        }
        if self.facts.len() == MAX_FACTS {
            self.facts.remove(0);
        }
        self.facts.push(Fact {
            local,
            memory,
            extent,
        });
    }

    /// A write to `local`: values read from it before are no longer its
    /// value, checks of it no longer hold.
    fn written(&mut self, local: u32) {
        for e in &mut self.stack {
            if e.local == Some(local) {
                e.local = None;
            }
        }
        self.facts.retain(|f| f.local != local);
        if self.copy.is_some_and(|c| c.local == local) {
            self.copy = None;
        }
    }

    /// Walks `body[from..to]` (instructions between two memory
    /// instructions), updating the stack and the facts. `false` (and
    /// nothing known any more) at an instruction not in the table, one
    /// that does not fit, or a stretch longer than [`MAX_STRETCH`].
    pub fn walk(&mut self, body: &[u8], from: usize, to: usize) -> bool {
        let ok = to - from <= MAX_STRETCH && self.walk_inner(body, from, to);
        if !ok {
            self.clear();
        }
        ok
    }

    fn walk_inner(&mut self, body: &[u8], from: usize, to: usize) -> bool {
        let mut i = from;
        while i < to {
            let op = body[i];
            i += 1;
            // (values popped, whether one is pushed)
            let (pops, push) = match op {
                0x01 => (0, false), // nop
                0x1A => (1, false), // drop
                0x1B => (3, true),  // select
                0x20..=0x22 => {
                    let Some((x, n)) = uleb32(&body[i..to]) else {
                        return false;
                    };
                    let start = i - 1;
                    i += n;
                    match op {
                        0x20 => self.stack.push(Entry {
                            local: Some(x),
                            end: End::In(i),
                            get: Some(start),
                        }),
                        // A scratch local of the rewriter, named by an
                        // unvalidated body: what it holds is no longer
                        // known.
                        0x21 | 0x22 if x >= self.scratch => return false,
                        0x21 => {
                            self.pop(1);
                            self.written(x);
                        }
                        _ => {
                            self.pop(1);
                            self.written(x);
                            self.push(Some(x), i);
                        }
                    }
                    continue;
                }
                0x23 | 0x24 => {
                    let Some((_, n)) = uleb32(&body[i..to]) else {
                        return false;
                    };
                    i += n;
                    if op == 0x23 { (0, true) } else { (1, false) }
                }
                0x41 | 0x42 => {
                    // The value is never needed: only its length.
                    let Some(n) = body[i..to].iter().position(|b| b & 0x80 == 0) else {
                        return false;
                    };
                    i += n + 1;
                    (0, true)
                }
                0x43 | 0x44 => {
                    i += if op == 0x43 { 4 } else { 8 };
                    if i > to {
                        return false;
                    }
                    (0, true)
                }
                // Tests and unary numeric instructions, conversions.
                0x45 | 0x50 | 0x67..=0x69 | 0x79..=0x7B | 0x8B..=0x91 | 0x99..=0x9F => (1, true),
                0xA7..=0xC4 => (1, true),
                // Comparisons and binary numeric instructions.
                0x46..=0x4F | 0x51..=0x66 | 0x6A..=0x78 | 0x7C..=0x8A | 0x92..=0x98 => (2, true),
                0xA0..=0xA6 => (2, true),
                _ => return false,
            };
            self.pop(pops);
            if push {
                self.push(None, i);
            }
        }
        true
    }

    fn pop(&mut self, n: usize) {
        // Popping below the known suffix: the values came from below it.
        let keep = self.stack.len().saturating_sub(n);
        self.stack.truncate(keep);
    }

    fn push(&mut self, local: Option<u32>, end: usize) {
        self.stack.push(Entry {
            local,
            end: End::In(end),
            get: None,
        });
    }

    /// The address of an access with `operands` operands above it, if it
    /// is in the known suffix.
    pub fn address(&self, operands: usize) -> Option<Entry> {
        let i = self.stack.len().checked_sub(operands + 1)?;
        self.stack.get(i).copied()
    }
}

/// An unsigned 32-bit LEB at the start of `b`: its value and length.
fn uleb32(b: &[u8]) -> Option<(u32, usize)> {
    let mut v: u64 = 0;
    for (k, &byte) in b.iter().enumerate().take(5) {
        v |= u64::from(byte & 0x7f) << (7 * k);
        if byte & 0x80 == 0 {
            return u32::try_from(v).ok().map(|v| (v, k + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(code: &[u8], stack: Stack) -> Option<State> {
        let mut s = State {
            stack,
            facts: vec![Fact {
                local: 3,
                memory: 0,
                extent: 4,
            }],
            copy: Some(Copy {
                local: 3,
                keep: 8,
                hi: 7,
            }),
            load_push: None,
            prev_load: None,
            scratch: 10,
        };
        s.walk(code, 0, code.len()).then_some(s)
    }

    #[test]
    fn tracks_pushes_pops_and_writes() {
        // local.get 3; local.get 1; i32.const 1; i32.add
        let s = walked(&[0x20, 3, 0x20, 1, 0x41, 1, 0x6A], Vec::new()).unwrap();
        assert_eq!(s.stack.len(), 2);
        assert_eq!(s.address(1).unwrap().local, Some(3));
        assert_eq!(s.address(1).unwrap().end, End::In(2));
        assert_eq!(s.address(1).unwrap().get, Some(0));
        assert_eq!(s.address(0).unwrap().local, None);
        assert!(s.covered(3, 0, 4) && !s.covered(3, 0, 5) && !s.covered(3, 1, 4));
        // local.get 3; i32.const 5; local.set 3: the pushed value is no
        // longer local 3's, the fact is gone.
        let s = walked(&[0x20, 3, 0x41, 5, 0x21, 3], Vec::new()).unwrap();
        assert_eq!(s.address(0).unwrap().local, None);
        assert!(!s.covered(3, 0, 4));
        assert!(s.copy.is_none());
        // local.tee 3: its value is local 3's, but not re-readable as a get.
        let s = walked(&[0x41, 5, 0x22, 3], Vec::new()).unwrap();
        assert_eq!(s.address(0).unwrap().local, Some(3));
        assert_eq!(s.address(0).unwrap().get, None);
        let s = walked(&[0x20, 2, 0x21, 4], Vec::new()).unwrap();
        assert!(s.copy.is_some() && s.covered(3, 0, 4));
        // Popping below the known suffix keeps what is above.
        let c = Entry {
            local: Some(7),
            end: End::Out(9),
            get: None,
        };
        let s = walked(&[0x6A, 0x6A, 0x20, 2], vec![c]).unwrap();
        assert_eq!(s.stack.len(), 2);
        assert_eq!(s.address(1).unwrap().local, None);
        assert_eq!(s.address(0).unwrap().local, Some(2));
        let s = walked(&[0x41, 1, 0x6A], vec![c, c]).unwrap();
        assert_eq!(s.address(1), Some(c));
        // A call, a branch, a block: nothing known.
        for code in [&[0x10, 0][..], &[0x0C, 0], &[0x02, 0x40], &[0x0B]] {
            assert!(walked(code, vec![c]).is_none());
        }
        // A write to a scratch local (an unvalidated body): nothing known.
        assert!(walked(&[0x41, 5, 0x21, 10], Vec::new()).is_none());
        assert!(walked(&[0x41, 5, 0x22, 11], Vec::new()).is_none());
        // An immediate running past the stretch.
        assert!(walked(&[0x41, 0x80], Vec::new()).is_none());
        assert!(walked(&[0x44, 0, 0], Vec::new()).is_none());
        assert!(walked(&[0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0], Vec::new()).is_none());
    }
}
