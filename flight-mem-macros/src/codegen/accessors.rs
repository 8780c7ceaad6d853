//! The functions on the layout struct: an accessor per entry, its `alloc_*`/`free_*`, and the allocator constructor inside it.

use super::*;

pub(super) fn signature_of(entry: &EntryModel) -> EntrySignature {
    let ty = match &entry.shape {
        Shape::Typed { ty, .. } => Some(ty.clone()),
        _ => None,
    };
    EntrySignature {
        docs: entry.docs.clone(),
        kind: entry.kind,
        name: entry.name.clone(),
        ty,
        blocks: matches!(entry.shape, Shape::Blocks { .. }),
        allocator: entry.allocator,
    }
}

/// The type behind an entry's accessor.
pub(super) fn allocator_type(entry: &EntrySignature) -> TokenStream {
    match (entry.kind, &entry.ty) {
        (EntryKind::Region, _) => allocator_type_path(entry.allocator),
        (EntryKind::Reserve, _) => allocator_type_path(AllocatorKind::Tlsf),
        (EntryKind::Stack, _) => quote!(::flight_mem::Stack),
        (EntryKind::Frame, _) => quote!(::flight_mem::Frames),
        (EntryKind::Pool, Some(ty)) => quote!(::flight_mem::Pool<#ty>),
        (EntryKind::Pool, None) => quote!(::flight_mem::BlockPool),
        (EntryKind::Component, _) => allocator_type_path(entry.allocator),
        (EntryKind::Shared, _) => quote!(::flight_mem::Segment),
    }
}

/// What a `region` accessor needs for pressure bookkeeping.
pub(super) struct PressureHook<'a> {
    pub(super) callbacks: &'a Ident,
    pub(super) table: &'a Ident,
    /// The entry's index in the layout's tables.
    pub(super) index: usize,
}

/// The `# Safety` section of every generated `free_*`.
const FREE_SAFETY: &str = "# Safety\n\n`ptr` was returned by this entry's `alloc` and is not used after this call. A bad free the allocator detects (foreign pointer, double free, out of order) changes nothing and fails a `debug_assert!`.";

