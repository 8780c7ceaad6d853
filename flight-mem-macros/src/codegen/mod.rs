//! Code generation: the layout struct and its accessors (SPEC §3), the bank
//! storage, the layout's tables, and the const assertions of the second
//! tier of the budget proof.
//!
//! What a valid layout `Game` expands to, at the macro's call site:
//!
//! - `struct Game;` with the user's attributes, and `impl Game` with an
//!   accessor per entry whose allocator is a `static` inside it (so no
//!   initialisation call exists and the first call from any thread works),
//!   plus `alloc_*`/`free_*` and the layout-wide functions;
//! - per bank, a `const` `flight_mem::__private::BankPlan` placing the bank's
//!   entries, computed by rustc from the real sizes (`Pool::<T>::bytes_for`,
//!   `BlockPool::bytes_for`, const expressions), the figures of it that
//!   generated code reads as named fields of one `PLACED` const (where the
//!   macro cannot write them as literals), and a page-aligned `static`
//!   array as the bank's storage (or a fixed address);
//! - per bank, a named const assertion `_GAME_FITS_MAIN` that fails on
//!   the entry crossing the bank's budget (spanned on its name), with the
//!   facts of the macro's own budget error;
//! - the tables behind `flight_mem::Layout` (`regions`, allocators, banks).
//!
//! Everything but the struct is wrapped in `const _: () = { .. };`, so the
//! user's module gains only the struct; internal items are also named
//! `__FLIGHT_MEM_<layout>_*` and `#[doc(hidden)]`.
//!
//! `accessors` writes the functions on the layout struct, `banks` the
//! placement, storage and const assertions of each bank, `tables` the
//! statics behind `flight_mem::Layout`.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;

use crate::analyze::{BankAnalysis, LayoutAnalysis};
use crate::model::{BankModel, EntryModel, EntrySignature, LayoutModel, Shape, Size};
use crate::vocabulary::{AllocatorKind, Emit, EntryKind, MemoryType, allocator_type_path};

mod accessors;
mod banks;
mod components;
mod docs;
mod tables;

use accessors::*;
use banks::*;
use components::*;
use tables::*;

/// The full expansion of a valid layout.
pub(crate) fn generate(layout: &LayoutModel, analysis: &LayoutAnalysis) -> TokenStream {
    let names = Names::new(&layout.name);
    let name = &layout.name;
    let mut items = TokenStream::new();
    let mut accessors = TokenStream::new();

    for (bank_index, (bank, placed)) in layout.banks.iter().zip(&analysis.banks).enumerate() {
        items.extend(bank_items(layout, &names, bank_index, bank, placed));
    }
    for (index, entry) in layout.entries.iter().enumerate() {
        let bank = &layout.banks[entry.bank];
        let slot = analysis.slots[index];
        let memory = entry_memory(
            &names,
            entry.bank,
            bank,
            &analysis.banks[entry.bank],
            slot,
            entry,
        );
        let hook = (entry.kind == EntryKind::Region
            || (entry.kind == EntryKind::Component && entry.allocator != AllocatorKind::Segment))
            .then_some(PressureHook {
                callbacks: &names.callbacks,
                table: &names.table,
                index,
            });
        if matches!(entry.kind, EntryKind::Component | EntryKind::Shared) {
            let (statics, on_layout) = component_items(
                layout,
                &signature_of(entry),
                &entry.access,
                Some(memory),
                hook.as_ref(),
                index,
                Some(&names.regions),
            );
            items.extend(statics);
            accessors.extend(on_layout);
            continue;
        }
        accessors.extend(accessor(
            &layout.vis,
            &signature_of(entry),
            Some(&constructor(entry, memory)),
            constructor_has_parens(entry),
            hook.as_ref(),
            name,
        ));
    }
    items.extend(tables(layout, analysis, &names));
    let table = &names.table;
    let layout_impl = quote! {
        impl ::flight_mem::Layout for #name {
            #[inline]
            fn table() -> &'static ::flight_mem::LayoutTable {
                &#table
            }
        }
    };
    let wide = layout_wide(layout);
    // Everything but the struct lives in an anonymous const (as serde's
    // derives do): its impls apply to `Game` all the same, and its statics,
    // plans and assertions add no names to the user's module.
    let mut output = layout_struct(layout, Some(analysis));
    output.extend(token_module(layout));
    output.extend(quote! {
        const _: () = {
            impl #name {
                #accessors
            }
            #wide
            #layout_impl
            #items
        };
    });
    output
}

