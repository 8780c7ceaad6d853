//! The words of the layout language that name runtime values. Each enum's
//! names are the spelling `memory_layout!` accepts and reports print; the
//! macro parses with `from_name`/`from_keyword` and emits the variant by
//! path, so the two sides cannot drift apart.

use core::fmt;

/// Finds the variant whose name is `name` in a table of `(name, variant)`.
fn lookup<T: Copy, const N: usize>(
    all: [T; N],
    name_of: fn(T) -> &'static str,
    name: &str,
) -> Option<T> {
    all.into_iter().find(|&value| name_of(value) == name)
}

/// What a block of memory is for; banks hold some types, entries pick one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum MemoryType {
    /// General-purpose main memory.
    #[default]
    System,
    /// Textures, vertex buffers, framebuffers.
    Video,
    /// Samples and sound buffers.
    Audio,
    /// Packet buffers.
    Network,
    /// Memory shared between components or processors.
    Shared,
    /// Short-lived scratch memory.
    Temporary,
    /// Stack-discipline memory.
    Stack,
    /// Fixed-size object pools.
    Pool,
}

impl MemoryType {
    /// Every memory type, in declaration order.
    pub const ALL: [MemoryType; 8] = [
        Self::System,
        Self::Video,
        Self::Audio,
        Self::Network,
        Self::Shared,
        Self::Temporary,
        Self::Stack,
        Self::Pool,
    ];

    /// The name used in `memory_layout!` (`System`, `Video`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::System => "System",
            Self::Video => "Video",
            Self::Audio => "Audio",
            Self::Network => "Network",
            Self::Shared => "Shared",
            Self::Temporary => "Temporary",
            Self::Stack => "Stack",
            Self::Pool => "Pool",
        }
    }

    /// The type named `name` in `memory_layout!`.
    pub fn from_name(name: &str) -> Option<Self> {
        lookup(Self::ALL, Self::name, name)
    }

    /// A single bit per type, for sets of types.
    pub const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One property a request needs or a bank offers (`flags: [dma, gpu]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryFlag {
    /// Reachable by the DMA controller.
    Dma,
    /// Reachable by the GPU.
    Gpu,
    /// Cached by the CPU.
    Cacheable,
    /// Accessed through an uncached mirror.
    Uncached,
    /// Returned filled with zeros.
    Zeroed,
    /// May use reserves and is served at `Critical` pressure.
    Critical,
}

impl MemoryFlag {
    /// Every flag, in bit order.
    pub const ALL: [MemoryFlag; 6] = [
        Self::Dma,
        Self::Gpu,
        Self::Cacheable,
        Self::Uncached,
        Self::Zeroed,
        Self::Critical,
    ];

    /// The name used in `memory_layout!` (`dma`, `gpu`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Dma => "dma",
            Self::Gpu => "gpu",
            Self::Cacheable => "cacheable",
            Self::Uncached => "uncached",
            Self::Zeroed => "zeroed",
            Self::Critical => "critical",
        }
    }

    /// The flag named `name` in `memory_layout!`.
    pub fn from_name(name: &str) -> Option<Self> {
        lookup(Self::ALL, Self::name, name)
    }

    /// The flag's bit in a set of flags (flight-mem's `MemoryFlags`).
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The algorithm behind an entry.
///
/// Exhaustive, like [`EntryKind`]: a new kind is a new word of the layout
/// language, which every `match` over the kinds (the macro's checks, the
/// reports) must handle, and a breaking release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllocatorKind {
    /// Two-level segregated fit (flight-mem's `Tlsf`).
    Tlsf,
    /// Binary buddy (`Buddy`).
    Buddy,
    /// First/best-fit free list (`FreeList`).
    FreeList,
    /// Relocatable blocks behind handles (`Compact`).
    Compact,
    /// Linear frames (`Frames`).
    Frames,
    /// One linear bump region (`Linear`).
    Linear,
    /// LIFO stack (`Stack`).
    Stack,
    /// Typed fixed-size pool (`Pool`).
    Pool,
    /// Untyped fixed-size block pool (`BlockPool`).
    BlockPool,
    /// The platform allocator (feature `std`).
    System,
    /// A raw component segment without an allocator (`allocator: none`).
    Segment,
    /// A shared region between components (`Shared`).
    Shared,
}

impl AllocatorKind {
    /// The kinds a `region` or `component` may name with `allocator:`.
    pub const REGION: [AllocatorKind; 5] = [
        Self::Tlsf,
        Self::Buddy,
        Self::FreeList,
        Self::Compact,
        Self::Segment,
    ];

    /// The name used in `memory_layout!` and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tlsf => "tlsf",
            Self::Buddy => "buddy",
            Self::FreeList => "freelist",
            Self::Compact => "compact",
            Self::Frames => "frames",
            Self::Linear => "linear",
            Self::Stack => "stack",
            Self::Pool => "pool",
            Self::BlockPool => "block pool",
            Self::System => "system",
            Self::Segment => "none",
            Self::Shared => "shared",
        }
    }

    /// The kind an `allocator: name` option picks, if `name` is one of
    /// [`REGION`](Self::REGION).
    pub fn from_region_name(name: &str) -> Option<Self> {
        lookup(Self::REGION, Self::name, name)
    }
}

impl fmt::Display for AllocatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of entry of a layout a region describes (exhaustive: see
/// [`AllocatorKind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A `region` (general-purpose heap).
    Region,
    /// A `frame` (linear frames).
    Frame,
    /// A `stack`.
    Stack,
    /// A `pool` of typed values or untyped blocks.
    Pool,
    /// A `reserve` for critical requests.
    Reserve,
    /// An engine `component`'s guarded segment, reached through its token.
    Component,
    /// A `shared` region between components, reached through their tokens.
    Shared,
}

