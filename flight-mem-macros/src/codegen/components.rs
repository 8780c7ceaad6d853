//! Components and shared regions: the layout's token module (one
//! zero-sized token type per component, one marker per shared region), the
//! tokens' methods, `take_NAME`, the shared-region accessors, and the access
//! traits the compiler checks.

use super::*;
use crate::check::{snake_case, upper_camel};
use crate::model::Grant;

/// The name of the module holding a layout's token and marker types.
pub(super) fn module_name(layout: &Ident) -> Ident {
    Ident::new(&snake_case(&layout.unraw().to_string()), layout.span())
}

/// `physics` → `Physics`, spanned on the entry's name.
pub(super) fn type_name(entry: &Ident) -> Ident {
    Ident::new(&upper_camel(&entry.unraw().to_string()), entry.span())
}

/// The static a component's allocator (or a shared region's segment view)
/// lives in, inside the layout's anonymous const: unnameable outside it, so
/// the token is the only way in.
pub(super) fn entry_static(entry: &Ident) -> Ident {
    format_ident!(
        "__FLIGHT_MEM_ENTRY_{}",
        upper_snake(&entry.unraw().to_string())
    )
}

/// The static of a shared region's lock and bytes.
fn shared_static(entry: &Ident) -> Ident {
    format_ident!(
        "__FLIGHT_MEM_SHARED_{}",
        upper_snake(&entry.unraw().to_string())
    )
}

/// The token module, outside the anonymous const so its types can be named
/// (`engine::Physics`). A token's only field is private, so only this
/// module builds one, and only once: `__take` hands it out behind a flag.
pub(super) fn token_module(layout: &LayoutModel) -> TokenStream {
    let components: Vec<&EntrySignature> = layout
        .signatures
        .iter()
        .filter(|d| matches!(d.kind, EntryKind::Component | EntryKind::Shared))
        .collect();
    if components.is_empty() {
        return TokenStream::new();
    }
    let vis = &layout.vis;
    let module = module_name(&layout.name);
    let layout_name = &layout.name;
    let mut items = TokenStream::new();
    let mut seen: Vec<String> = Vec::new();
    for signature in components {
        let ty = type_name(&signature.name);
        if seen.contains(&ty.to_string()) {
            continue;
        }
        seen.push(ty.to_string());
        let plain = signature.name.unraw().to_string();
        if signature.kind == EntryKind::Component {
            let doc = format!(
                " The token of component `{plain}` of [`{layout_name}`](super::{layout_name}): the only way to allocate in its segment. Handed out once by `{layout_name}::take_{plain}()`; not `Clone`, and only this module can build one."
            );
            items.extend(quote! {
                #[doc = #doc]
                #[derive(Debug)]
                pub struct #ty(());

                impl #ty {
                    /// Hands out the token the first time only.
                    #[doc(hidden)]
                    pub fn __take() -> ::core::option::Option<Self> {
                        static TAKEN: ::flight_mem::__private::TakeOnce =
                            ::flight_mem::__private::TakeOnce::new();
                        if TAKEN.take() {
                            ::core::option::Option::Some(Self(()))
                        } else {
                            ::core::option::Option::None
                        }
                    }
                }
            });
        } else {
            let doc = format!(
                " The marker of shared region `{plain}` of [`{layout_name}`](super::{layout_name}): `{layout_name}::{plain}()` is a `Shared<{ty}>`."
            );
            items.extend(quote! {
                #[doc = #doc]
                #[derive(Debug)]
                pub enum #ty {}
            });
        }
    }
    let doc = format!(
        " Component tokens and shared-region markers of layout [`{layout_name}`](super::{layout_name})."
    );
    quote! {
        #[doc = #doc]
        #vis mod #module {
            #items
        }
    }
}

