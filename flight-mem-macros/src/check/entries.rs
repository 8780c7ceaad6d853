//! Entries: kind, shape, options, and the bank each lands in.

use super::*;

pub(super) fn check_entry(
    entry: EntryAst,
    banks: &[BankModel],
    default_guard: &Size,
    default_align: u64,
    errors: &mut Errors,
) -> Option<EntryModel> {
    let word = entry.kind.to_string();
    let Some(kind) = EntryKind::from_keyword(&word) else {
        // The parser accepts only entry keywords; nothing else reaches here.
        errors.error(entry.kind.span(), format!("unknown entry kind `{word}`"));
        return None;
    };
    let docs: Vec<Attribute> = entry
        .attrs
        .into_iter()
        .filter(|attr| {
            let doc = attr.path().is_ident("doc");
            if !doc {
                errors.error(
                    syn::spanned::Spanned::span(attr.path()),
                    "only doc comments are allowed on entries; remove this attribute",
                );
            }
            doc
        })
        .collect();
    let name = entry.name;
    let shape = check_shape(kind, &name, entry.shape, errors);

    let mut memory: Option<(MemoryType, Span)> = None;
    let mut allocator = AllocatorKind::Tlsf;
    let mut align = default_align;
    let mut guard = default_guard.clone();
    let mut flags = 0u8;
    let mut bank_choice: Option<(usize, Span)> = None;
    let mut access: Option<Vec<Grant>> = None;
    let mut seen: Vec<String> = Vec::new();
    let what = format!("a `{}`", kind.keyword());
    for option in &entry.options {
        let key = option.key.to_string();
        if seen.contains(&key) {
            errors.error(option.key.span(), format!("duplicate option `{key}`"));
            continue;
        }
        seen.push(key.clone());
        match key.as_str() {
            "memory" => {
                if let Some(ident) =
                    parse_value(option, errors, |input| input.call(Ident::parse_any))
                {
                    let word = ident.to_string();
                    match MemoryType::from_name(&word) {
                        Some(ty) => memory = Some((ty, ident.span())),
                        None => errors.error(
                            ident.span(),
                            format!(
                                "unknown memory type `{word}`{}",
                                did_you_mean(&word, &memory_type_names())
                            ),
                        ),
                    }
                }
            }
            "allocator" if matches!(kind, EntryKind::Region | EntryKind::Component) => {
                if let Some(ident) =
                    parse_value(option, errors, |input| input.call(Ident::parse_any))
                {
                    let word = ident.to_string();
                    match AllocatorKind::from_region_name(&word) {
                        Some(AllocatorKind::Segment) if kind == EntryKind::Region => errors.error(
                            ident.span(),
                            format!(
                                "`allocator: none` is for `component` segments used whole; a region needs an allocator: {}",
                                list(&allocator_names()[..4])
                            ),
                        ),
                        Some(AllocatorKind::Compact) if kind == EntryKind::Component => errors.error(
                            ident.span(),
                            "`allocator: compact` is for regions (its blocks move and are reached by handle); a component takes `tlsf`, `buddy`, `freelist` or `none`",
                        ),
                        Some(found) => allocator = found,
                        None => errors.error(
                            ident.span(),
                            format!(
                                "unknown allocator `{word}`{}",
                                did_you_mean(&word, &allocator_names())
                            ),
                        ),
                    }
                }
            }
            "align" => {
                if let Some(value) = parse_value(option, errors, |input| input.parse::<LitInt>()) {
                    align = check_align(&value, errors).unwrap_or(align);
                }
            }
            "guard" => {
                if let Some(size) = parse_value(option, errors, parse_size)
                    && let Some(size) = check_size(&size, true, "a guard", errors)
                {
                    guard = size;
                }
            }
            "bank" => {
                if let Some(ident) =
                    parse_value(option, errors, |input| input.call(Ident::parse_any))
                {
                    let word = ident.to_string();
                    match banks.iter().position(|b| b.name == word) {
                        Some(index) => bank_choice = Some((index, ident.span())),
                        None if banks.is_empty() => {}
                        None => {
                            let names: Vec<&str> = banks.iter().map(|b| b.name.as_str()).collect();
                            errors.error(
                                ident.span(),
                                format!("unknown bank `{word}`{}", did_you_mean(&word, &names)),
                            );
                        }
                    }
                }
            }
            "flags" => {
                if let Some(found) = parse_flags(option, false, errors) {
                    flags = found;
                }
            }
            "access" if kind == EntryKind::Shared => {
                access = parse_value(option, errors, parse_access);
            }
            _ => {
                let valid: Vec<&str> = ENTRY_KEYS
                    .iter()
                    .copied()
                    .filter(|k| {
                        (matches!(kind, EntryKind::Region | EntryKind::Component)
                            || *k != "allocator")
                            && (kind == EntryKind::Shared || *k != "access")
                    })
                    .collect();
                unknown_key(&key, option, &what, &valid, errors);
            }
        }
    }
    if kind == EntryKind::Shared && access.is_none() && !seen.iter().any(|k| k == "access") {
        errors.error(
            name.span(),
            format!(
                "shared region `{name}` needs an access list: `{{ access: [COMPONENT: write, COMPONENT: read] }}`"
            ),
        );
    }

    let shape = shape?;
    if banks.is_empty() {
        return None;
    }
    let (memory, bank) = place_in_bank(kind, &name, memory, bank_choice, banks, errors)?;
    Some(EntryModel {
        docs,
        kind,
        name,
        shape,
        memory,
        allocator,
        align,
        guard,
        flags,
        bank,
        access: access.unwrap_or_default(),
    })
}

