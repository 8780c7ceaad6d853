//! Relocation: a memory instruction re-encoded on memory 0 of the output
//! with its offset moved, and the short path of `trusted` rebases, where
//! that is all a plain load or store needs.

use super::emit::put_leb;
use super::{Func, Instr};
use crate::Error;
use crate::ops;
use crate::scan::Replay;
use wasm_encoder::reencode::{Error as ReError, Reencode};
use wasm_encoder::{Encode, MemArg};

/// Relocates a memarg to memory 0 of the output: adds `add` to its offset,
/// or replaces the offset by `set`.
struct Relocate {
    add: u64,
    set: Option<u64>,
}

impl Reencode for Relocate {
    type Error = std::convert::Infallible;

    fn memory_index(&mut self, _memory: u32) -> Result<u32, ReError<Self::Error>> {
        Ok(0)
    }

    fn mem_arg(&mut self, arg: wasmparser::MemArg) -> Result<MemArg, ReError<Self::Error>> {
        let mut out = wasm_encoder::reencode::utils::mem_arg(self, arg)?;
        out.offset = self.set.unwrap_or(arg.offset + self.add);
        Ok(out)
    }
}

impl Func<'_> {
    /// Re-encodes `op` on memory 0 with its offset moved by `add` (or set
    /// to `set`).
    pub(super) fn relocated(
        &mut self,
        op: Instr<'_, '_>,
        add: u64,
        set: Option<u64>,
    ) -> Result<(), Error> {
        let op = match op {
            Instr::Plain(opcode, memarg) => {
                self.plain(opcode, &memarg, add, set);
                return Ok(());
            }
            Instr::Op(op) => op,
        };
        if let Some((opcode, memarg)) = ops::plain_opcode(op) {
            self.plain(opcode, memarg, add, set);
            return Ok(());
        }
        let instruction =
            Relocate { add, set }
                .instruction(op.clone())
                .map_err(|e| Error::Invalid {
                    offset: 0,
                    message: e.to_string(),
                })?;
        instruction.encode(&mut self.out);
        Ok(())
    }

    /// A plain load or store on memory 0 with its offset moved: what
    /// `reencode` writes for it, without building an `Instruction` (the
    /// opcode, the alignment as flags, the new offset).
    pub(super) fn plain(
        &mut self,
        opcode: u8,
        memarg: &wasmparser::MemArg,
        add: u64,
        set: Option<u64>,
    ) {
        let offset = set.unwrap_or(memarg.offset + add);
        self.out.push(opcode);
        // The alignment exponent is below 64 (the flags of memory 0 are
        // the exponent itself): one byte of LEB.
        debug_assert!(memarg.align < 0x40);
        self.out.push(memarg.align);
        put_leb(&mut self.out, offset);
    }

    /// The recorded plain loads and stores of memory 0 from `i` on, in a
    /// `trusted` rebase, relocated by `base` until a record that is not
    /// one (or not of the common shape: see below); returns where the
    /// rewriter is then. Each is written exactly as `access` and `plain`
    /// write it — the bytes before it copied, then its opcode, its flags
    /// and its offset plus `base` as a minimal LEB — but without building
    /// an `Access`, a `MemArg` or an `Instr`, or going through `Replay::run`
    /// and `flush` (some 250 machine instructions a load or store there,
    /// where the job is to decode a LEB, add, and write one). The common
    /// shape: flags within the alignment bits, an offset LEB of at most
    /// five bytes, an offset that stays below 4 GiB once moved; `access`
    /// handles the rest. The caller has made sure that memory 0 is
    /// writable and no relocation is recorded.
    #[inline(never)]
    pub(super) fn relocate_trusted(
        &mut self,
        replay: &mut Replay<'_>,
        i: usize,
        end: usize,
        base: u32,
    ) -> usize {
        self.begin();
        let src = self.src;
        let out = &mut self.out;
        let mut pending = self.pending;
        let mut count = 0;
        let i = replay.take_plains(i, |at, len| {
            let w = u64::from_le_bytes(src.get(at..at + 8)?.try_into().ok()?);
            let (op, flags) = (w as u8, (w >> 8) as u8);
            // The offset's bytes: from the record's length, or, a record
            // without one (0), up to the first byte from 2 on without a
            // continuation bit (none in bytes 2-5: 7, refused).
            let n = match len {
                0 => ((!w & 0x0000_8080_8080_0000).trailing_zeros() / 8 - 1) as usize,
                len => len.wrapping_sub(2),
            };
            if !(0x28..=0x3E).contains(&op) || flags >= 0x10 || !(1..=5).contains(&n) {
                return None;
            }
            let next = at + 2 + n;
            if next > end {
                return None;
            }
            // A LEB of `n` bytes: its end is the first byte without a
            // continuation bit (found so, or by the look-ahead's table) or
            // the end `plain_memarg` decoded, so every byte before the
            // last has one.
            let leb = (w >> 16) & (u64::MAX >> (64 - 8 * n));
            let offset = (leb & 0x7F)
                | ((leb >> 1) & (0x7F << 7))
                | ((leb >> 2) & (0x7F << 14))
                | ((leb >> 3) & (0x7F << 21))
                | ((leb >> 4) & (0x7F << 28));
            let new = u32::try_from(offset + u64::from(base)).ok()?;
            // The bytes since the last rewrite: most runs are short, and a
            // fixed 32 bytes cut back is a few vector moves where `n` bytes
            // are a call to `memcpy`.
            let gap = at - pending;
            match src.get(pending..pending + 32) {
                Some(window) if gap <= 32 => {
                    out.extend_from_slice(window);
                    out.truncate(out.len() - (32 - gap));
                }
                _ => out.extend_from_slice(&src[pending..at]),
            }
            let new = u64::from(new);
            // Bytes of the minimal LEB.
            // `div_ceil` checks a remainder: 3M instructions more on swc.
            #[allow(clippy::manual_div_ceil)]
            let k = ((64 - (new | 1).leading_zeros() + 6) / 7) as usize;
            let spread = (new & 0x7F)
                | ((new << 1) & (0x7F << 8))
                | ((new << 2) & (0x7F << 16))
                | ((new << 3) & (0x7F << 24))
                | ((new << 4) & (0x7F << 32));
            let leb = spread | (0x8080_8080 & ((1 << (8 * (k - 1))) - 1));
            let instr = (w & 0xFFFF) | leb << 16;
            // A fixed eight bytes, cut back.
            out.extend_from_slice(&instr.to_le_bytes());
            out.truncate(out.len() - (6 - k));
            count += 1;
            pending = next;
            Some(next)
        });
        self.pending = pending;
        self.stats.instructions += count;
        i
    }
}