/// The accessor of an entry and its `alloc_*`/`free_*`; with
/// `constructor == None` the fallback bodies; `parens` when the
/// constructor has a `( const-expr )` argument (`constructor_has_parens`).
/// Regions get a `hook`: after the allocator call (its lock released), one
/// relaxed load decides whether pressure bookkeeping runs; every other kind
/// stays a bare call.
pub(super) fn accessor(
    vis: &syn::Visibility,
    entry: &EntrySignature,
    constructor: Option<&TokenStream>,
    parens: bool,
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
    // Built only for the fallback bodies: a valid layout never needs it.
    let unreachable = || {
        quote!(::core::unreachable!(
            "memory_layout! reported errors for this layout"
        ))
    };
    let body = match constructor {
        // A `( const-expr )` block size reaches the constructor as a
        // parenthesised argument, which rustc would flag in the user's crate.
        Some(constructor) if parens => quote! {
            #[allow(unused_parens)]
            static INSTANCE: #ty = #constructor;
            &INSTANCE
        },
        // No attribute where it is not needed: one less per entry for
        // rustc to lower and check.
        Some(constructor) => quote! {
            static INSTANCE: #ty = #constructor;
            &INSTANCE
        },
        None => unreachable(),
    };
    // `alloc_` + `_name` is not snake case although `_name` is: the
    // composed methods allow the lint (`non_snake_case`), the entry's own
    // accessor still carries it for a name that really is not.
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
        (EntryKind::Reserve, _) => {}
        (EntryKind::Pool, Some(value_ty)) => {
            let doc = format!(
                " Moves `value` into a slot of [`Self::{plain}`]; when the pool is full the value comes back in the `Err`."
            );
            let body = if constructor.is_some() {
                quote!(Self::#name().alloc(value))
            } else {
                unreachable()
            };
            out.extend(tracked(quote! {
                #[doc = #doc]
                #[inline]
                #[allow(dead_code, non_snake_case)]
                #vis fn #alloc_name(value: #value_ty) -> ::core::result::Result<::flight_mem::PoolBox<'static, #value_ty>, #value_ty> {
                    #body
                }
            }));
        }
        (EntryKind::Region, _) if entry.allocator == AllocatorKind::Compact => {
            out.extend(compact_accessors(vis, entry, constructor.is_some(), hook));
            return out;
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
                    ::flight_mem::__private::region_alloc(&#table, &#callbacks, #index, Self::#name(), layout)
                },
                (Some(_), None) => {
                    quote!(::flight_mem::RawAllocator::allocate(Self::#name(), layout))
                }
                (None, _) => {
                    let unreachable = unreachable();
                    quote!({ let _ = layout; #unreachable })
                }
            };
            // The `tracked!` call in the item's own `quote!` (see
            // `tracked`): one stream less for the unoptimised macro to
            // flush through the proc-macro bridge.
            out.extend(quote! {
                ::flight_mem::__private::tracked! {
                    #[doc = #alloc_doc]
                    #[inline]
                    #[allow(dead_code, non_snake_case)]
                    #vis fn #alloc_name(layout: ::core::alloc::Layout) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, ::flight_mem::AllocError> {
                        #body
                    }
                }
            });
        }
    }
    if matches!(entry.kind, EntryKind::Region | EntryKind::Stack) || entry.blocks {
        let order = if entry.kind == EntryKind::Stack {
            " Blocks are freed in LIFO order."
        } else {
            ""
        };
        // One attribute for the whole doc, `# Safety` included: seven
        // `///` lines would be seven attributes per entry for rustc to
        // lower and check (the rendered docs are the same).
        let doc = format!(
            " Returns a block to [`Self::{plain}`].{order} The allocator knows the block's size; `layout` is taken for symmetry with `alloc_{plain}`.\n\n{FREE_SAFETY}"
        );
        let entry_path = format!("{layout}::{plain}");
        // One call of a generic `__private` body: less for rustc to check
        // per entry than the free, its check and the bookkeeping inline.
        let body = match (constructor, hook) {
            (
                Some(_),
                Some(PressureHook {
                    callbacks,
                    table,
                    index,
                }),
            ) => quote! {
                let _ = layout;
                // SAFETY: forwarded to the caller.
                unsafe { ::flight_mem::__private::region_free(&#table, &#callbacks, #index, Self::#name(), ptr, ::core::cfg!(debug_assertions), #entry_path) }
            },
            (Some(_), None) => quote! {
                let _ = layout;
                // SAFETY: forwarded to the caller.
                unsafe { ::flight_mem::__private::entry_free(Self::#name(), ptr, ::core::cfg!(debug_assertions), #entry_path) }
            },
            (None, _) => {
                let unreachable = unreachable();
                quote!({ let _ = (ptr, layout); #unreachable })
            }
        };
        out.extend(quote! {
            #[doc = #doc]
            #[inline]
            #[allow(dead_code, non_snake_case)]
            #vis unsafe fn #free_name(ptr: ::core::ptr::NonNull<u8>, layout: ::core::alloc::Layout) {
                #body
            }
        });
    }
    out
}

/// `alloc_NAME` and `free_NAME` of a `compact` region: handles, not
/// pointers, since its blocks move.
fn compact_accessors(
    vis: &syn::Visibility,
    entry: &EntrySignature,
    valid: bool,
    hook: Option<&PressureHook<'_>>,
) -> TokenStream {
    let name = &entry.name;
    let plain = name.unraw();
    let alloc_name = format_ident!("alloc_{}", plain);
    let free_name = format_ident!("free_{}", plain);
    // Built only for the fallback bodies: a valid layout never needs it.
    let unreachable = || {
        quote!(::core::unreachable!(
            "memory_layout! reported errors for this layout"
        ))
    };
    let (alloc_body, free_body) = match (valid, hook) {
        (
            true,
            Some(PressureHook {
                callbacks,
                table,
                index,
            }),
        ) => (
            quote! {
                let mut result = Self::#name().allocate(layout);
                if #callbacks.any() {
                    ::flight_mem::__private::after_allocate_handle(&#table, #index, layout, Self::#name(), &mut result);
                }
                result
            },
            quote! {
                let result = Self::#name().free(handle);
                if #callbacks.any() {
                    ::flight_mem::__private::after_free(&#table, #index);
                }
                result
            },
        ),
        (true, None) => (
            quote!(Self::#name().allocate(layout)),
            quote!(Self::#name().free(handle)),
        ),
        (false, _) => {
            let unreachable = unreachable();
            (
                quote!({ let _ = layout; #unreachable }),
                quote!({ let _ = handle; #unreachable }),
            )
        }
    };
    let alloc_doc = format!(
        " Allocates a relocatable block in [`Self::{plain}`]: a `Handle`, never a pointer (the block may move); failure is an `Err`."
    );
    let free_doc =
        format!(" Frees a block of [`Self::{plain}`] by its handle; a stale handle is an `Err`.");
    quote! {
        #[doc = #alloc_doc]
        #[inline]
        #[allow(dead_code, non_snake_case)]
        #vis fn #alloc_name(layout: ::core::alloc::Layout) -> ::core::result::Result<::flight_mem::Handle, ::flight_mem::AllocError> {
            #alloc_body
        }

        #[doc = #free_doc]
        #[inline]
        #[allow(dead_code, non_snake_case)]
        #vis fn #free_name(handle: ::flight_mem::Handle) -> ::core::result::Result<(), ::flight_mem::AllocError> {
            #free_body
        }
    }
}

pub(super) fn constructor(entry: &EntryModel, memory: TokenStream) -> TokenStream {
    if entry.allocator == AllocatorKind::Compact && entry.kind == EntryKind::Region {
        return quote! {{
            let memory = #memory;
            let handles = ::flight_mem::Compact::default_handles(memory.len());
            ::flight_mem::Compact::new(memory, handles)
        }};
    }
    match &entry.shape {
        Shape::Bytes(_) => {
            let ty = match entry.kind {
                EntryKind::Region => allocator_type_path(entry.allocator),
                EntryKind::Stack => quote!(::flight_mem::Stack),
                _ => quote!(::flight_mem::Tlsf),
            };
            quote!(#ty::new(#memory))
        }
        Shape::Frames { count, .. } => {
            let count = literal(*count);
            quote!(::flight_mem::Frames::new(#memory, #count))
        }
        // A pool the macro's assertions refuse (an impossible block size, a
        // zero-sized `T`) gets a pool without slots instead of
        // `BlockPool::new`/`Pool::new` panicking in the static, which rustc
        // would blame on the whole macro call beside the spanned error.
        // A literal block size the macro checked itself: the constructor.
        Shape::Blocks {
            block: block @ Size::Literal { .. },
            ..
        } => {
            let block = size_tokens(block);
            let align = literal(entry.align);
            quote!(::flight_mem::BlockPool::new(#memory, #block, #align))
        }
        Shape::Blocks { block, count } => {
            let block = size_tokens(block);
            let align = literal(entry.align);
            let count = literal(*count);
            quote!(::flight_mem::__private::block_pool(#memory, #block, #align, #count))
        }
        Shape::Typed { ty, count } => {
            let count = literal(*count);
            quote!(::flight_mem::__private::typed_pool::<#ty>(#memory, #count))
        }
    }
}

/// Whether an entry's constructor passes a `( const-expr )` argument (a
/// block size), which the user's crate would flag as `unused_parens`.
pub(super) fn constructor_has_parens(entry: &EntryModel) -> bool {
    matches!(
        entry.shape,
        Shape::Blocks {
            block: Size::Expr { .. },
            ..
        }
    )
}

/// An allocating function, wrapped so that the runtime's `track` feature
/// makes it `#[track_caller]` (see `flight_mem::__private::tracked!`).
pub(super) fn tracked(item: TokenStream) -> TokenStream {
    quote!(::flight_mem::__private::tracked! { #item })
}