impl EntryKind {
    /// Every kind, in the order the layout language lists them.
    pub const ALL: [EntryKind; 7] = [
        Self::Region,
        Self::Frame,
        Self::Stack,
        Self::Pool,
        Self::Reserve,
        Self::Component,
        Self::Shared,
    ];

    /// The keyword of this kind in `memory_layout!`.
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::Region => "region",
            Self::Frame => "frame",
            Self::Stack => "stack",
            Self::Pool => "pool",
            Self::Reserve => "reserve",
            Self::Component => "component",
            Self::Shared => "shared",
        }
    }

    /// The kind `word` introduces in `memory_layout!`.
    pub fn from_keyword(word: &str) -> Option<Self> {
        lookup(Self::ALL, Self::keyword, word)
    }

    /// The memory type an entry of this kind gets without `memory:`.
    pub const fn default_memory(self) -> MemoryType {
        match self {
            Self::Region | Self::Reserve | Self::Component => MemoryType::System,
            Self::Shared => MemoryType::Shared,
            Self::Frame => MemoryType::Temporary,
            Self::Stack => MemoryType::Stack,
            Self::Pool => MemoryType::Pool,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AllocatorKind, EntryKind, MemoryFlag, MemoryType};

    #[test]
    fn every_name_parses_back_to_its_word() {
        for ty in MemoryType::ALL {
            assert_eq!(MemoryType::from_name(ty.name()), Some(ty));
        }
        for flag in MemoryFlag::ALL {
            assert_eq!(MemoryFlag::from_name(flag.name()), Some(flag));
        }
        for kind in AllocatorKind::REGION {
            assert_eq!(AllocatorKind::from_region_name(kind.name()), Some(kind));
        }
        for kind in EntryKind::ALL {
            assert_eq!(EntryKind::from_keyword(kind.keyword()), Some(kind));
        }
        assert_eq!(
            MemoryType::from_name("video"),
            None,
            "names are case-sensitive"
        );
        assert_eq!(AllocatorKind::from_region_name("linear"), None);
    }

    #[test]
    fn bits_are_distinct_and_follow_declaration_order() {
        for (i, ty) in MemoryType::ALL.into_iter().enumerate() {
            assert_eq!(ty.bit(), 1 << i);
        }
        for (i, flag) in MemoryFlag::ALL.into_iter().enumerate() {
            assert_eq!(flag.bit(), 1 << i);
        }
    }
}