/// `[physics: write, renderer: read]`: who may use a shared region.
fn parse_access(input: ParseStream) -> syn::Result<Vec<Grant>> {
    let content;
    syn::bracketed!(content in input);
    let mut grants = Vec::new();
    while !content.is_empty() {
        let component = content.call(Ident::parse_any)?;
        content.parse::<syn::Token![:]>()?;
        let right = content.call(Ident::parse_any)?;
        let write = match right.to_string().as_str() {
            "write" => true,
            "read" => false,
            other => {
                return Err(syn::Error::new(
                    right.span(),
                    format!(
                        "unknown access `{other}`{}; a component may `read` or `write` (which includes read)",
                        did_you_mean(other, &["read", "write"])
                    ),
                ));
            }
        };
        grants.push(Grant { component, write });
        if content.is_empty() {
            break;
        }
        content.parse::<syn::Token![,]>()?;
    }
    if grants.is_empty() {
        return Err(syn::Error::new(
            input.span(),
            "an empty access list gives nobody the region; name at least one component",
        ));
    }
    Ok(grants)
}

/// Picks the memory type and bank: the named bank, else the first bank that
/// holds the type. Without `memory:` the kind's default type is used, then
/// `System`, then (with `bank:`) the bank's first type.
pub(super) fn place_in_bank(
    kind: EntryKind,
    name: &Ident,
    memory: Option<(MemoryType, Span)>,
    bank_choice: Option<(usize, Span)>,
    banks: &[BankModel],
    errors: &mut Errors,
) -> Option<(MemoryType, usize)> {
    let holds = |bank: &BankModel, ty: MemoryType| bank.memory & ty.bit() != 0;
    let describe = |banks: &[BankModel]| {
        banks
            .iter()
            .map(|b| {
                format!(
                    "`{}` ({})",
                    b.name,
                    memory_type_names_in(b.memory).join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (memory, bank_choice) {
        (Some((ty, span)), Some((index, _))) => {
            if !holds(&banks[index], ty) {
                errors.error(
                    span,
                    format!(
                        "bank `{}` does not hold `{}` memory; it holds {}",
                        banks[index].name,
                        ty.name(),
                        memory_type_names_in(banks[index].memory).join(", ")
                    ),
                );
                return None;
            }
            Some((ty, index))
        }
        (Some((ty, span)), None) => match banks.iter().position(|b| holds(b, ty)) {
            Some(index) => Some((ty, index)),
            None => {
                errors.error(
                    span,
                    format!(
                        "no bank of this layout holds `{}` memory; its banks are {}",
                        ty.name(),
                        describe(banks)
                    ),
                );
                None
            }
        },
        (None, Some((index, _))) => {
            let bank = &banks[index];
            let ty = [kind.default_memory(), MemoryType::System]
                .into_iter()
                .find(|ty| holds(bank, *ty))
                .or_else(|| MemoryType::ALL.into_iter().find(|ty| holds(bank, *ty)))?;
            Some((ty, index))
        }
        (None, None) => {
            for ty in [kind.default_memory(), MemoryType::System] {
                if let Some(index) = banks.iter().position(|b| holds(b, ty)) {
                    return Some((ty, index));
                }
            }
            errors.error(
                name.span(),
                format!(
                    "no bank of this layout holds `{}` or `System` memory for `{name}`; add `memory: ..` or `bank: ..` (banks: {})",
                    kind.default_memory().name(),
                    describe(banks)
                ),
            );
            None
        }
    }
}

pub(super) fn check_shape(
    kind: EntryKind,
    name: &Ident,
    shape: ShapeAst,
    errors: &mut Errors,
) -> Option<Shape> {
    match (kind, shape) {
        (
            EntryKind::Region
            | EntryKind::Stack
            | EntryKind::Reserve
            | EntryKind::Component
            | EntryKind::Shared,
            ShapeAst::Size(size),
        ) => check_size(&size, false, &format!("a `{}`", kind.keyword()), errors).map(Shape::Bytes),
        (
            EntryKind::Shared,
            ShapeAst::Array {
                element: ElementAst::Type(ty),
                count,
                ..
            },
        ) => {
            let count = check_count(&count, "values", errors);
            Some(Shape::Typed { ty, count: count? })
        }
        (
            EntryKind::Region
            | EntryKind::Stack
            | EntryKind::Reserve
            | EntryKind::Component
            | EntryKind::Shared,
            ShapeAst::Array { bracket, .. },
        ) => {
            errors.error(
                bracket,
                format!(
                    "a `{}` takes a size (`{} {name} = 8 MiB;`); only `frame` and `pool` take `[..; N]`",
                    kind.keyword(),
                    kind.keyword()
                ),
            );
            None
        }
        (EntryKind::Frame, ShapeAst::Size(size)) => check_size(&size, false, "a frame", errors)
            .and_then(|frame| check_frames(name, frame, 1, None, errors)),
        (
            EntryKind::Frame,
            ShapeAst::Array {
                element: ElementAst::Type(ty),
                ..
            },
        ) => {
            errors.error(
                syn::spanned::Spanned::span(&ty),
                "a `frame` holds bytes, not values of a type: write `[512 KiB; 2]` for two frames of 512 KiB",
            );
            None
        }
        (
            EntryKind::Frame,
            ShapeAst::Array {
                element: ElementAst::Size(size),
                count,
                ..
            },
        ) => {
            let frame = check_size(&size, false, "a frame", errors);
            let count_span = count.span();
            let count = check_count(&count, "frames", errors);
            check_frames(name, frame?, count?, Some(count_span), errors)
        }
        (EntryKind::Pool, ShapeAst::Size(size)) => {
            errors.error(
                size.span(),
                format!("a `pool` needs a count: `pool {name} = [1536 B; 64];` (64 blocks) or `[Particle; 4096]` (4096 values)"),
            );
            None
        }
        (
            EntryKind::Pool,
            ShapeAst::Array {
                element: ElementAst::Size(size),
                count,
                ..
            },
        ) => {
            let block = check_size(&size, false, "a block", errors);
            let count_span = count.span();
            let count = check_count(&count, "blocks", errors);
            let (block, count) = (block?, count?);
            check_literal_blocks(name, &block, count, count_span, errors)?;
            Some(Shape::Blocks { block, count })
        }
        (
            EntryKind::Pool,
            ShapeAst::Array {
                element: ElementAst::Type(ty),
                count,
                ..
            },
        ) => {
            let count = check_count(&count, "values", errors);
            Some(Shape::Typed { ty, count: count? })
        }
    }
}

/// The limits of `BlockPool` on a literal block size (a const one has its
/// assertion in `codegen`): a block below 4 GiB - 2 bytes, at most
/// `u32::MAX - 1 - block` slots (its 32-bit slot index). Past them the
/// const plan sized the pool `usize::MAX` (a budget error of "16777215.99
/// TiB") and `BlockPool::new` panicked in the entry's static, blamed on the
/// whole macro call; refused here, on the block size or the count.
fn check_literal_blocks(
    name: &Ident,
    block: &Size,
    count: u64,
    count_span: proc_macro2::Span,
    errors: &mut Errors,
) -> Option<()> {
    // `free_slots::ALLOCATED`: the largest block, and the slot index limit.
    const ALLOCATED: u64 = u32::MAX as u64 - 2;
    let Size::Literal { bytes, span } = *block else {
        return Some(());
    };
    if bytes > ALLOCATED {
        errors.error(
            span,
            format!(
                "a block of pool `{name}` must be smaller than 4 GiB - 2 bytes (the pool's 32-bit slot index); {} is too large",
                crate::errors::format_bytes(u128::from(bytes))
            ),
        );
        return None;
    }
    let max = ALLOCATED - (bytes - 1);
    if count > max {
        errors.error(
            count_span,
            format!(
                "pool `{name}` of {count} blocks of {} has more slots than its 32-bit slot index allows: at most {max} (`u32::MAX - 1 - block`)",
                crate::errors::format_bytes(u128::from(bytes))
            ),
        );
        return None;
    }
    Some(())
}

/// The limits of `Frames`: 1..=255 frames, each able to hold its
/// bookkeeping record and at least one 16-byte granule, and at most 256 MiB
/// (frame offsets are 28 bits). Sizes only rustc knows are checked by a
/// const assertion on the entry instead (see `codegen`).
pub(super) fn check_frames(
    name: &Ident,
    frame: Size,
    count: u64,
    count_span: Option<proc_macro2::Span>,
    errors: &mut Errors,
) -> Option<Shape> {
    if count > u64::from(MAX_FRAMES) {
        errors.error(
            count_span.unwrap_or_else(|| name.span()),
            format!("`{name}` declares {count} frames; a `frame` entry has at most {MAX_FRAMES}"),
        );
        return None;
    }
    if let Size::Literal { bytes, span } = frame {
        if bytes < MIN_FRAME {
            errors.error(
                span,
                format!(
                    "each frame of `{name}` needs at least {MIN_FRAME} B: {FRAME_RECORD} B of bookkeeping at the end of the entry plus one 16-byte granule; {} leaves no room",
                    crate::errors::format_bytes(u128::from(bytes))
                ),
            );
            return None;
        }
        if bytes > MAX_FRAME {
            errors.error(
                span,
                format!(
                    "a frame of `{name}` holds at most 256 MiB (frame offsets are 28 bits); use more, smaller frames"
                ),
            );
            return None;
        }
    }
    Some(Shape::Frames { frame, count })
}

/// Most frames in one `frame` entry.
pub(crate) const MAX_FRAMES: u8 = 255;
/// Bytes of `Frames`' record per frame on 64-bit targets (12 on 32-bit ones;
/// the larger figure is the one that holds everywhere).
pub(crate) const FRAME_RECORD: u64 = 16;
/// The smallest frame: its record plus one granule.
pub(crate) const MIN_FRAME: u64 = FRAME_RECORD + 16;
/// The largest frame: a frame's usable length (its size less its record)
/// must stay below 2^28 bytes.
pub(crate) const MAX_FRAME: u64 = 256 << 20;