/// The expansion of an invalid layout, beside its errors: the struct, every
/// declared accessor and the layout-wide functions, with bodies that are
/// never compiled to anything (the build fails on the errors), so that uses
/// of the layout elsewhere do not add "cannot find" errors.
pub(crate) fn fallback(layout: &LayoutModel) -> TokenStream {
    let name = &layout.name;
    let mut accessors = TokenStream::new();
    let mut token_items = TokenStream::new();
    // Only the first entry of a name gets accessors (duplicates are errors
    // already; their accessors would add "duplicate definition" errors).
    let mut taken: Vec<String> = crate::check::RESERVED_NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let mut token_types: Vec<String> = Vec::new();
    for signature in &layout.signatures {
        let plain = signature.name.unraw().to_string();
        let functions = [
            plain.clone(),
            format!("alloc_{plain}"),
            format!("free_{plain}"),
            format!("take_{plain}"),
        ];
        if functions.iter().any(|f| taken.contains(f)) {
            continue;
        }
        taken.extend(functions);
        if matches!(signature.kind, EntryKind::Component | EntryKind::Shared) {
            let (items, on_layout) = component_items(layout, signature, &[], None, None, 0, None);
            // Two entries of one token type are an error already (the
            // second is blamed); a second `impl` of that type's methods
            // would add "duplicate definitions" errors on the whole call.
            let ty = components::type_name(&signature.name).to_string();
            if !token_types.contains(&ty) {
                token_items.extend(items);
                token_types.push(ty);
            }
            accessors.extend(on_layout);
        } else {
            accessors.extend(accessor(&layout.vis, signature, None, false, None, name));
        }
    }
    let mut output = layout_struct(layout, None);
    output.extend(token_module(layout));
    output.extend(quote! {
        #token_items
        impl #name {
            #accessors
        }
        impl ::flight_mem::Layout for #name {
            fn table() -> &'static ::flight_mem::LayoutTable {
                ::core::unreachable!("memory_layout! reported errors for this layout")
            }
        }
    });
    output.extend(layout_wide(layout));
    output
}

/// The internal names of one layout's items.
pub(super) struct Names {
    prefix: String,
    upper: String,
    table: Ident,
    regions: Ident,
    allocators: Ident,
    banks: Ident,
    watches: Ident,
    guards: Ident,
    callbacks: Ident,
    arm: Ident,
}

impl Names {
    fn new(layout: &Ident) -> Self {
        let plain = layout.unraw().to_string();
        let prefix = format!("__FLIGHT_MEM_{plain}");
        Self {
            table: format_ident!("{prefix}_TABLE"),
            regions: format_ident!("{prefix}_REGIONS"),
            allocators: format_ident!("{prefix}_ALLOCATORS"),
            banks: format_ident!("{prefix}_BANKS"),
            watches: format_ident!("{prefix}_WATCHES"),
            guards: format_ident!("{prefix}_GUARDS"),
            callbacks: format_ident!("{prefix}_CALLBACKS"),
            arm: format_ident!("{prefix}_ARM_GUARDS"),
            upper: upper_snake(&plain),
            prefix,
        }
    }

    fn plan(&self, bank: usize) -> Ident {
        format_ident!("{}_PLAN_{bank}", self.prefix)
    }

    /// The const holding the figures of bank `bank`'s plan that generated
    /// code reads, one named field each (and its type's name).
    fn placed(&self, bank: usize) -> (Ident, Ident) {
        (
            format_ident!("{}_PLACED_{bank}", self.prefix),
            format_ident!("{}_Placed{bank}", self.prefix),
        )
    }

    fn flags(&self, flags: u8) -> Ident {
        format_ident!("{}_FLAGS_{flags}", self.prefix)
    }

    fn no_access(&self) -> Ident {
        format_ident!("{}_NO_ACCESS", self.prefix)
    }

    fn storage(&self, bank: usize) -> Ident {
        format_ident!("{}_STORAGE_{bank}", self.prefix)
    }

    fn storage_type(&self, bank: usize) -> Ident {
        format_ident!("{}_Storage{bank}", self.prefix)
    }
}

/// `GameLayout` → `GAME_LAYOUT`, `main` → `MAIN`.
pub(crate) fn upper_snake(name: &str) -> String {
    crate::check::snake_case(name).to_uppercase()
}

