//! Per bank: the const placement plan, the static storage, and the second tier of the budget proof.

use super::*;

/// The placement `Slot` of an entry: its size, alignment and guard.
pub(super) fn slot(entry: &EntryModel) -> TokenStream {
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
        Shape::Typed { ty, count } if entry.kind == Kind::Shared => {
            let count = literal(*count);
            (
                quote!(::core::mem::size_of::<#ty>() * #count),
                quote!(::flight_mem::__private::max(#align, ::core::mem::align_of::<#ty>())),
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
    // A component's segment wants its guard on both sides.
    let lead = if entry.kind == Kind::Component {
        guard.clone()
    } else {
        quote!(0)
    };
    quote!(::flight_mem::__private::Slot { name: #name, size: #size, align: #align, guard: #guard, lead: #lead })
}

/// The expression of a bank's first byte, valid in a static initializer.
pub(super) fn bank_start(names: &Names, index: usize, bank: &BankModel) -> TokenStream {
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
pub(super) fn entry_memory(
    names: &Names,
    index: usize,
    bank: &BankModel,
    slot: usize,
) -> TokenStream {
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
pub(super) fn assertions(
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
        const _: () = ::core::assert!(#frame >= #min && #frame <= #max, #message);
    }
}
