//! Requests that describe what memory is needed rather than which allocator
//! serves it, and where such a request landed.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::{AllocError, AllocatorKind, MemoryFlags, MemoryType};

/// What a caller needs: size, alignment, memory type and flags.
///
/// A layout routes it to an entry (`Game::allocate`); with
/// [`fallback`](Self::fallback) it may land in another memory type when the
/// preferred one is exhausted.
///
/// ```
/// use flight_mem::{AllocationRequest, MemoryFlags, MemoryType, align};
///
/// let req = AllocationRequest::new(64 * 1024)
///     .align(align::GPU)
///     .memory(MemoryType::Video)
///     .flags(MemoryFlags::GPU | MemoryFlags::ZEROED);
/// assert_eq!(req.layout().unwrap().align(), 256);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AllocationRequest {
    /// Bytes needed.
    pub size: usize,
    /// Alignment needed (a power of two).
    pub align: usize,
    /// Preferred memory type.
    pub memory: MemoryType,
    /// Required properties.
    pub flags: MemoryFlags,
    /// Whether another memory type may serve the request when the preferred
    /// one cannot.
    pub fallback: bool,
}

impl AllocationRequest {
    /// `size` bytes of word-aligned `System` memory, no flags, no fallback.
    pub const fn new(size: usize) -> Self {
        Self {
            size,
            align: crate::align::WORD,
            memory: MemoryType::System,
            flags: MemoryFlags::empty(),
            fallback: false,
        }
    }

    /// A request for one value of `T`'s layout.
    pub const fn for_layout(layout: Layout) -> Self {
        Self::new(layout.size()).align(layout.align())
    }

    /// Sets the alignment.
    pub const fn align(mut self, align: usize) -> Self {
        self.align = align;
        self
    }

    /// Sets the preferred memory type.
    pub const fn memory(mut self, memory: MemoryType) -> Self {
        self.memory = memory;
        self
    }

    /// Sets the required flags.
    pub const fn flags(mut self, flags: MemoryFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Marks the request critical: it may use reserves.
    pub const fn critical(mut self) -> Self {
        self.flags = self.flags.union(MemoryFlags::CRITICAL);
        self
    }

    /// Allows other memory types when the preferred one cannot serve it.
    pub const fn with_fallback(mut self) -> Self {
        self.fallback = true;
        self
    }

    /// The request as a [`Layout`], or why it is not a valid one.
    pub const fn layout(&self) -> Result<Layout, AllocError> {
        if self.size == 0 {
            return Err(AllocError::ZeroSize);
        }
        if !self.align.is_power_of_two() {
            return Err(AllocError::BadAlignment { align: self.align });
        }
        match Layout::from_size_align(self.size, self.align) {
            Ok(layout) => Ok(layout),
            Err(_) => Err(AllocError::SizeOverflow { size: self.size }),
        }
    }
}

pub use flight_mem_vocabulary::EntryKind;

/// Where an entry of a layout lives and what it is.
///
/// Plain data: nothing trusts a `RegionInfo` alone (the layout tables that
/// guards are armed from are `unsafe` to build), so it can be made freely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionInfo {
    /// The entry's name in the layout.
    pub name: &'static str,
    /// The entry's kind.
    pub kind: EntryKind,
    /// The allocator behind it.
    pub allocator: AllocatorKind,
    /// Its memory type.
    pub memory: MemoryType,
    /// Its flags (its bank's flags plus its own).
    pub flags: MemoryFlags,
    /// The bank it is placed in.
    pub bank: &'static str,
    /// Byte offset of its first byte from the start of the bank.
    pub offset: usize,
    /// Its size in bytes (what the allocator manages).
    pub size: usize,
    /// Its alignment in bytes.
    pub align: usize,
    /// Guard bytes after it.
    pub guard: usize,
    /// Guard bytes directly before it (a component's segment has a guard on
    /// both sides; 0 when the entry before it already ends in a guard at
    /// least this large, or for other kinds).
    pub guard_before: usize,
    /// Who may use a `shared` region, in declaration order (empty for other
    /// kinds).
    pub access: &'static [Grant],
}

/// One component's right on a `shared` region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    /// The component's name.
    pub component: &'static str,
    /// Whether it may write (writers may also read).
    pub write: bool,
}

impl RegionInfo {
    /// One past the entry's last byte, as an offset into its bank.
    pub const fn end(&self) -> usize {
        self.offset + self.size
    }
}

/// A block obtained through a layout's request routing, and where it landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The block; at least the requested size.
    pub ptr: NonNull<[u8]>,
    /// The entry that served it.
    pub region: &'static RegionInfo,
    /// Whether the request was served by its fallback route (another memory
    /// type, or a reserve).
    pub fell_back: bool,
}

impl Allocation {
    /// The block's first byte.
    pub const fn as_non_null(&self) -> NonNull<u8> {
        self.ptr.cast()
    }

    /// The block's usable size.
    pub const fn len(&self) -> usize {
        self.ptr.len()
    }

    /// Never true: allocations are at least one byte.
    pub const fn is_empty(&self) -> bool {
        self.ptr.len() == 0
    }
}
