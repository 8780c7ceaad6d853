//! Which operators touch memory, and how: the one table the rewriter needs.

use wasmparser::{MemArg, MemArgTarget, Operator as O, ValType};

const NONE: &[ValType] = &[];
const I32: &[ValType] = &[ValType::I32];
const I64: &[ValType] = &[ValType::I64];
const F32: &[ValType] = &[ValType::F32];
const F64: &[ValType] = &[ValType::F64];
const V128: &[ValType] = &[ValType::V128];
const I32_I32: &[ValType] = &[ValType::I32, ValType::I32];
const I64_I64: &[ValType] = &[ValType::I64, ValType::I64];
const I32_I64: &[ValType] = &[ValType::I32, ValType::I64];

/// An instruction with a memarg: address operand, then `operands`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access {
    pub memarg: MemArg,
    /// Bytes touched from the effective address.
    pub width: u8,
    /// Operands above the address on the stack, bottom first.
    pub operands: &'static [ValType],
    pub writes: bool,
    pub atomic: bool,
}

/// A memory operator and what the rewriter must know about it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MemOp {
    Access(Access),
    Size(u32),
    Grow(u32),
    Fill(u32),
    Copy { dst: u32, src: u32 },
    Init { data: u32, mem: u32 },
    Discard(u32),
}

impl MemOp {
    /// The memories it touches, for the relocation table.
    pub(crate) fn memory(&self) -> u32 {
        match *self {
            MemOp::Access(a) => match a.memarg.target {
                MemArgTarget::Memory(m) => m,
                MemArgTarget::Array(_) => u32::MAX,
            },
            MemOp::Size(m) | MemOp::Grow(m) | MemOp::Fill(m) | MemOp::Discard(m) => m,
            MemOp::Copy { dst, .. } => dst,
            MemOp::Init { mem, .. } => mem,
        }
    }
}

fn access(
    memarg: &MemArg,
    width: u8,
    operands: &'static [ValType],
    writes: bool,
    atomic: bool,
) -> Option<MemOp> {
    match memarg.target {
        MemArgTarget::Memory(_) => Some(MemOp::Access(Access {
            memarg: *memarg,
            width,
            operands,
            writes,
            atomic,
        })),
        // A GC array payload access is no linear-memory access.
        MemArgTarget::Array(_) => None,
    }
}

