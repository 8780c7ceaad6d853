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
    ///
    /// The offset is never decoded into an integer: its LEB bytes, their
    /// continuation bits cleared, are base-128 digits one to a byte, and
    /// `base`'s digits with every bit 7 set are added to them in one
    /// addition (a digit sum past 127 clears its byte's bit 7 and carries
    /// into the next byte, as in base 128), which leaves the new offset's
    /// digits, ready to be written once their continuation bits are set.
    /// The output is written through a zeroed margin of `ROOM` bytes past
    /// its end (cut back on return), so that a load or store costs one
    /// length check and fixed-size copies, not `Vec` growth twice.
    #[inline(never)]
    pub(super) fn relocate_trusted(
        &mut self,
        replay: &mut Replay<'_>,
        i: usize,
        end: usize,
        base: u32,
    ) -> usize {
        /// The margin kept past the output while relocating: at least the
        /// 32-byte copy plus the 8-byte instruction written at its end.
        const ROOM: usize = 1024;
        /// Bit 7 of each of the five bytes of a 32-bit LEB.
        const HOLES: u64 = 0x80_8080_8080;
        /// Bits 0-6 of each of them: the digits.
        const DIGITS: u64 = 0x7F_7F7F_7F7F;
        self.begin();
        let src = self.src;
        let out = &mut self.out;
        let mut len = out.len();
        let mut pending = self.pending;
        let b = u64::from(base);
        let base_digits = (b & 0x7F)
            | ((b << 1) & (0x7F << 8))
            | ((b << 2) & (0x7F << 16))
            | ((b << 3) & (0x7F << 24))
            | ((b << 4) & (0x7F << 32))
            | HOLES;
        let (i, count) = replay.take_plains(i, |at| {
            let w = u64::from_le_bytes(*src.get(at..)?.first_chunk::<8>()?);
            let (op, flags) = (w as u8, (w >> 8) as u8);
            // The offset's LEB is bytes 2 up to the first without a
            // continuation bit; none among the five: refused (`access`).
            let stops = !w & 0x0080_8080_8080_0000;
            if !(0x28..=0x3E).contains(&op) || flags >= 0x10 || stops == 0 {
                return None;
            }
            let stop = stops & stops.wrapping_neg();
            let next = at + (stop.trailing_zeros() / 8) as usize + 1;
            if next > end {
                return None;
            }
            let digits = ((w & ((stop << 1) - 1)) >> 16) & DIGITS;
            let sum = base_digits + digits;
            // Below 4 GiB: no carry out of the fifth digit (its bit 7 still
            // set) and that digit below 16.
            if sum >> 36 != 8 {
                return None;
            }
            let new = sum & DIGITS;
            // The minimal LEB: bytes up to the highest nonzero digit, all
            // but the last with a continuation bit.
            let top = (63 - (new | 1).leading_zeros()) / 8;
            let leb = new | (0x8080_8080 & ((1 << (8 * top)) - 1));
            let instr = ((w & 0xFFFF) | (leb << 16)).to_le_bytes();
            // The bytes since the last rewrite: most runs are short, and a
            // fixed 32 bytes (the next write covers the excess) are a few
            // vector moves where `gap` bytes are a call to `memcpy`.
            let gap = at - pending;
            match src.get(pending..pending + 32) {
                Some(window) if gap <= 32 => {
                    if out.len() < len + 40 {
                        out.resize(len + ROOM, 0);
                    }
                    let dst = &mut out[len..len + 40];
                    dst[..32].copy_from_slice(window);
                    dst[gap..gap + 8].copy_from_slice(&instr);
                    len += gap;
                }
                _ => {
                    // The gap and 48 bytes more (the instruction and the
                    // margin the next one needs), in one `memcpy`.
                    out.truncate(len);
                    match src.get(pending..at + 48) {
                        Some(bytes) => out.extend_from_slice(bytes),
                        None => {
                            out.extend_from_slice(&src[pending..at]);
                            out.resize(len + gap + 48, 0);
                        }
                    }
                    len += gap;
                    out[len..len + 8].copy_from_slice(&instr);
                }
            }
            len += 3 + top as usize;
            pending = next;
            Some(next)
        });
        out.truncate(len);
        self.pending = pending;
        self.stats.instructions += count as u64;
        i
    }
}
