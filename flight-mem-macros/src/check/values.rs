//! Single values: sizes, counts, alignments, memory-type and flag lists.

use super::*;

pub(super) fn check_count(count: &LitInt, what: &str, errors: &mut Errors) -> Option<u64> {
    if !count.suffix().is_empty() {
        errors.error(
            count.span(),
            format!(
                "a count of {what} is a plain number: remove `{}`",
                count.suffix()
            ),
        );
        return None;
    }
    match count.base10_parse::<u64>() {
        Ok(0) => {
            errors.error(
                count.span(),
                format!("zero {what}: the count must be at least 1"),
            );
            None
        }
        Ok(n) => Some(n),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

pub(super) fn check_align(value: &LitInt, errors: &mut Errors) -> Option<u64> {
    if !value.suffix().is_empty() {
        errors.error(
            value.span(),
            format!(
                "an alignment is a plain number of bytes: remove `{}`",
                value.suffix()
            ),
        );
        return None;
    }
    match value.base10_parse::<u64>() {
        Ok(align) if align.is_power_of_two() && align <= 1 << 29 => Some(align),
        Ok(align) if align.is_power_of_two() => {
            errors.error(
                value.span(),
                "alignments above 512 MiB (2^29) are not supported",
            );
            None
        }
        Ok(align) => {
            let below = if align == 0 {
                1
            } else {
                1u64 << (63 - align.leading_zeros())
            };
            let above = below.saturating_mul(2);
            errors.error(
                value.span(),
                format!("alignment `{align}` is not a power of two; use `{below}` or `{above}`"),
            );
            None
        }
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// Resolves a size; `zero_ok` for guards.
pub(super) fn check_size(
    size: &SizeAst,
    zero_ok: bool,
    what: &str,
    errors: &mut Errors,
) -> Option<Size> {
    let (value, unit) = match size {
        SizeAst::Expr { tokens, span } => {
            return Some(Size::Expr {
                tokens: tokens.clone(),
                span: *span,
            });
        }
        SizeAst::Literal { value, unit } => (value, unit),
    };
    let number = match value.base10_parse::<u64>() {
        Ok(number) => number,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let digits = value.base10_digits();
    let Some((unit, unit_span)) = unit else {
        errors.error(
            value.span(),
            format!("missing unit: write `{digits} B`, `{digits} KiB` or `{digits} MiB`"),
        );
        return None;
    };
    let Some(scale) = UNITS
        .iter()
        .find(|(u, _)| u == unit)
        .map(|(_, scale)| *scale)
    else {
        let binary = match unit.as_str() {
            "KB" | "kB" | "Kb" | "kb" | "K" | "k" | "KIB" | "kib" | "Kib" => Some("KiB"),
            "MB" | "mB" | "Mb" | "mb" | "M" | "m" | "MIB" | "mib" | "Mib" => Some("MiB"),
            "GB" | "gB" | "Gb" | "gb" | "G" | "g" | "GIB" | "gib" | "Gib" => Some("GiB"),
            "b" | "byte" | "bytes" => Some("B"),
            _ => None,
        };
        let message = match binary {
            Some(fix) if unit.len() == 2 && unit.ends_with(['B', 'b']) => format!(
                "`{unit}` is ambiguous (decimal or binary); sizes are binary: write `{digits} {fix}`"
            ),
            Some(fix) => format!("unknown unit `{unit}`; write `{digits} {fix}`"),
            None => format!(
                "unknown unit `{unit}`{}",
                did_you_mean(unit, &UNITS.iter().map(|(u, _)| *u).collect::<Vec<_>>())
            ),
        };
        errors.error(*unit_span, message);
        return None;
    };
    let Some(bytes) = number.checked_mul(scale) else {
        errors.error(
            value.span(),
            format!("{what} of {digits} {unit} does not fit in 64 bits"),
        );
        return None;
    };
    if bytes == 0 && !zero_ok {
        errors.error(
            value.span(),
            format!("{what} cannot be empty: zero sizes are not allowed"),
        );
        return None;
    }
    Some(Size::Literal {
        bytes,
        span: value.span(),
    })
}

/// Parses an option's value tokens with `parser`; errors point into them.
pub(super) fn parse_value<T>(
    option: &OptionAst,
    errors: &mut Errors,
    parser: impl FnOnce(ParseStream) -> syn::Result<T>,
) -> Option<T> {
    let tokens: Vec<TokenTree> = option.value.clone().into_iter().collect();
    let end = tokens.last().map_or(option.value_span, TokenTree::span);
    match parse_chunk(parser, tokens, end) {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// `Video` or `[Video, Audio]`: the bits of the listed types.
pub(super) fn parse_memory_list(option: &OptionAst, errors: &mut Errors) -> Option<u16> {
    let idents = parse_value(option, errors, parse_ident_list)?;
    let mut bits = 0;
    for ident in idents {
        let word = ident.to_string();
        match MemoryType::from_name(&word) {
            Some(ty) => bits |= ty.bit(),
            None => errors.error(
                ident.span(),
                format!(
                    "unknown memory type `{word}`{}",
                    did_you_mean(&word, &memory_type_names())
                ),
            ),
        }
    }
    if bits == 0 {
        errors.error(
            option.value_span,
            "a bank must hold at least one memory type",
        );
        return None;
    }
    Some(bits)
}

/// `[dma, gpu]` (or one flag): the bits of the listed flags.
pub(super) fn parse_flags(option: &OptionAst, bank: bool, errors: &mut Errors) -> Option<u8> {
    let idents = parse_value(option, errors, parse_ident_list)?;
    let mut bits = 0;
    for ident in idents {
        let word = ident.to_string();
        match MemoryFlag::from_name(&word) {
            Some(MemoryFlag::Zeroed | MemoryFlag::Critical) if bank => {
                errors.error(
                    ident.span(),
                    format!("`{word}` describes how an entry is used, not a bank; move it to the entries that need it"),
                );
            }
            Some(flag) => bits |= flag.bit(),
            None => errors.error(
                ident.span(),
                format!(
                    "unknown flag `{word}`{}",
                    did_you_mean(&word, &flag_names())
                ),
            ),
        }
    }
    Some(bits)
}

pub(super) fn parse_ident_list(input: ParseStream) -> syn::Result<Vec<Ident>> {
    if input.peek(syn::token::Bracket) {
        let content;
        syn::bracketed!(content in input);
        let list = content.parse_terminated(Ident::parse_any, syn::Token![,])?;
        Ok(list.into_iter().collect())
    } else {
        Ok(vec![input.call(Ident::parse_any)?])
    }
}