/// Classifies `op`; `None` for every operator that does not touch a memory.
pub(crate) fn classify(op: &O<'_>) -> Option<MemOp> {
    use O::*;
    match op {
        I32Load8S { memarg }
        | I32Load8U { memarg }
        | I64Load8S { memarg }
        | I64Load8U { memarg }
        | V128Load8Splat { memarg } => access(memarg, 1, NONE, false, false),
        I32Load16S { memarg }
        | I32Load16U { memarg }
        | I64Load16S { memarg }
        | I64Load16U { memarg }
        | V128Load16Splat { memarg } => access(memarg, 2, NONE, false, false),
        I32Load { memarg }
        | F32Load { memarg }
        | I64Load32S { memarg }
        | I64Load32U { memarg }
        | V128Load32Splat { memarg }
        | V128Load32Zero { memarg } => access(memarg, 4, NONE, false, false),
        I64Load { memarg }
        | F64Load { memarg }
        | V128Load8x8S { memarg }
        | V128Load8x8U { memarg }
        | V128Load16x4S { memarg }
        | V128Load16x4U { memarg }
        | V128Load32x2S { memarg }
        | V128Load32x2U { memarg }
        | V128Load64Splat { memarg }
        | V128Load64Zero { memarg } => access(memarg, 8, NONE, false, false),
        V128Load { memarg } => access(memarg, 16, NONE, false, false),

        I32Store8 { memarg } => access(memarg, 1, I32, true, false),
        I32Store16 { memarg } => access(memarg, 2, I32, true, false),
        I32Store { memarg } => access(memarg, 4, I32, true, false),
        I64Store8 { memarg } => access(memarg, 1, I64, true, false),
        I64Store16 { memarg } => access(memarg, 2, I64, true, false),
        I64Store32 { memarg } => access(memarg, 4, I64, true, false),
        I64Store { memarg } => access(memarg, 8, I64, true, false),
        F32Store { memarg } => access(memarg, 4, F32, true, false),
        F64Store { memarg } => access(memarg, 8, F64, true, false),
        V128Store { memarg } => access(memarg, 16, V128, true, false),

        V128Load8Lane { memarg, .. } => access(memarg, 1, V128, false, false),
        V128Load16Lane { memarg, .. } => access(memarg, 2, V128, false, false),
        V128Load32Lane { memarg, .. } => access(memarg, 4, V128, false, false),
        V128Load64Lane { memarg, .. } => access(memarg, 8, V128, false, false),
        V128Store8Lane { memarg, .. } => access(memarg, 1, V128, true, false),
        V128Store16Lane { memarg, .. } => access(memarg, 2, V128, true, false),
        V128Store32Lane { memarg, .. } => access(memarg, 4, V128, true, false),
        V128Store64Lane { memarg, .. } => access(memarg, 8, V128, true, false),

        I32AtomicLoad8U { memarg } | I64AtomicLoad8U { memarg } => {
            access(memarg, 1, NONE, false, true)
        }
        I32AtomicLoad16U { memarg } | I64AtomicLoad16U { memarg } => {
            access(memarg, 2, NONE, false, true)
        }
        I32AtomicLoad { memarg } | I64AtomicLoad32U { memarg } => {
            access(memarg, 4, NONE, false, true)
        }
        I64AtomicLoad { memarg } => access(memarg, 8, NONE, false, true),
        MemoryAtomicNotify { memarg } => access(memarg, 4, I32, false, true),
        MemoryAtomicWait32 { memarg } => access(memarg, 4, I32_I64, false, true),
        MemoryAtomicWait64 { memarg } => access(memarg, 8, I64_I64, false, true),

        I32AtomicStore8 { memarg }
        | I32AtomicRmw8AddU { memarg }
        | I32AtomicRmw8SubU { memarg }
        | I32AtomicRmw8AndU { memarg }
        | I32AtomicRmw8OrU { memarg }
        | I32AtomicRmw8XorU { memarg }
        | I32AtomicRmw8XchgU { memarg } => access(memarg, 1, I32, true, true),
        I32AtomicStore16 { memarg }
        | I32AtomicRmw16AddU { memarg }
        | I32AtomicRmw16SubU { memarg }
        | I32AtomicRmw16AndU { memarg }
        | I32AtomicRmw16OrU { memarg }
        | I32AtomicRmw16XorU { memarg }
        | I32AtomicRmw16XchgU { memarg } => access(memarg, 2, I32, true, true),
        I32AtomicStore { memarg }
        | I32AtomicRmwAdd { memarg }
        | I32AtomicRmwSub { memarg }
        | I32AtomicRmwAnd { memarg }
        | I32AtomicRmwOr { memarg }
        | I32AtomicRmwXor { memarg }
        | I32AtomicRmwXchg { memarg } => access(memarg, 4, I32, true, true),
        I64AtomicStore8 { memarg }
        | I64AtomicRmw8AddU { memarg }
        | I64AtomicRmw8SubU { memarg }
        | I64AtomicRmw8AndU { memarg }
        | I64AtomicRmw8OrU { memarg }
        | I64AtomicRmw8XorU { memarg }
        | I64AtomicRmw8XchgU { memarg } => access(memarg, 1, I64, true, true),
        I64AtomicStore16 { memarg }
        | I64AtomicRmw16AddU { memarg }
        | I64AtomicRmw16SubU { memarg }
        | I64AtomicRmw16AndU { memarg }
        | I64AtomicRmw16OrU { memarg }
        | I64AtomicRmw16XorU { memarg }
        | I64AtomicRmw16XchgU { memarg } => access(memarg, 2, I64, true, true),
        I64AtomicStore32 { memarg }
        | I64AtomicRmw32AddU { memarg }
        | I64AtomicRmw32SubU { memarg }
        | I64AtomicRmw32AndU { memarg }
        | I64AtomicRmw32OrU { memarg }
        | I64AtomicRmw32XorU { memarg }
        | I64AtomicRmw32XchgU { memarg } => access(memarg, 4, I64, true, true),
        I64AtomicStore { memarg }
        | I64AtomicRmwAdd { memarg }
        | I64AtomicRmwSub { memarg }
        | I64AtomicRmwAnd { memarg }
        | I64AtomicRmwOr { memarg }
        | I64AtomicRmwXor { memarg }
        | I64AtomicRmwXchg { memarg } => access(memarg, 8, I64, true, true),
        I32AtomicRmw8CmpxchgU { memarg } => access(memarg, 1, I32_I32, true, true),
        I32AtomicRmw16CmpxchgU { memarg } => access(memarg, 2, I32_I32, true, true),
        I32AtomicRmwCmpxchg { memarg } => access(memarg, 4, I32_I32, true, true),
        I64AtomicRmw8CmpxchgU { memarg } => access(memarg, 1, I64_I64, true, true),
        I64AtomicRmw16CmpxchgU { memarg } => access(memarg, 2, I64_I64, true, true),
        I64AtomicRmw32CmpxchgU { memarg } => access(memarg, 4, I64_I64, true, true),
        I64AtomicRmwCmpxchg { memarg } => access(memarg, 8, I64_I64, true, true),

        MemorySize { mem } => Some(MemOp::Size(*mem)),
        MemoryGrow { mem } => Some(MemOp::Grow(*mem)),
        MemoryFill { mem } => Some(MemOp::Fill(*mem)),
        MemoryCopy { dst_mem, src_mem } => Some(MemOp::Copy {
            dst: *dst_mem,
            src: *src_mem,
        }),
        MemoryInit { data_index, mem } => Some(MemOp::Init {
            data: *data_index,
            mem: *mem,
        }),
        MemoryDiscard { mem } => Some(MemOp::Discard(*mem)),
        _ => None,
    }
}

