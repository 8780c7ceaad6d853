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
//!   `BlockPool::bytes_for`, const expressions), and a page-aligned
//!   `static` array as the bank's storage (or a fixed address);
//! - per bank, a named const assertion `_GAME_FITS_MAIN` whose message
//!   carries the same facts as the macro's own budget error;
//! - the tables behind `flight_mem::Layout` (`regions`, allocators, banks).
//!
//! Internal items are `#[doc(hidden)]` and named `__FLIGHT_MEM_<layout>_*`.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;

use crate::analyze::{BankAnalysis, LayoutAnalysis};
use crate::check::{BankModel, Declared, EntryModel, LayoutModel, Shape, Size};
use crate::vocabulary::{Kind, MemoryType, RegionAllocator};

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
        let slot = analysis.banks[entry.bank]
            .entries
            .iter()
            .position(|&i| i == index)
            .unwrap_or(0);
        let memory = entry_memory(&names, entry.bank, bank, slot);
        let hook = (entry.kind == Kind::Region).then_some(PressureHook {
            callbacks: &names.callbacks,
            table: &names.table,
            index,
        });
        accessors.extend(accessor(
            &layout.vis,
            &declared_of(entry),
            Some(&constructor(entry, memory)),
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
    let mut output = layout_struct(layout);
    output.extend(quote! {
        impl #name {
            #accessors
        }
    });
    output.extend(layout_wide(layout));
    output.extend(layout_impl);
    output.extend(items);
    output
}

