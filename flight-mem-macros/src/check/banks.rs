//! Banks: a platform's, declared ones, or the `budget` bank `main`.

use super::*;

pub(super) fn resolve_banks(
    layout: &Ident,
    platform_ident: Option<&Ident>,
    platform: Option<&'static Platform>,
    settings: &Settings,
    bank_asts: Vec<BankAst>,
    errors: &mut Errors,
) -> Vec<BankModel> {
    if platform_ident.is_some() && platform.is_none() {
        // The unknown platform is reported; placing entries in no banks
        // would only add noise.
        return Vec::new();
    }
    if let Some(platform) = platform {
        let span = platform_ident.map_or_else(|| layout.span(), Ident::span);
        for bank in &bank_asts {
            errors.error(
                bank.name.span(),
                format!(
                    "layout `{layout}` is `for {}`, whose banks are {}; declare banks only in a layout without `for`",
                    platform.name,
                    list_all(&platform.banks.iter().map(|b| b.name).collect::<Vec<_>>())
                ),
            );
        }
        let mut budget_override = None;
        match (platform.budget, &settings.budget) {
            (BudgetRule::Fixed, Some((keyword, _))) => errors.error(
                keyword.span(),
                format!(
                    "`{}` has fixed banks ({}); `budget` applies to layouts without `for`, `for Desktop` and `for Wasm32`",
                    platform.name,
                    list_all(&platform.banks.iter().map(|b| b.name).collect::<Vec<_>>())
                ),
            ),
            (BudgetRule::Required, None) => {
                errors.error(
                    span,
                    format!("`{}` takes its size from the layout: add `budget = 256 MiB;` (or the size you need)", platform.name),
                );
                return Vec::new();
            }
            (_, Some((keyword, size))) => budget_override = Some((keyword.span(), size.clone())),
            _ => {}
        }
        return platform
            .banks
            .iter()
            .map(|bank| {
                let (span, budget) = budget_override.clone().unwrap_or((
                    span,
                    Size::Literal {
                        bytes: bank.size,
                        span,
                    },
                ));
                BankModel {
                    name: bank.name.to_owned(),
                    span,
                    budget,
                    address: bank.base,
                    fixed: false,
                    memory: bank.memory,
                    flags: bank.flags,
                    section: None,
                }
            })
            .collect();
    }

    if let Some((keyword, budget)) = &settings.budget {
        for bank in &bank_asts {
            errors.error(
                bank.name.span(),
                "a layout has either `budget` (one bank, `main`) or its own `bank`s; remove `budget` or this bank",
            );
        }
        return vec![BankModel {
            name: "main".to_owned(),
            span: keyword.span(),
            budget: budget.clone(),
            address: None,
            fixed: false,
            memory: (1 << MemoryType::ALL.len()) - 1,
            flags: 0,
            section: None,
        }];
    }

    if bank_asts.is_empty() {
        if settings.budget_written {
            // The invalid budget is reported already.
            return Vec::new();
        }
        errors.error(
            layout.span(),
            format!(
                "layout `{layout}` has no memory: name a platform (`layout {layout} for Dreamcast`), set `budget = 64 MiB;` or declare `bank`s"
            ),
        );
        return Vec::new();
    }

    let mut banks: Vec<BankModel> = Vec::new();
    for bank in bank_asts {
        let name = bank.name.to_string();
        if banks.iter().any(|b| b.name == name) {
            errors.error(bank.name.span(), format!("duplicate bank `{name}`"));
            continue;
        }
        if let Some(attr) = bank.attrs.iter().find(|a| !a.path().is_ident("doc")) {
            errors.error(
                syn::spanned::Spanned::span(attr.path()),
                "only doc comments are allowed on banks; remove this attribute",
            );
        }
        let budget = check_size(&bank.size, false, "a bank", errors).unwrap_or(Size::Literal {
            bytes: 1,
            span: bank.size.span(),
        });
        let mut model = BankModel {
            name,
            span: bank.name.span(),
            budget,
            address: None,
            fixed: false,
            memory: (1 << MemoryType::ALL.len()) - 1,
            flags: 0,
            section: None,
        };
        let mut seen: Vec<String> = Vec::new();
        let mut base_span = None;
        let mut section_span = None;
        for option in &bank.options {
            let key = option.key.to_string();
            if seen.contains(&key) {
                errors.error(option.key.span(), format!("duplicate option `{key}`"));
                continue;
            }
            seen.push(key.clone());
            match key.as_str() {
                "memory" => {
                    if let Some(types) = parse_memory_list(option, errors) {
                        model.memory = types;
                    }
                }
                "flags" => {
                    if let Some(flags) = parse_flags(option, true, errors) {
                        model.flags = flags;
                    }
                }
                "base" => {
                    base_span = Some(option.key.span());
                    if bank.unsafe_token.is_none() {
                        errors.error(
                            option.key.span(),
                            format!(
                                "`base` puts bank `{}` at a fixed address the compiler cannot check; declare it `unsafe bank {}`",
                                model.name, model.name
                            ),
                        );
                    }
                    if let Some(value) =
                        parse_value(option, errors, |input| input.parse::<LitInt>())
                    {
                        match value.base10_parse::<u64>() {
                            Ok(address) if address != 0 => {
                                model.address = Some(address);
                                model.fixed = bank.unsafe_token.is_some();
                            }
                            Ok(_) => errors.error(
                                value.span(),
                                "a bank cannot start at address 0 (the null pointer)",
                            ),
                            Err(error) => errors.push(error),
                        }
                    }
                }
                "section" => {
                    section_span = Some(option.key.span());
                    // `link_section` is an unsafe attribute: a section the
                    // linker maps read-only (`.rodata`, flash) faults on the
                    // allocators' first write, and one the loader runs
                    // (`.init_array`) calls the zeroed storage before
                    // `main`. The macro cannot see the linker script, so
                    // the user vouches for it, as for a `base`.
                    if bank.unsafe_token.is_none() {
                        errors.error(
                            option.key.span(),
                            format!(
                                "`section` puts bank `{}`'s storage in a link section the compiler cannot check (one mapped read-only or run at startup breaks every allocation in it); declare it `unsafe bank {}`",
                                model.name, model.name
                            ),
                        );
                    }
                    model.section = parse_value(option, errors, |input| input.parse::<LitStr>());
                }
                _ => unknown_key(&key, option, "a bank", BANK_KEYS, errors),
            }
        }
        // A bank at a fixed `base` has no static storage for a link section
        // to place: naming both would be silently half-ignored.
        if let (Some(_), Some(section)) = (base_span, section_span) {
            errors.error(
                section,
                format!("bank `{}` has both a `base` and a `section`: a bank at a fixed address has no storage for the linker to place; keep one of them", model.name),
            );
        }
        if let (Some(unsafe_token), None, None) = (&bank.unsafe_token, base_span, section_span) {
            errors.error(
                unsafe_token.span,
                format!("`unsafe` is needed only with a fixed `base` address or a link `section`; add `{{ base: 0x.. }}` or remove `unsafe` from bank `{}`", model.name),
            );
        }
        banks.push(model);
    }
    banks
}

pub(super) fn unknown_key(
    key: &str,
    option: &OptionAst,
    what: &str,
    valid: &[&str],
    errors: &mut Errors,
) {
    let message = if ALL_KEYS.contains(&key) {
        match key {
            "base" => "`base` applies to an `unsafe bank`, not to entries".to_owned(),
            "section" => {
                "`section` applies to banks (it places the bank's storage); move it to a `bank`"
                    .to_owned()
            }
            "allocator" if what == "a bank" => {
                "`allocator` applies to `region` entries, not banks".to_owned()
            }
            "allocator" => format!(
                "`allocator` applies to `region` entries only; {what} always uses its own allocator"
            ),
            _ => format!(
                "`{key}` is not an option of {what}; its options are {}",
                list(valid)
            ),
        }
    } else {
        format!("unknown option `{key}`{}", did_you_mean(key, valid))
    };
    errors.error(option.key.span(), message);
}