/// The operator's name, for messages and the relocation table.
pub(crate) fn name(op: &O<'_>) -> String {
    let debug = format!("{op:?}");
    let end = debug.find([' ', '{', '(']).unwrap_or(debug.len());
    debug[..end].to_string()
}

/// The plain loads and stores (`0x28..=0x3E`), by opcode: the operator
/// wasmparser would have decoded, built from the opcode and its memarg.
pub(crate) fn plain(opcode: u8, memarg: MemArg) -> Option<O<'static>> {
    use O::*;
    Some(match opcode {
        0x28 => I32Load { memarg },
        0x29 => I64Load { memarg },
        0x2A => F32Load { memarg },
        0x2B => F64Load { memarg },
        0x2C => I32Load8S { memarg },
        0x2D => I32Load8U { memarg },
        0x2E => I32Load16S { memarg },
        0x2F => I32Load16U { memarg },
        0x30 => I64Load8S { memarg },
        0x31 => I64Load8U { memarg },
        0x32 => I64Load16S { memarg },
        0x33 => I64Load16U { memarg },
        0x34 => I64Load32S { memarg },
        0x35 => I64Load32U { memarg },
        0x36 => I32Store { memarg },
        0x37 => I64Store { memarg },
        0x38 => F32Store { memarg },
        0x39 => F64Store { memarg },
        0x3A => I32Store8 { memarg },
        0x3B => I32Store16 { memarg },
        0x3C => I64Store8 { memarg },
        0x3D => I64Store16 { memarg },
        0x3E => I64Store32 { memarg },
        _ => return None,
    })
}