/// A component's allocator static, its token's methods and `take_NAME`; or
/// a shared region's statics, accessor and access-trait impls. With
/// `memory == None`, the fallback bodies of an invalid layout.
pub(super) fn component_items(
    layout: &LayoutModel,
    entry: &EntrySignature,
    access: &[Grant],
    memory: Option<TokenStream>,
    hook: Option<&PressureHook<'_>>,
    index: usize,
    regions: Option<&Ident>,
) -> (TokenStream, TokenStream) {
    let vis = &layout.vis;
    let module = module_name(&layout.name);
    let ty = type_name(&entry.name);
    let plain = entry.name.unraw().to_string();
    let layout_name = &layout.name;
    let unreachable = quote!(::core::unreachable!(
        "memory_layout! reported errors for this layout"
    ));
    let mut items = TokenStream::new();
    let mut on_layout = TokenStream::new();
    let segment = match regions {
        Some(regions) => quote!(&#regions[#index]),
        None => unreachable.clone(),
    };
    let docs = &entry.docs;
    if entry.kind == EntryKind::Component {
        let take = format_ident!("take_{}", plain);
        let take_doc = format!(
            " The token of component `{plain}`, the first time this is called; `None` afterwards."
        );
        let take_body = if memory.is_some() {
            quote!(#module::#ty::__take())
        } else {
            unreachable.clone()
        };
        on_layout.extend(quote! {
            #(#docs)*
            #[doc = #take_doc]
            #[allow(dead_code)]
            #vis fn #take() -> ::core::option::Option<#module::#ty> {
                #take_body
            }
        });
        let allocator_ty = allocator_type_path(entry.allocator);
        let instance = entry_static(&entry.name);
        if let Some(memory) = &memory {
            items.extend(quote! {
                static #instance: #allocator_ty = #allocator_ty::new(#memory);
            });
        }
        let segment_doc = format!(" Where component `{plain}`'s segment lies in its bank.");
        let mut methods = quote! {
            #[doc = #segment_doc]
            #[allow(dead_code)]
            #vis fn segment(&self) -> &'static ::flight_mem::RegionInfo {
                #segment
            }
        };
        if entry.allocator == AllocatorKind::Segment {
            let body = if memory.is_some() {
                quote! {
                    // SAFETY: forwarded to the caller, who holds the one
                    // token of this segment.
                    unsafe { #instance.raw() }
                }
            } else {
                unreachable.clone()
            };
            let ptr_body = if memory.is_some() {
                quote!(#instance.as_ptr())
            } else {
                unreachable.clone()
            };
            methods.extend(quote! {
                /// The whole segment as a raw pointer (`allocator: none`).
                #[allow(dead_code)]
                #vis fn as_ptr(&self) -> ::core::ptr::NonNull<[u8]> {
                    #ptr_body
                }

                /// The whole segment as a memory range, to put a WebAssembly
                /// linear memory or an allocator of the component's own on.
                ///
                /// # Safety
                ///
                /// As `flight_mem::RawMemory::from_raw_parts`: nothing else
                /// accesses the segment while the result is in use.
                #[allow(dead_code)]
                #vis unsafe fn raw(&self) -> ::flight_mem::RawMemory {
                    #body
                }
            });
        } else {
            let (alloc_body, free_body, allocator_body) = match (&memory, hook) {
                (
                    Some(_),
                    Some(PressureHook {
                        callbacks,
                        table,
                        index,
                    }),
                ) => (
                    quote! {
                        let mut result = ::flight_mem::RawAllocator::allocate(&#instance, layout);
                        if #callbacks.any() {
                            ::flight_mem::__private::after_allocate(&#table, #index, &#instance, layout, &mut result);
                        }
                        result
                    },
                    quote! {
                        let _ = layout;
                        // SAFETY: forwarded to the caller.
                        let result = unsafe { ::flight_mem::RawAllocator::free(&#instance, ptr) };
                        if #callbacks.any() {
                            ::flight_mem::__private::after_free(&#table, #index);
                        }
                        result
                    },
                    quote!(&#instance),
                ),
                _ => (
                    quote!({ let _ = layout; #unreachable }),
                    quote!({ let _ = (ptr, layout); #unreachable }),
                    unreachable.clone(),
                ),
            };
            let alloc_doc = format!(
                " Allocates in component `{plain}`'s segment; failure is an `Err`, never a panic."
            );
            methods.extend(quote! {
                // `#[track_caller]` with the runtime's `track` feature.
                ::flight_mem::__private::tracked! {
                    #[doc = #alloc_doc]
                    #[inline]
                    #[allow(dead_code)]
                    #vis fn alloc(&self, layout: ::core::alloc::Layout) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, ::flight_mem::AllocError> {
                        #alloc_body
                    }
                }

                /// Returns a block to the segment. A bad free the allocator
                /// detects (foreign pointer, double free) changes nothing
                /// and is the `Err`.
                ///
                /// # Safety
                ///
                /// `ptr` was returned by this token's `alloc` and is not used
                /// after this call.
                #[inline]
                #[allow(dead_code)]
                #vis unsafe fn free(&self, ptr: ::core::ptr::NonNull<u8>, layout: ::core::alloc::Layout) -> ::core::result::Result<(), ::flight_mem::AllocError> {
                    #free_body
                }

                /// The segment's allocator, for its statistics and checks
                /// (`stats()`, `check()`); reached through the token only.
                #[allow(dead_code)]
                #vis fn allocator(&self) -> &'static #allocator_ty {
                    #allocator_body
                }
            });
        }
        items.extend(quote! {
            impl #module::#ty {
                #methods
            }
        });
    } else {
        let accessor = &entry.name;
        let doc = format!(
            " Shared region `{plain}`: `read`/`write` with a token of a component in its access list."
        );
        let lock = shared_static(&entry.name);
        let view = entry_static(&entry.name);
        let element = match &entry.ty {
            Some(ty) => quote!(#ty),
            None => quote!(u8),
        };
        let body = if let Some(memory) = &memory {
            items.extend(quote! {
                // SAFETY: the region's bytes are reached only through this
                // `Shared`; the `Segment` beside it describes the same range
                // for the layout's tables and never touches its bytes.
                // The placement aligns the region for its element type and
                // sizes it `size_of::<T>() * N`, as `Shared::new` requires.
                static #lock: ::flight_mem::Shared<#module::#ty, #element> = unsafe { ::flight_mem::Shared::new(#memory) };
                static #view: ::flight_mem::Segment = ::flight_mem::Segment::new(#memory);
            });
            for grant in access {
                let component = type_name(&grant.component);
                // SAFETY: the layout's access list grants this component
                // the region (`write` includes read).
                items.extend(quote! {
                    unsafe impl ::flight_mem::CanRead<#module::#ty> for #module::#component {}
                });
                if grant.write {
                    items.extend(quote! {
                        unsafe impl ::flight_mem::CanWrite<#module::#ty> for #module::#component {}
                    });
                }
            }
            quote!(&#lock)
        } else {
            unreachable.clone()
        };
        let _ = layout_name;
        on_layout.extend(quote! {
            #(#docs)*
            #[doc = #doc]
            #[inline]
            #[allow(dead_code)]
            #vis fn #accessor() -> &'static ::flight_mem::Shared<#module::#ty, #element> {
                #body
            }
        });
    }
    (items, on_layout)
}
