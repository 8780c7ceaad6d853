//! The fast path of the rewriter: finds instruction boundaries from opcodes
//! and the lengths of their immediates, without decoding instructions into
//! values. Memory instructions (the few the rewriter changes) are then
//! decoded by wasmparser one at a time. Anything this table does not know
//! (GC, `try_table`, typed `select` of reference types, future opcodes)
//! sends the function to the wasmparser path, so the table only has to be
//! right, never complete.
//!
//! Used only when the module is not validated: a validating rebase decodes
//! every instruction anyway.

/// What one instruction is, as far as the rewriter cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Touches no memory, pushes nothing worth tracking.
    Plain,
    /// `i32.const` with this value.
    Const(u32),
    /// Pushes one value and pops none.
    Pure,
    /// A memory instruction: decode it with wasmparser.
    Memory,
}

fn byte(b: &[u8], i: &mut usize) -> Option<u8> {
    let x = *b.get(*i)?;
    *i += 1;
    Some(x)
}

/// Skips a LEB128 number of any width.
fn leb(b: &[u8], i: &mut usize) -> Option<()> {
    for _ in 0..10 {
        if byte(b, i)? & 0x80 == 0 {
            return Some(());
        }
    }
    None
}

fn leb_u32(b: &[u8], i: &mut usize) -> Option<u32> {
    let mut result = 0u32;
    for shift in (0..35).step_by(7) {
        let x = byte(b, i)?;
        result |= u32::from(x & 0x7f).checked_shl(shift)?;
        if x & 0x80 == 0 {
            return Some(result);
        }
    }
    None
}

fn leb_s32(b: &[u8], i: &mut usize) -> Option<u32> {
    let mut result = 0u32;
    let mut shift = 0;
    loop {
        let x = byte(b, i)?;
        result |= u32::from(x & 0x7f).checked_shl(shift)?;
        shift += 7;
        if x & 0x80 == 0 {
            if shift < 32 && x & 0x40 != 0 {
                result |= !0 << shift;
            }
            return Some(result);
        }
        if shift >= 35 {
            return None;
        }
    }
}

/// A block type: `0x40`, a one-byte value type, a reference type with a
/// heap type, or a type index (s33).
fn block_type(b: &[u8], i: &mut usize) -> Option<()> {
    match *b.get(*i)? {
        0x63 | 0x64 => {
            *i += 1;
            leb(b, i)
        }
        _ => leb(b, i),
    }
}

/// The end of the instruction at `i` and its kind; `None` for anything the
/// table does not know or a truncated body. For `Kind::Memory` the end is
/// not computed (the caller decodes the instruction).
#[inline]
pub(crate) fn step(b: &[u8], mut i: usize) -> Option<(usize, Kind)> {
    let op = byte(b, &mut i)?;
    let kind = match op {
        0x00 | 0x01 | 0x05 | 0x0A | 0x0B | 0x0F | 0x19 | 0x1A | 0x1B | 0xD1 | 0xD3 | 0xD4 => {
            Kind::Plain
        }
        0x45..=0xC4 => Kind::Plain,
        0x02..=0x04 | 0x06 => {
            block_type(b, &mut i)?;
            Kind::Plain
        }
        0x07..=0x09
        | 0x0C
        | 0x0D
        | 0x10
        | 0x12
        | 0x14
        | 0x15
        | 0x18
        | 0x21
        | 0x22
        | 0x24
        | 0x25
        | 0x26
        | 0xD2
        | 0xD5
        | 0xD6 => {
            leb(b, &mut i)?;
            Kind::Plain
        }
        0x11 | 0x13 => {
            leb(b, &mut i)?;
            leb(b, &mut i)?;
            Kind::Plain
        }
        0x0E => {
            let n = leb_u32(b, &mut i)?;
            for _ in 0..=n {
                leb(b, &mut i)?;
            }
            Kind::Plain
        }
        0x1C => {
            let n = leb_u32(b, &mut i)?;
            for _ in 0..n {
                if matches!(byte(b, &mut i)?, 0x63 | 0x64) {
                    return None;
                }
            }
            Kind::Plain
        }
        0x20 | 0x23 => {
            leb(b, &mut i)?;
            Kind::Pure
        }
        0x28..=0x40 => Kind::Memory,
        0x41 => Kind::Const(leb_s32(b, &mut i)?),
        0x42 | 0xD0 => {
            leb(b, &mut i)?;
            Kind::Pure
        }
        0x43 => {
            i += 4;
            Kind::Pure
        }
        0x44 => {
            i += 8;
            Kind::Pure
        }
        0xFC => match leb_u32(b, &mut i)? {
            0..=7 | 19..=22 => Kind::Plain,
            8 | 10 | 11 | 18 => Kind::Memory,
            9 | 13 | 15 | 16 | 17 => {
                leb(b, &mut i)?;
                Kind::Plain
            }
            12 | 14 => {
                leb(b, &mut i)?;
                leb(b, &mut i)?;
                Kind::Plain
            }
            _ => return None,
        },
        0xFD => match leb_u32(b, &mut i)? {
            0..=11 | 84..=93 => Kind::Memory,
            12 => {
                i += 16;
                Kind::Pure
            }
            13 => {
                i += 16;
                Kind::Plain
            }
            21..=34 => {
                i += 1;
                Kind::Plain
            }
            14..=20 | 35..=83 | 94..=275 => Kind::Plain,
            _ => return None,
        },
        0xFE => match leb_u32(b, &mut i)? {
            3 => {
                i += 1;
                Kind::Plain
            }
            0..=2 | 0x10..=0x4E => Kind::Memory,
            _ => return None,
        },
        _ => return None,
    };
    (i <= b.len()).then_some((i, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table agrees with wasmparser on every instruction of a module
    /// that uses most of the instruction set.
    #[test]
    fn boundaries_match_wasmparser() {
        let mut bytes = Vec::new();
        // i32.const -5; i64.const 1<<40; f32.const; f64.const; br_table 3 0 1 2 0;
        // v128.const; i8x16.shuffle; i8x16.extract_lane_s 3; memory.copy; table.copy;
        // atomic.fence; select t (i32)
        bytes.extend_from_slice(&[0x41, 0x7b, 0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
        bytes.extend_from_slice(&[0x43, 1, 2, 3, 4, 0x44, 1, 2, 3, 4, 5, 6, 7, 8]);
        bytes.extend_from_slice(&[0x0E, 3, 0, 1, 2, 0]);
        bytes.push(0xFD);
        bytes.push(12);
        bytes.extend_from_slice(&[7; 16]);
        bytes.push(0xFD);
        bytes.push(13);
        bytes.extend_from_slice(&[1; 16]);
        bytes.extend_from_slice(&[0xFD, 21, 3, 0xFC, 14, 0, 0, 0xFE, 3, 0, 0x1C, 1, 0x7f]);
        let mut i = 0;
        let mut reader = wasmparser::OperatorsReader::new(wasmparser::BinaryReader::new(&bytes, 0));
        while i < bytes.len() {
            let (next, kind) = step(&bytes, i).expect("known");
            reader.read().expect("wasmparser decodes it");
            assert_eq!(next as u64, reader.original_position(), "at {i}");
            if i == 0 {
                assert_eq!(kind, Kind::Const(-5i32 as u32));
            }
            i = next;
        }
    }
}
