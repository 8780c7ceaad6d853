//! The words of the layout language that name runtime values: memory types,
//! flags, allocators and entry kinds, with the paths codegen emits for them.

use proc_macro2::TokenStream;
use quote::quote;

/// Mirrors `flight_mem::MemoryType` (same order, same bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MemoryType {
    System,
    Video,
    Audio,
    Network,
    Shared,
    Temporary,
    Stack,
    Pool,
}

impl MemoryType {
    pub(crate) const ALL: [MemoryType; 8] = [
        Self::System,
        Self::Video,
        Self::Audio,
        Self::Network,
        Self::Shared,
        Self::Temporary,
        Self::Stack,
        Self::Pool,
    ];
    pub(crate) const NAMES: [&'static str; 8] = [
        "System",
        "Video",
        "Audio",
        "Network",
        "Shared",
        "Temporary",
        "Stack",
        "Pool",
    ];

    pub(crate) const fn bit(self) -> u16 {
        1 << self as u16
    }

    pub(crate) fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// The names of the types in `bits`.
    pub(crate) fn names_in(bits: u16) -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|t| bits & t.bit() != 0)
            .map(|t| t.name())
            .collect()
    }

    pub(crate) fn path(self) -> TokenStream {
        let ident = proc_macro2::Ident::new(self.name(), proc_macro2::Span::call_site());
        quote!(::flight_mem::MemoryType::#ident)
    }
}

/// Mirrors `flight_mem::MemoryFlags` (same bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MemoryFlag {
    Dma,
    Gpu,
    Cacheable,
    Uncached,
    Zeroed,
    Critical,
}

impl MemoryFlag {
    pub(crate) const NAMES: [&'static str; 6] =
        ["dma", "gpu", "cacheable", "uncached", "zeroed", "critical"];
    const ALL: [MemoryFlag; 6] = [
        Self::Dma,
        Self::Gpu,
        Self::Cacheable,
        Self::Uncached,
        Self::Zeroed,
        Self::Critical,
    ];

    pub(crate) const fn bit(self) -> u8 {
        1 << self as u8
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }
}

/// The allocator behind a `region` or `component`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RegionAllocator {
    Tlsf,
    Buddy,
    FreeList,
    /// A component's raw segment: no allocator.
    None,
    /// Relocatable blocks behind handles (regions only).
    Compact,
}

impl RegionAllocator {
    pub(crate) const NAMES: [&'static str; 5] = ["tlsf", "buddy", "freelist", "compact", "none"];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "tlsf" => Some(Self::Tlsf),
            "buddy" => Some(Self::Buddy),
            "freelist" => Some(Self::FreeList),
            "none" => Some(Self::None),
            "compact" => Some(Self::Compact),
            _ => None,
        }
    }

    /// `::flight_mem::Tlsf`, …
    pub(crate) fn type_path(self) -> TokenStream {
        match self {
            Self::Tlsf => quote!(::flight_mem::Tlsf),
            Self::Buddy => quote!(::flight_mem::Buddy),
            Self::FreeList => quote!(::flight_mem::FreeList),
            Self::None => quote!(::flight_mem::Segment),
            Self::Compact => quote!(::flight_mem::Compact),
        }
    }

    /// `::flight_mem::AllocatorKind::Tlsf`, …
    pub(crate) fn kind_path(self) -> TokenStream {
        match self {
            Self::Tlsf => quote!(::flight_mem::AllocatorKind::Tlsf),
            Self::Buddy => quote!(::flight_mem::AllocatorKind::Buddy),
            Self::FreeList => quote!(::flight_mem::AllocatorKind::FreeList),
            Self::None => quote!(::flight_mem::AllocatorKind::Segment),
            Self::Compact => quote!(::flight_mem::AllocatorKind::Compact),
        }
    }
}

/// What kind of entry; mirrors `flight_mem::EntryKind`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Region,
    Frame,
    Stack,
    Pool,
    Reserve,
    Component,
    Shared,
}

impl Kind {
    pub(crate) fn from_keyword(word: &str) -> Option<Self> {
        match word {
            "region" => Some(Self::Region),
            "frame" => Some(Self::Frame),
            "stack" => Some(Self::Stack),
            "pool" => Some(Self::Pool),
            "reserve" => Some(Self::Reserve),
            "component" => Some(Self::Component),
            "shared" => Some(Self::Shared),
            _ => None,
        }
    }

    pub(crate) fn keyword(self) -> &'static str {
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

    /// The memory type an entry of this kind gets without `memory:`.
    pub(crate) fn default_memory(self) -> MemoryType {
        match self {
            Self::Region | Self::Reserve | Self::Component => MemoryType::System,
            Self::Shared => MemoryType::Shared,
            Self::Frame => MemoryType::Temporary,
            Self::Stack => MemoryType::Stack,
            Self::Pool => MemoryType::Pool,
        }
    }

    pub(crate) fn path(self) -> TokenStream {
        match self {
            Self::Region => quote!(::flight_mem::EntryKind::Region),
            Self::Frame => quote!(::flight_mem::EntryKind::Frame),
            Self::Stack => quote!(::flight_mem::EntryKind::Stack),
            Self::Pool => quote!(::flight_mem::EntryKind::Pool),
            Self::Reserve => quote!(::flight_mem::EntryKind::Reserve),
            Self::Component => quote!(::flight_mem::EntryKind::Component),
            Self::Shared => quote!(::flight_mem::EntryKind::Shared),
        }
    }
}
