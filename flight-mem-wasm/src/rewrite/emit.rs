//! The instructions the checks and masks are made of, written straight as
//! bytes. `wasm_encoder`'s `InstructionSink` writes the same bytes (the
//! test below compares them) but through a generic LEB encoder per
//! immediate; in `checked`, where every access gets five or six of these,
//! that was a third of the rebase.

/// Traps as an out-of-bounds access does, whatever the unified memory's
/// size: `i32.load8_u offset=1` of address `0xffffffff` (`i32.const -1`),
/// then `drop` (the `if` around it must leave nothing on the stack). Its
/// effective address is 2^32, wasm's 33-bit sum with no wrap-around, and a
/// 32-bit memory has at most 65536 pages, 2^32 bytes: the byte at 2^32 is
/// past the end of every one, the 4 GiB memory included. Offset 1 is the
/// shortest such form (a 1-byte LEB; `offset=0` with a 1-byte access at
/// `0xffffffff` is in bounds of a 4 GiB memory), and the trap is the
/// original's own, "out of bounds memory access" (`unreachable` would be
/// another). Written inline, not called: an engine that caches the
/// memory's base across the function (V8's TurboFan) reloads it after
/// every call, even one on the cold path. The unified memory is the
/// output's only memory, index 0.
pub(crate) const OOB_TRAP: [u8; 6] = [0x41, 0x7F, 0x2D, 0x00, 0x01, 0x1A];

/// Appends instructions to a function's output.
pub(super) struct Emit<'a>(pub &'a mut Vec<u8>);

/// Appends `v` as an unsigned LEB128, minimal as `wasm_encoder` writes it.
#[inline(always)]
pub(crate) fn put_leb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` as a signed LEB128, minimal.
#[inline(always)]
pub(crate) fn put_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        // Done when the rest is all sign bits and the byte's bit 6 agrees.
        if (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0) {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

macro_rules! plain {
    ($($name:ident = $op:expr),* $(,)?) => {
        $(
            #[inline(always)]
            pub(super) fn $name(&mut self) -> &mut Self {
                self.0.push($op);
                self
            }
        )*
    };
}

macro_rules! indexed {
    ($($name:ident = $op:expr),* $(,)?) => {
        $(
            #[inline(always)]
            pub(super) fn $name(&mut self, index: u32) -> &mut Self {
                self.0.push($op);
                put_leb(self.0, index.into());
                self
            }
        )*
    };
}

impl Emit<'_> {
    plain! {
        i32_lt_u = 0x49,
        i32_gt_u = 0x4B,
        i64_gt_u = 0x56,
        i32_add = 0x6A,
        i32_sub = 0x6B,
        i32_rem_u = 0x70,
        i32_and = 0x71,
        i32_or = 0x72,
        i64_add = 0x7C,
        i64_extend_i32_u = 0xAD,
        select = 0x1B,
        end = 0x0B,
    }

    indexed! {
        call = 0x10,
        local_get = 0x20,
        local_set = 0x21,
        local_tee = 0x22,
        global_get = 0x23,
    }

    /// `if` without parameters or results.
    #[inline(always)]
    pub(super) fn if_empty(&mut self) -> &mut Self {
        self.0.extend_from_slice(&[0x04, 0x40]);
        self
    }

    /// [`OOB_TRAP`].
    #[inline(always)]
    pub(super) fn oob_trap(&mut self) -> &mut Self {
        self.0.extend_from_slice(&OOB_TRAP);
        self
    }

    #[inline(always)]
    pub(super) fn i32_const(&mut self, v: i32) -> &mut Self {
        self.0.push(0x41);
        put_sleb(self.0, v.into());
        self
    }

    #[inline(always)]
    pub(super) fn i64_const(&mut self, v: i64) -> &mut Self {
        self.0.push(0x42);
        put_sleb(self.0, v);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{BlockType, InstructionSink};

    /// Values at every LEB length boundary, both signs.
    fn values() -> Vec<i64> {
        let mut v = vec![0, 1, -1, i64::MIN, i64::MAX];
        for k in 0..64 {
            let p = 1i64 << k;
            let n = p.wrapping_neg();
            v.extend([
                p,
                p.wrapping_sub(1),
                p.wrapping_add(1),
                n,
                n.wrapping_sub(1),
                n.wrapping_add(1),
            ]);
        }
        v
    }

    #[test]
    fn writes_what_wasm_encoder_writes() {
        for v in values() {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            let u = v as u32;
            Emit(&mut ours)
                .i32_const(v as i32)
                .i64_const(v)
                .local_get(u)
                .local_set(u)
                .local_tee(u)
                .global_get(u)
                .call(u)
                .if_empty()
                .i32_lt_u()
                .i32_gt_u()
                .i64_gt_u()
                .i32_add()
                .i32_sub()
                .i32_rem_u()
                .i32_and()
                .i32_or()
                .i64_add()
                .i64_extend_i32_u()
                .select()
                .end();
            InstructionSink::new(&mut theirs)
                .i32_const(v as i32)
                .i64_const(v)
                .local_get(u)
                .local_set(u)
                .local_tee(u)
                .global_get(u)
                .call(u)
                .if_(BlockType::Empty)
                .i32_lt_u()
                .i32_gt_u()
                .i64_gt_u()
                .i32_add()
                .i32_sub()
                .i32_rem_u()
                .i32_and()
                .i32_or()
                .i64_add()
                .i64_extend_i32_u()
                .select()
                .end();
            assert_eq!(ours, theirs, "value {v}");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            put_leb(&mut a, v as u64);
            wasm_encoder::Encode::encode(&(v as u64), &mut b);
            assert_eq!(a, b, "u64 {v}");
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        Emit(&mut ours).oob_trap();
        InstructionSink::new(&mut theirs)
            .i32_const(-1)
            .i32_load8_u(wasm_encoder::MemArg {
                offset: 1,
                align: 0,
                target: wasm_encoder::MemArgTarget::Memory(0),
                ordering: None,
            })
            .drop();
        assert_eq!(ours, theirs, "the trap");
    }

    /// [`OOB_TRAP`] is one access whose last byte lies at 2^32 or past it,
    /// out of bounds of every 32-bit memory (at most 2^32 bytes), then a
    /// `drop` that leaves the stack as it was.
    #[test]
    fn the_trap_is_past_every_32_bit_memory() {
        use wasmparser::{BinaryReader, Operator, OperatorsReader};
        let mut ops = OperatorsReader::new(BinaryReader::new(&OOB_TRAP, 0));
        let mut read = || ops.read().expect("valid operator");
        let Operator::I32Const { value } = read() else {
            panic!("an address first")
        };
        let Operator::I32Load8U { memarg } = read() else {
            panic!("then a one-byte load")
        };
        assert_eq!(
            memarg.target,
            wasmparser::MemArgTarget::Memory(0),
            "the unified memory"
        );
        // wasm's effective address: the 33-bit sum, no wrap-around.
        let last_byte = u64::from(value as u32) + memarg.offset;
        assert!(last_byte >= 1 << 32, "{last_byte:#x}");
        assert!(matches!(read(), Operator::Drop));
        assert!(ops.eof());
    }
}