/// The layout struct; with the analysis of a valid layout, its memory map
/// in the docs.
pub(super) fn layout_struct(
    layout: &LayoutModel,
    analysis: Option<&LayoutAnalysis>,
) -> TokenStream {
    let LayoutModel {
        attrs, vis, name, ..
    } = layout;
    let default_doc = if attrs.iter().any(|a| a.path().is_ident("doc")) {
        TokenStream::new()
    } else {
        let text = format!(" The memory layout `{name}`, declared with `memory_layout!`.");
        quote!(#[doc = #text])
    };
    let map = analysis.map(|analysis| docs::memory_map_doc(layout, analysis));
    quote! {
        #(#attrs)*
        #default_doc
        #map
        #[derive(Clone, Copy, Debug)]
        #vis struct #name;
    }
}

/// The layout-wide functions of SPEC §3 that belong to this crate; they
/// forward to `flight_mem::Layout`, so they exist in the fallback too.
pub(super) fn layout_wide(layout: &LayoutModel) -> TokenStream {
    let LayoutModel { vis, name, .. } = layout;
    let allocate = tracked(quote! {
        /// Allocates for a request, routed in this order: `region`
        /// entries of the requested memory type in declaration order;
        /// with `fallback`, the other regions (`System` memory first,
        /// then declaration order); then `reserve` entries, for
        /// `critical` requests or at `Critical` pressure. Only entries
        /// whose flags (their bank's included) contain the request's
        /// `dma`, `gpu`, `cacheable` and `uncached` flags are candidates;
        /// `zeroed` blocks are zero-filled. No candidate is
        /// `Err(AllocError::NoRoute)`. Free with `deallocate`.
        #vis fn allocate(request: &::flight_mem::AllocationRequest) -> ::core::result::Result<::flight_mem::Allocation, ::flight_mem::AllocError> {
            <Self as ::flight_mem::Layout>::allocate(request)
        }
    });
    quote! {
        ::flight_mem::__private::track_functions!(#vis #name);
        #[allow(dead_code)]
        impl #name {
            /// Every entry of the layout, in declaration order: name, kind,
            /// allocator, memory type, bank, offset, size, alignment, guard.
            #[inline]
            #vis fn regions() -> &'static [::flight_mem::RegionInfo] {
                <Self as ::flight_mem::Layout>::regions()
            }

            /// Every bank of the layout with its budget and placed bytes.
            #[inline]
            #vis fn banks() -> &'static [::flight_mem::BankInfo] {
                <Self as ::flight_mem::Layout>::banks()
            }

            /// Totals over every entry and one row per entry.
            #vis fn stats() -> ::flight_mem::LayoutStats {
                <Self as ::flight_mem::Layout>::stats()
            }

            /// The entry whose bytes contain `ptr` (guards and padding belong
            /// to none); `O(banks + log entries)`.
            #vis fn owner_of(ptr: ::core::ptr::NonNull<u8>) -> ::core::option::Option<&'static ::flight_mem::RegionInfo> {
                <Self as ::flight_mem::Layout>::owner_of(ptr)
            }

            /// The memory map: prints as a linker-map-like table.
            #vis fn map() -> ::flight_mem::MemoryMap {
                <Self as ::flight_mem::Layout>::map()
            }

            /// Frees a block of any entry, found by its address (blocks of
            /// `allocate` included); a pointer no entry owns is
            /// `Err(AllocError::ForeignPointer)`.
            ///
            /// # Safety
            ///
            /// If an entry owns `ptr`, it is a live block handed out by that
            /// entry and is not used after this call.
            #vis unsafe fn deallocate(ptr: ::core::ptr::NonNull<u8>) -> ::core::result::Result<(), ::flight_mem::AllocError> {
                // SAFETY: forwarded to the caller.
                unsafe { <Self as ::flight_mem::Layout>::deallocate(ptr) }
            }

            /// The highest pressure level over the `region` entries, from
            /// their free share now against the layout's thresholds.
            #vis fn pressure() -> ::flight_mem::PressureLevel {
                <Self as ::flight_mem::Layout>::pressure()
            }

            /// Registers `callback` for `level` and above: it runs when a
            /// region rises into `level` or higher (once per transition),
            /// and once more when an allocation fails for lack of memory,
            /// before the one retry. It never runs under an allocator lock,
            /// so it may allocate and free, also in the failing region.
            #vis fn on_pressure(
                level: ::flight_mem::PressureLevel,
                callback: fn(::flight_mem::PressureLevel, &::flight_mem::PressureInfo),
            ) -> ::core::result::Result<::flight_mem::CallbackId, ::flight_mem::PressureError> {
                <Self as ::flight_mem::Layout>::on_pressure(level, callback)
            }

            /// Removes a pressure callback; `false` if it was removed already.
            #vis fn remove_pressure_callback(id: ::flight_mem::CallbackId) -> bool {
                <Self as ::flight_mem::Layout>::remove_pressure_callback(id)
            }

            #allocate

            /// Checks every guard zone's canaries and every allocator's
            /// invariants, naming the entry of each problem.
            #vis fn validate() -> ::flight_mem::ValidationReport {
                <Self as ::flight_mem::Layout>::validate()
            }

            /// Arms the guard zones not armed yet (on Linux, zones in static
            /// banks are armed before `main`; elsewhere the first
            /// `validate()` or `stats()` arms them, or this call).
            #vis fn arm_guards() {
                <Self as ::flight_mem::Layout>::arm_guards()
            }
        }
    }
}

pub(super) fn size_tokens(size: &Size) -> TokenStream {
    match size {
        Size::Literal { bytes, span } => {
            let mut lit = Literal::u64_unsuffixed(*bytes);
            lit.set_span(*span);
            quote_spanned!(*span=> #lit)
        }
        Size::Expr { tokens, span } => quote_spanned!(*span=> (#tokens)),
    }
}

pub(super) fn literal(value: u64) -> Literal {
    Literal::u64_unsuffixed(value)
}