/// The opcode and memarg of a plain load or store, the inverse of
/// [`plain`]: these are encoded directly, without `reencode`.
pub(crate) fn plain_opcode<'a>(op: &'a O<'_>) -> Option<(u8, &'a MemArg)> {
    use O::*;
    Some(match op {
        I32Load { memarg } => (0x28, memarg),
        I64Load { memarg } => (0x29, memarg),
        F32Load { memarg } => (0x2A, memarg),
        F64Load { memarg } => (0x2B, memarg),
        I32Load8S { memarg } => (0x2C, memarg),
        I32Load8U { memarg } => (0x2D, memarg),
        I32Load16S { memarg } => (0x2E, memarg),
        I32Load16U { memarg } => (0x2F, memarg),
        I64Load8S { memarg } => (0x30, memarg),
        I64Load8U { memarg } => (0x31, memarg),
        I64Load16S { memarg } => (0x32, memarg),
        I64Load16U { memarg } => (0x33, memarg),
        I64Load32S { memarg } => (0x34, memarg),
        I64Load32U { memarg } => (0x35, memarg),
        I32Store { memarg } => (0x36, memarg),
        I64Store { memarg } => (0x37, memarg),
        F32Store { memarg } => (0x38, memarg),
        F64Store { memarg } => (0x39, memarg),
        I32Store8 { memarg } => (0x3A, memarg),
        I32Store16 { memarg } => (0x3B, memarg),
        I64Store8 { memarg } => (0x3C, memarg),
        I64Store16 { memarg } => (0x3D, memarg),
        I64Store32 { memarg } => (0x3E, memarg),
        _ => return None,
    })
}

/// What [`classify`] says of the plain load or store `opcode`, without
/// building its operator.
pub(crate) fn plain_access(opcode: u8, memarg: MemArg) -> Option<Access> {
    let (width, operands, writes) = match opcode {
        0x28 | 0x2A | 0x34 | 0x35 => (4, NONE, false),
        0x29 | 0x2B => (8, NONE, false),
        0x2C | 0x2D | 0x30 | 0x31 => (1, NONE, false),
        0x2E | 0x2F | 0x32 | 0x33 => (2, NONE, false),
        0x36 => (4, I32, true),
        0x37 => (8, I64, true),
        0x38 => (4, F32, true),
        0x39 => (8, F64, true),
        0x3A => (1, I32, true),
        0x3B => (2, I32, true),
        0x3C => (1, I64, true),
        0x3D => (2, I64, true),
        0x3E => (4, I64, true),
        _ => return None,
    };
    Some(Access {
        memarg,
        width,
        operands,
        writes,
        atomic: false,
    })
}

/// Pops one value, pushes one, has no effect and cannot trap: a check may
/// move before it (the scanner's `UNARY` opcodes).
pub(crate) fn pure_unary(op: &O<'_>) -> bool {
    use O::*;
    matches!(
        op,
        I32Eqz
            | I64Eqz
            | I32Clz
            | I32Ctz
            | I32Popcnt
            | I64Clz
            | I64Ctz
            | I64Popcnt
            | F32Abs
            | F32Neg
            | F32Ceil
            | F32Floor
            | F32Trunc
            | F32Nearest
            | F32Sqrt
            | F64Abs
            | F64Neg
            | F64Ceil
            | F64Floor
            | F64Trunc
            | F64Nearest
            | F64Sqrt
            | I32WrapI64
            | I64ExtendI32S
            | I64ExtendI32U
            | F32ConvertI32S
            | F32ConvertI32U
            | F32ConvertI64S
            | F32ConvertI64U
            | F32DemoteF64
            | F64ConvertI32S
            | F64ConvertI32U
            | F64ConvertI64S
            | F64ConvertI64U
            | F64PromoteF32
            | I32ReinterpretF32
            | I64ReinterpretF64
            | F32ReinterpretI32
            | F64ReinterpretI64
            | I32Extend8S
            | I32Extend16S
            | I64Extend8S
            | I64Extend16S
            | I64Extend32S
    )
}
