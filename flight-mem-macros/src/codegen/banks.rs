//! Per bank: the const placement plan, the static storage, and the second tier of the budget proof.

use super::*;

/// The placement `Slot` of an entry: its size, alignment and guard.
pub(super) fn slot(entry: &EntryModel) -> TokenStream {
    let name = entry.name.unraw().to_string();
    let align = literal(entry.align);
    let guard = size_tokens(&entry.guard);
    let (size, align) = match &entry.shape {
        Shape::Bytes(size) => (size_tokens(size), quote!(#align)),
        Shape::Frames {
            frame: frame_size,
            count,
        } => {
            use crate::check::{MAX_FRAME, MIN_FRAME};
            let frame = size_tokens(frame_size);
            let count = literal(*count);
            let (min, max) = (literal(MIN_FRAME), literal(MAX_FRAME));
            // A const-expression frame size outside the limits fails its
            // own assertion, spanned on the size (`frame_limits`); clamped here, the
            // entry's memory still holds what `Frames::new` checks, so its
            // static adds no error blamed on the whole macro call.
            // Saturating, as 255 frames of 256 MiB are past a 32-bit
            // `usize` (and fail the budget's assertion on the entry).
            let frame = match frame_size {
                Size::Literal { .. } => frame,
                Size::Expr { .. } => quote!(::flight_mem::__private::clamp(#frame, #min, #max)),
            };
            (
                quote!(::flight_mem::__private::saturating_mul(#frame, #count)),
                quote!(#align),
            )
        }
        Shape::Blocks { block, count } => {
            let block = size_tokens(block);
            let count = literal(*count);
            (
                quote!(::flight_mem::__private::block_pool_bytes(#block, #align, #count)),
                quote!(#align),
            )
        }
        Shape::Typed { ty, count } if entry.kind == EntryKind::Shared => {
            let count = literal(*count);
            (
                quote!(::flight_mem::__private::typed_shared_bytes::<#ty>(#count)),
                quote!(::flight_mem::__private::max(#align, ::core::mem::align_of::<#ty>())),
            )
        }
        Shape::Typed { ty, count } => {
            let count = literal(*count);
            (
                quote!(::flight_mem::__private::typed_pool_bytes::<#ty>(#count)),
                quote!(::flight_mem::__private::max(#align, ::core::mem::align_of::<#ty>())),
            )
        }
    };
    // A component's segment wants its guard on both sides.
    let lead = if entry.kind == EntryKind::Component {
        guard.clone()
    } else {
        quote!(0)
    };
    quote!(::flight_mem::__private::Slot { name: #name, size: #size, align: #align, guard: #guard, lead: #lead })
}

/// The expression of a bank's first byte, valid in a static initializer.
pub(super) fn bank_start(
    names: &Names,
    index: usize,
    bank: &BankModel,
    placed: &BankAnalysis,
) -> TokenStream {
    match (bank.fixed, bank.address) {
        (true, Some(base)) => {
            let base = literal(base);
            quote!(::core::ptr::with_exposed_provenance_mut::<u8>(#base))
        }
        _ if !wrapped_storage(placed) => {
            let storage = names.storage(index);
            quote!(#storage.as_mut_ptr())
        }
        _ => {
            let storage = names.storage(index);
            quote!(#storage.0.as_mut_ptr())
        }
    }
}

/// The alignment of `flight_mem::Arena` (a page).
const ARENA_ALIGN: u64 = 4096;

/// Whether a static bank's storage is an `Arena` wrapped in a struct of a
/// larger alignment (an entry aligned past a page), rather than a plain
/// `Arena` static: the wrapper's by-value move and its item cost rustc
/// about 5M instructions per layout, so a bank only has one when needed.
fn wrapped_storage(placed: &BankAnalysis) -> bool {
    placed.storage_align > ARENA_ALIGN
}

/// One figure of an entry's placement: a literal the macro computed, or
/// a field of the bank's `PLACED` const (see [`placed_items`]).
pub(super) enum Figure {
    Literal(Literal),
    Placed {
        /// `PLACED.field`, what generated code reads.
        read: TokenStream,
        /// The field.
        field: Ident,
        /// Its value, from the plan's arrays destructured into `o{slot}`
        /// (offsets), `s{slot}` (slots) and `l{slot}` (leads).
        value: TokenStream,
    },
}

impl Figure {
    /// Field `name` of bank `index`'s `PLACED` const, holding `value`.
    fn placed(names: &Names, index: usize, name: String, value: TokenStream) -> Self {
        let (placed, _) = names.placed(index);
        let field = Ident::new(&name, proc_macro2::Span::call_site());
        Figure::Placed {
            read: quote!(#placed.#field),
            field,
            value,
        }
    }
}

impl quote::ToTokens for Figure {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            // One token pushed, where an interpolated one-token stream
            // would cost the (unoptimised) macro two stream flushes.
            Figure::Literal(literal) => literal.to_tokens(tokens),
            Figure::Placed { read, .. } => read.to_tokens(tokens),
        }
    }
}

/// An entry's placement, as `usize` expressions.
pub(super) struct SlotFigures {
    pub(super) offset: Figure,
    pub(super) size: Figure,
    pub(super) align: Figure,
    pub(super) guard: Figure,
    /// Guard bytes placed directly before the entry.
    pub(super) lead: Figure,
}

/// Entry `slot` of bank `index`'s placement: literals where the macro
/// knows it exactly (every size and guard up to the entry's is a literal),
/// the const plan's figures otherwise; of those, the entry's own size,
/// alignment, guard and leading guard are still literals wherever they do
/// not depend on a figure only rustc knows.
pub(super) fn slot_figures(
    names: &Names,
    index: usize,
    placed: &BankAnalysis,
    slot: usize,
    entry: &EntryModel,
) -> SlotFigures {
    match placed.placed[slot] {
        p if crate::analyze::portable(&p, placed.limit) => {
            // Each figure is at most the bank's `u64` budget.
            let figure = |value: u128| Figure::Literal(literal(value as u64));
            SlotFigures {
                offset: figure(p.offset),
                size: figure(p.size),
                align: figure(p.align),
                guard: figure(p.guard),
                lead: figure(p.lead),
            }
        }
        _ => {
            // Each read of the plan's arrays in a static initializer costs
            // rustc ~0.27M instructions (an indexed read of an aggregate
            // constant), a field of the `PLACED` const a fraction of that,
            // and a literal nothing: the entry's own figures that do not
            // depend on rustc are literals, the same values as the plan's
            // `Slot` (`slot` above), at most `MAX_PORTABLE` so every target
            // agrees; the rest are fields of `PLACED`.
            let known = |value: u128| {
                (value <= crate::analyze::MAX_PORTABLE)
                    .then(|| Figure::Literal(literal(value as u64)))
            };
            let s = format_ident!("s{slot}");
            let size = crate::analyze::literal_footprint(entry)
                .and_then(known)
                .unwrap_or_else(|| {
                    Figure::placed(names, index, format!("size{slot}"), quote!(#s.size))
                });
            let align = match entry.shape {
                // `max(align, align_of::<T>())`: rustc's.
                Shape::Typed { .. } => {
                    Figure::placed(names, index, format!("align{slot}"), quote!(#s.align))
                }
                _ => Figure::Literal(literal(entry.align)),
            };
            let guard = entry
                .guard
                .literal()
                .and_then(|guard| known(u128::from(guard)))
                .unwrap_or_else(|| {
                    Figure::placed(names, index, format!("guard{slot}"), quote!(#s.guard))
                });
            // A component's leading guard depends on the previous entry's
            // guard; every other entry's `Slot` has none.
            let lead = if entry.kind == EntryKind::Component {
                let l = format_ident!("l{slot}");
                Figure::placed(names, index, format!("lead{slot}"), quote!(#l))
            } else {
                Figure::Literal(literal(0))
            };
            let o = format_ident!("o{slot}");
            SlotFigures {
                offset: Figure::placed(names, index, format!("offset{slot}"), quote!(#o)),
                size,
                align,
                guard,
                lead,
            }
        }
    }
}

/// Bytes bank `index` needs, as a `usize` expression.
pub(super) fn bank_needed(names: &Names, index: usize, placed: &BankAnalysis) -> TokenStream {
    match placed.exact_needed {
        Some(needed) => {
            let needed = literal(needed);
            quote!(#needed)
        }
        None => {
            let plan = names.plan(index);
            quote!(#plan.needed)
        }
    }
}

/// The `RawMemory` of entry `slot` of bank `index`.
pub(super) fn entry_memory(
    names: &Names,
    index: usize,
    bank: &BankModel,
    placed: &BankAnalysis,
    slot: usize,
    entry: &EntryModel,
) -> TokenStream {
    let SlotFigures { offset, size, .. } = slot_figures(names, index, placed, slot, entry);
    if !bank.fixed {
        // One call instead of `as_mut_ptr`, `wrapping_add` and
        // `from_raw_parts`: rustc evaluates each call of a static
        // initializer anew.
        let storage = names.storage(index);
        let arena = if wrapped_storage(placed) {
            quote!(&#storage.0)
        } else {
            quote!(&#storage)
        };
        return quote! {
            // SAFETY: placement gives this entry the bytes
            // `offset..offset + size` of its bank, disjoint from every other
            // entry and inside the bank's storage (its size is what placement
            // needs, and placement fits the budget or the build fails); this
            // static is the only allocator built on them.
            unsafe { ::flight_mem::__private::arena_memory(#arena, #offset, #size) }
        };
    }
    let start = bank_start(names, index, bank, placed);
    quote! {
        // SAFETY: placement gives this entry the bytes
        // `offset..offset + size` of its bank, disjoint from every other
        // entry and inside the bank's storage (its size is what placement
        // needs, and placement fits the budget or the build fails); this
        // static is the only allocator built on them.
        unsafe {
            ::flight_mem::RawMemory::from_raw_parts(#start.wrapping_add(#offset), #size)
        }
    }
}

/// A bank's plan, storage and assertions.
pub(super) fn bank_items(
    layout: &LayoutModel,
    names: &Names,
    index: usize,
    bank: &BankModel,
    placed: &BankAnalysis,
) -> TokenStream {
    if placed.entries.is_empty() {
        return TokenStream::new();
    }
    let base_align = literal(placed.storage_align);
    // A bank the macro placed and proved itself needs no const plan.
    let (mut out, storage_len) = if placed.exact_needed.is_some() {
        (TokenStream::new(), bank_needed(names, index, placed))
    } else {
        let plan = names.plan(index);
        let count = placed.entries.len();
        let slots = placed.entries.iter().map(|&i| slot(&layout.entries[i]));
        let budget = size_tokens(&bank.budget);
        // A static's size is a multiple of its alignment: `place` keeps
        // that under the object limit; a fixed bank is no object, but it
        // must end inside the address space.
        let (place, base) = match (bank.fixed, bank.address) {
            (true, Some(base)) => {
                let base = literal(base);
                (quote!(place_fixed), quote!(#base,))
            }
            _ => (quote!(place), TokenStream::new()),
        };
        let mut out = quote! {
            #[doc(hidden)]
            #[allow(non_upper_case_globals, unused_parens)]
            const #plan: ::flight_mem::__private::BankPlan<#count> =
                ::flight_mem::__private::BankPlan::#place(#budget, #base #base_align, [#(#slots),*]);
        };
        out.extend(placed_items(layout, names, index, placed));
        out.extend(assertions(layout, names, bank, placed, &plan));
        (out, quote!(#plan.storage_len()))
    };
    if !bank.fixed {
        let storage = names.storage(index);
        let storage_type = names.storage_type(index);
        let section = bank
            .section
            .as_ref()
            .map(|s| quote!(#[unsafe(link_section = #s)]));
        if wrapped_storage(placed) {
            out.extend(quote! {
                #[doc(hidden)]
                #[allow(non_camel_case_types)]
                #[repr(C, align(#base_align))]
                struct #storage_type(::flight_mem::Arena<{ #storage_len }>);
                #[doc(hidden)]
                #[allow(non_upper_case_globals)]
                #section
                static #storage: #storage_type = #storage_type(::flight_mem::Arena::new());
            });
        } else {
            // `Arena` is page-aligned itself: the bank's alignment.
            out.extend(quote! {
                #[doc(hidden)]
                #[allow(non_upper_case_globals)]
                #section
                static #storage: ::flight_mem::Arena<{ #storage_len }> = ::flight_mem::Arena::new();
            });
        }
    }
    out
}

/// The `PLACED` const of a bank with a const plan: every figure of the
/// plan that generated code reads ([`slot_figures`]'s `Figure::Placed`), as
/// a named `usize` field, taken from the plan's arrays by destructuring
/// them (no indexing). Reading a field of it in a static initializer costs
/// rustc a fraction of an indexed read of the plan (`gen.py typed`: 168
/// reads, ~24M instructions less).
fn placed_items(
    layout: &LayoutModel,
    names: &Names,
    index: usize,
    placed: &BankAnalysis,
) -> TokenStream {
    let plan = names.plan(index);
    let (constant, ty) = names.placed(index);
    let count = placed.entries.len();
    let mut used = [vec![false; count], vec![false; count], vec![false; count]];
    let mut fields = Vec::new();
    let mut values = Vec::new();
    for (slot, &entry) in placed.entries.iter().enumerate() {
        let SlotFigures {
            offset,
            size,
            align,
            guard,
            lead,
        } = slot_figures(names, index, placed, slot, &layout.entries[entry]);
        // 0: offsets, 1: slots, 2: leads, the plan's arrays they come from.
        for (figure, array) in [(offset, 0), (size, 1), (align, 1), (guard, 1), (lead, 2)] {
            if let Figure::Placed { field, value, .. } = figure {
                used[array][slot] = true;
                fields.push(field);
                values.push(value);
            }
        }
    }
    if fields.is_empty() {
        return TokenStream::new();
    }
    // `let [o0, _, o2, ..] = PLAN.offsets;`, only where a field needs it.
    let destructure = |used: &[bool], prefix: &str, array: Ident| {
        if !used.contains(&true) {
            return TokenStream::new();
        }
        let bindings = used.iter().enumerate().map(|(slot, &used)| {
            if used {
                let binding = format_ident!("{prefix}{slot}");
                quote!(#binding)
            } else {
                quote!(_)
            }
        });
        quote!(let [#(#bindings),*] = #plan.#array;)
    };
    let offsets = destructure(&used[0], "o", format_ident!("offsets"));
    let slots = destructure(&used[1], "s", format_ident!("slots"));
    let leads = destructure(&used[2], "l", format_ident!("leads"));
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct #ty { #(#fields: usize),* }
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #constant: #ty = {
            #offsets
            #slots
            #leads
            #ty { #(#fields: #values),* }
        };
    }
}

/// The second tier of the budget proof: named const assertions rustc
/// evaluates under `cargo check`, with the facts of the macro's own error.
pub(super) fn assertions(
    layout: &LayoutModel,
    names: &Names,
    bank: &BankModel,
    placed: &BankAnalysis,
    plan: &Ident,
) -> TokenStream {
    let span = bank.span;
    let upper_bank = upper_snake(&bank.name);
    let head = format!(
        "layout `{}` does not fit bank `{}`{}: needs ",
        layout.name,
        bank.name,
        layout
            .platform
            .map_or_else(String::new, |p| format!(" of `{}`", p.name))
    );
    // The bank's budget assertion (below) fails only on the entry that
    // crosses the budget, in an arm spanned on its name, so the error points
    // at it (as the macro's own literal-size error does). The message is
    // formatted in the failing branch only: a plan that fits costs one
    // comparison. The checks on a single entry call
    // `__private::require`, spanned as their `assert!` was.
    let mut out = TokenStream::new();
    for &index in &placed.entries {
        // A pool (or typed shared region) of a zero-sized type is only known
        // to be one here; without this assertion, spanned on the type, rustc
        // blames the whole macro call (through `Pool`'s own check) instead
        // of the value type.
        let entry = &layout.entries[index];
        if let Shape::Typed { ty, .. } = &entry.shape {
            let span = syn::spanned::Spanned::span(&**ty);
            let message = format!(
                "`{}` holds values of a zero-sized type, which need no memory; use a sized type or drop the entry",
                entry.name.unraw()
            );
            out.extend(quote_spanned! {span=>
                const _: () = ::flight_mem::__private::require(::core::mem::size_of::<#ty>() != 0, #message);
            });
        }
    }
    // One assertion for the bank, a `match` on the entry that crosses the
    // budget: each arm's `budget_panic` call (`#[track_caller]`) is spanned
    // on its entry's name, so rustc reports the failure there, as it did
    // with one named const per entry, which cost rustc ~0.3M instructions
    // per entry (an item, and a read of the plan) in every build.
    let mut arms = TokenStream::new();
    for (slot, &index) in placed.entries.iter().enumerate() {
        // An entry placed exactly by the macro and not reported over budget
        // there fits: it needs no arm.
        if crate::analyze::portable(&placed.placed[slot], placed.limit)
            && bank.budget.literal().is_some()
        {
            continue;
        }
        let entry = &layout.entries[index];
        let span = entry.name.span();
        let over_budget = quote_spanned! {span=>
            ::flight_mem::__private::BankPlan::budget_panic(#plan, #head)
        };
        // The plan sizes an entry that cannot exist (a pool past its slot
        // index or `usize`, a shared region past `usize`) `usize::MAX`
        // rather than panicking, which rustc would blame on the whole macro
        // call; such an entry crosses any budget, so its arm says why
        // instead, on the entry. The condition is evaluated only when the
        // entry crosses: no separate assertion to evaluate in every build.
        arms.extend(match impossible(entry) {
            Some((possible, message)) => quote_spanned! {span=>
                #slot => if #possible {
                    #over_budget
                } else {
                    ::flight_mem::__private::require(false, #message)
                },
            },
            None => quote_spanned!(span=> #slot => #over_budget,),
        });
        if let Shape::Frames {
            frame: frame @ Size::Expr { span, .. },
            ..
        } = &entry.shape
        {
            out.extend(frame_limits(entry, frame, *span));
        }
    }
    if !arms.is_empty() {
        let fits = Ident::new(&format!("_{}_FITS_{}", names.upper, upper_bank), span);
        out.extend(quote_spanned! {span=>
            #[doc(hidden)]
            #[allow(unused_parens)]
            const #fits: () = match #plan.crossing {
                #arms
                _ => {}
            };
        });
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
            const #aligned: () = if #plan.misaligned != #count {
                ::core::panic!("{}", #plan.misaligned_message(#tail).as_str())
            };
        });
    }
    out
}

/// For an entry the plan sizes `usize::MAX` when it cannot exist (a pool
/// past its slot index or `usize`, a shared region past `usize`): the
/// condition that it can, and the message that says why it cannot. `None`
/// for entries the plan always sizes. A literal block size the macro checks
/// itself; a const one only rustc sizes.
fn impossible(entry: &EntryModel) -> Option<(TokenStream, String)> {
    let span = entry.name.span();
    let name = entry.name.unraw();
    match (&entry.shape, entry.kind) {
        (
            Shape::Blocks {
                block: block @ Size::Expr { .. },
                count,
            },
            _,
        ) => {
            let block = size_tokens(block);
            let align = literal(entry.align);
            let count = literal(*count);
            Some((
                quote_spanned! {span=>
                    (::flight_mem::__private::block_pool_bytes(#block, #align, #count) != usize::MAX)
                },
                format!(
                    "pool `{name}` is impossible: a block must be smaller than 4 GiB - 2 bytes and aligned to a power of two, a pool has at most `u32::MAX - 1 - block` slots, and its bytes must fit `usize`"
                ),
            ))
        }
        (Shape::Typed { ty, count }, EntryKind::Pool) => {
            let message = format!(
                "pool `{name}` of {count} values is too large: a pool has at most `u32::MAX - 1 - size_of::<T>()` slots, and its bytes must fit `usize`"
            );
            let count = literal(*count);
            Some((
                quote_spanned! {span=>
                    ::flight_mem::__private::typed_pool_fits::<#ty>(#count)
                },
                message,
            ))
        }
        (Shape::Typed { ty, count }, EntryKind::Shared) => {
            let message = format!(
                "shared region `{name}` of {count} values is too large: its bytes must fit `usize`"
            );
            let count = literal(*count);
            Some((
                quote_spanned! {span=>
                    ::core::mem::size_of::<#ty>().checked_mul(#count).is_some()
                },
                message,
            ))
        }
        _ => None,
    }
}

/// The limits `check_frames` applies to literal frame sizes, as a const
/// assertion on a size only rustc knows.
pub(super) fn frame_limits(
    entry: &EntryModel,
    frame: &Size,
    span: proc_macro2::Span,
) -> TokenStream {
    use crate::check::{MAX_FRAME, MIN_FRAME};
    let frame = size_tokens(frame);
    let message = format!(
        "each frame of `{}` needs at least {MIN_FRAME} B (its bookkeeping record plus one 16-byte granule) and at most 256 MiB",
        entry.name.unraw()
    );
    let (min, max) = (literal(MIN_FRAME), literal(MAX_FRAME));
    quote_spanned! {span=>
        const _: () = ::flight_mem::__private::require(#frame >= #min && #frame <= #max, #message);
    }
}
