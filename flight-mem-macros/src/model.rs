//! The tree between the stages: what `check` resolves a layout to, what
//! `analyze` places, and what `codegen` expands.

use proc_macro2::{Ident, Span, TokenStream};
use syn::{Attribute, LitStr, Type, Visibility};

use crate::platforms::Platform;
use crate::vocabulary::{AllocatorKind, EntryKind, MemoryType};

/// Every layout of a macro call, resolved.
pub(crate) struct Model {
    pub(crate) layouts: Vec<LayoutModel>,
}

pub(crate) struct LayoutModel {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    pub(crate) platform: Option<&'static Platform>,
    /// Free-share thresholds in percent: low, medium, high, critical.
    pub(crate) pressure: [u8; 4],
    pub(crate) banks: Vec<BankModel>,
    /// In declaration order.
    pub(crate) entries: Vec<EntryModel>,
    /// Every entry of a known kind as declared, also those that failed to
    /// resolve: the fallback expansion gives each its accessors.
    pub(crate) signatures: Vec<EntrySignature>,
    /// Whether no error was found in this layout (set by `check`, cleared by
    /// `analyze`); an invalid layout gets the fallback expansion.
    pub(crate) valid: bool,
    /// Whether an earlier layout of the macro call has the same name (it
    /// then expands to nothing).
    pub(crate) duplicate: bool,
}

/// What an entry's accessors look like (kind, name, value type, allocator):
/// all the fallback expansion needs to give a broken entry its accessors.
pub(crate) struct EntrySignature {
    pub(crate) docs: Vec<Attribute>,
    pub(crate) kind: EntryKind,
    pub(crate) name: Ident,
    /// The value type of a typed pool.
    pub(crate) ty: Option<Box<Type>>,
    /// Whether it is a pool of untyped blocks.
    pub(crate) blocks: bool,
    pub(crate) allocator: AllocatorKind,
}

pub(crate) struct BankModel {
    pub(crate) name: String,
    /// Where bank-wide problems are reported: the bank's name, the platform's
    /// name, or the `budget` keyword.
    pub(crate) span: Span,
    pub(crate) budget: Size,
    /// The bank's address on its hardware, when known.
    pub(crate) address: Option<u64>,
    /// Whether the bank's storage is at `address` (an `unsafe bank` with a
    /// `base`) rather than a static array.
    pub(crate) fixed: bool,
    pub(crate) memory: u16,
    pub(crate) flags: u8,
    pub(crate) section: Option<LitStr>,
}

pub(crate) struct EntryModel {
    pub(crate) docs: Vec<Attribute>,
    pub(crate) kind: EntryKind,
    pub(crate) name: Ident,
    pub(crate) shape: Shape,
    pub(crate) memory: MemoryType,
    /// The allocator of a `region` or `component` (a `reserve` is always
    /// TLSF).
    pub(crate) allocator: AllocatorKind,
    pub(crate) align: u64,
    pub(crate) guard: Size,
    /// The entry's own flags (its bank's are added by codegen).
    pub(crate) flags: u8,
    /// Index into `LayoutModel::banks`.
    pub(crate) bank: usize,
    /// A `shared` entry's access list, in declaration order.
    pub(crate) access: Vec<Grant>,
}

/// One component's right on a `shared` region.
#[derive(Clone)]
pub(crate) struct Grant {
    /// The component's name as written in `access`.
    pub(crate) component: Ident,
    pub(crate) write: bool,
}

#[derive(Clone)]
pub(crate) enum Size {
    Literal {
        bytes: u64,
        span: Span,
    },
    /// A parenthesised const expression of type `usize`.
    Expr {
        tokens: TokenStream,
        span: Span,
    },
}

impl Size {
    pub(crate) fn literal(&self) -> Option<u64> {
        match self {
            Self::Literal { bytes, .. } => Some(*bytes),
            Self::Expr { .. } => None,
        }
    }
}

pub(crate) enum Shape {
    /// `region`, `stack`, `reserve`.
    Bytes(Size),
    /// `frame`: `count` frames of `frame` bytes.
    Frames { frame: Size, count: u64 },
    /// `pool` of untyped blocks.
    Blocks { block: Size, count: u64 },
    /// `pool` of values of `ty`.
    Typed { ty: Box<Type>, count: u64 },
}