/// The expansion of an invalid layout, beside its errors: the struct, every
/// declared accessor and the layout-wide functions, with bodies that are
/// never compiled to anything (the build fails on the errors), so that uses
/// of the layout elsewhere do not add "cannot find" errors.
pub(crate) fn fallback(layout: &LayoutModel) -> TokenStream {
    let name = &layout.name;
    let mut accessors = TokenStream::new();
    // Only the first entry of a name gets accessors (duplicates are errors
    // already; their accessors would add "duplicate definition" errors).
    let mut taken: Vec<String> = crate::check::RESERVED_NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    for declared in &layout.declared {
        let plain = declared.name.unraw().to_string();
        let functions = [
            plain.clone(),
            format!("alloc_{plain}"),
            format!("free_{plain}"),
        ];
        if functions.iter().any(|f| taken.contains(f)) {
            continue;
        }
        taken.extend(functions);
        accessors.extend(accessor(&layout.vis, declared, None, None, name));
    }
    let mut output = layout_struct(layout);
    output.extend(quote! {
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
struct Names {
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

    fn storage(&self, bank: usize) -> Ident {
        format_ident!("{}_STORAGE_{bank}", self.prefix)
    }

    fn storage_type(&self, bank: usize) -> Ident {
        format_ident!("{}_Storage{bank}", self.prefix)
    }
}

/// `GameLayout` → `GAME_LAYOUT`, `main` → `MAIN`.
pub(crate) fn upper_snake(name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        out.extend(c.to_uppercase());
    }
    out
}

fn layout_struct(layout: &LayoutModel) -> TokenStream {
    let LayoutModel {
        attrs, vis, name, ..
    } = layout;
    let default_doc = if attrs.iter().any(|a| a.path().is_ident("doc")) {
        TokenStream::new()
    } else {
        let text = format!(" The memory layout `{name}`, declared with `memory_layout!`.");
        quote!(#[doc = #text])
    };
    quote! {
        #(#attrs)*
        #default_doc
        #[derive(Clone, Copy, Debug)]
        #vis struct #name;
    }
}

/// The layout-wide functions of SPEC §3 that belong to this crate; they
/// forward to `flight_mem::Layout`, so they exist in the fallback too.
fn layout_wide(layout: &LayoutModel) -> TokenStream {
    let LayoutModel { vis, name, .. } = layout;
    quote! {
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

fn declared_of(entry: &EntryModel) -> Declared {
    let ty = match &entry.shape {
        Shape::Typed { ty, .. } => Some(ty.clone()),
        _ => None,
    };
    Declared {
        docs: entry.docs.clone(),
        kind: entry.kind,
        name: entry.name.clone(),
        ty,
        blocks: matches!(entry.shape, Shape::Blocks { .. }),
        allocator: entry.allocator,
    }
}

/// The type behind an entry's accessor.
fn allocator_type(entry: &Declared) -> TokenStream {
    match (entry.kind, &entry.ty) {
        (Kind::Region, _) => entry.allocator.type_path(),
        (Kind::Reserve, _) => RegionAllocator::Tlsf.type_path(),
        (Kind::Stack, _) => quote!(::flight_mem::Stack),
        (Kind::Frame, _) => quote!(::flight_mem::Frames),
        (Kind::Pool, Some(ty)) => quote!(::flight_mem::Pool<#ty>),
        (Kind::Pool, None) => quote!(::flight_mem::BlockPool),
    }
}

/// What a `region` accessor needs for pressure bookkeeping.
struct PressureHook<'a> {
    callbacks: &'a Ident,
    table: &'a Ident,
    /// The entry's index in the layout's tables.
    index: usize,
}

/// The accessor of an entry and its `alloc_*`/`free_*`; with
/// `constructor == None` the fallback bodies. Regions get a `hook`: after
/// the allocator call (its lock released), one relaxed load decides whether
/// pressure bookkeeping runs; every other kind stays a bare call.
fn accessor(
    vis: &syn::Visibility,
    entry: &Declared,
    constructor: Option<&TokenStream>,
    hook: Option<&PressureHook<'_>>,
    layout: &Ident,
) -> TokenStream {
    let name = &entry.name;
    let plain = name.unraw();
    let ty = allocator_type(entry);
    let docs = &entry.docs;
    let default_doc = if docs.is_empty() {
        let text = format!(" The `{plain}` {} of [`{layout}`].", entry.kind.keyword());
        quote!(#[doc = #text])
    } else {
        TokenStream::new()
    };
    let unreachable = quote!(::core::unreachable!(
        "memory_layout! reported errors for this layout"
    ));
    let body = match constructor {
        Some(constructor) => quote! {
            static INSTANCE: #ty = #constructor;
            &INSTANCE
        },
        None => unreachable.clone(),
    };
    let alloc_name = format_ident!("alloc_{}", plain);
    let free_name = format_ident!("free_{}", plain);
    let mut out = quote! {
        #(#docs)*
        #default_doc
        #[inline]
        #vis fn #name() -> &'static #ty {
            #body
        }
    };
    let alloc_doc =
        format!(" Allocates from [`Self::{plain}`]; failure is an `Err`, never a panic.");
    match (entry.kind, &entry.ty) {
        (Kind::Reserve, _) => {}
        (Kind::Pool, Some(value_ty)) => {
            let doc = format!(
                " Moves `value` into a slot of [`Self::{plain}`]; when the pool is full the value comes back in the `Err`."
            );
            let body = if constructor.is_some() {
                quote!(Self::#name().alloc(value))
            } else {
                unreachable.clone()
            };
            out.extend(quote! {
                #[doc = #doc]
                #[inline]
                #[allow(dead_code)]
                #vis fn #alloc_name(value: #value_ty) -> ::core::result::Result<::flight_mem::PoolBox<'static, #value_ty>, #value_ty> {
                    #body
                }
            });
        }
        _ => {
            let body = match (constructor, hook) {
                (
                    Some(_),
                    Some(PressureHook {
                        callbacks,
                        table,
                        index,
                    }),
                ) => quote! {
                    let mut result = ::flight_mem::RawAllocator::allocate(Self::#name(), layout);
                    if #callbacks.any() {
                        ::flight_mem::__private::after_allocate(&#table, #index, layout, &mut result);
                    }
                    result
                },
                (Some(_), None) => {
                    quote!(::flight_mem::RawAllocator::allocate(Self::#name(), layout))
                }
                (None, _) => quote!({ let _ = layout; #unreachable }),
            };
            out.extend(quote! {
                #[doc = #alloc_doc]
                #[inline]
                #[allow(dead_code)]
                #vis fn #alloc_name(layout: ::core::alloc::Layout) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, ::flight_mem::AllocError> {
                    #body
                }
            });
        }
    }
    if matches!(entry.kind, Kind::Region | Kind::Stack) || entry.blocks {
        let order = if entry.kind == Kind::Stack {
            " Blocks are freed in LIFO order."
        } else {
            ""
        };
        let doc = format!(
            " Returns a block to [`Self::{plain}`].{order} The allocator knows the block's size; `layout` is taken for symmetry with `alloc_{plain}`."
        );
        let bad_free = format!("flight-mem: bad free in `{layout}::{plain}`: {{:?}}");
        let after_free = hook.map(
            |PressureHook {
                 callbacks,
                 table,
                 index,
             }| {
                quote! {
                    if #callbacks.any() {
                        ::flight_mem::__private::after_free(&#table, #index);
                    }
                }
            },
        );
        let body = if constructor.is_some() {
            quote! {
                let _ = layout;
                // SAFETY: forwarded to the caller.
                let result = unsafe { ::flight_mem::RawAllocator::free(Self::#name(), ptr) };
                ::core::debug_assert!(result.is_ok(), #bad_free, result);
                #after_free
            }
        } else {
            quote!({ let _ = (ptr, layout); #unreachable })
        };
        out.extend(quote! {
            #[doc = #doc]
            ///
            /// # Safety
            ///
            /// `ptr` was returned by this entry's `alloc` and is not used
            /// after this call. A bad free the allocator detects (foreign
            /// pointer, double free, out of order) changes nothing and fails
            /// a `debug_assert!`.
            #[inline]
            #[allow(dead_code)]
            #vis unsafe fn #free_name(ptr: ::core::ptr::NonNull<u8>, layout: ::core::alloc::Layout) {
                #body
            }
        });
    }
    out
}

fn size_tokens(size: &Size) -> TokenStream {
    match size {
        Size::Literal { bytes, span } => {
            let mut lit = Literal::u64_unsuffixed(*bytes);
            lit.set_span(*span);
            quote_spanned!(*span=> #lit)
        }
        Size::Expr { tokens, span } => quote_spanned!(*span=> (#tokens)),
    }
}

fn literal(value: u64) -> Literal {
    Literal::u64_unsuffixed(value)
}

/// The placement `Slot` of an entry: its size, alignment and guard.
fn slot(entry: &EntryModel) -> TokenStream {
    let name = entry.name.unraw().to_string();
    let align = literal(entry.align);
    let guard = size_tokens(&entry.guard);
    let (size, align) = match &entry.shape {
        Shape::Bytes(size) => (size_tokens(size), quote!(#align)),
        Shape::Frames { frame, count } => {
            let frame = size_tokens(frame);
            let count = literal(*count);
            (quote!(#frame * #count), quote!(#align))
        }
        Shape::Blocks { block, count } => {
            let block = size_tokens(block);
            let count = literal(*count);
            (
                quote!(::flight_mem::BlockPool::bytes_for(#block, #align, #count)),
                quote!(#align),
            )
        }
        Shape::Typed { ty, count } => {
            let count = literal(*count);
            (
                quote!(::flight_mem::Pool::<#ty>::bytes_for(#count)),
                quote!(::flight_mem::__private::max(#align, ::core::mem::align_of::<#ty>())),
            )
        }
    };
    quote!(::flight_mem::__private::Slot { name: #name, size: #size, align: #align, guard: #guard })
}

/// The expression of a bank's first byte, valid in a static initializer.
fn bank_start(names: &Names, index: usize, bank: &BankModel) -> TokenStream {
    match (bank.fixed, bank.address) {
        (true, Some(base)) => {
            let base = literal(base);
            quote!(::core::ptr::with_exposed_provenance_mut::<u8>(#base))
        }
        _ => {
            let storage = names.storage(index);
            quote!(#storage.0.as_mut_ptr())
        }
    }
}

/// The `RawMemory` of entry `slot` of bank `index`.
fn entry_memory(names: &Names, index: usize, bank: &BankModel, slot: usize) -> TokenStream {
    let plan = names.plan(index);
    let start = bank_start(names, index, bank);
    quote! {
        // SAFETY: placement gives this entry the bytes
        // `offset..offset + size` of its bank, disjoint from every other
        // entry and inside the bank's storage (its size is the plan's, and
        // the plan fits the budget or the build fails); this static is the
        // only allocator built on them.
        unsafe {
            ::flight_mem::RawMemory::from_raw_parts(#start.wrapping_add(#plan.offset(#slot)), #plan.size(#slot))
        }
    }
}

fn constructor(entry: &EntryModel, memory: TokenStream) -> TokenStream {
    match &entry.shape {
        Shape::Bytes(_) => {
            let ty = match entry.kind {
                Kind::Region => entry.allocator.type_path(),
                Kind::Stack => quote!(::flight_mem::Stack),
                _ => quote!(::flight_mem::Tlsf),
            };
            quote!(#ty::new(#memory))
        }
        Shape::Frames { count, .. } => {
            let count = literal(*count);
            quote!(::flight_mem::Frames::new(#memory, #count))
        }
        Shape::Blocks { block, .. } => {
            let block = size_tokens(block);
            let align = literal(entry.align);
            quote!(::flight_mem::BlockPool::new(#memory, #block, #align))
        }
        Shape::Typed { ty, .. } => quote!(::flight_mem::Pool::<#ty>::new(#memory)),
    }
}

/// A bank's plan, storage and assertions.
fn bank_items(
    layout: &LayoutModel,
    names: &Names,
    index: usize,
    bank: &BankModel,
    placed: &BankAnalysis,
) -> TokenStream {
    if placed.entries.is_empty() {
        return TokenStream::new();
    }
    let plan = names.plan(index);
    let count = placed.entries.len();
    let slots = placed.entries.iter().map(|&i| slot(&layout.entries[i]));
    let budget = size_tokens(&bank.budget);
    let base_align = literal(placed.storage_align);
    let mut out = quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_parens)]
        const #plan: ::flight_mem::__private::BankPlan<#count> =
            ::flight_mem::__private::BankPlan::place(#budget, #base_align, [#(#slots),*]);
    };
    if !bank.fixed {
        let storage = names.storage(index);
        let storage_type = names.storage_type(index);
        let section = bank
            .section
            .as_ref()
            .map(|s| quote!(#[unsafe(link_section = #s)]));
        out.extend(quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #[repr(C, align(#base_align))]
            struct #storage_type(::flight_mem::Arena<{ #plan.storage_len() }>);
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            #section
            static #storage: #storage_type = #storage_type(::flight_mem::Arena::new());
        });
    }
    out.extend(assertions(layout, names, bank, placed, &plan));
    out
}

/// The second tier of the budget proof: named const assertions rustc
/// evaluates under `cargo check`, with the facts of the macro's own error.
fn assertions(
    layout: &LayoutModel,
    names: &Names,
    bank: &BankModel,
    placed: &BankAnalysis,
    plan: &Ident,
) -> TokenStream {
    let span = bank.span;
    let upper_bank = upper_snake(&bank.name);
    let message = Ident::new(
        &format!("_{}_{}_BUDGET_MESSAGE", names.upper, upper_bank),
        span,
    );
    let head = format!(
        "layout `{}` does not fit bank `{}`{}: needs ",
        layout.name,
        bank.name,
        layout
            .platform
            .map_or_else(String::new, |p| format!(" of `{}`", p.name))
    );
    // The message is built once per bank; each entry has its own assertion,
    // spanned on its name, and only the entry that crosses the budget fails,
    // so the error points at it (as the macro's own literal-size error does).
    let mut out = quote_spanned! {span=>
        #[doc(hidden)]
        const #message: &str = {
            const REPORT: ::flight_mem::__private::BudgetReport = #plan.report();
            ::flight_mem::__private::const_format::concatcp!(
                #head, REPORT.needed.as_str(),
                ", has ", REPORT.budget.as_str(),
                ", over by ", REPORT.over.as_str(),
                " (", REPORT.entries.as_str(), " of entries, ",
                REPORT.guards.as_str(), " of guards, ",
                REPORT.padding.as_str(), " of alignment padding); `",
                REPORT.crossing, "` crosses the budget; largest entries: ",
                REPORT.largest.as_str(),
                "; shrink an entry, lower `guard`, or move an entry to another bank with `bank: NAME`"
            )
        };
    };
    for (slot, &index) in placed.entries.iter().enumerate() {
        let entry = &layout.entries[index];
        let span = entry.name.span();
        let fits = Ident::new(
            &format!(
                "_{}_{}_FITS_{}",
                names.upper,
                upper_snake(&entry.name.unraw().to_string()),
                upper_bank
            ),
            span,
        );
        out.extend(quote_spanned! {span=>
            #[doc(hidden)]
            const #fits: () = ::core::assert!(#plan.crossing != #slot, "{}", #message);
        });
        if let Shape::Frames {
            frame: frame @ Size::Expr { span, .. },
            ..
        } = &entry.shape
        {
            out.extend(frame_limits(entry, frame, *span));
        }
    }
    let typed = placed
        .entries
        .iter()
        .any(|&i| matches!(layout.entries[i].shape, Shape::Typed { .. }));
    if typed {
        let aligned = Ident::new(&format!("_{}_{}_ALIGNED", names.upper, upper_bank), span);
        let count = placed.entries.len();
        let tail = format!(
            "-byte alignment, but bank `{}` of layout `{}` starts on a {}-byte boundary; use a type with a smaller alignment",
            bank.name, layout.name, placed.storage_align
        );
        out.extend(quote_spanned! {span=>
            #[doc(hidden)]
            const #aligned: () = {
                const REPORT: ::flight_mem::__private::BudgetReport = #plan.report();
                ::core::assert!(
                    #plan.misaligned == #count,
                    "{}",
                    ::flight_mem::__private::const_format::concatcp!(
                        "`", REPORT.misaligned_name, "` needs ", REPORT.misaligned_align, #tail
                    )
                );
            };
        });
    }
    out
}

/// The limits `check_frames` applies to literal frame sizes, as a const
/// assertion on a size only rustc knows.
fn frame_limits(entry: &EntryModel, frame: &Size, span: proc_macro2::Span) -> TokenStream {
    use crate::check::{MAX_FRAME, MIN_FRAME};
    let frame = size_tokens(frame);
    let message = format!(
        "each frame of `{}` needs at least {MIN_FRAME} B (its bookkeeping record plus one 16-byte granule) and at most 256 MiB",
        entry.name.unraw()
    );
    let (min, max) = (literal(MIN_FRAME), literal(MAX_FRAME));
    quote_spanned! {span=>
        const _: () = ::core::assert!(#frame >= #min && #frame <= #max, #message);
    }
}

/// The `static` tables behind `flight_mem::Layout`.
fn tables(layout: &LayoutModel, analysis: &LayoutAnalysis, names: &Names) -> TokenStream {
    let name = &layout.name;
    let count = layout.entries.len();
    let mut regions = Vec::with_capacity(count);
    let mut allocators = Vec::with_capacity(count);
    for (index, entry) in layout.entries.iter().enumerate() {
        let bank = &layout.banks[entry.bank];
        let slot = analysis.banks[entry.bank]
            .entries
            .iter()
            .position(|&i| i == index)
            .unwrap_or(0);
        let plan = names.plan(entry.bank);
        let entry_name = entry.name.unraw().to_string();
        let kind = entry.kind.path();
        let allocator = match (&entry.kind, &entry.shape) {
            (Kind::Region, _) => entry.allocator.kind_path(),
            (Kind::Reserve, _) => RegionAllocator::Tlsf.kind_path(),
            (Kind::Stack, _) => quote!(::flight_mem::AllocatorKind::Stack),
            (Kind::Frame, _) => quote!(::flight_mem::AllocatorKind::Frames),
            (_, Shape::Typed { .. }) => quote!(::flight_mem::AllocatorKind::Pool),
            _ => quote!(::flight_mem::AllocatorKind::BlockPool),
        };
        let memory = entry.memory.path();
        let flags = bank.flags | entry.flags;
        let bank_name = &bank.name;
        regions.push(quote! {
            ::flight_mem::__private::region_info(::flight_mem::__private::RegionParts {
                name: #entry_name,
                kind: #kind,
                allocator: #allocator,
                memory: #memory,
                flags: ::flight_mem::MemoryFlags::from_bits_retain(#flags),
                bank: #bank_name,
                offset: #plan.offset(#slot),
                size: #plan.size(#slot),
                align: #plan.align(#slot),
                guard: #plan.guard(#slot),
            })
        });
        let accessor = &entry.name;
        allocators
            .push(quote!(|| -> &'static dyn ::flight_mem::RawAllocator { #name::#accessor() }));
    }
    let banks =
        layout
            .banks
            .iter()
            .zip(&analysis.banks)
            .enumerate()
            .map(|(index, (bank, placed))| {
                let bank_name = &bank.name;
                let types = MemoryType::ALL
                    .iter()
                    .filter(|t| bank.memory & t.bit() != 0)
                    .map(|t| t.path());
                let flags = bank.flags;
                let budget = size_tokens(&bank.budget);
                let (used, storage) = if placed.entries.is_empty() {
                    (quote!(0), quote!(::core::ptr::null_mut::<u8>()))
                } else {
                    let plan = names.plan(index);
                    (quote!(#plan.needed), bank_start(names, index, bank))
                };
                let address = match bank.address {
                    Some(address) => {
                        let address = literal(address);
                        quote!(::core::option::Option::Some(#address))
                    }
                    None => quote!(::core::option::Option::None),
                };
                let fixed = bank.fixed;
                let entries = placed.entries.iter().map(|&i| literal(i as u64));
                quote! {
                    // SAFETY: `storage` is the bank's static array (sized by
                    // its plan's `needed`, which `used` is) or the address
                    // an `unsafe bank` promised, or null for an empty bank.
                    unsafe {
                        ::flight_mem::__private::bank_info(::flight_mem::__private::BankParts {
                            name: #bank_name,
                            memory: ::flight_mem::__private::memory_types(&[#(#types),*]),
                            flags: ::flight_mem::MemoryFlags::from_bits_retain(#flags),
                            budget: #budget,
                            used: #used,
                            address: #address,
                            fixed: #fixed,
                            storage: || -> *mut u8 { #storage },
                            entries: &[#(#entries),*],
                        })
                    }
                }
            });
    let bank_count = layout.banks.len();
    let layout_name = layout.name.unraw().to_string();
    let platform = match layout.platform {
        Some(p) => {
            let p = p.name;
            quote!(::core::option::Option::Some(#p))
        }
        None => quote!(::core::option::Option::None),
    };
    let [low, medium, high, critical] = layout.pressure;
    let Names {
        table,
        regions: regions_name,
        allocators: allocators_name,
        banks: banks_name,
        watches,
        guards,
        callbacks,
        arm,
        ..
    } = names;
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #regions_name: [::flight_mem::RegionInfo; #count] = [#(#regions),*];
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #allocators_name: [fn() -> &'static dyn ::flight_mem::RawAllocator; #count] = [#(#allocators),*];
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_parens)]
        static #banks_name: [::flight_mem::BankInfo; #bank_count] = [#(#banks),*];
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #watches: [::flight_mem::PressureWatch; #count] =
            [const { ::flight_mem::PressureWatch::new() }; #count];
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #guards: [::flight_mem::GuardZone; #count] =
            [const { ::flight_mem::GuardZone::new() }; #count];
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #callbacks: ::flight_mem::PressureCallbacks = ::flight_mem::PressureCallbacks::new();
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        // SAFETY: the tables come from one placement: each region lies in
        // its bank at its plan's offset, followed by its guard, inside the
        // bank's `used` bytes; the plan places entries without overlap;
        // each bank lists exactly its entries; each accessor's allocator is
        // built over exactly its entry's bytes.
        static #table: ::flight_mem::LayoutTable = unsafe {
            ::flight_mem::__private::layout_table(::flight_mem::__private::TableParts {
                name: #layout_name,
                platform: #platform,
                pressure: [#low, #medium, #high, #critical],
                regions: &#regions_name,
                allocators: &#allocators_name,
                banks: &#banks_name,
                watches: &#watches,
                guards: &#guards,
                callbacks: &#callbacks,
            })
        };
        // Arms the guard zones of static banks before `main`, so no
        // accessor ever checks whether they are armed.
        #[cfg(target_os = "linux")]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #[used]
        #[unsafe(link_section = ".init_array")]
        static #arm: extern "C" fn() = {
            extern "C" fn arm_guards() {
                ::flight_mem::__private::arm_guards_at_startup(&#table);
            }
            arm_guards
        };
    }
}
