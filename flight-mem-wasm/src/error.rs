//! Everything that makes a rebase refuse its input.

use std::fmt;

/// Why a module could not be rebased. No output is produced for any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input does not start with the WebAssembly magic and version.
    NotWasm,
    /// The module does not decode or does not validate.
    Invalid {
        /// Byte offset in the input where the problem was found.
        offset: u64,
        /// The decoder's or validator's message.
        message: String,
    },
    /// A 64-bit memory (memory64): the unified memory is 32-bit.
    Memory64 {
        /// Index of the memory in the module's memory index space.
        memory: u32,
    },
    /// A memory with a custom page size (custom-page-sizes proposal).
    CustomPageSize {
        /// Index of the memory in the module's memory index space.
        memory: u32,
    },
    /// The module has more than one memory that no `--shared` window maps.
    SeveralOwnMemories {
        /// How many memories are left without a window.
        count: usize,
    },
    /// A `--shared` window names an import the module does not have.
    UnknownShared {
        /// `MODULE.FIELD` as given.
        name: String,
    },
    /// The output would have more functions, globals or types than engines
    /// load (wasmparser's and V8's limits): the rebase appends some.
    TooMany {
        /// `functions`, `globals` or `types`.
        what: String,
        /// How many the output would have.
        count: u64,
        /// The engines' limit.
        limit: u64,
    },
    /// A segment or window is smaller than the memory the module declares.
    TooSmall {
        /// `segment` or the window's import name.
        what: String,
        /// Bytes the module's minimum memory needs.
        needed: u64,
        /// Bytes given.
        size: u64,
    },
    /// Two of the segment and the windows overlap.
    Overlap {
        /// The first range's name.
        a: String,
        /// The second range's name.
        b: String,
    },
    /// A range reaches past the 4 GiB of a 32-bit memory, or is empty.
    BadRange {
        /// The range's name.
        what: String,
        /// Why it cannot be used.
        why: String,
    },
    /// `masked` isolation needs power-of-two sizes.
    NotPowerOfTwo {
        /// The range's name.
        what: String,
        /// Its size.
        size: u64,
    },
    /// The module could write into a window granted `read`.
    WriteToReadOnly {
        /// Function index (in the function index space, imports included).
        function: u32,
        /// Byte offset of the instruction in the input.
        offset: u64,
        /// The instruction.
        instruction: String,
        /// The window's import name.
        window: String,
    },
    /// An active data segment initialises a window granted `read`.
    DataIntoReadOnly {
        /// Data segment index.
        segment: u32,
        /// The window's import name.
        window: String,
    },
    /// An active data segment lies outside the memory it initialises: the
    /// original module could not be instantiated either.
    DataOutOfBounds {
        /// Data segment index.
        segment: u32,
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// Bytes of the memory at instantiation.
        memory_bytes: u64,
    },
    /// An active data segment whose offset is not a constant, where no
    /// start function can check it (kept for API stability: `checked` and
    /// `masked` now apply such segments from a checking start function).
    NonConstantDataOffset {
        /// Data segment index.
        segment: u32,
    },
    /// Atomic accesses must stay naturally aligned after relocation.
    MisalignedBase {
        /// The range's name.
        what: String,
        /// Its base.
        base: u64,
    },
    /// An instruction this rebaser cannot relocate.
    Unsupported {
        /// Function index.
        function: u32,
        /// Byte offset of the instruction in the input.
        offset: u64,
        /// What it is.
        what: String,
    },
    /// A layout entry cannot be rebased onto (see
    /// [`Options::for_component`](crate::Options::for_component)).
    Layout {
        /// The layout's name.
        layout: String,
        /// The component asked for.
        component: String,
        /// Why, and what to change.
        why: String,
    },
    /// A number on the command line or in a window description.
    BadNumber {
        /// The text given.
        text: String,
        /// Why it was refused.
        why: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotWasm => f.write_str(
                "input is not a WebAssembly module (no `\\0asm` magic and version 1 header)",
            ),
            Error::Invalid { offset, message } => {
                write!(f, "invalid module at byte {offset:#x}: {message}")
            }
            Error::Memory64 { memory } => write!(
                f,
                "memory {memory} is a 64-bit memory (memory64); the unified memory is 32-bit"
            ),
            Error::CustomPageSize { memory } => write!(
                f,
                "memory {memory} uses a custom page size; only 64 KiB pages are supported"
            ),
            Error::SeveralOwnMemories { count } => write!(
                f,
                "the module has {count} memories without a window; map all but one with \
                 `--shared MODULE.FIELD=BASE:SIZE:read|write` (only imported memories can be windows)"
            ),
            Error::UnknownShared { name } => {
                write!(
                    f,
                    "`--shared {name}`: the module imports no memory named `{name}`"
                )
            }
            Error::TooMany { what, count, limit } => write!(
                f,
                "the output would have {count} {what}, past the engines' limit of {limit}"
            ),
            Error::TooSmall { what, needed, size } => write!(
                f,
                "{what} is {size} bytes but the module's minimum memory needs {needed} bytes"
            ),
            Error::Overlap { a, b } => write!(f, "{a} and {b} overlap"),
            Error::BadRange { what, why } => write!(f, "{what}: {why}"),
            Error::NotPowerOfTwo { what, size } => write!(
                f,
                "{what} is {size} bytes; `masked` isolation needs a power-of-two size (or use `checked`)"
            ),
            Error::WriteToReadOnly {
                function,
                offset,
                instruction,
                window,
            } => write!(
                f,
                "function {function}, instruction at byte {offset:#x} (`{instruction}`) could write \
                 into `{window}`, which is granted `read` only"
            ),
            Error::DataIntoReadOnly { segment, window } => write!(
                f,
                "data segment {segment} initialises `{window}`, which is granted `read` only"
            ),
            Error::DataOutOfBounds {
                segment,
                offset,
                len,
                memory_bytes,
            } => write!(
                f,
                "data segment {segment} ({len} bytes at {offset:#x}) does not fit the module's \
                 initial memory of {memory_bytes} bytes: the module cannot be instantiated"
            ),
            Error::NonConstantDataOffset { segment } => write!(
                f,
                "data segment {segment} has a non-constant offset, which cannot be bounds-checked \
                 at rebase time; use `--isolation trusted` or a constant offset"
            ),
            Error::MisalignedBase { what, base } => write!(
                f,
                "{what} starts at {base:#x}; the module uses atomics, which need the base aligned \
                 to 16 bytes"
            ),
            Error::Unsupported {
                function,
                offset,
                what,
            } => write!(
                f,
                "function {function}, instruction at byte {offset:#x}: {what} cannot be rebased"
            ),
            Error::Layout {
                layout,
                component,
                why,
            } => write!(
                f,
                "component `{component}` of layout `{layout}` cannot be rebased onto: {why}"
            ),
            Error::BadNumber { text, why } => write!(f, "`{text}`: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Error::Invalid {
            offset: e.offset(),
            message: e.message().to_string(),
        }
    }
}
