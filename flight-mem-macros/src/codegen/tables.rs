//! The `static` tables behind `flight_mem::Layout`.

use super::*;
use crate::vocabulary::variant;

/// The `static` tables behind `flight_mem::Layout`.
pub(super) fn tables(
    layout: &LayoutModel,
    analysis: &LayoutAnalysis,
    names: &Names,
) -> TokenStream {
    let name = &layout.name;
    let count = layout.entries.len();
    // One named const per distinct flag set, not a
    // `MemoryFlags::from_bits_retain` call per row: rustc evaluates every
    // call in a static initializer anew (~80K instructions each), a const
    // once.
    let mut flag_sets: Vec<u8> = Vec::new();
    let mut flags_const = |flags: u8| {
        if !flag_sets.contains(&flags) {
            flag_sets.push(flags);
        }
        names.flags(flags)
    };
    let mut regions = Vec::with_capacity(count);
    let mut allocators = Vec::with_capacity(count);
    for (index, entry) in layout.entries.iter().enumerate() {
        let bank = &layout.banks[entry.bank];
        let slot = analysis.slots[index];
        let SlotFigures {
            offset,
            size,
            align,
            guard,
            lead,
        } = slot_figures(names, entry.bank, &analysis.banks[entry.bank], slot, entry);
        let entry_name = entry.name.unraw().to_string();
        // The variants as idents in the row's own `quote!`: an
        // interpolated path stream costs the unoptimised macro two stream
        // flushes each (`Emit::path` is the same path, tested there).
        let kind = variant(entry.kind);
        let allocator = match (&entry.kind, &entry.shape) {
            (EntryKind::Region | EntryKind::Component, _) => variant(entry.allocator),
            (EntryKind::Shared, _) => format_ident!("Shared"),
            (EntryKind::Reserve, _) => variant(AllocatorKind::Tlsf),
            (EntryKind::Stack, _) => format_ident!("Stack"),
            (EntryKind::Frame, _) => format_ident!("Frames"),
            (_, Shape::Typed { .. }) => format_ident!("Pool"),
            _ => format_ident!("BlockPool"),
        };
        let memory = variant(entry.memory);
        // An entry without grants shares one empty slice: an `&[]` per
        // row is a promoted constant per row for rustc (~150K instructions
        // each).
        let access = if entry.access.is_empty() {
            let none = names.no_access();
            quote!(#none)
        } else {
            let grants = entry.access.iter().map(|grant| {
                let component = grant.component.unraw().to_string();
                let write = grant.write;
                quote!(::flight_mem::Grant { component: #component, write: #write })
            });
            quote!(&[#(#grants),*])
        };
        let flags = flags_const(bank.flags | entry.flags);
        let bank_name = &bank.name;
        regions.push(quote! {
            ::flight_mem::RegionInfo {
                name: #entry_name,
                kind: ::flight_mem::EntryKind::#kind,
                allocator: ::flight_mem::AllocatorKind::#allocator,
                memory: ::flight_mem::MemoryType::#memory,
                flags: #flags,
                bank: #bank_name,
                offset: #offset,
                size: #size,
                align: #align,
                guard: #guard,
                guard_before: #lead,
                access: #access,
            }
        });
        let accessor = &entry.name;
        // A component's (or shared region's) allocator static is reached
        // through its token only: a closure in the layout's anonymous const,
        // which no code outside can name. The trait below is public (any
        // code can call `<Layout as EntryAllocators>::entry_allocator(i)`),
        // so it holds only the entries whose accessors are public anyway.
        allocators.push(
            if matches!(entry.kind, EntryKind::Component | EntryKind::Shared) {
                let instance = entry_static(&entry.name);
                (
                    quote!(|| -> &'static dyn ::flight_mem::RawAllocator { &#instance }),
                    None,
                )
            } else {
                let i = literal(index as u64);
                (
                    quote!(::flight_mem::__private::entry_allocator::<#name, #i>),
                    Some(quote!(#index => #name::#accessor(),)),
                )
            },
        );
    }
    let (table_entries, arms): (Vec<_>, Vec<_>) = allocators.into_iter().unzip();
    let arms = arms.into_iter().flatten();
    let bank_flags: Vec<Ident> = layout.banks.iter().map(|b| flags_const(b.flags)).collect();
    let flag_consts = flag_sets.iter().map(|&flags| {
        let name = names.flags(flags);
        quote! {
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            const #name: ::flight_mem::MemoryFlags = ::flight_mem::MemoryFlags::from_bits_retain(#flags);
        }
    });
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
                let flags = &bank_flags[index];
                let budget = size_tokens(&bank.budget);
                let (used, storage) = if placed.entries.is_empty() {
                    (quote!(0), quote!(::core::ptr::null_mut::<u8>()))
                } else {
                    (
                        bank_needed(names, index, placed),
                        bank_start(names, index, bank, placed),
                    )
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
                    // what its placement needs, which `used` is) or the address
                    // an `unsafe bank` promised, or null for an empty bank.
                    unsafe {
                        ::flight_mem::__private::bank_info(::flight_mem::__private::BankParts {
                            name: #bank_name,
                            memory: ::flight_mem::__private::memory_types(&[#(#types),*]),
                            flags: #flags,
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
    let no_access = names.no_access();
    quote! {
        #(#flag_consts)*
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #no_access: &[::flight_mem::Grant] = &[];
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #regions_name: [::flight_mem::RegionInfo; #count] = [#(#regions),*];
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #allocators_name: [fn() -> &'static dyn ::flight_mem::RawAllocator; #count] =
            [#(#table_entries),*];
        // One `match` for the allocators of the entries with public
        // accessors, not a closure per entry; components and shared regions
        // (see above) panic here.
        impl ::flight_mem::__private::EntryAllocators for #name {
            #[inline]
            fn entry_allocator(index: usize) -> &'static dyn ::flight_mem::RawAllocator {
                match index {
                    #(#arms)*
                    _ => ::core::unreachable!(),
                }
            }
        }
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_parens)]
        static #banks_name: [::flight_mem::BankInfo; #bank_count] = [#(#banks),*];
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #watches: [::flight_mem::PressureWatch; #count] =
            [const { ::flight_mem::PressureWatch::new() }; #count];
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #guards: [::flight_mem::GuardZone; 2 * #count] =
            [const { ::flight_mem::GuardZone::new() }; 2 * #count];
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
