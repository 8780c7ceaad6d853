//! The words of the layout language are `flight_mem_vocabulary`'s — the
//! very types the runtime re-exports — so the macro accepts exactly the
//! names the runtime knows. What only the macro needs is here: the path
//! codegen emits for a word, and the name lists of its error messages.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

pub(crate) use flight_mem_vocabulary::{AllocatorKind, EntryKind, MemoryFlag, MemoryType};

/// The path generated code names a word by.
pub(crate) trait Emit: Copy + core::fmt::Debug {
    /// `::flight_mem::MemoryType::Video`, `::flight_mem::EntryKind::Pool`, …
    fn path(self) -> TokenStream;
}

/// The variant's own name: what `derive(Debug)` prints for a unit variant,
/// so no second table of names can disagree with the enum.
pub(crate) fn variant(word: impl core::fmt::Debug) -> Ident {
    Ident::new(&format!("{word:?}"), Span::call_site())
}

impl Emit for MemoryType {
    fn path(self) -> TokenStream {
        let ident = variant(self);
        quote!(::flight_mem::MemoryType::#ident)
    }
}

impl Emit for EntryKind {
    fn path(self) -> TokenStream {
        let ident = variant(self);
        quote!(::flight_mem::EntryKind::#ident)
    }
}

impl Emit for AllocatorKind {
    fn path(self) -> TokenStream {
        let ident = variant(self);
        quote!(::flight_mem::AllocatorKind::#ident)
    }
}

/// The type behind an `allocator:` kind: `::flight_mem::Tlsf`, …,
/// `::flight_mem::Segment` for `none` (each region kind is named after its
/// type).
pub(crate) fn allocator_type_path(kind: AllocatorKind) -> TokenStream {
    let ident = variant(kind);
    quote!(::flight_mem::#ident)
}

/// The names of the memory types in `bits`.
pub(crate) fn memory_type_names_in(bits: u16) -> Vec<&'static str> {
    MemoryType::ALL
        .iter()
        .filter(|t| bits & t.bit() != 0)
        .map(|t| t.name())
        .collect()
}

/// Every memory type's name, for "did you mean".
pub(crate) fn memory_type_names() -> Vec<&'static str> {
    MemoryType::ALL.map(MemoryType::name).to_vec()
}

/// Every flag's name, for "did you mean".
pub(crate) fn flag_names() -> Vec<&'static str> {
    MemoryFlag::ALL.map(MemoryFlag::name).to_vec()
}

/// The names `allocator:` accepts, `none` last.
pub(crate) fn allocator_names() -> Vec<&'static str> {
    AllocatorKind::REGION.map(AllocatorKind::name).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_variants() {
        assert_eq!(
            MemoryType::Video.path().to_string(),
            quote!(::flight_mem::MemoryType::Video).to_string()
        );
        assert_eq!(
            allocator_type_path(AllocatorKind::Segment).to_string(),
            quote!(::flight_mem::Segment).to_string()
        );
        assert_eq!(allocator_names().last(), Some(&"none"));
    }
}
